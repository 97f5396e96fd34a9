"""Inception-v3 in torchvision's layout.

Szegedy et al. 2015, "Rethinking the Inception Architecture for Computer Vision"
(arXiv 1512.00567), Table 1, as ported from TF-slim by torchvision
(``torchvision.models.inception_v3``; timm's ``inception_v3`` is the same network).
Attribute names, widths, kernel shapes, paddings and layer order are torchvision's, so
``state_dict()`` keys and shapes, the parameter count and the MACs match it exactly.

As in torchvision, the pools inside the Inception modules and the aux head are functional
calls (``F.avg_pool2d``, ``F.max_pool2d``), so the module tree is torchvision's too; the
analyzers see them at the operator level all the same.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock, holds_no_data
from incprof.registry import Accuracy, Variant, register


class InceptionA(nn.Module):
    """35×35 module, the paper's figure 5: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool→1×1.

    Figure 5 replaces the 5×5 with two 3×3 (the ``branch3x3dbl`` tower). The TF-slim
    network this layout comes from kept a 48→64 5×5 tower beside it, so both are here.
    Output: 64 + 64 + 96 + ``pool_features`` channels.
    """

    def __init__(
        self, in_channels: int, pool_features: int, *, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        self.branch1x1 = conv_block(in_channels, 64, kernel_size=1)

        self.branch5x5_1 = conv_block(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = conv_block(48, 64, kernel_size=5, padding=2)

        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, padding=1)

        self.branch_pool = conv_block(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    """35 -> 17 grid reduction in the manner of the paper's figure 10.

    A stride-2 3×3 conv (384) ‖ a 1×1→3×3→3×3/2 tower (96) ‖ a 3×3/2 max pool, side by
    side: the grid halves while the filter bank grows, without the representational
    bottleneck of pooling first (section 5). The pooled input is passed through
    unprojected, so the output has 384 + 96 + ``in_channels`` channels.
    """

    def __init__(self, in_channels: int, *, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch3x3 = conv_block(in_channels, 384, kernel_size=3, stride=2)

        self.branch3x3dbl_1 = conv_block(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([self.branch3x3(x), branch3x3dbl, branch_pool], 1)


class InceptionC(nn.Module):
    """17×17 module, the paper's figure 6: each n×n factorized into 1×n and n×1, n = 7.

    1×1 | 1×1→1×7→7×1 | 1×1→7×1→1×7→7×1→1×7 | avg pool→1×1, every branch ending at 192
    (768 channels). ``channels_7x7`` is the width inside the two towers (128 to 192).
    """

    def __init__(
        self, in_channels: int, channels_7x7: int, *, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = conv_block(in_channels, 192, kernel_size=1)

        self.branch7x7_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = conv_block(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = conv_block(c7, 192, kernel_size=(7, 1), padding=(3, 0))

        self.branch7x7dbl_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = conv_block(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = conv_block(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = conv_block(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = conv_block(c7, 192, kernel_size=(1, 7), padding=(0, 3))

        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for conv in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            branch7x7dbl = conv(branch7x7dbl)
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], 1)


class InceptionD(nn.Module):
    """17 -> 8 grid reduction, the figure-10 pattern again (the paper does not draw it).

    1×1→3×3/2 (320) ‖ 1×1→1×7→7×1→3×3/2 (192) ‖ 3×3/2 max pool; the output has
    320 + 192 + ``in_channels`` channels.
    """

    def __init__(self, in_channels: int, *, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch3x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = conv_block(192, 320, kernel_size=3, stride=2)

        self.branch7x7x3_1 = conv_block(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = conv_block(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv_block(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv_block(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = x
        for conv in (
            self.branch7x7x3_1,
            self.branch7x7x3_2,
            self.branch7x7x3_3,
            self.branch7x7x3_4,
        ):
            branch7x7x3 = conv(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch7x7x3, branch_pool], 1)


class InceptionE(nn.Module):
    """8×8 module, the paper's figure 7: expanded filter-bank outputs.

    On the coarsest grid the 3×3 towers end in a 1×3 and a 3×1 side by side rather than
    one after the other, to give high-dimensional representations (principle 2):
    1×1 (320) | 1×1→(1×3 ‖ 3×1) (768) | 1×1→3×3→(1×3 ‖ 3×1) (768) | avg pool→1×1 (192),
    2048 channels.
    """

    def __init__(self, in_channels: int, *, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch1x1 = conv_block(in_channels, 320, kernel_size=1)

        self.branch3x3_1 = conv_block(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))

        self.branch3x3dbl_1 = conv_block(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = conv_block(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))

        self.branch_pool = conv_block(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        d3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(d3), self.branch3x3dbl_3b(d3)], 1)
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on the last 17×17 output (the paper's figure 8).

    5×5/3 avg pool → 1×1 conv 128 → 5×5 conv 768 → global avg pool → fc. Section 4
    finds it acts as a regularizer; with BN in its convs it is Table 3's "BN-auxiliary".
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        self.conv0 = conv_block(in_channels, 128, kernel_size=1)
        self.conv1 = conv_block(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 768 x 17 x 17
        x = F.avg_pool2d(x, kernel_size=5, stride=3)
        # N x 768 x 5 x 5
        x = self.conv1(self.conv0(x))
        # N x 768 x 1 x 1 (larger at larger inputs, hence the adaptive pool)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class MixedSpec(NamedTuple):
    """One Inception module: torchvision's attribute name, its class and its widths.

    ``pool_features`` is set for :class:`InceptionA` and ``channels_7x7`` for
    :class:`InceptionC`, the only widths that vary between modules of one class.
    """

    name: str
    block: type[nn.Module]
    in_channels: int
    out_channels: int
    pool_features: int | None = None
    channels_7x7: int | None = None

    def build(self, conv_block: ConvBlock = BasicConv2d) -> nn.Module:
        options = {"pool_features": self.pool_features, "channels_7x7": self.channels_7x7}
        given = {key: value for key, value in options.items() if value is not None}
        return self.block(self.in_channels, conv_block=conv_block, **given)


# Table 1 after the stem: 3 × figure 5, reduction, 4 × figure 6, reduction, 2 × figure 7.
MIXED_TABLE: tuple[MixedSpec, ...] = (
    # N x 192 x 35 x 35 -> N x 288 x 35 x 35
    MixedSpec("Mixed_5b", InceptionA, 192, 256, pool_features=32),
    MixedSpec("Mixed_5c", InceptionA, 256, 288, pool_features=64),
    MixedSpec("Mixed_5d", InceptionA, 288, 288, pool_features=64),
    # N x 288 x 35 x 35 -> N x 768 x 17 x 17
    MixedSpec("Mixed_6a", InceptionB, 288, 768),
    MixedSpec("Mixed_6b", InceptionC, 768, 768, channels_7x7=128),
    MixedSpec("Mixed_6c", InceptionC, 768, 768, channels_7x7=160),
    MixedSpec("Mixed_6d", InceptionC, 768, 768, channels_7x7=160),
    MixedSpec("Mixed_6e", InceptionC, 768, 768, channels_7x7=192),
    # N x 768 x 17 x 17 -> N x 2048 x 8 x 8
    MixedSpec("Mixed_7a", InceptionD, 768, 1280),
    MixedSpec("Mixed_7b", InceptionE, 1280, 2048),
    MixedSpec("Mixed_7c", InceptionE, 2048, 2048),
)
MIXED: dict[str, MixedSpec] = {spec.name: spec for spec in MIXED_TABLE}
AUX_INPUT = "Mixed_6e"  # the aux head reads the last 17×17 output
NUM_FEATURES = 2048


class Inception3(nn.Module):
    """Inception-v3; in training mode with the aux head it returns (logits, aux_logits)."""

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        aux_logits: bool = True,
        dropout: float = 0.5,
        conv_block: ConvBlock = BasicConv2d,
    ) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = conv_block(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv_block(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv_block(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = conv_block(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv_block(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        for spec in MIXED_TABLE:
            self.add_module(spec.name, spec.build(conv_block))
            if spec.name == AUX_INPUT:  # registered here, in torchvision's order
                self.AuxLogits: InceptionAux | None = (
                    InceptionAux(spec.out_channels, num_classes, conv_block=conv_block)
                    if aux_logits
                    else None
                )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(NUM_FEATURES, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's scheme: truncated normal (cut at ±2), std 0.1, except the aux
        # head's 5×5 conv (0.01) and its fc (0.001); BN starts as the identity (torch's
        # default for it).
        if holds_no_data(self):
            return
        stds: dict[nn.Module, float] = {}
        if self.AuxLogits is not None:
            stds = {m: 0.01 for m in self.AuxLogits.conv1.modules()} | {self.AuxLogits.fc: 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=stds.get(m, 0.1), a=-2, b=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # N x 3 x 299 x 299
        x = self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))
        # N x 32 x 147 x 147
        x = self.maxpool1(self.Conv2d_2b_3x3(x))
        # N x 64 x 73 x 73
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        # N x 192 x 35 x 35
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        # N x 288 x 35 x 35
        x = self.Mixed_6a(x)
        # N x 768 x 17 x 17
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        # N x 768 x 17 x 17
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7a(x)
        # N x 1280 x 8 x 8
        x = self.Mixed_7c(self.Mixed_7b(x))
        # N x 2048 x 8 x 8
        x = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))
        # N x num_classes
        if aux is not None:
            return x, aux
        return x


def build_inception_v3(
    *,
    num_classes: int = 1000,
    aux_logits: bool = True,
    dropout: float = 0.5,
    conv_block: ConvBlock = BasicConv2d,
) -> nn.Module:
    """torchvision's ``inception_v3``: same state_dict keys, shapes and parameter count."""
    return Inception3(
        num_classes=num_classes, aux_logits=aux_logits, dropout=dropout, conv_block=conv_block
    )


# The stem outputs feature extractors read (timm's feature_info: Conv2d_2b_3x3 and
# Conv2d_4a_3x3; pytorch-fid's blocks: maxpool1 and maxpool2), then every Inception module.
END_POINTS: tuple[str, ...] = (
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_4a_3x3",
    "maxpool2",
    *(spec.name for spec in MIXED_TABLE),
)

register(
    Variant(
        name="inception_v3",
        family="inception_v3",
        tag="network",
        builder=build_inception_v3,
        input_shape=(3, 299, 299),
        reproduces=(
            "torchvision.models.inception_v3 (pytorch/vision torchvision/models/inception.py; "
            "timm's inception_v3 is the same network), the TF-slim port of Szegedy et al. "
            "2015, 'Rethinking the Inception Architecture', Table 1"
        ),
        differences=(
            "Same layout as torchvision: conv → BN(eps 1e-3) → ReLU without conv bias, the "
            "same attribute names, so state_dict keys and shapes match (23,834,568 "
            "parameters without AuxLogits, 27,161,264 with). Not reproduced: the "
            "transform_input option (no parameters, off by default). The training-mode output "
            "is a plain (logits, aux_logits) tuple where torchvision returns its "
            "InceptionOutputs namedtuple. Differs from the paper's figure 5 as the TF model "
            "does: the 35×35 modules keep a 5×5 tower beside the double 3×3."
        ),
        accuracy=Accuracy(
            top1=77.294,
            top5=93.45,
            source="torchvision docs, Inception_V3_Weights.IMAGENET1K_V1",
        ),
        end_points=END_POINTS,
    )
)
