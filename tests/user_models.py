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


def transposed_net() -> nn.Module:
    """Issue 17's model: a 3×3/2 conv (p1), then a 4×4/2 transposed conv (p1) back up.

    An output unit sees 2 of the conv's outputs, 3 input pixels each, 2 apart: 5 pixels,
    and on average one pixel further per output step; a walk that treats the transposed
    conv as a convolution says 3 + 3·2 = 9 and stride 4.
    """
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1)
    )
