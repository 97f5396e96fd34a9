"""BN-Inception: GoogLeNet with batch normalization and the 5×5 convs split in two 3×3.

Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", Figure 5, in the layout of pretrainedmodels'
``bninception`` (a port of the Caffe model): same layers, widths, pools and parameter
count; module names are the paper's (``inception_3a`` …) rather than Caffe's flat ones.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import torch
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock
from incprof.registry import Accuracy, Variant, register


class BNInceptionSpec(NamedTuple):
    """One row of Figure 5. ``ch1x1 == 0`` and ``pool_proj == 0`` mark the stride-2
    modules, which have no 1×1 branch and pass the pooled input through unprojected."""

    name: str
    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch_double_reduce: int
    ch_double: int
    pool: Literal["avg", "max"]
    pool_proj: int
    stride: int

    def out_channels(self, in_channels: int) -> int:
        pooled = self.pool_proj or in_channels
        return self.ch1x1 + self.ch3x3 + self.ch_double + pooled


# Figure 5, in forward order. 3c and 4e halve the grid.
BN_INCEPTION_TABLE: tuple[BNInceptionSpec, ...] = (
    BNInceptionSpec("inception_3a", 64, 64, 64, 64, 96, "avg", 32, stride=1),
    BNInceptionSpec("inception_3b", 64, 64, 96, 64, 96, "avg", 64, stride=1),
    BNInceptionSpec("inception_3c", 0, 128, 160, 64, 96, "max", 0, stride=2),
    BNInceptionSpec("inception_4a", 224, 64, 96, 96, 128, "avg", 128, stride=1),
    BNInceptionSpec("inception_4b", 192, 96, 128, 96, 128, "avg", 128, stride=1),
    BNInceptionSpec("inception_4c", 160, 128, 160, 128, 160, "avg", 128, stride=1),
    BNInceptionSpec("inception_4d", 96, 128, 192, 160, 192, "avg", 128, stride=1),
    BNInceptionSpec("inception_4e", 0, 128, 192, 192, 256, "max", 0, stride=2),
    BNInceptionSpec("inception_5a", 352, 192, 320, 160, 224, "avg", 128, stride=1),
    BNInceptionSpec("inception_5b", 352, 192, 320, 192, 224, "max", 128, stride=1),
)
STEM_CHANNELS = 192  # conv2's output, the input of inception_3a

# pretrainedmodels' unit: conv with bias → BN (PyTorch's default eps 1e-5) → ReLU.
CAFFE_BN_CONV: ConvBlock = partial(BasicConv2d, bias=True, eps=1e-5)


def _pool(kind: Literal["avg", "max"], stride: int) -> nn.Module:
    if stride == 2:
        # Caffe's unpadded ceil-mode pool; beside the padded stride-2 convs it lines up
        # only on even grids (see the variant's differences).
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)
    if kind == "avg":
        return nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
    return nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)


class BNInceptionModule(nn.Module):
    """Parallel branches (1×1; 1×1→3×3; 1×1→3×3→3×3; pool→1×1), concatenated.

    Stride-2 modules (3c, 4e) drop the 1×1 branch, put the stride on the last conv of
    each 3×3 branch, and concatenate the max-pooled input as it is.
    """

    def __init__(
        self, in_channels: int, spec: BNInceptionSpec, *, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        s = spec.stride
        if spec.ch1x1:
            self.branch_1x1 = conv_block(in_channels, spec.ch1x1, kernel_size=1)
        self.branch_3x3 = nn.Sequential(
            conv_block(in_channels, spec.ch3x3_reduce, kernel_size=1),
            conv_block(spec.ch3x3_reduce, spec.ch3x3, kernel_size=3, stride=s, padding=1),
        )
        self.branch_double_3x3 = nn.Sequential(
            conv_block(in_channels, spec.ch_double_reduce, kernel_size=1),
            conv_block(spec.ch_double_reduce, spec.ch_double, kernel_size=3, padding=1),
            conv_block(spec.ch_double, spec.ch_double, kernel_size=3, stride=s, padding=1),
        )
        pool = _pool(spec.pool, s)
        if spec.pool_proj:
            self.branch_pool = nn.Sequential(
                pool, conv_block(in_channels, spec.pool_proj, kernel_size=1)
            )
        else:
            self.branch_pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The branches are the children, registered in concatenation order.
        return torch.cat([branch(x) for branch in self.children()], 1)


class BNInception(nn.Module):
    """BN-Inception with a global-average-pool head and no dropout or aux heads."""

    def __init__(self, *, num_classes: int = 1000, conv_block: ConvBlock = CAFFE_BN_CONV) -> None:
        super().__init__()
        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2_reduce = conv_block(64, 64, kernel_size=1)
        self.conv2 = conv_block(64, STEM_CHANNELS, kernel_size=3, padding=1)
        self.pool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels = STEM_CHANNELS
        for spec in BN_INCEPTION_TABLE:
            self.add_module(spec.name, BNInceptionModule(channels, spec, conv_block=conv_block))
            channels = spec.out_channels(channels)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 3 x 224 x 224
        x = self.pool1(self.conv1(x))
        # N x 64 x 56 x 56
        x = self.pool2(self.conv2(self.conv2_reduce(x)))
        # N x 192 x 28 x 28
        x = self.inception_3b(self.inception_3a(x))
        # N x 320 x 28 x 28
        x = self.inception_3c(x)
        # N x 576 x 14 x 14
        x = self.inception_4d(self.inception_4c(self.inception_4b(self.inception_4a(x))))
        # N x 608 x 14 x 14
        x = self.inception_4e(x)
        # N x 1056 x 7 x 7
        x = self.inception_5b(self.inception_5a(x))
        # N x 1024 x 7 x 7 -> N x num_classes
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_bn_inception(
    *, num_classes: int = 1000, conv_block: ConvBlock = CAFFE_BN_CONV
) -> nn.Module:
    """pretrainedmodels' ``bninception`` layout with the paper's module names."""
    return BNInception(num_classes=num_classes, conv_block=conv_block)


register(
    Variant(
        name="bn_inception",
        family="bn_inception",
        tag="network",
        builder=build_bn_inception,
        input_shape=(3, 224, 224),
        reproduces=(
            "Ioffe & Szegedy 2015, Figure 5, as pretrainedmodels.bninception "
            "(Cadene/pretrained-models.pytorch pretrainedmodels/models/bninception.py)"
        ),
        differences=(
            "pretrainedmodels layout (a Caffe port), not exactly the paper's Figure 5. "
            "The first layer is a plain 7×7/2 conv; the paper used a separable conv with "
            "depth multiplier 8. Every conv has a bias in front of its BN (the paper notes the "
            "bias is redundant under BN); BN eps is 1e-5. Widths, the avg/max choice per "
            "module (max in 3c, 4e and 5b) and the 3c/4e max + pass-through follow Figure 5; "
            "its listed output depths for 4c (576) and 4e (1024) do not match its own branch "
            "widths, which give 608 and 1056, the widths used here. Pools are Caffe's: "
            "unpadded 3×3/2 ceil-mode max pools in the stem and in 3c/4e, while the stride-2 "
            "3×3 convs there are padded by 1, so in 3c/4e the conv and pool windows are "
            "offset by one input pixel and the concat only matches on even grids (any "
            "multiple of 32 such as 224 or 320 works; 232 does not). The head is a global "
            "average pool (pretrainedmodels: a fixed 7×7 pool, 224 only) and the classifier is "
            "named fc (pretrainedmodels: last_linear); no dropout and no aux heads, as in "
            "pretrainedmodels. Module names are the paper's, nested "
            "(inception_3a.branch_3x3.0.conv …), where pretrainedmodels names Caffe's blobs "
            "flat (inception_3a_3x3_reduce …). The paper reports 74.8% top-1 / 92.18% top-5 "
            "for a single model, single crop (Table 3, 25.2% / 7.82% error)."
        ),
        accuracy=Accuracy(
            top1=73.524,
            top5=91.562,
            source="pretrainedmodels README (Cadene/pretrained-models.pytorch), bninception",
        ),
        aliases=("bninception",),
        end_points=tuple(spec.name for spec in BN_INCEPTION_TABLE),
    )
)
