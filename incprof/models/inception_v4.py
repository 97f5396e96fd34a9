"""Inception-v4 in timm's layout, with TF-slim end point names.

Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning" (arXiv 1602.07261), figures 3-9. Widths, kernel shapes, paddings
and the order in which layers are defined are those of timm's ``inception_v4`` (the port of
the TF-slim checkpoint), so the parameter count, MACs, output shapes and the ordered list
of parameter shapes all match it. The network-level modules carry TF-slim's end point names
(``Mixed_6a``) instead of timm's ``features.N``; inside a block the names are timm's
(``branch0``, ``branch1_1a``), so a timm state_dict loads after renaming its prefixes.
"""

from __future__ import annotations

import string
from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock
from incprof.registry import Accuracy, Variant, register


class Mixed3a(nn.Module):
    """Stem split 1 (figure 3): 3×3/2 max pool ‖ 3×3/2 conv 96; 64 -> 160 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, stride=2)
        self.conv = conv_block(64, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.maxpool(x), self.conv(x)], 1)


class Mixed4a(nn.Module):
    """Stem split 2 (figure 3): two towers ending in a valid 3×3; 160 -> 192 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(
            conv_block(160, 64, kernel_size=1),
            conv_block(64, 96, kernel_size=3),
        )
        self.branch1 = nn.Sequential(
            conv_block(160, 64, kernel_size=1),
            conv_block(64, 64, kernel_size=(1, 7), padding=(0, 3)),
            conv_block(64, 64, kernel_size=(7, 1), padding=(3, 0)),
            conv_block(64, 96, kernel_size=3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x)], 1)


class Mixed5a(nn.Module):
    """Stem split 3 (figure 3): 3×3/2 conv 192 ‖ 3×3/2 max pool; 192 -> 384 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.conv = conv_block(192, 192, kernel_size=3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.maxpool(x)], 1)


class InceptionA(nn.Module):
    """35×35 Inception-A (figure 4): 96 | 64→96 | 64→96→96 | avg pool→96; 384 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = conv_block(384, 96, kernel_size=1)
        self.branch1 = nn.Sequential(
            conv_block(384, 64, kernel_size=1),
            conv_block(64, 96, kernel_size=3, padding=1),
        )
        self.branch2 = nn.Sequential(
            conv_block(384, 64, kernel_size=1),
            conv_block(64, 96, kernel_size=3, padding=1),
            conv_block(96, 96, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            conv_block(384, 96, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        return torch.cat([branch(x) for branch in branches], 1)


class ReductionA(nn.Module):
    """35 -> 17 reduction (figure 7, Table 1: k, l, m, n = 192, 224, 256, 384); 1024 out."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = conv_block(384, 384, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            conv_block(384, 192, kernel_size=1),
            conv_block(192, 224, kernel_size=3, padding=1),
            conv_block(224, 256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class InceptionB(nn.Module):
    """17×17 Inception-B (figure 5): 7×7 factorized into 1×7 and 7×1; 1024 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = conv_block(1024, 384, kernel_size=1)
        self.branch1 = nn.Sequential(
            conv_block(1024, 192, kernel_size=1),
            conv_block(192, 224, kernel_size=(1, 7), padding=(0, 3)),
            conv_block(224, 256, kernel_size=(7, 1), padding=(3, 0)),
        )
        self.branch2 = nn.Sequential(
            conv_block(1024, 192, kernel_size=1),
            conv_block(192, 192, kernel_size=(7, 1), padding=(3, 0)),
            conv_block(192, 224, kernel_size=(1, 7), padding=(0, 3)),
            conv_block(224, 224, kernel_size=(7, 1), padding=(3, 0)),
            conv_block(224, 256, kernel_size=(1, 7), padding=(0, 3)),
        )
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            conv_block(1024, 128, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        return torch.cat([branch(x) for branch in branches], 1)


class ReductionB(nn.Module):
    """17 -> 8 reduction (figure 8): 192 | 320 | max pool (1024); 1536 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(
            conv_block(1024, 192, kernel_size=1),
            conv_block(192, 192, kernel_size=3, stride=2),
        )
        self.branch1 = nn.Sequential(
            conv_block(1024, 256, kernel_size=1),
            conv_block(256, 256, kernel_size=(1, 7), padding=(0, 3)),
            conv_block(256, 320, kernel_size=(7, 1), padding=(3, 0)),
            conv_block(320, 320, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class InceptionC(nn.Module):
    """8×8 Inception-C (figure 6): towers that split into 1×3 ‖ 3×1; 1536 channels.

    The split towers are flat attributes (``branch1_1a``, ``branch1_1b``) as in timm, in
    the order timm defines them, so parameters register in timm's order.
    """

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = conv_block(1536, 256, kernel_size=1)

        self.branch1_0 = conv_block(1536, 384, kernel_size=1)
        self.branch1_1a = conv_block(384, 256, kernel_size=(1, 3), padding=(0, 1))
        self.branch1_1b = conv_block(384, 256, kernel_size=(3, 1), padding=(1, 0))

        self.branch2_0 = conv_block(1536, 384, kernel_size=1)
        self.branch2_1 = conv_block(384, 448, kernel_size=(3, 1), padding=(1, 0))
        self.branch2_2 = conv_block(448, 512, kernel_size=(1, 3), padding=(0, 1))
        self.branch2_3a = conv_block(512, 256, kernel_size=(1, 3), padding=(0, 1))
        self.branch2_3b = conv_block(512, 256, kernel_size=(3, 1), padding=(1, 0))

        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            conv_block(1536, 256, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.branch1_0(x)
        x2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return torch.cat(
            [
                self.branch0(x),
                self.branch1_1a(x1),
                self.branch1_1b(x1),
                self.branch2_3a(x2),
                self.branch2_3b(x2),
                self.branch3(x),
            ],
            1,
        )


class Stage(NamedTuple):
    """One grid size: the layer that reduces to it (``Mixed_<grid>a``), then its blocks."""

    grid: int  # the TF-slim end point number: Mixed_<grid><letter>
    reduction: type[nn.Module]
    block: type[nn.Module]
    repeats: int

    def names(self) -> tuple[str, ...]:
        """``Mixed_6a`` for the reduction, then ``Mixed_6b`` ... for the repeated blocks."""
        letters = string.ascii_lowercase[: 1 + self.repeats]
        return tuple(f"Mixed_{self.grid}{letter}" for letter in letters)


# Figure 9, after the convolutional stem (Conv2d_1a..2b, Mixed_3a, Mixed_4a).
STAGES: tuple[Stage, ...] = (
    Stage(5, Mixed5a, InceptionA, repeats=4),  # N x 384 x 35 x 35
    Stage(6, ReductionA, InceptionB, repeats=7),  # N x 1024 x 17 x 17
    Stage(7, ReductionB, InceptionC, repeats=3),  # N x 1536 x 8 x 8
)
NUM_FEATURES = 1536


def _stage_layers(stage: Stage, conv_block: ConvBlock) -> OrderedDict[str, nn.Module]:
    first, *rest = stage.names()
    return OrderedDict(
        [(first, stage.reduction(conv_block)), *((name, stage.block(conv_block)) for name in rest)]
    )


class InceptionV4(nn.Sequential):
    """Inception-v4: a plain chain of TF-slim end points, then the classifier head.

    The network has no side branches or aux heads, so it is a ``Sequential``; its
    children, in forward order, are the stem convs, ``Mixed_3a`` … ``Mixed_7d``,
    ``avgpool``, ``flatten``, ``dropout`` and ``fc`` (timm calls it ``last_linear``).
    """

    def __init__(
        self, *, num_classes: int = 1000, dropout: float = 0.2, conv_block: ConvBlock
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            [
                # N x 3 x 299 x 299
                ("Conv2d_1a_3x3", conv_block(3, 32, kernel_size=3, stride=2)),
                # N x 32 x 149 x 149
                ("Conv2d_2a_3x3", conv_block(32, 32, kernel_size=3)),
                # N x 32 x 147 x 147
                ("Conv2d_2b_3x3", conv_block(32, 64, kernel_size=3, padding=1)),
                # N x 64 x 147 x 147
                ("Mixed_3a", Mixed3a(conv_block)),
                # N x 160 x 73 x 73
                ("Mixed_4a", Mixed4a(conv_block)),
                # N x 192 x 71 x 71
            ]
        )
        for stage in STAGES:
            layers.update(_stage_layers(stage, conv_block))
        # N x 1536 x 8 x 8
        layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten(1)
        layers["dropout"] = nn.Dropout(dropout)
        layers["fc"] = nn.Linear(NUM_FEATURES, num_classes)
        super().__init__(layers)


def build_inception_v4(
    *, num_classes: int = 1000, dropout: float = 0.2, conv_block: ConvBlock = BasicConv2d
) -> nn.Module:
    """timm's ``inception_v4``; dropout 0.2 is TF-slim's keep_prob 0.8 (timm defaults to 0)."""
    return InceptionV4(num_classes=num_classes, dropout=dropout, conv_block=conv_block)


END_POINTS: tuple[str, ...] = (
    "Mixed_3a",
    "Mixed_4a",
    *(name for stage in STAGES for name in stage.names()),
)

register(
    Variant(
        name="inception_v4",
        family="inception_v4",
        tag="network",
        builder=build_inception_v4,
        input_shape=(3, 299, 299),
        reproduces=(
            "timm inception_v4 (huggingface/pytorch-image-models timm/models/inception_v4.py), "
            "the TF-slim port of Szegedy et al. 2016 (arXiv 1602.07261), figures 3-9"
        ),
        differences=(
            "Same layers, parameter order and shapes as timm (42,679,816 parameters at 1000 "
            "classes); conv → BN(eps 1e-3) → ReLU without conv bias. Module names are "
            "TF-slim end points (Mixed_5b …) instead of timm's features.N, and the classifier "
            "is 'fc' (timm: last_linear). Dropout before fc defaults to 0.2 (TF-slim's "
            "keep_prob 0.8; timm's drop_rate defaults to 0); it has no parameters or MACs. "
            "Inception-C's second tower runs 3×1 then 1×3 as timm/TF-slim do; the paper's "
            "figure 6 draws 1×3 then 3×1 (same cost)."
        ),
        accuracy=Accuracy(
            top1=80.156,
            top5=94.968,
            source=(
                "timm results-imagenet.csv, inception_v4.tf_in1k (299 px, crop 0.875, bicubic)"
            ),
        ),
        end_points=END_POINTS,
    )
)
