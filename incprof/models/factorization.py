"""Factorization variants of "Rethinking the Inception Architecture for Computer Vision".

Szegedy et al. 2015 (arXiv 1512.00567), sections 3 and 5. A family is a set of
alternatives with the same input and output shape, so their costs compare like for like;
exactly one of them is the reference the paper measures the others against. Every conv is a
``conv_block`` (conv → BN → ReLU by default), so a factorised pair keeps the ReLU between
its factors that section 3.1 found to work better than a linear first factor.

Families (alternatives, default input C×H×W, where in the paper):

    fact_5x5         5×5 | 3×3 → 3×3                          96×35×35    §3.1, fig. 1
    asym_3/5/7       n×n | 1×n → n×1                          192×17×17   §3.2, figs 3, 6
    fact_3x3         3×3 | 2×2 → 2×2                          96×35×35    §3.2
    grid_reduction   conv → pool | pool → conv | conv ‖ pool  320×35×35   §5, figs 9, 10

Builders take ``channels`` and ``grid`` (and ``out_channels`` where the widths may differ);
the modules run on any grid, and ``grid`` sets the input the registry reports for them.
The paper's cost claims about these families, and the study that checks them, are in
:mod:`incprof.studies.factorization`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock
from incprof.models.parametric import Setting, check_grid, register_parametric

PAPER = "Szegedy et al. 2015, Rethinking the Inception Architecture, arXiv 1512.00567"


# Each family's default input: where the paper (or Inception-v3) uses the idea.
# The 35×35 stage of Inception-v3: the 96 -> 96 3×3 that ends its double-3×3 tower.
FACT_5X5 = Setting(channels=96, grid=35)
FACT_3X3 = Setting(channels=96, grid=35)
# The 17×17 stage, where section 3.2 recommends 1×n + n×1 (grids of 12 to 20); its towers
# run 1×7 and 7×1 convs at 192 channels in Inception-v3's last 17×17 module.
ASYM = Setting(channels=192, grid=17)
# Figures 9 and 10: 35×35×320 -> 17×17×640.
GRID_REDUCTION = Setting(channels=320, grid=35)


def build_conv_nxn(
    *,
    n: int,
    channels: int,
    grid: int,
    out_channels: int | None = None,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """One n×n conv, 'same' padding (n odd): the reference the factorisations replace."""
    check_grid(grid)
    out_channels = channels if out_channels is None else out_channels
    # N x channels x grid x grid -> N x out_channels x grid x grid
    conv = conv_block(channels, out_channels, kernel_size=n, padding=n // 2)
    return nn.Sequential(OrderedDict([(f"conv_{n}x{n}", conv)]))


def build_two_3x3(
    *,
    channels: int = FACT_5X5.channels,
    grid: int = FACT_5X5.grid,
    out_channels: int | None = None,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """Figure 1: a 3×3 on a 3×3 sees the 5×5 window with (9 + 9)/25 of the weights.

    The first 3×3 already produces the output width, as in Inception-v3's 64 -> 96 -> 96
    tower; with ``out_channels == channels`` this is the paper's α = 1 setting.
    """
    check_grid(grid)
    out_channels = channels if out_channels is None else out_channels
    layers = OrderedDict(
        [
            ("conv_3x3_1", conv_block(channels, out_channels, kernel_size=3, padding=1)),
            ("conv_3x3_2", conv_block(out_channels, out_channels, kernel_size=3, padding=1)),
        ]
    )
    return nn.Sequential(layers)  # N x out_channels x grid x grid


def build_1xn_nx1(
    *,
    n: int,
    channels: int = ASYM.channels,
    grid: int = ASYM.grid,
    out_channels: int | None = None,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """Section 3.2: a 1×n then an n×1 see the n×n window with 2n instead of n² weights.

    The order is Inception-v3's (figure 6); figure 3 draws 3×1 first, which costs the same
    and sees the same window.
    """
    check_grid(grid)
    out_channels = channels if out_channels is None else out_channels
    layers = OrderedDict(
        [
            (
                f"conv_1x{n}",
                conv_block(channels, out_channels, kernel_size=(1, n), padding=(0, n // 2)),
            ),
            (
                f"conv_{n}x1",
                conv_block(out_channels, out_channels, kernel_size=(n, 1), padding=(n // 2, 0)),
            ),
        ]
    )
    return nn.Sequential(layers)  # N x out_channels x grid x grid


def build_two_2x2(
    *,
    channels: int = FACT_3X3.channels,
    grid: int = FACT_3X3.grid,
    out_channels: int | None = None,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """Section 3.2: two 2×2 convs see a 3×3 window with 8 instead of 9 weights.

    A 2×2 kernel has no centre, and symmetric padding cannot keep the grid (padding 1
    grows it by one, padding 0 shrinks it by one). So the first 2×2 is padded on the
    right and bottom only: its output i sees inputs i and i + 1, centred half a pixel
    right of i. The second is padded on the left and top only: it sees intermediate
    i − 1 and i, that is inputs i − 1 … i + 1. The two half-pixel shifts cancel, and the
    pair sees exactly the window of a 3×3 with padding 1, at the same stride and centre,
    so the two alternatives' outputs line up position by position.
    """
    check_grid(grid)
    out_channels = channels if out_channels is None else out_channels
    layers = OrderedDict(
        [
            ("pad_1", nn.ZeroPad2d((0, 1, 0, 1))),  # (left, right, top, bottom)
            ("conv_2x2_1", conv_block(channels, out_channels, kernel_size=2)),
            ("pad_2", nn.ZeroPad2d((1, 0, 1, 0))),
            ("conv_2x2_2", conv_block(out_channels, out_channels, kernel_size=2)),
        ]
    )
    return nn.Sequential(layers)  # N x out_channels x grid x grid


# Grid reduction: every alternative pools with Inception-v3's valid 3×3/2 max pool and
# strides its convs to the same windows, so d×d -> ⌊(d−1)/2⌋ for all three (35 -> 17).


def _reduction_kernel(kernel_size: int) -> int:
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and at least 3, got {kernel_size}")
    return kernel_size


def build_conv_then_pool(
    *,
    channels: int = GRID_REDUCTION.channels,
    grid: int = GRID_REDUCTION.grid,
    kernel_size: int = 3,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """Figure 9, right: expand k -> 2k on the full grid, then pool; no bottleneck.

    The reference of section 5: the figure's caption puts it at 3 times more expensive than
    pooling first.
    """
    check_grid(grid, 3)
    k = _reduction_kernel(kernel_size)
    layers = OrderedDict(
        [
            # N x channels x d x d -> N x 2·channels x d x d
            ("conv", conv_block(channels, 2 * channels, kernel_size=k, padding=k // 2)),
            # -> N x 2·channels x ⌊(d−1)/2⌋ x ⌊(d−1)/2⌋
            ("pool", nn.MaxPool2d(3, stride=2)),
        ]
    )
    return nn.Sequential(layers)


def build_pool_then_conv(
    *,
    channels: int = GRID_REDUCTION.channels,
    grid: int = GRID_REDUCTION.grid,
    kernel_size: int = 3,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """Figure 9, left: pool first, then expand k -> 2k on the small grid.

    A quarter of the cost, but the pooled map holds (d/2)²·k values, a quarter of the
    input's and half of the output's: the representational bottleneck section 2 warns
    against.
    """
    check_grid(grid, 3)
    k = _reduction_kernel(kernel_size)
    layers = OrderedDict(
        [
            # N x channels x d x d -> N x channels x ⌊(d−1)/2⌋ x ⌊(d−1)/2⌋
            ("pool", nn.MaxPool2d(3, stride=2)),
            # -> N x 2·channels x ⌊(d−1)/2⌋ x ⌊(d−1)/2⌋
            ("conv", conv_block(channels, 2 * channels, kernel_size=k, padding=k // 2)),
        ]
    )
    return nn.Sequential(layers)


class ParallelReduction(nn.Module):
    """Figure 10 (right): a stride-2 conv k -> k beside a stride-2 pool, concatenated to 2k.

    Both halves read the full grid, so no narrow small map stands between input and
    output, and the conv makes only half of the output channels: an eighth of the
    reference's cost when the output grid is d/2. The conv's padding
    ``(kernel_size − 3)/2`` centres its window on the pool's (valid 3×3/2), so both give
    the same grid and their concatenation is aligned. At ``kernel_size=3`` this is
    Inception-v3's ``Mixed_6a`` without its double-3×3 tower.
    """

    def __init__(
        self, channels: int, *, kernel_size: int = 3, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        k = _reduction_kernel(kernel_size)
        self.conv = conv_block(channels, channels, kernel_size=k, stride=2, padding=(k - 3) // 2)
        self.pool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x channels x d x d -> N x 2·channels x ⌊(d−1)/2⌋ x ⌊(d−1)/2⌋
        return torch.cat([self.conv(x), self.pool(x)], 1)


def build_parallel_reduction(
    *,
    channels: int = GRID_REDUCTION.channels,
    grid: int = GRID_REDUCTION.grid,
    kernel_size: int = 3,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """Figure 10: the paper's cheaper reduction without the bottleneck."""
    check_grid(grid, 3)
    return ParallelReduction(channels, kernel_size=kernel_size, conv_block=conv_block)


def _register(
    name: str,
    family: str,
    builder: Callable[..., nn.Module],
    setting: Setting,
    reproduces: str,
    differences: str = "",
    *,
    reference: bool = False,
) -> None:
    """A factorization entry: ``reproduces`` says where in the paper, then names it."""
    register_parametric(
        name,
        family,
        builder,
        setting,
        f"{reproduces}; {PAPER}",
        differences,
        tag="factorization",
        channels_key="channels",
        reference=reference,
    )


_BN = "conv → BN → ReLU units; the paper's cost counts cover the convs only"
_GRID = "one conv (3×3 by default) for the figure's Inception module; valid 3×3/2 max pool"


class _Entry(NamedTuple):
    """One factorization entry as :func:`_register` takes it."""

    name: str
    family: str
    builder: Callable[..., nn.Module]
    setting: Setting
    reproduces: str
    differences: str = ""
    reference: bool = False


def _asym(n: int) -> tuple[_Entry, _Entry]:
    """The asym_n family: the n×n conv, then 1×n → n×1 for it."""
    return (
        _Entry(
            f"asym_{n}_conv{n}x{n}",
            f"asym_{n}",
            partial(build_conv_nxn, n=n),
            ASYM,
            f"the {n}×{n} conv that 1×{n} + {n}×1 replaces (section 3.2)",
            _BN,
            reference=True,
        ),
        _Entry(
            f"asym_{n}_1x{n}_{n}x1",
            f"asym_{n}",
            partial(build_1xn_nx1, n=n),
            ASYM,
            f"1×{n} then {n}×1 for a {n}×{n} (section 3.2, figures 3 and 6)",
            f"{_BN}; 1×n first as in figure 6 (figure 3 draws 3×1 first: same cost and field)",
        ),
    )


# Every family, its reference first, in registry order.
ENTRIES: tuple[_Entry, ...] = (
    _Entry(
        "fact_5x5_conv5x5",
        "fact_5x5",
        partial(build_conv_nxn, n=5),
        FACT_5X5,
        "the 5×5 conv that figure 1 replaces (section 3.1)",
        _BN,
        reference=True,
    ),
    _Entry(
        "fact_5x5_two_3x3",
        "fact_5x5",
        build_two_3x3,
        FACT_5X5,
        "two 3×3 convs for a 5×5 (section 3.1, figure 1)",
        _BN,
    ),
    *(entry for n in (3, 5, 7) for entry in _asym(n)),
    _Entry(
        "fact_3x3_conv3x3",
        "fact_3x3",
        partial(build_conv_nxn, n=3),
        FACT_3X3,
        "the 3×3 conv that two 2×2 convs replace (section 3.2)",
        _BN,
        reference=True,
    ),
    _Entry(
        "fact_3x3_two_2x2",
        "fact_3x3",
        build_two_2x2,
        FACT_3X3,
        "two 2×2 convs for a 3×3 (section 3.2)",
        f"{_BN}; padded right/bottom, then left/top, to keep the grid and the 3×3's centre",
    ),
    _Entry(
        "grid_conv_then_pool",
        "grid_reduction",
        build_conv_then_pool,
        GRID_REDUCTION,
        "expand, then pool: costly, without a bottleneck (section 5, figure 9 right)",
        _GRID,
        reference=True,
    ),
    _Entry(
        "grid_pool_then_conv",
        "grid_reduction",
        build_pool_then_conv,
        GRID_REDUCTION,
        "pool, then expand: a quarter of the cost, a bottleneck (section 5, figure 9 left)",
        _GRID,
    ),
    _Entry(
        "grid_parallel",
        "grid_reduction",
        build_parallel_reduction,
        GRID_REDUCTION,
        "stride-2 conv ‖ stride-2 pool, concatenated (section 5, figure 10 right)",
        "one conv (3×3/2 by default) for the conv side, where figure 10 (left) has two "
        "towers; valid 3×3/2 max pool",
    ),
)


def _register_all() -> None:
    """Every entry of :data:`ENTRIES`, in order."""
    for entry in ENTRIES:
        _register(*entry[:-1], reference=entry.reference)


_register_all()
