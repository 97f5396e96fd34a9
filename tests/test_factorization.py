"""Factorization families: equal shapes within a family, closed-form params and conv MACs."""

from __future__ import annotations

from fractions import Fraction
from functools import partial

import pytest
import torch
from torch import nn

from incprof import registry
from incprof.analysis.receptive_field import analyze_module_rf
from incprof.models.common import BasicConv2d
from incprof.models.factorization import build_two_2x2, build_two_3x3
from incprof.studies.factorization import PAPER_CLAIMS

FAMILIES = {
    "fact_5x5": ("fact_5x5_conv5x5", "fact_5x5_two_3x3"),
    "asym_3": ("asym_3_conv3x3", "asym_3_1x3_3x1"),
    "asym_5": ("asym_5_conv5x5", "asym_5_1x5_5x1"),
    "asym_7": ("asym_7_conv7x7", "asym_7_1x7_7x1"),
    "fact_3x3": ("fact_3x3_conv3x3", "fact_3x3_two_2x2"),
    "grid_reduction": ("grid_conv_then_pool", "grid_pool_then_conv", "grid_parallel"),
}


def _build(name: str, **overrides: object) -> nn.Module:
    with torch.device("meta"):
        return registry.get(name).build(**overrides).eval()


def _output_shape(name: str, **overrides: object) -> tuple[int, ...]:
    shape = registry.get(name).input_for(overrides)
    return tuple(_build(name, **overrides)(torch.empty(1, *shape, device="meta")).shape[1:])


def _params(name: str, **overrides: object) -> int:
    return sum(p.numel() for p in _build(name, **overrides).parameters())


def _conv_macs(name: str, **overrides: object) -> int:
    """k_h·k_w·C_in/groups·C_out·H_out·W_out summed over every nn.Conv2d, by forward hooks."""
    model = _build(name, **overrides)
    total = 0

    def count(conv: nn.Conv2d, _inputs: object, out: torch.Tensor) -> None:
        nonlocal total
        k_h, k_w = conv.kernel_size
        c_in = conv.in_channels // conv.groups
        total += k_h * k_w * c_in * conv.out_channels * out.shape[-2] * out.shape[-1]

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(count)
    shape = registry.get(name).input_for(overrides)
    model(torch.empty(1, *shape, device="meta"))
    return total


def test_registry_families_and_one_reference_each() -> None:
    variants = registry.list_variants("factorization")
    assert {v.family for v in variants} == set(FAMILIES)
    for family, names in FAMILIES.items():
        members = registry.family_members(family)
        assert {v.name for v in members} == set(names)
        assert [v.reference for v in members] == [True] + [False] * (len(names) - 1)
        assert members[0].name == names[0]
        assert all(v.tag == "factorization" and v.reproduces for v in members)


def test_every_claim_names_a_family_member_that_is_not_the_reference() -> None:
    assert set(PAPER_CLAIMS) == set(FAMILIES)
    for family, claims in PAPER_CLAIMS.items():
        for claim in claims:
            assert claim.variant in FAMILIES[family][1:]
            assert 0 < claim.saving < 1 and claim.assumption and claim.source


@pytest.mark.parametrize(
    ("family", "overrides", "expected"),
    [
        ("fact_5x5", {}, (96, 35, 35)),
        ("fact_5x5", {"channels": 48, "grid": 20}, (48, 20, 20)),
        ("fact_5x5", {"channels": 64, "out_channels": 96}, (96, 35, 35)),
        ("asym_3", {}, (192, 17, 17)),
        ("asym_5", {}, (192, 17, 17)),
        ("asym_7", {}, (192, 17, 17)),
        ("asym_7", {"channels": 160, "grid": 12}, (160, 12, 12)),
        ("fact_3x3", {}, (96, 35, 35)),
        ("fact_3x3", {"channels": 48, "grid": 8}, (48, 8, 8)),
        # valid 3×3/2: ⌊(d − 1)/2⌋, 35 -> 17, 34 -> 16, 20 -> 9; channels k -> 2k
        ("grid_reduction", {}, (640, 17, 17)),
        ("grid_reduction", {"channels": 64, "grid": 34}, (128, 16, 16)),
        ("grid_reduction", {"channels": 64, "grid": 20, "kernel_size": 5}, (128, 9, 9)),
    ],
)
def test_shapes_are_equal_within_a_family(family, overrides, expected) -> None:
    for name in FAMILIES[family]:
        assert _output_shape(name, **overrides) == expected, name


def test_input_shape_follows_channels_and_grid() -> None:
    variant = registry.get("grid_parallel")
    assert variant.input_shape == (320, 35, 35)
    assert variant.input_for({"channels": 64, "grid": 34}) == (64, 34, 34)
    assert registry.get("asym_7_1x7_7x1").input_for({"grid": 12}) == (192, 12, 12)


# Each conv unit: k_h·k_w·C_in·C_out weights (no bias) + 2·C_out BN affine parameters.
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fact_5x5_conv5x5", 25 * 96 * 96 + 2 * 96),  # 230_592
        ("fact_5x5_two_3x3", 2 * (9 * 96 * 96 + 2 * 96)),  # 166_272
        ("asym_3_conv3x3", 9 * 192 * 192 + 2 * 192),  # 332_160
        ("asym_3_1x3_3x1", 2 * (3 * 192 * 192 + 2 * 192)),  # 221_952
        ("asym_7_conv7x7", 49 * 192 * 192 + 2 * 192),  # 1_806_720
        ("asym_7_1x7_7x1", 2 * (7 * 192 * 192 + 2 * 192)),  # 516_864
        ("fact_3x3_conv3x3", 9 * 96 * 96 + 2 * 96),  # 83_136
        ("fact_3x3_two_2x2", 2 * (4 * 96 * 96 + 2 * 96)),  # 74_112
        ("grid_conv_then_pool", 9 * 320 * 640 + 2 * 640),  # 1_844_480
        ("grid_pool_then_conv", 9 * 320 * 640 + 2 * 640),  # the same conv, after the pool
        ("grid_parallel", 9 * 320 * 320 + 2 * 320),  # 922_240; the pool has none
    ],
)
def test_parameter_counts_in_closed_form(name, params) -> None:
    assert _params(name) == params


def test_expansion_width_goes_to_the_first_factor() -> None:
    # 64 -> 96 -> 96: 9·64·96 + 2·96 and 9·96·96 + 2·96
    assert _params("fact_5x5_two_3x3", channels=64, out_channels=96) == (
        9 * 64 * 96 + 2 * 96 + 9 * 96 * 96 + 2 * 96
    )


@pytest.mark.parametrize(
    ("name", "macs"),
    [
        ("fact_5x5_conv5x5", 25 * 96 * 96 * 35 * 35),  # 282_240_000
        ("fact_5x5_two_3x3", 2 * 9 * 96 * 96 * 35 * 35),  # 203_212_800
        ("asym_3_1x3_3x1", 2 * 3 * 192 * 192 * 17 * 17),
        ("fact_3x3_two_2x2", 2 * 4 * 96 * 96 * 35 * 35),
        ("grid_conv_then_pool", 9 * 320 * 640 * 35 * 35),  # 2_257_920_000, on the full grid
        ("grid_pool_then_conv", 9 * 320 * 640 * 17 * 17),  # on the pooled 17×17 grid
        ("grid_parallel", 9 * 320 * 320 * 17 * 17),  # stride 2: 17×17 outputs, k -> k
    ],
)
def test_conv_macs_in_closed_form(name, macs) -> None:
    assert _conv_macs(name) == macs


@pytest.mark.parametrize(
    ("family", "ratio"),
    [
        ("fact_5x5", Fraction(9 + 9, 25)),
        ("asym_3", Fraction(3 + 3, 9)),
        ("asym_5", Fraction(5 + 5, 25)),
        ("asym_7", Fraction(7 + 7, 49)),
        ("fact_3x3", Fraction(4 + 4, 9)),
    ],
)
@pytest.mark.parametrize("overrides", [{}, {"channels": 40, "grid": 13}])
def test_factorised_cost_ratio_and_claim_with_equal_widths(family, ratio, overrides) -> None:
    reference, alternative = FAMILIES[family]
    measured = Fraction(_conv_macs(alternative, **overrides), _conv_macs(reference, **overrides))
    assert measured == ratio
    (claim,) = PAPER_CLAIMS[family]
    assert claim.variant == alternative
    assert claim.saving == pytest.approx(float(1 - ratio))


def test_expansion_shrinks_the_5x5_saving() -> None:
    # The claim's assumption matters: C_in 64, C_out 96 (α = 1.5), the first 3×3 expands.
    # (9·64·96 + 9·96·96) / (25·64·96) = (9 + 9·1.5)/25 = 9/10: a 10% saving, not 28%.
    overrides = {"channels": 64, "out_channels": 96}
    ratio = Fraction(
        _conv_macs("fact_5x5_two_3x3", **overrides), _conv_macs("fact_5x5_conv5x5", **overrides)
    )
    assert ratio == Fraction(9, 10)


@pytest.mark.parametrize(("d", "d_out"), [(35, 17), (34, 16), (36, 17)])
def test_grid_reduction_cost_ratios(d, d_out) -> None:
    # conv first: K²·k·2k·d²; pool first: K²·k·2k·d_out²; parallel: K²·k·k·d_out².
    # With d_out = d/2 the paper's quarter and an eighth; valid pooling gives ⌊(d − 1)/2⌋.
    overrides = {"channels": 32, "grid": d}
    macs = {name: _conv_macs(name, **overrides) for name in FAMILIES["grid_reduction"]}
    reference = macs["grid_conv_then_pool"]
    assert Fraction(macs["grid_pool_then_conv"], reference) == Fraction(d_out**2, d**2)
    assert Fraction(macs["grid_parallel"], reference) == Fraction(d_out**2, 2 * d**2)
    text_claim, caption_claim = PAPER_CLAIMS["grid_reduction"]
    assert text_claim.saving == 1 - Fraction(1, 4)
    assert caption_claim.saving == pytest.approx(1 - 1 / 3)


def test_two_2x2_see_the_3x3_window_at_its_centre() -> None:
    # 2×2 padded (0, 1): r 2, P 0; then padded (1, 0): r 2 + 1 = 3, P 0 + 1 = 1.
    # A 3×3 with padding 1: r 3, P 1. Same size, stride and centre.
    fields = [
        analyze_module_rf(_build(name, channels=8), (8, 9, 9)).final.field
        for name in FAMILIES["fact_3x3"]
    ]
    assert fields[0] == fields[1]
    assert fields[1].size == (3, 3) and fields[1].stride == (1, 1)
    assert fields[1].padding == (1, 1)


def test_two_2x2_compute_the_3x3_they_factorise() -> None:
    # No BN and positive inputs and weights, so the ReLUs pass everything: a 2×2 of ones
    # after a 2×2 of ones is the 3×3 kernel [[1, 2, 1], [2, 4, 2], [1, 2, 1]], centred
    # where a 3×3 with padding 1 is. Only the first row and column differ: there the
    # second 2×2 reads a padded zero where the 3×3 would have seen x[0].
    linear = partial(BasicConv2d, batch_norm=False, bias=True)
    model = build_two_2x2(channels=1, grid=6, conv_block=linear)
    for conv in (model.conv_2x2_1.conv, model.conv_2x2_2.conv):
        nn.init.ones_(conv.weight)
        nn.init.zeros_(conv.bias)
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    x = torch.rand(1, 1, 6, 6)
    expected = nn.functional.conv2d(x, kernel.view(1, 1, 3, 3), padding=1)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[..., 1:, 1:], expected[..., 1:, 1:])


def test_grid_reduction_alternatives_share_stride_and_centre() -> None:
    # conv 3 p1 then pool 3/2: r 5, S 2, P 1; pool then conv: r 3 + 2·2 = 7, S 2, P 2;
    # conv 3/2 ‖ pool 3/2: r 3, S 2, P 0. Centre r − 1 − 2P = 2 in all three.
    fields = [
        analyze_module_rf(_build(name, channels=4, grid=11), (4, 11, 11))
        for name in FAMILIES["grid_reduction"]
    ]
    assert all(f.aligned for f in fields)
    assert [f.final.field.size[0] for f in fields] == [5, 7, 3]
    assert {f.final.field.stride for f in fields} == {(2, 2)}
    assert {f.final.field.centre2(0) for f in fields} == {2}


def test_every_conv_is_a_conv_block_so_relu_sits_between_factors() -> None:
    model = _build("fact_5x5_two_3x3")
    units = [m for m in model.children() if isinstance(m, BasicConv2d)]
    assert len(units) == 2 and all(u.bn is not None for u in units)


def test_factorization_conv_block_is_swappable() -> None:
    plain = partial(BasicConv2d, batch_norm=False, bias=True)
    with torch.device("meta"):
        model = build_two_3x3(channels=8, conv_block=plain)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == 2 * (9 * 8 * 8 + 8)


@pytest.mark.parametrize("kernel_size", [1, 2, 4])
def test_grid_reduction_needs_an_odd_kernel_of_at_least_3(kernel_size) -> None:
    with pytest.raises(ValueError, match="kernel_size"):
        _build("grid_parallel", kernel_size=kernel_size)


def test_state_dict_keys_name_the_layers() -> None:
    assert list(_build("fact_3x3_two_2x2").state_dict())[:2] == [
        "conv_2x2_1.conv.weight",
        "conv_2x2_1.bn.weight",
    ]
    assert [n for n, _ in _build("grid_parallel").named_children()] == ["conv", "pool"]
    assert [n for n, _ in _build("asym_7_1x7_7x1").named_children()] == ["conv_1x7", "conv_7x1"]
