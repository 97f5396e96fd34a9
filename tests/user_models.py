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
