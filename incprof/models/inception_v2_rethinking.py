"""The "Inception-v2" of "Rethinking the Inception Architecture", as the seed builds it.

Szegedy et al. 2015 (arXiv 1512.00567), section 6 and Table 1, in the PyTorch
reimplementation of seed document 001 (a walkthrough trained on CIFAR-10). The paper's
exact filter banks were never published, so the seed took its widths from the TF
Inception-v3 code, with a grid reduction of its own whose towers are 178 and 302 wide
(+16 in the second). Every width, kernel, padding, pool and module name here is the
seed's, so the parameter count and MACs are those of the network it trained.

Its unit is conv (with bias, PyTorch's default) → BN (eps 1e-5) → ReLU; the module
pools are max pools, where Inception-v3 averages.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock
from incprof.registry import Variant, register

# The seed's ConvBlock: nn.Conv2d with its default bias, BatchNorm2d with its default eps.
SEED_CONV: ConvBlock = partial(BasicConv2d, bias=True, eps=1e-5)

# The seed's widths of the two grid-reduction towers (before ``add_ch``).
RED_DOUBLE_3X3 = 178
RED_SINGLE_3X3 = 302


class InceptionF5(nn.Module):
    """35×35 module after figure 5: 1×1→3×3→3×3 (96) | 1×1→3×3 (64) | max pool→1×1 (64) |
    1×1 (64); 288 channels. The seed uses a 3×3 where Inception-v3 keeps a 5×5."""

    def __init__(self, in_channels: int, *, conv_block: ConvBlock = SEED_CONV) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(
            conv_block(in_channels, 64, kernel_size=1),
            conv_block(64, 96, kernel_size=3, padding=1),
            conv_block(96, 96, kernel_size=3, padding=1),
        )
        self.branch2 = nn.Sequential(
            conv_block(in_channels, 48, kernel_size=1),
            conv_block(48, 64, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            conv_block(in_channels, 64, kernel_size=1),
        )
        self.branch4 = nn.Sequential(conv_block(in_channels, 64, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


class InceptionF6(nn.Module):
    """17×17 module after figure 6 (7×7 factorized into 1×7 and 7×1); 4 × 192 = 768 out.

    1×1→1×7→7×1→1×7→7×1 | 1×1→1×7→7×1 | max pool→1×1 | 1×1, with ``f_7x7`` channels
    inside the towers. The long tower starts with 1×7, where Inception-v3's starts with 7×1.
    """

    def __init__(self, in_channels: int, f_7x7: int, *, conv_block: ConvBlock = SEED_CONV) -> None:
        super().__init__()
        row = {"kernel_size": (1, 7), "padding": (0, 3)}
        col = {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1 = nn.Sequential(
            conv_block(in_channels, f_7x7, kernel_size=1),
            conv_block(f_7x7, f_7x7, **row),
            conv_block(f_7x7, f_7x7, **col),
            conv_block(f_7x7, f_7x7, **row),
            conv_block(f_7x7, 192, **col),
        )
        self.branch2 = nn.Sequential(
            conv_block(in_channels, f_7x7, kernel_size=1),
            conv_block(f_7x7, f_7x7, **row),
            conv_block(f_7x7, 192, **col),
        )
        self.branch3 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            conv_block(in_channels, 192, kernel_size=1),
        )
        self.branch4 = nn.Sequential(conv_block(in_channels, 192, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], 1)


class InceptionF7(nn.Module):
    """8×8 module after figure 7: towers that end in 1×3 ‖ 3×1 side by side; 2048 out.

    1×1→3×3→(1×3 ‖ 3×1) (768) | 1×1→(1×3 ‖ 3×1) (768) | max pool→1×1 (192) | 1×1 (320).
    """

    def __init__(self, in_channels: int, *, conv_block: ConvBlock = SEED_CONV) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(
            conv_block(in_channels, 448, kernel_size=1),
            conv_block(448, 384, kernel_size=3, padding=1),
        )
        self.branch1_top = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch1_bot = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch2 = conv_block(in_channels, 384, kernel_size=1)
        self.branch2_top = conv_block(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch2_bot = conv_block(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            conv_block(in_channels, 192, kernel_size=1),
        )
        self.branch4 = nn.Sequential(conv_block(in_channels, 320, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1(x)
        b2 = self.branch2(x)
        return torch.cat(
            [
                self.branch1_top(b1),
                self.branch1_bot(b1),
                self.branch2_top(b2),
                self.branch2_bot(b2),
                self.branch3(x),
                self.branch4(x),
            ],
            1,
        )


class InceptionRed(nn.Module):
    """Grid reduction after figure 10: conv towers at stride 2 beside a stride-2 max pool.

    1×1→3×3→3×3/2 (178 + add_ch) | 1×1→3×3/2 (302 + add_ch) | 3×3/2 max pool (in), both
    1×1s ``f_3x3_r`` wide.
    """

    def __init__(
        self,
        in_channels: int,
        f_3x3_r: int,
        add_ch: int = 0,
        *,
        conv_block: ConvBlock = SEED_CONV,
    ) -> None:
        super().__init__()
        double, single = RED_DOUBLE_3X3 + add_ch, RED_SINGLE_3X3 + add_ch
        self.branch1 = nn.Sequential(
            conv_block(in_channels, f_3x3_r, kernel_size=1),
            conv_block(f_3x3_r, double, kernel_size=3, padding=1),
            conv_block(double, double, kernel_size=3, stride=2),
        )
        self.branch2 = nn.Sequential(
            conv_block(in_channels, f_3x3_r, kernel_size=1),
            conv_block(f_3x3_r, single, kernel_size=3, stride=2),
        )
        self.branch3 = nn.Sequential(nn.MaxPool2d(3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionAux(nn.Module):
    """The seed's aux head: adaptive 4×4 avg pool → 1×1 conv 128 (bias, no BN) → ReLU →
    fc 2048→1024 → ReLU → dropout 0.7 → fc."""

    def __init__(self, in_channels: int, num_classes: int, *, dropout: float = 0.7) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = nn.Conv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # N x 768 x 17 x 17
        x = F.relu(self.conv(self.pool(x)))
        # N x 128 x 4 x 4
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        # N x 1024
        return self.fc2(self.dropout(x))


class F6Spec(NamedTuple):
    """A 17×17 module and the width inside its 7×7 towers."""

    name: str
    f_7x7: int


class RedSpec(NamedTuple):
    """A grid reduction: its 1×1 width and what it adds to the seed's 178 / 302 towers."""

    name: str
    in_channels: int
    f_3x3_r: int
    add_ch: int

    @property
    def out_channels(self) -> int:
        return RED_DOUBLE_3X3 + RED_SINGLE_3X3 + 2 * self.add_ch + self.in_channels


STEM_CHANNELS = 288  # conv6's output, the input of inception3a
F5_NAMES = ("inception3a", "inception3b", "inception3c")  # 35×35, 288 channels
RED_1 = RedSpec("inceptionRed1", 288, f_3x3_r=64, add_ch=0)  # 35×35 -> 17×17×768
F6_TABLE: tuple[F6Spec, ...] = (  # 17×17, 768 channels
    F6Spec("inception4a", 128),
    F6Spec("inception4b", 160),
    F6Spec("inception4c", 160),
    F6Spec("inception4d", 160),
    F6Spec("inception4e", 192),
)
F6_CHANNELS = 768
RED_2 = RedSpec("inceptionRed2", F6_CHANNELS, f_3x3_r=192, add_ch=16)  # -> 8×8×1280
F7_NAMES = ("inception5a", "inception5b")  # 8×8, 2048 channels out
NUM_FEATURES = 2048


class InceptionV2Rethinking(nn.Module):
    """The seed's network; in training mode with the aux head it returns (logits, aux).

    Attributes are defined in the seed's order, and single-conv branches the seed wraps in
    ``nn.Sequential`` are wrapped here too (``branch4.0.conv.weight``), so ``state_dict()``
    keys and their order are the seed's (its ``act`` ReLU modules hold no state).
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        aux_logits: bool = True,
        dropout: float = 0.4,
        conv_block: ConvBlock = SEED_CONV,
    ) -> None:
        super().__init__()
        self.conv1 = conv_block(3, 32, kernel_size=3, stride=2)
        self.conv2 = conv_block(32, 32, kernel_size=3)
        self.conv3 = conv_block(32, 64, kernel_size=3, padding=1)
        self.pool1 = nn.MaxPool2d(3, stride=2)
        self.conv4 = conv_block(64, 80, kernel_size=3)
        self.conv5 = conv_block(80, 192, kernel_size=3, stride=2)
        self.conv6 = conv_block(192, STEM_CHANNELS, kernel_size=3, padding=1)
        for name in F5_NAMES:
            self.add_module(name, InceptionF5(STEM_CHANNELS, conv_block=conv_block))
        self.add_module(RED_1.name, _reduction(RED_1, conv_block))
        for spec in F6_TABLE:
            self.add_module(spec.name, InceptionF6(F6_CHANNELS, spec.f_7x7, conv_block=conv_block))
        self.add_module(RED_2.name, _reduction(RED_2, conv_block))
        self.aux = InceptionAux(F6_CHANNELS, num_classes) if aux_logits else None
        channels = RED_2.out_channels
        for name in F7_NAMES:
            self.add_module(name, InceptionF7(channels, conv_block=conv_block))
            channels = NUM_FEATURES
        self.pool6 = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(NUM_FEATURES, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # N x 3 x 299 x 299
        x = self.conv3(self.conv2(self.conv1(x)))
        # N x 64 x 147 x 147
        x = self.pool1(x)
        # N x 64 x 73 x 73
        x = self.conv6(self.conv5(self.conv4(x)))
        # N x 288 x 35 x 35
        x = self.inception3c(self.inception3b(self.inception3a(x)))
        # N x 288 x 35 x 35
        x = self.inceptionRed1(x)
        # N x 768 x 17 x 17
        for spec in F6_TABLE:
            x = self.get_submodule(spec.name)(x)
        # N x 768 x 17 x 17
        aux = self.aux(x) if self.aux is not None and self.training else None
        x = self.inceptionRed2(x)
        # N x 1280 x 8 x 8
        x = self.inception5b(self.inception5a(x))
        # N x 2048 x 8 x 8
        x = self.fc(torch.flatten(self.dropout(self.pool6(x)), 1))
        # N x num_classes
        if aux is not None:
            return x, aux
        return x


def _reduction(spec: RedSpec, conv_block: ConvBlock) -> InceptionRed:
    return InceptionRed(spec.in_channels, spec.f_3x3_r, spec.add_ch, conv_block=conv_block)


def build_inception_v2_rethinking(
    *,
    num_classes: int = 10,
    aux_logits: bool = True,
    dropout: float = 0.4,
    conv_block: ConvBlock = SEED_CONV,
) -> nn.Module:
    """Seed 001's ``InceptionV2``: 10 classes (CIFAR-10, upsampled to 299) by default."""
    return InceptionV2Rethinking(
        num_classes=num_classes, aux_logits=aux_logits, dropout=dropout, conv_block=conv_block
    )


END_POINTS: tuple[str, ...] = (
    *F5_NAMES,
    RED_1.name,
    *(spec.name for spec in F6_TABLE),
    RED_2.name,
    *F7_NAMES,
)

register(
    Variant(
        name="inception_v2_rethinking",
        family="inception_v3",
        tag="network",
        builder=build_inception_v2_rethinking,
        input_shape=(3, 299, 299),
        reproduces=(
            "the 'Inception-v2' of Szegedy et al. 2015, 'Rethinking the Inception "
            "Architecture' (section 6, Table 1), as reimplemented in PyTorch by seed 001, "
            "which reports 74.18% test accuracy on CIFAR-10 after 15 epochs"
        ),
        differences=(
            "The seed's network exactly (widths, kernels, paddings, pools, module names), "
            "except that the forward returns the logits alone in eval mode, where the aux "
            "head does not run; the seed always returns (logits, aux). Not the paper's widths, "
            "which were never published: the seed took them from the TF Inception-v3 code and "
            "added its own grid reductions (178 / 302 / +16 channel towers). Against "
            "Inception-v3 it has conv bias and BN eps 1e-5, max (not average) pooling in the "
            "modules, 3×3 (not 5×5) in the 35×35 modules, the paper's Table 1 stem (3×3 convs "
            "to 80, to 192 at stride 2 and to 288, where v3 has a 1×1 to 80, a 3×3 to 192 and a "
            "max pool) and an fc aux head. "
            "No ImageNet accuracy: the seed's "
            "74.18% is CIFAR-10 test accuracy, so accuracy is left empty."
        ),
        accuracy=None,
        end_points=END_POINTS,
    )
)
