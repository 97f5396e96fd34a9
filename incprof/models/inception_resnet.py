"""Inception-ResNet-v1 and -v2 with TF-slim end point names.

Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
Connections on Learning" (arXiv 1602.07261). Both networks are one layout: a stem, then
residual stages at 35×35 (Inception-ResNet-A, ``Block35``), 17×17 (-B, ``Block17``) and
8×8 (-C, ``Block8``) joined by Reduction-A (``Mixed_6a``) and Reduction-B (``Mixed_7a``),
and they differ only in the widths of the tables below.

* ``inception_resnet_v2`` is timm's layout (the port of the TF-slim checkpoint): same
  parameter count, MACs, output shapes and parameter order. Inside the blocks the module
  names are timm's (``branch0``, ``conv2d``), so a timm state_dict loads after renaming
  its top-level prefixes (``conv2d_1a`` -> ``Conv2d_1a_3x3``, ``repeat`` -> ``Repeat`` …).
* ``inception_resnet_v1`` is the paper's network (figures 10-15, Table 1), with the
  paper's 1000-way classifier.

Each residual block adds ``scale ×`` a linear 1×1 projection of its concatenated branches
to its input, then applies ReLU (section 3.3: scaling by 0.1-0.3 keeps training stable).
As in TF-slim, the last 8×8 block has scale 1.0 and no ReLU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from incprof.models.common import BasicConv2d, ConvBlock, layer
from incprof.registry import Accuracy, Variant, register


class Block35Widths(NamedTuple):
    """Inception-ResNet-A: 1×1 | 1×1→3×3 | 1×1→3×3→3×3, projected back to ``channels``."""

    channels: int  # the residual stream's width, in = out
    branch0: int
    branch1: tuple[int, int]
    branch2: tuple[int, int, int]


class TowerWidths(NamedTuple):
    """Inception-ResNet-B/-C: 1×1 | 1×1→1×k→k×1, projected back to ``channels``."""

    channels: int
    branch0: int
    branch1: tuple[int, int, int]


class ReductionAWidths(NamedTuple):
    """Reduction-A's filter banks, named as in the paper's Table 1."""

    k: int  # 1×1
    l: int  # noqa: E741  (the paper's name) 3×3
    m: int  # 3×3/2 after k and l
    n: int  # 3×3/2 straight from the input


class ReductionBWidths(NamedTuple):
    """Reduction-B: 1×1→3×3/2 | 1×1→3×3/2 | 1×1→3×3→3×3/2 | 3×3/2 max pool."""

    branch0: tuple[int, int]
    branch1: tuple[int, int]
    branch2: tuple[int, int, int]


class ResidualStage(NamedTuple):
    """``repeats`` residual blocks of one width at one grid size, each scaled by ``scale``."""

    widths: Block35Widths | TowerWidths
    repeats: int
    scale: float


class ScaledResidual(nn.Module):
    """x -> act(x + scale · conv2d(concat(branches(x)))); ``conv2d`` is 1×1, biased, no BN."""

    conv2d: nn.Conv2d

    def __init__(self, *, scale: float, activate: bool) -> None:
        super().__init__()
        self.scale = scale
        self.activate = activate

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenated branch outputs, before the projection."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(self.branches(x)) * self.scale + x
        return F.relu(out, inplace=True) if self.activate else out


class Block35(ScaledResidual):
    """Inception-ResNet-A, the 35×35 block (figures 10 and 16)."""

    def __init__(
        self,
        widths: Block35Widths,
        *,
        scale: float,
        activate: bool = True,
        conv_block: ConvBlock = BasicConv2d,
    ) -> None:
        super().__init__(scale=scale, activate=activate)
        c, (b1a, b1b), (b2a, b2b, b2c) = widths.channels, widths.branch1, widths.branch2
        self.branch0 = conv_block(c, widths.branch0, kernel_size=1)
        self.branch1 = nn.Sequential(
            conv_block(c, b1a, kernel_size=1),
            conv_block(b1a, b1b, kernel_size=3, padding=1),
        )
        self.branch2 = nn.Sequential(
            conv_block(c, b2a, kernel_size=1),
            conv_block(b2a, b2b, kernel_size=3, padding=1),
            conv_block(b2b, b2c, kernel_size=3, padding=1),
        )
        self.conv2d = layer(nn.Conv2d, widths.branch0 + b1b + b2c, c, kernel_size=1)

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class TowerResidual(ScaledResidual):
    """1×1 ‖ 1×1→1×k→k×1: the shape shared by Inception-ResNet-B and -C."""

    kernel: ClassVar[int]

    def __init__(
        self,
        widths: TowerWidths,
        *,
        scale: float,
        activate: bool = True,
        conv_block: ConvBlock = BasicConv2d,
    ) -> None:
        super().__init__(scale=scale, activate=activate)
        c, (b1a, b1b, b1c), k = widths.channels, widths.branch1, self.kernel
        self.branch0 = conv_block(c, widths.branch0, kernel_size=1)
        self.branch1 = nn.Sequential(
            conv_block(c, b1a, kernel_size=1),
            conv_block(b1a, b1b, kernel_size=(1, k), padding=(0, k // 2)),
            conv_block(b1b, b1c, kernel_size=(k, 1), padding=(k // 2, 0)),
        )
        self.conv2d = layer(nn.Conv2d, widths.branch0 + b1c, c, kernel_size=1)

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x)], 1)


class Block17(TowerResidual):
    """Inception-ResNet-B, the 17×17 block (figures 11 and 17): 1×7 then 7×1."""

    kernel = 7


class Block8(TowerResidual):
    """Inception-ResNet-C, the 8×8 block (figures 13 and 19): 1×3 then 3×1."""

    kernel = 3


class ReductionA(nn.Module):
    """35 -> 17 (figure 7): 3×3/2 n | 1×1 k → 3×3 l → 3×3/2 m | 3×3/2 max pool."""

    def __init__(
        self, in_channels: int, widths: ReductionAWidths, *, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        k, l, m, n = widths  # noqa: E741
        self.branch0 = conv_block(in_channels, n, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            conv_block(in_channels, k, kernel_size=1),
            conv_block(k, l, kernel_size=3, padding=1),
            conv_block(l, m, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = in_channels + n + m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class ReductionB(nn.Module):
    """17 -> 8 (figures 12 and 18): three conv towers ending 3×3/2, and a max pool."""

    def __init__(
        self, in_channels: int, widths: ReductionBWidths, *, conv_block: ConvBlock = BasicConv2d
    ) -> None:
        super().__init__()
        (b0a, b0b), (b1a, b1b), (b2a, b2b, b2c) = widths
        self.branch0 = nn.Sequential(
            conv_block(in_channels, b0a, kernel_size=1),
            conv_block(b0a, b0b, kernel_size=3, stride=2),
        )
        self.branch1 = nn.Sequential(
            conv_block(in_channels, b1a, kernel_size=1),
            conv_block(b1a, b1b, kernel_size=3, stride=2),
        )
        self.branch2 = nn.Sequential(
            conv_block(in_channels, b2a, kernel_size=1),
            conv_block(b2a, b2b, kernel_size=3, padding=1),
            conv_block(b2b, b2c, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)
        self.out_channels = in_channels + b0b + b1b + b2c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        return torch.cat([branch(x) for branch in branches], 1)


class Mixed5b(nn.Module):
    """v2's last stem layer (TF-slim): an Inception-v3 35×35 module, 192 -> 320 channels."""

    def __init__(self, conv_block: ConvBlock = BasicConv2d) -> None:
        super().__init__()
        self.branch0 = conv_block(192, 96, kernel_size=1)
        self.branch1 = nn.Sequential(
            conv_block(192, 48, kernel_size=1),
            conv_block(48, 64, kernel_size=5, padding=2),
        )
        self.branch2 = nn.Sequential(
            conv_block(192, 64, kernel_size=1),
            conv_block(64, 96, kernel_size=3, padding=1),
            conv_block(96, 96, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
            conv_block(192, 64, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch0, self.branch1, self.branch2, self.branch3)
        return torch.cat([branch(x) for branch in branches], 1)


Stem = Callable[[ConvBlock], OrderedDict[str, nn.Module]]


def _stem_convs(conv_block: ConvBlock) -> OrderedDict[str, nn.Module]:
    """The layers both stems share (figure 14 up to the 192-channel conv)."""
    return OrderedDict(
        [
            # N x 3 x 299 x 299
            ("Conv2d_1a_3x3", conv_block(3, 32, kernel_size=3, stride=2)),
            # N x 32 x 149 x 149
            ("Conv2d_2a_3x3", conv_block(32, 32, kernel_size=3)),
            # N x 32 x 147 x 147
            ("Conv2d_2b_3x3", conv_block(32, 64, kernel_size=3, padding=1)),
            # N x 64 x 147 x 147
            ("MaxPool_3a_3x3", nn.MaxPool2d(3, stride=2)),
            # N x 64 x 73 x 73
            ("Conv2d_3b_1x1", conv_block(64, 80, kernel_size=1)),
            # N x 80 x 73 x 73
            ("Conv2d_4a_3x3", conv_block(80, 192, kernel_size=3)),
            # N x 192 x 71 x 71
        ]
    )


def stem_v1(conv_block: ConvBlock) -> OrderedDict[str, nn.Module]:
    """Figure 14: a last 3×3/2 conv to 256 channels at 35×35."""
    layers = _stem_convs(conv_block)
    layers["Conv2d_4b_3x3"] = conv_block(192, 256, kernel_size=3, stride=2)
    # N x 256 x 35 x 35
    return layers


def stem_v2(conv_block: ConvBlock) -> OrderedDict[str, nn.Module]:
    """TF-slim's (and timm's) v2 stem: max pool, then Mixed_5b to 320 channels at 35×35.

    The paper gives v2 the Inception-v4 stem (figure 3, 384 channels); the released
    checkpoint, and so every port of it, uses this one.
    """
    layers = _stem_convs(conv_block)
    layers["MaxPool_5a_3x3"] = nn.MaxPool2d(3, stride=2)
    # N x 192 x 35 x 35
    layers["Mixed_5b"] = Mixed5b(conv_block)
    # N x 320 x 35 x 35
    return layers


class InceptionResNetSpec(NamedTuple):
    """Everything that tells one Inception-ResNet from another."""

    stem: Stem
    repeat: ResidualStage  # Block35, 35×35
    reduction_a: ReductionAWidths
    repeat_1: ResidualStage  # Block17, 17×17
    reduction_b: ReductionBWidths
    repeat_2: ResidualStage  # Block8, 8×8; one more Block8 (scale 1.0, no ReLU) follows
    conv2d_7b: int | None  # width of the final 1×1 conv; None: no such conv


# TF-slim / timm widths: 10 / 20 / 9+1 blocks (the paper's figure 15 draws 5 / 10 / 5).
INCEPTION_RESNET_V2 = InceptionResNetSpec(
    stem=stem_v2,
    repeat=ResidualStage(Block35Widths(320, 32, (32, 32), (32, 48, 64)), repeats=10, scale=0.17),
    reduction_a=ReductionAWidths(k=256, l=256, m=384, n=384),
    repeat_1=ResidualStage(TowerWidths(1088, 192, (128, 160, 192)), repeats=20, scale=0.10),
    reduction_b=ReductionBWidths((256, 384), (256, 288), (256, 288, 320)),
    repeat_2=ResidualStage(TowerWidths(2080, 192, (192, 224, 256)), repeats=9, scale=0.20),
    conv2d_7b=1536,
)

# The paper's widths (figures 10-14, Table 1) and depths (figure 15: 5 / 10 / 5 blocks,
# the fifth Inception-ResNet-C being the final block without ReLU).
INCEPTION_RESNET_V1 = InceptionResNetSpec(
    stem=stem_v1,
    repeat=ResidualStage(Block35Widths(256, 32, (32, 32), (32, 32, 32)), repeats=5, scale=0.17),
    reduction_a=ReductionAWidths(k=192, l=192, m=256, n=384),
    repeat_1=ResidualStage(TowerWidths(896, 128, (128, 128, 128)), repeats=10, scale=0.10),
    reduction_b=ReductionBWidths((256, 384), (256, 256), (256, 256, 256)),
    repeat_2=ResidualStage(TowerWidths(1792, 192, (192, 192, 192)), repeats=4, scale=0.20),
    conv2d_7b=None,
)

FINAL_BLOCK_SCALE = 1.0  # TF-slim's last Block8: unscaled, and no ReLU


def _repeat(
    block: Callable[..., ScaledResidual], stage: ResidualStage, conv_block: ConvBlock
) -> nn.Sequential:
    return nn.Sequential(
        *(
            block(stage.widths, scale=stage.scale, conv_block=conv_block)
            for _ in range(stage.repeats)
        )
    )


def _check_width(where: str, channels: int, stage: ResidualStage) -> None:
    if channels != stage.widths.channels:
        raise ValueError(
            f"{where} gives {channels} channels but its blocks expect {stage.widths.channels}"
        )


class InceptionResNet(nn.Sequential):
    """An Inception-ResNet: a plain chain of TF-slim end points, then the classifier head.

    The residual connections are inside the blocks, so at network level it is a
    ``Sequential``: the stem layers, ``Repeat``, ``Mixed_6a``, ``Repeat_1``, ``Mixed_7a``,
    ``Repeat_2``, ``Block8``, ``Conv2d_7b_1x1`` (v2), then ``avgpool``, ``flatten``,
    ``dropout`` and ``fc`` (timm calls it ``classif``).
    """

    def __init__(
        self,
        spec: InceptionResNetSpec,
        *,
        num_classes: int = 1000,
        dropout: float = 0.2,
        conv_block: ConvBlock = BasicConv2d,
    ) -> None:
        layers = spec.stem(conv_block)
        # N x C35 x 35 x 35 (v2: 320, v1: 256)
        layers["Repeat"] = _repeat(Block35, spec.repeat, conv_block)
        mixed_6a = ReductionA(spec.repeat.widths.channels, spec.reduction_a, conv_block=conv_block)
        _check_width("Mixed_6a", mixed_6a.out_channels, spec.repeat_1)
        layers["Mixed_6a"] = mixed_6a
        # N x C17 x 17 x 17 (v2: 1088, v1: 896)
        layers["Repeat_1"] = _repeat(Block17, spec.repeat_1, conv_block)
        mixed_7a = ReductionB(mixed_6a.out_channels, spec.reduction_b, conv_block=conv_block)
        _check_width("Mixed_7a", mixed_7a.out_channels, spec.repeat_2)
        layers["Mixed_7a"] = mixed_7a
        # N x C8 x 8 x 8 (v2: 2080, v1: 1792)
        layers["Repeat_2"] = _repeat(Block8, spec.repeat_2, conv_block)
        layers["Block8"] = Block8(
            spec.repeat_2.widths,
            scale=FINAL_BLOCK_SCALE,
            activate=False,
            conv_block=conv_block,
        )
        features = mixed_7a.out_channels
        if spec.conv2d_7b is not None:
            layers["Conv2d_7b_1x1"] = conv_block(features, spec.conv2d_7b, kernel_size=1)
            features = spec.conv2d_7b
        # N x features x 8 x 8 (v2: 1536, v1: 1792)
        layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
        layers["flatten"] = nn.Flatten(1)
        layers["dropout"] = nn.Dropout(dropout)
        layers["fc"] = nn.Linear(features, num_classes)
        super().__init__(layers)


def build_inception_resnet_v2(
    *, num_classes: int = 1000, dropout: float = 0.2, conv_block: ConvBlock = BasicConv2d
) -> nn.Module:
    """timm's ``inception_resnet_v2``; dropout 0.2 is TF-slim's keep_prob 0.8 (timm: 0)."""
    return InceptionResNet(
        INCEPTION_RESNET_V2, num_classes=num_classes, dropout=dropout, conv_block=conv_block
    )


def build_inception_resnet_v1(
    *, num_classes: int = 1000, dropout: float = 0.2, conv_block: ConvBlock = BasicConv2d
) -> nn.Module:
    """The paper's Inception-ResNet-v1 with its classifier (dropout keep 0.8, fc 1792 -> N)."""
    return InceptionResNet(
        INCEPTION_RESNET_V1, num_classes=num_classes, dropout=dropout, conv_block=conv_block
    )


_STAGE_END_POINTS = ("Repeat", "Mixed_6a", "Repeat_1", "Mixed_7a", "Repeat_2")

register(
    Variant(
        name="inception_resnet_v2",
        family="inception_resnet",
        tag="network",
        builder=build_inception_resnet_v2,
        input_shape=(3, 299, 299),
        reproduces=(
            "timm inception_resnet_v2 (huggingface/pytorch-image-models "
            "timm/models/inception_resnet_v2.py), the TF-slim port of Szegedy et al. 2016 "
            "(arXiv 1602.07261)"
        ),
        differences=(
            "Same layers, parameter order and shapes as timm (55,843,464 parameters at 1000 "
            "classes): conv → BN(eps 1e-3) → ReLU without conv bias, biased 1×1 residual "
            "projections, no aux head. Module names are TF-slim end points (Conv2d_1a_3x3, "
            "Repeat …) instead of timm's conv2d_1a, repeat …, and the classifier is 'fc' "
            "(timm: classif). Dropout before fc defaults to 0.2 (TF-slim's keep_prob 0.8; "
            "timm's drop_rate defaults to 0); it has no parameters or MACs. As in TF-slim, "
            "not the paper: the stem ends in Mixed_5b (320 channels, not figure 3's 384), "
            "widths 320/1088/2080 (figures 16-19 give 384/1154/2048) and 10/20/9+1 blocks "
            "(figure 15: 5/10/5)."
        ),
        accuracy=Accuracy(
            top1=80.462,
            top5=95.308,
            source=(
                "timm results-imagenet.csv, inception_resnet_v2.tf_in1k "
                "(299 px, crop 0.897, bicubic)"
            ),
        ),
        end_points=("Mixed_5b", *_STAGE_END_POINTS, "Conv2d_7b_1x1"),
    )
)

register(
    Variant(
        name="inception_resnet_v1",
        family="inception_resnet",
        tag="network",
        builder=build_inception_resnet_v1,
        input_shape=(3, 299, 299),
        reproduces=(
            "Szegedy et al. 2016, 'Inception-v4, Inception-ResNet and the Impact of Residual "
            "Connections on Learning' (arXiv 1602.07261), Inception-ResNet-v1: stem of "
            "figure 14, 5 × Inception-ResNet-A (fig. 10), Reduction-A with k, l, m, n = "
            "192, 192, 256, 384 (Table 1), 10 × Inception-ResNet-B (fig. 11), Reduction-B "
            "(fig. 12), 5 × Inception-ResNet-C (fig. 13), average pool, dropout (keep 0.8), "
            "fc 1792 -> 1000"
        ),
        differences=(
            "Residual scales 0.17 / 0.10 / 0.20 and a last Inception-ResNet-C with scale 1.0 "
            "and no ReLU, as TF-slim does for v2 (the paper only says 'between 0.1 and 0.3'); "
            "the five C blocks are Repeat_2 (4) + Block8. BN (eps 1e-3) after every conv "
            "except the residual 1×1 projections, which are biased. No published checkpoint: "
            "widths cross-checked with timesler/facenet-pytorch models/inception_resnet_v1.py, "
            "which differs in the head (512-d bottleneck with BN, no 1000-way fc) and has "
            "5 + 1 Inception-ResNet-C blocks."
        ),
        accuracy=Accuracy(
            top1=78.7,
            top5=94.5,
            source=(
                "arXiv 1602.07261 Table 2: single crop, single model, top-1/top-5 error "
                "21.3% / 5.5% on the non-blacklisted ILSVRC-2012 validation subset"
            ),
        ),
        end_points=(*_STAGE_END_POINTS, "Block8"),
    )
)
