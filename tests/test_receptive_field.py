"""Receptive fields: closed form on tiny graphs, and the empirical field on real ones."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import incprof
from incprof.analysis.analytic import meta_model
from incprof.analysis.receptive_field import (
    analyze_module_rf,
    analyze_rf,
    empirical_field,
    expected_region,
)


def fields(model: nn.Module, shape, endpoints=()):
    return {
        r["endpoint"]: r for r in analyze_module_rf(model, shape, endpoints=endpoints).records()
    }


def test_chain_of_convs_and_pools():
    # 7×7/2 p3: r 7, S 2, P 3; 3×3/2 p1 pool: r 7+2·2 = 11, S 4, P 3+1·2 = 5;
    # 3×3 dilation 2 p2: k_eff 5 → r 11+4·4 = 27, S 4, P 5+2·4 = 13
    model = nn.Sequential(
        nn.Conv2d(3, 4, 7, 2, 3), nn.MaxPool2d(3, 2, 1), nn.Conv2d(4, 4, 3, padding=2, dilation=2)
    )
    rows = fields(model, (3, 64, 64), endpoints=("0", "1", "2"))
    assert [(rows[e]["size"], rows[e]["stride"], rows[e]["padding"]) for e in "012"] == [
        (7, 2, 3),
        (11, 4, 5),
        (27, 4, 13),
    ]


class Branches(nn.Module):
    """1×1 | 1×1→3×3 | 1×7→7×1 | 3×3 avg pool, concatenated, then a residual scaled add."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 2, 1)
        self.b = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 3, padding=1))
        self.c = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)))
        self.proj = nn.Conv2d(8, 2, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x), self.c(x), F.avg_pool2d(x, 3, 1, 1)], 1)
        x = x + 0.2 * F.relu(self.proj(y))
        return self.pool(x).flatten(1)


def test_branches_take_the_largest_field_per_axis():
    result = analyze_module_rf(Branches(), (2, 16, 16), endpoints=("proj",))
    assert result.aligned
    (proj,) = result.endpoints
    # height: max(1, 3, 1, 3) = 3; width: max(1, 3, 7, 3) = 7
    assert proj.field.size == (3, 7) and proj.field.padding == (1, 3)
    rows = result.records()
    assert rows[0]["size_h"] == 3 and rows[0]["size_w"] == 7 and rows[0]["size"] == 7
    # the global pool ends the field; the final map is the residual sum before it
    assert rows[-1]["endpoint"] == "final_feature_map" and rows[-1]["size_w"] == 7


class Misaligned(nn.Module):
    """A 2×2 conv padded on the left/top only: its centre sits half a pixel off the 1×1's."""

    def __init__(self) -> None:
        super().__init__()
        self.shifted = nn.Sequential(nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(1, 1, 2))
        self.plain = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return torch.cat([self.shifted(x), self.plain(x)], 1)


def test_misaligned_concat_is_reported_with_its_place():
    result = analyze_module_rf(Misaligned(), (1, 8, 8))
    assert not result.aligned
    assert "concat in the model's forward: centres" in result.misalignments[0]


def test_square_networks_give_the_four_contract_columns():
    rows = analyze_rf(incprof.get("googlenet_tv")).records()
    assert set(rows[0]) == {"endpoint", "size", "stride", "padding", "output_shape"}


@pytest.mark.parametrize(
    ("name", "size"),
    [
        # Araujo, Norris & Sim (Distill 2019), table of receptive fields:
        # Inception v2 (BN-Inception) 699, Inception v4 2071, Inception-ResNet-v2 3039
        ("bn_inception", 699),
        ("inception_v4", 2071),
        ("inception_resnet_v2", 3039),
        ("inception_v3", 1311),
    ],
)
def test_published_final_fields(name, size):
    final = analyze_rf(incprof.get(name)).final
    assert max(final.field.size) == size and max(final.field.stride) == 32


def _check_empirical(model, shape, analysis, endpoint=None, *, must_be_whole=False):
    entry = (
        analysis.final
        if endpoint is None
        else next(e for e in analysis.endpoints if e.endpoint == endpoint)
    )
    size, first, clipped = expected_region(entry.field, entry.output_shape[-2:], shape[-2:])
    if must_be_whole:
        assert not clipped, f"{endpoint}: choose a larger input, the field is clipped"
    assert empirical_field(model, shape, endpoint) == (size, first)


SMALL_ENTRIES = [v for v in incprof.list_variants() if v.tag in ("block", "factorization")]


@pytest.mark.parametrize("variant", SMALL_ENTRIES, ids=lambda v: v.name)
def test_empirical_field_on_blocks_and_factorizations(variant):
    model = meta_model(variant)
    analysis = analyze_module_rf(model, variant.input_shape)
    assert analysis.aligned, analysis.misalignments
    _check_empirical(model, variant.input_shape, analysis)


@pytest.mark.parametrize(
    ("name", "shape", "endpoints"),
    [
        ("googlenet", (3, 224, 224), ("inception3a", "inception3b", "inception4a")),
        ("googlenet_tv", (3, 224, 224), ("inception3a", "inception3b", "inception4a")),
        ("inception_v3", (3, 299, 299), ("Mixed_5b", "Mixed_5d", "Mixed_6a")),
    ],
)
def test_empirical_field_on_network_end_points(name, shape, endpoints):
    variant = incprof.get(name)
    model = meta_model(variant)
    analysis = analyze_module_rf(model, shape, endpoints=endpoints)
    assert analysis.aligned
    for endpoint in endpoints:
        _check_empirical(model, shape, analysis, endpoint, must_be_whole=True)


def test_empirical_field_on_branches():
    model = Branches()
    analysis = analyze_module_rf(model, (2, 16, 16), endpoints=("proj",))
    _check_empirical(model, (2, 16, 16), analysis, "proj", must_be_whole=True)
