"""Small user models for the ``package.module:callable`` path (imported by spec in tests)."""

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
