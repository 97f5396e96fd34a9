"""Tiny networks whose bytes, lifetimes and MACs the memory and training tests derive by
hand (every tensor a few dozen float32 elements: 4 bytes each)."""

from __future__ import annotations

import torch
from torch import nn


def conv_relu_chain(inplace: bool) -> nn.Sequential:
    """1×6×6 input: conv 1→2 3×3 (2×4×4), ReLU, conv 2→3 3×3 (3×2×2)."""
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=inplace), nn.Conv2d(2, 3, 3))


def frozen_chain() -> nn.Sequential:
    """The chain (ReLU not in place) with its first convolution frozen."""
    chain = conv_relu_chain(inplace=False)
    chain[0].requires_grad_(False)
    return chain


class TwoBranches(nn.Module):
    """2×4×4 input: a 1×1 conv 2→3 and a 3×3 conv 2→1 (padding 1), joined by cat."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 3, 1)
        self.b = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], 1)


class Residual(nn.Module):
    """1×4×4 input: y = stem(x) (conv 1→2 3×3, padding 1), then y + f(y) (conv 2→2)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.f = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return y + self.f(y)


class FlattenLinear(nn.Module):
    """1×4×4 input: conv 1→2 3×3 (2×2×2), flatten (a view), linear 8→5."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.conv(x), 1))


class Lambda(nn.Module):
    """A functional call as a module, so each operator case is one line."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)
