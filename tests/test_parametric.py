"""The registration kit of parametric entries: inputs that follow builder overrides."""

from __future__ import annotations

import pytest
import torch

from incprof import registry
from incprof.models.blocks import build_block_v3
from incprof.models.parametric import Setting, check_grid, input_shape


def test_input_shape_follows_the_builders_channels_keyword_and_grid() -> None:
    seed = Setting(channels=256, grid=28)
    assert input_shape(seed, {}, channels_key="in_channels") == (256, 28, 28)
    # A block reads ``in_channels``: 192 channels on a 14×14 grid.
    overrides = {"in_channels": 192, "grid": 14}
    assert input_shape(seed, overrides, channels_key="in_channels") == (192, 14, 14)
    # A factorization reads ``channels``; another builder's keyword moves nothing.
    assert input_shape(seed, overrides, channels_key="channels") == (256, 14, 14)


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        # Seed 002's naïve block, registered at 256×28×28.
        ("block_naive", {"in_channels": 192, "grid": 14}, (192, 14, 14)),
        ("block_naive", {"grid": 7}, (256, 7, 7)),
        # Inception-v3's Mixed_6a (figure 10) reads 288 channels at 35×35.
        ("block_v3_fig10", {"in_channels": 320}, (320, 35, 35)),
        # fact_5x5 at Inception-v3's 35×35 stage, 96 channels; out_channels is no input.
        ("fact_5x5_two_3x3", {"channels": 48, "grid": 20}, (48, 20, 20)),
        ("fact_5x5_two_3x3", {"out_channels": 128}, (96, 35, 35)),
        # grid_reduction: figures 9 and 10's 320×35×35.
        ("grid_parallel", {"grid": 17}, (320, 17, 17)),
    ],
)
def test_registered_entries_report_the_input_their_overrides_build_for(
    name: str, overrides: dict, expected: tuple[int, int, int]
) -> None:
    variant = registry.get(name)
    assert variant.input_for(overrides) == expected
    with torch.device("meta"):
        model = variant.build(**overrides).eval()
        model(torch.empty(1, *expected))  # the build runs on the input reported for it


def test_every_registered_default_is_bound_into_its_builder() -> None:
    # The reference n×n conv's builder has no defaults of its own: 7·7·192·192 weights
    # plus BN's 2·192 at the registered 192×17×17.
    with torch.device("meta"):
        model = registry.get("asym_7_conv7x7").build()
    assert sum(p.numel() for p in model.parameters()) == 49 * 192 * 192 + 2 * 192


def test_grid_check_and_v3_widths() -> None:
    check_grid(3, 3)
    with pytest.raises(ValueError, match="grid must be at least 3, got 2"):
        check_grid(2, 3)
    # InceptionE (figure 7) has no pool_features; InceptionA (figure 5) has.
    with pytest.raises(TypeError, match="InceptionE"):
        build_block_v3("fig7", pool_features=32)
    with pytest.raises(ValueError, match="figure must be one of fig5, fig6, fig7, fig10"):
        build_block_v3("fig8")
    with torch.device("meta"):
        block = build_block_v3("fig5", pool_features=32)
    assert block.branch_pool.conv.out_channels == 32
