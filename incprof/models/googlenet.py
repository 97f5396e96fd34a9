"""GoogLeNet (Inception-v1): the paper's network and torchvision's layout of it.

Szegedy et al. 2014, "Going deeper with convolutions", Table 1. Two variants share the
Inception table and differ where torchvision departed from the paper: BN instead of conv
bias, a 3×3 conv in the "5×5" branch, ceil-mode pools (2×2 before stage 5) and an
adaptive pool in the aux heads. Module names follow torchvision's ``googlenet``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock, holds_no_data
from incprof.registry import Accuracy, Variant, register


class InceptionSpec(NamedTuple):
    """One row of Table 1: the widths of an Inception module's four branches."""

    name: str
    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


# Table 1 of the paper, stage by stage; a stride-2 max pool (maxpool3, maxpool4) sits
# between stages.
INCEPTION_STAGES: tuple[tuple[InceptionSpec, ...], ...] = (
    (
        InceptionSpec("inception3a", 64, 96, 128, 16, 32, 32),
        InceptionSpec("inception3b", 128, 128, 192, 32, 96, 64),
    ),
    (
        InceptionSpec("inception4a", 192, 96, 208, 16, 48, 64),
        InceptionSpec("inception4b", 160, 112, 224, 24, 64, 64),
        InceptionSpec("inception4c", 128, 128, 256, 24, 64, 64),
        InceptionSpec("inception4d", 112, 144, 288, 32, 64, 64),
        InceptionSpec("inception4e", 256, 160, 320, 32, 128, 128),
    ),
    (
        InceptionSpec("inception5a", 256, 160, 320, 32, 128, 128),
        InceptionSpec("inception5b", 384, 192, 384, 48, 128, 128),
    ),
)
INCEPTION_TABLE: tuple[InceptionSpec, ...] = tuple(s for stage in INCEPTION_STAGES for s in stage)
STEM_CHANNELS = 192  # conv3's output, the input of inception3a


class PoolSpec(NamedTuple):
    """A stride-2 max pool between stages."""

    kernel_size: int
    stride: int
    padding: int
    ceil_mode: bool


# maxpool1..maxpool4. The paper gives 3×3/2 for all four; padding 1 makes 224 -> 7 exact.
PAPER_POOLS = (PoolSpec(3, 2, 1, ceil_mode=False),) * 4
# torchvision (TF port): unpadded ceil-mode pools, and a 2×2 one before stage 5.
TORCHVISION_POOLS = (*(PoolSpec(3, 2, 0, ceil_mode=True),) * 3, PoolSpec(2, 2, 0, ceil_mode=True))


class Inception(nn.Module):
    """Four parallel branches (1×1; 1×1→3×3; 1×1→k×k; max pool→1×1), concatenated.

    ``branch3_kernel`` is 5 in the paper and 3 in torchvision, whose port kept the 3×3
    of the TF-slim weights (pytorch/vision#906).
    """

    def __init__(
        self,
        in_channels: int,
        spec: InceptionSpec,
        *,
        branch3_kernel: int = 5,
        conv_block: ConvBlock = BasicConv2d,
    ) -> None:
        super().__init__()
        self.branch1 = conv_block(in_channels, spec.ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv_block(in_channels, spec.ch3x3_reduce, kernel_size=1),
            conv_block(spec.ch3x3_reduce, spec.ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            conv_block(in_channels, spec.ch5x5_reduce, kernel_size=1),
            conv_block(
                spec.ch5x5_reduce,
                spec.ch5x5,
                kernel_size=branch3_kernel,
                padding=branch3_kernel // 2,
            ),
        )
        # ceil_mode is a no-op at stride 1; kept so the layout reads as torchvision's.
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, spec.pool_proj, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: pool to 4×4 → 1×1 conv 128 → fc 1024 → dropout 0.7 → fc.

    The paper pools with a fixed 5×5/3 average pool, which gives 4×4 only on 14×14 to
    16×16 grids (224 px inputs give 14×14); torchvision pools adaptively to 4×4.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        pool: nn.Module,
        conv_block: ConvBlock = BasicConv2d,
        dropout: float = 0.7,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 512 (aux1) or 528 (aux2) x 14 x 14
        x = self.conv(self.pool(x))
        # N x 128 x 4 x 4
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)
        # N x 1024
        return self.fc2(self.dropout(x))


def _max_pool(spec: PoolSpec) -> nn.MaxPool2d:
    return nn.MaxPool2d(
        spec.kernel_size, stride=spec.stride, padding=spec.padding, ceil_mode=spec.ceil_mode
    )


class GoogLeNet(nn.Module):
    """GoogLeNet; in training mode with aux heads it returns (logits, aux1, aux2).

    The layout arguments have no defaults: :func:`build_googlenet` (paper) and
    :func:`build_googlenet_tv` (torchvision) are the two ways it is meant to be built.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        aux_logits: bool,
        conv_block: ConvBlock,
        branch3_kernel: int,
        pools: tuple[PoolSpec, PoolSpec, PoolSpec, PoolSpec],
        aux_pool: Callable[[], nn.Module],
        dropout: float,
    ) -> None:
        super().__init__()
        self.conv1 = conv_block(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = _max_pool(pools[0])
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, STEM_CHANNELS, kernel_size=3, padding=1)
        self.maxpool2 = _max_pool(pools[1])

        channels = STEM_CHANNELS
        for stage, specs in enumerate(INCEPTION_STAGES):
            if stage > 0:  # maxpool3 before stage 4, maxpool4 before stage 5
                self.add_module(f"maxpool{stage + 2}", _max_pool(pools[stage + 1]))
            for spec in specs:
                block = Inception(
                    channels, spec, branch3_kernel=branch3_kernel, conv_block=conv_block
                )
                self.add_module(spec.name, block)
                channels = spec.out_channels

        # The aux heads read the outputs of inception4a (512 channels) and 4d (528).
        width = {spec.name: spec.out_channels for spec in INCEPTION_TABLE}
        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            self.aux1 = InceptionAux(
                width["inception4a"], num_classes, pool=aux_pool(), conv_block=conv_block
            )
            self.aux2 = InceptionAux(
                width["inception4d"], num_classes, pool=aux_pool(), conv_block=conv_block
            )

        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's weights scheme (truncated normal, std 0.01, cut at ±2); zero biases.
        if holds_no_data(self):
            return
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(
        self, x: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # N x 3 x 224 x 224
        x = self.maxpool1(self.conv1(x))
        # N x 64 x 56 x 56
        x = self.maxpool2(self.conv3(self.conv2(x)))
        # N x 192 x 28 x 28
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        # N x 480 x 14 x 14
        x = self.inception4a(x)
        # N x 512 x 14 x 14
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        # N x 528 x 14 x 14
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        # N x 832 x 7 x 7
        x = self.inception5b(self.inception5a(x))
        # N x 1024 x 7 x 7
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        # N x num_classes
        if aux1 is not None and aux2 is not None:
            return x, aux1, aux2
        return x


# conv → ReLU with bias: the 2014 unit, before batch normalization.
PLAIN_CONV: ConvBlock = partial(BasicConv2d, batch_norm=False, bias=True)


def build_googlenet(
    *, num_classes: int = 1000, aux_logits: bool = True, conv_block: ConvBlock = PLAIN_CONV
) -> nn.Module:
    """The paper's GoogLeNet: biased convs without BN, true 5×5 branches, dropout 0.4."""
    return GoogLeNet(
        num_classes=num_classes,
        aux_logits=aux_logits,
        conv_block=conv_block,
        branch3_kernel=5,
        pools=PAPER_POOLS,
        aux_pool=partial(nn.AvgPool2d, 5, stride=3),
        dropout=0.4,
    )


def build_googlenet_tv(
    *, num_classes: int = 1000, aux_logits: bool = True, conv_block: ConvBlock = BasicConv2d
) -> nn.Module:
    """torchvision's ``googlenet``: same state_dict keys, shapes and parameter count."""
    return GoogLeNet(
        num_classes=num_classes,
        aux_logits=aux_logits,
        conv_block=conv_block,
        branch3_kernel=3,
        pools=TORCHVISION_POOLS,
        aux_pool=partial(nn.AdaptiveAvgPool2d, 4),
        dropout=0.2,
    )


END_POINTS = tuple(spec.name for spec in INCEPTION_TABLE)

register(
    Variant(
        name="googlenet",
        family="googlenet",
        tag="network",
        builder=build_googlenet,
        input_shape=(3, 224, 224),
        reproduces="Szegedy et al. 2014, 'Going deeper with convolutions', Table 1 and Sec. 5",
        differences=(
            "No LocalRespNorm: the paper's Figure 3 has LRN after maxpool1 and after conv3 "
            "(Table 1 does not list it); left out here, as in most reimplementations. "
            "Main head uses global average pooling, equal to the paper's 7×7/1 average pool "
            "at 224 and still valid at larger inputs. Stage max pools are 3×3/2 with padding "
            "1 (the paper gives no padding; BVLC Caffe uses ceil-mode, same sizes at 224). "
            "Aux heads keep the paper's fixed 5×5/3 average pool, so the training-mode "
            "forward needs a 14×14 to 16×16 grid at inception4a (inputs of 209-256 px). "
            "No published top-1: the paper reports top-5 error only."
        ),
        accuracy=Accuracy(
            top1=None,
            top5=89.93,
            source="Szegedy et al. 2014, Table 3: one model, one crop, top-5 error 10.07%",
        ),
        end_points=END_POINTS,
    )
)

register(
    Variant(
        name="googlenet_tv",
        family="googlenet",
        tag="network",
        builder=build_googlenet_tv,
        input_shape=(3, 224, 224),
        reproduces="torchvision.models.googlenet (pytorch/vision torchvision/models/googlenet.py)",
        differences=(
            "Same layout as torchvision: conv → BN(eps 1e-3) → ReLU without conv bias, "
            "3×3 (not 5×5) in branch3, ceil-mode max pools with a 2×2 maxpool4, aux heads "
            "with adaptive 4×4 average pooling, dropout 0.2. Not reproduced: the "
            "transform_input option (no parameters, off by default). The training-mode "
            "output is (logits, aux1, aux2); torchvision's GoogLeNetOutputs orders it "
            "(logits, aux_logits2, aux_logits1)."
        ),
        accuracy=Accuracy(
            top1=69.778,
            top5=89.53,
            source="torchvision docs, GoogLeNet_Weights.IMAGENET1K_V1",
        ),
        end_points=END_POINTS,
    )
)
