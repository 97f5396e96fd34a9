"""Building blocks shared by the Inception families."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# A swappable conv unit: (in_channels, out_channels, kernel_size, **conv kwargs) -> module.
ConvBlock = Callable[..., nn.Module]


def holds_no_data(module: nn.Module) -> bool:
    """Whether ``module``'s weights are on ``meta`` (or it has none): an init scheme has
    nothing to write there, and walking every layer to skip each fill is a tenth of a
    meta build."""
    first = next(module.parameters(), None)
    return first is None or first.is_meta


class BasicConv2d(nn.Module):
    """conv → BN → ReLU, the unit almost every Inception layer is made of.

    ``batch_norm=False`` with ``bias=True`` gives the pre-BN (2014) unit, conv → ReLU.
    BN's eps defaults to 1e-3, the value the TF-trained Inception weights use.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = False,
        batch_norm: bool = True,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)
