"""Small user models for the ``package.module:callable`` path (imported by spec in tests)."""

import dataclasses

import torch
from torch import nn


def tiny_net(width: int = 4) -> nn.Module:
    """3→width 3×3 conv (bias), ReLU, global pool, linear width→2."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 2),
    )


def not_a_module() -> int:
    return 42


def raises() -> nn.Module:
    raise ValueError("broken on purpose")


class NeedsRealData(nn.Module):
    """Initialises from real tensor values, which the meta device cannot give."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        if torch.Tensor.item(self.conv.weight.detach().abs().sum()) < 0:
            raise AssertionError("unreachable")


NOT_CALLABLE = 3


def strided_net() -> nn.Module:
    """Two valid 3×3/2 convs: the first output must be at least 3 wide, so H, W >= 7."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.Conv2d(4, 4, 3, stride=2))


class _BadForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise TypeError("forward() is broken on purpose")


def bad_forward() -> nn.Module:
    return _BadForward()


class _TiedConvs(nn.Module):
    """Two 4→4 3×3 convs sharing one weight (as a decoder reuses its encoder's).

    Unique parameters: the shared weight 4·4·3·3 = 144 and two biases of 4: 152. Counted
    once per module that holds it, the weight would make 296.
    """

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(4, 4, 3, padding=1)
        self.second = nn.Conv2d(4, 4, 3, padding=1)
        self.second.weight = self.first.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


TIED_PARAMS = 4 * 4 * 3 * 3 + 4 + 4


def tied_convs() -> nn.Module:
    return _TiedConvs()


class _TwoHeads(nn.Module):
    """A 3→4 1×1 conv feeding two heads, returned in the container ``wrap`` builds."""

    def __init__(self, wrap) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1, bias=False)
        self.boxes = nn.Conv2d(4, 2, 1, bias=False)
        self.scores = nn.Conv2d(4, 1, 1, bias=False)
        self.wrap = wrap

    def forward(self, x: torch.Tensor):
        y = self.stem(x)
        return self.wrap(self.boxes(y), self.scores(y))


@dataclasses.dataclass
class Detections:
    boxes: torch.Tensor
    scores: torch.Tensor


# Per pixel of the input: stem 3·4 MACs, boxes 4·2, scores 4·1.
TWO_HEADS_MACS_PER_PIXEL = 3 * 4 + 4 * 2 + 4 * 1


def dict_heads() -> nn.Module:
    return _TwoHeads(lambda boxes, scores: {"boxes": boxes, "extra": {"scores": [scores]}})


def tuple_heads() -> nn.Module:
    return _TwoHeads(lambda boxes, scores: (boxes, scores))


def dataclass_heads() -> nn.Module:
    return _TwoHeads(Detections)


class _Gated(nn.Module):
    """Takes a branch by the value of its input: data-dependent control flow."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y if y.mean().item() > 0 else -y


def gated() -> nn.Module:
    return _Gated()


class _Cumulative(nn.Module):
    """A conv, then a sort along channels in the model's own forward (an operator no
    formula prices: its cost depends on the algorithm), then another conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.head = nn.Sequential(nn.Conv2d(4, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.sort(self.conv(x), dim=1).values)


def cumulative() -> nn.Module:
    return _Cumulative()


class _PatchAttention(nn.Module):
    """8×8/8 patch embedding (3→64), self-attention over the 64 patches, mean, linear 64→10."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 64, 8, stride=8)
        self.attn = nn.MultiheadAttention(64, 4, batch_first=True)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        mixed, _ = self.attn(tokens, tokens, tokens, need_weights=False)
        return self.fc(mixed.mean(1))


def attention_net() -> nn.Module:
    """A patch-attention model (input 3x64x64) whose CPU eval forward takes MHA's fast path."""
    return _PatchAttention()


class _PatchLSTM(nn.Module):
    """4×4/4 patch embedding (3→64), an LSTM (64→64) over the patches, linear 64→5."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 64, 4, stride=4)
        self.lstm = nn.LSTM(64, 64, batch_first=True)
        self.fc = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        states, _ = self.lstm(tokens)
        return self.fc(states[:, -1])


def lstm_net() -> nn.Module:
    """A patch-LSTM model (input 3x48x48) whose CPU forward runs torch's fused LSTM kernel."""
    return _PatchLSTM()


def transposed_net() -> nn.Module:
    """Issue 17's model: a 3×3/2 conv (p1), then a 4×4/2 transposed conv (p1) back up.

    An output unit sees 2 of the conv's outputs, 3 input pixels each, 2 apart: 5 pixels,
    and on average one pixel further per output step; a walk that treats the transposed
    conv as a convolution says 3 + 3·2 = 9 and stride 4.
    """
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)
    )


def pooled_bn_net() -> nn.Module:
    """Batch norm after a global pool: a training step needs a batch of 2 (one value per
    channel at batch 1), as inception_v3's aux head does on its 1×1 map."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4), nn.Flatten()
    )


class _TokenClassifier(nn.Module):
    """Embedding 100→32 of int64 token ids, two transformer encoder layers (4 heads,
    feed-forward 64), a linear head 32→100 per token."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(32, 100)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids)))


def token_classifier() -> nn.Module:
    """A token model: input int64 ids (batch, length)."""
    return _TokenClassifier()


class _ImageAndMeta(nn.Module):
    """Two positional inputs, an image (3×H×W) and a vector (16), and a keyword ``mask``
    (bool, 8) that zeroes features: conv 3→8 3×3, pooled, plus linear 16→8, linear 8→2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.side = nn.Linear(16, 8)
        self.fc = nn.Linear(8, 2)

    def forward(
        self, image: torch.Tensor, vector: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        features = self.conv(image).mean((2, 3)) + self.side(vector)
        if mask is not None:
            features = features.masked_fill(mask, 0.0)
        return self.fc(features)


def image_and_meta() -> nn.Module:
    """Inputs: 3xHxW float, 16 float, and optionally mask=8:bool."""
    return _ImageAndMeta()


def video_net() -> nn.Module:
    """A clip model, input C×T×H×W: Conv3d 3→4 3×3×3 (padding 1), pooled, linear 4→2."""
    return nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


def lazy_net() -> nn.Module:
    """Lazy modules, shapes found by the first forward: conv →8 3×3, linear →10."""
    return nn.Sequential(nn.LazyConv2d(8, 3), nn.Flatten(), nn.LazyLinear(10))
