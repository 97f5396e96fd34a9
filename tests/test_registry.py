"""Registry: names, aliases, errors with suggestions, and users' own models."""

import pytest
from torch import nn

import incprof
from incprof.registry import TAGS, RegistryError, Variant, get, register
from incprof.sources import resolve


def test_every_entry_has_its_facts():
    variants = incprof.list_variants()
    assert len({v.name for v in variants}) == len(variants)
    for v in variants:
        assert v.tag in TAGS
        assert v.family and v.reproduces
        assert len(v.input_shape) == 3 and all(d > 0 for d in v.input_shape)


def test_registering_a_name_twice_raises():
    existing = incprof.list_variants()[0]
    with pytest.raises(RegistryError, match="already registered"):
        register(Variant(existing.name, "x", "block", nn.Identity, (1, 1, 1), "x"))


def test_unknown_name_suggests_close_matches():
    with pytest.raises(RegistryError, match=r"unknown variant 'inception_v33'.*inception_v3"):
        get("inception_v33")


def test_unknown_tag_is_an_error():
    with pytest.raises(RegistryError, match="unknown tag"):
        incprof.list_variants("nets")


def test_user_model_by_module_callable():
    variant = resolve("user_models:tiny_net", (3, 8, 8))
    assert variant.tag == "user" and variant.input_shape == (3, 8, 8)
    model = incprof.build("user_models:tiny_net", width=6)
    assert model[0].out_channels == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        ("user_models:missing", "has no attribute 'missing'"),
        ("user_models:NOT_CALLABLE", "is not callable"),
        ("user_models:", "package.module:callable"),
    ],
)
def test_bad_user_specs_say_why(spec, message):
    with pytest.raises(RegistryError, match=message):
        resolve(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("user_models:not_a_module", "returned int, not an nn.Module"),
        ("user_models:raises", "raised ValueError: broken on purpose"),
    ],
)
def test_bad_user_builders_say_why(spec, message):
    with pytest.raises(RegistryError, match=message):
        resolve(spec).build()
