"""Single Inception modules, on their own, at the input the source studies them on.

Two families:

* ``seed_blocks``: the three blocks seed document 002 hand-counts at 256×28×28, the
  steps from GoogLeNet's naïve module (Szegedy et al. 2014, figure 2a) to the one with
  1×1 reductions (figure 2b), then to BN-Inception's (Ioffe & Szegedy 2015), where BN is
  added and the 5×5 becomes two 3×3. Widths, kernels, paddings and pools are the seed's.
* ``inception_v3_modules``: Inception-v3's module types, the classes of
  :mod:`incprof.models.inception_v3`, each at the place it has in the network.

Builders take ``in_channels`` and ``grid`` (H = W) overrides, plus the widths that make
sense for the block; the modules run on any large enough grid, and ``grid`` sets the
input the registry reports for them.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock
from incprof.models.inception_v3 import MIXED
from incprof.models.parametric import Setting, check_grid, register_parametric

# conv (with bias) → ReLU: the pre-BN unit of the naïve block.
BIASED_CONV: ConvBlock = partial(BasicConv2d, bias=True, batch_norm=False)
# The seed's BasicConv2d for the reduced block: conv without bias → ReLU, no BN.
UNBIASED_CONV: ConvBlock = partial(BasicConv2d, batch_norm=False)
# Its BasicConv2dBN: conv without bias → BN(eps 1e-3) → ReLU, which is BasicConv2d as is.
BN_CONV: ConvBlock = BasicConv2d


class NaiveWidths(NamedTuple):
    """The naïve module's three conv widths; its pool branch keeps the input's width."""

    ch1x1: int
    ch3x3: int
    ch5x5: int


class ReducedWidths(NamedTuple):
    """The widths of a module with 1×1 reductions, in the seed's ``out_ch`` order."""

    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


SEED_INPUT = Setting(channels=256, grid=28)
SEED_NAIVE = NaiveWidths(ch1x1=128, ch3x3=192, ch5x5=96)  # 128 + 192 + 96 + 256 = 672 out
SEED_REDUCED = ReducedWidths(
    ch1x1=128, ch3x3_reduce=64, ch3x3=192, ch5x5_reduce=64, ch5x5=96, pool_proj=64
)  # 128 + 192 + 96 + 64 = 480 out


class NaiveInception(nn.Module):
    """1×1 | 3×3 | 5×5 | 3×3 max pool, side by side on the full input width.

    Every conv reads all input channels and the pool passes them all through, so cost and
    output width grow with the input: the problem the 1×1 reductions solve.
    """

    def __init__(
        self, in_channels: int, widths: NaiveWidths, *, conv_block: ConvBlock = BIASED_CONV
    ) -> None:
        super().__init__()
        self.branch1 = conv_block(in_channels, widths.ch1x1, kernel_size=1)
        self.branch2 = conv_block(in_channels, widths.ch3x3, kernel_size=3, padding=1)
        self.branch3 = conv_block(in_channels, widths.ch5x5, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


class ReducedInception(nn.Module):
    """1×1 | 1×1→3×3 | 1×1→5×5 (or →3×3→3×3) | max pool→1×1, as seed 002 writes it.

    The pool branch is the seed's: an unpadded 3×3/1 max pool (d -> d − 2) and a 1×1 conv
    with padding 1 that grows the grid back to d, so its border ring is the conv's
    response to zeros. ``factorize_5x5`` replaces the 5×5 with two 3×3, the second one
    ``ch5x5`` -> ``ch5x5`` wide.
    """

    def __init__(
        self,
        in_channels: int,
        widths: ReducedWidths,
        *,
        factorize_5x5: bool = False,
        conv_block: ConvBlock = UNBIASED_CONV,
    ) -> None:
        super().__init__()
        w = widths
        self.branch1 = conv_block(in_channels, w.ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, w.ch3x3_reduce, kernel_size=1),
            conv_block(w.ch3x3_reduce, w.ch3x3, kernel_size=3, padding=1),
        )
        if factorize_5x5:
            window: list[nn.Module] = [
                conv_block(w.ch5x5_reduce, w.ch5x5, kernel_size=3, padding=1),
                conv_block(w.ch5x5, w.ch5x5, kernel_size=3, padding=1),
            ]
        else:
            window = [conv_block(w.ch5x5_reduce, w.ch5x5, kernel_size=5, padding=2)]
        self.branch3 = nn.Sequential(
            conv_block(in_channels, w.ch5x5_reduce, kernel_size=1), *window
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1),
            conv_block(in_channels, w.pool_proj, kernel_size=1, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


def build_block_naive(
    *,
    in_channels: int = SEED_INPUT.channels,
    grid: int = SEED_INPUT.grid,
    widths: NaiveWidths = SEED_NAIVE,
    conv_block: ConvBlock = BIASED_CONV,
) -> nn.Module:
    """Seed 002's ``NaiveBlock``: N x 256 x 28 x 28 -> N x 672 x 28 x 28."""
    check_grid(grid)
    return NaiveInception(in_channels, widths, conv_block=conv_block)


def build_block_reduced(
    *,
    in_channels: int = SEED_INPUT.channels,
    grid: int = SEED_INPUT.grid,
    widths: ReducedWidths = SEED_REDUCED,
    conv_block: ConvBlock = UNBIASED_CONV,
) -> nn.Module:
    """Seed 002's ``InceptionBlock``: N x 256 x 28 x 28 -> N x 480 x 28 x 28."""
    check_grid(grid, 3)
    return ReducedInception(in_channels, widths, conv_block=conv_block)


def build_block_bn_factorized(
    *,
    in_channels: int = SEED_INPUT.channels,
    grid: int = SEED_INPUT.grid,
    widths: ReducedWidths = SEED_REDUCED,
    conv_block: ConvBlock = BN_CONV,
) -> nn.Module:
    """Seed 002's ``InceptionBlockV2``: N x 256 x 28 x 28 -> N x 480 x 28 x 28."""
    check_grid(grid, 3)
    return ReducedInception(in_channels, widths, factorize_5x5=True, conv_block=conv_block)


class V3Place(NamedTuple):
    """Where the module type of one of the paper's figures sits in Inception-v3."""

    mixed: str  # the network's module of that type whose widths the block takes
    grid: int  # that module's input grid in the network
    smallest_grid: int  # the smallest grid the module runs on


V3_FIGURES: dict[str, V3Place] = {
    "fig5": V3Place("Mixed_5d", grid=35, smallest_grid=1),  # InceptionA: 288 -> 288
    "fig6": V3Place("Mixed_6e", grid=17, smallest_grid=1),  # InceptionC: 768 -> 768
    "fig7": V3Place("Mixed_7c", grid=8, smallest_grid=1),  # InceptionE: 2048 -> 2048
    "fig10": V3Place("Mixed_6a", grid=35, smallest_grid=3),  # InceptionB: 288 -> 768, 35 -> 17
}


def build_block_v3(
    figure: str,
    *,
    in_channels: int | None = None,
    grid: int | None = None,
    pool_features: int | None = None,
    channels_7x7: int | None = None,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """The module type of ``figure`` (a key of ``V3_FIGURES``) as Inception-v3 has it at
    that place, e.g. fig5: ``InceptionA`` as ``Mixed_5d``, N x 288 x 35 x 35 -> the same.

    ``in_channels`` and ``grid`` default to the place's; ``pool_features`` (InceptionA)
    and ``channels_7x7`` (InceptionC) override the only widths their types have.
    """
    if figure not in V3_FIGURES:
        raise ValueError(f"figure must be one of {', '.join(V3_FIGURES)}, got {figure!r}")
    place = V3_FIGURES[figure]
    check_grid(place.grid if grid is None else grid, place.smallest_grid)
    spec = MIXED[place.mixed]
    widths = {"pool_features": pool_features, "channels_7x7": channels_7x7}
    given = {key: value for key, value in widths.items() if value is not None}
    for key in given:
        if getattr(spec, key) is None:
            raise TypeError(f"{spec.block.__name__} ({figure}) has no {key} to set")
    if in_channels is not None:
        given["in_channels"] = in_channels
    return spec._replace(**given).build(conv_block)


_register = partial(register_parametric, tag="block", channels_key="in_channels")


def _register_v3(figure: str, reproduces: str, differences: str = "") -> None:
    place = V3_FIGURES[figure]
    _register(
        f"block_v3_{figure}",
        "inception_v3_modules",
        partial(build_block_v3, figure),
        Setting(MIXED[place.mixed].in_channels, place.grid),
        reproduces,
        differences,
    )


_SEED = "seed 002 (hand-counted at 256×28×28)"
_POOL_QUIRK = (
    "Reproduces the seed's pool branch as written: an unpadded 3×3/1 max pool (28 -> 26) "
    "then a 1×1 conv with padding 1 (26 -> 28), so the branch's border ring is the conv of "
    "zeros (ReLU(0) = 0 without BN; ReLU(BN(0)) with it) rather than pooled input; GoogLeNet "
    "pads the pool instead. Same MACs as the padded version: the seed counts the 1×1 at 28×28."
)
_TV = "torchvision's inception_v3 (pytorch/vision torchvision/models/inception.py)"


def _register_all() -> None:
    _register(
        "block_naive",
        "seed_blocks",
        build_block_naive,
        SEED_INPUT,
        f"Inception module, naïve version (Szegedy et al. 2014, figure 2a), as {_SEED}'s "
        "NaiveBlock: 1×1 128 | 3×3 192 | 5×5 96 convs with bias, ReLU | 3×3/1 max pool",
        "Branches are named branch1..branch4 as in the other seed blocks (the seed: cov1x1, "
        "cov3x3, cov5x5, maxpool); no print in forward.",
    )
    _register(
        "block_reduced",
        "seed_blocks",
        build_block_reduced,
        SEED_INPUT,
        f"Inception module with dimension reductions (Szegedy et al. 2014, figure 2b), as "
        f"{_SEED}'s InceptionBlock: conv (no bias) → ReLU, no BN; widths "
        "(128, 64, 192, 64, 96, 64)",
        f"{_POOL_QUIRK} No print in forward.",
    )
    _register(
        "block_bn_factorized",
        "seed_blocks",
        build_block_bn_factorized,
        SEED_INPUT,
        f"BN-Inception's change to the module (Ioffe & Szegedy 2015: BN, and the 5×5 as two "
        f"3×3), as {_SEED}'s InceptionBlockV2: conv (no bias) → BN(eps 1e-3) → ReLU; "
        "the 5×5 tower becomes 1×1 64 → 3×3 96 → 3×3 96",
        f"{_POOL_QUIRK} No print in forward.",
    )
    _register_v3(
        "fig5",
        f"InceptionA as Mixed_5d of {_TV}: figure 5 of 'Rethinking the Inception "
        "Architecture' (two 3×3 for a 5×5), pool_features 64",
        "Keeps the TF model's 5×5 tower (48 -> 64) beside the double 3×3, as torchvision does.",
    )
    _register_v3(
        "fig6",
        f"InceptionC as Mixed_6e of {_TV}: figure 6 of 'Rethinking the Inception "
        "Architecture' (7×7 as 1×7 and 7×1), channels_7x7 192",
    )
    _register_v3(
        "fig7",
        f"InceptionE as Mixed_7c of {_TV}: figure 7 of 'Rethinking the Inception "
        "Architecture' (expanded filter-bank outputs on the 8×8 grid)",
    )
    _register_v3(
        "fig10",
        f"InceptionB as Mixed_6a of {_TV}: the grid reduction of figure 10 of 'Rethinking "
        "the Inception Architecture' (stride-2 conv towers beside a stride-2 max pool), "
        "35×35 -> 17×17",
        "The single tower is a 3×3/2 conv (384) straight on the input, without the 1×1 that "
        "figure 10 (left) puts before it; widths are the TF model's (the figure gives none).",
    )


_register_all()
