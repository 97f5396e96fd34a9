"""Building blocks shared by the Inception families."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

# A swappable conv unit: (in_channels, out_channels, kernel_size, **conv kwargs) -> module.
ConvBlock = Callable[..., nn.Module]
Layer = TypeVar("Layer", bound=nn.Module)


def holds_no_data(module: nn.Module) -> bool:
    """Whether ``module``'s weights are on ``meta`` (or it has none): an init scheme has
    nothing to write there, and walking every layer to skip each fill is a tenth of a
    meta build."""
    first = next(module.parameters(), None)
    return first is None or first.is_meta


# torch's registration hooks (``register_module_parameter_registration_hook`` and the
# buffer one): where any is set, a layer registers its tensors through torch's own path.
_REGISTRATION_HOOKS = (
    torch.nn.modules.module._global_parameter_registration_hooks,
    torch.nn.modules.module._global_buffer_registration_hooks,
)


_REGISTERED = (torch.Tensor, nn.Module)  # the values Module.__setattr__ files away


class _Building(nn.Module):
    """A layer while its constructor runs in :func:`layer`: the closing reset is put off,
    a plain attribute (``in_channels``, ``eps`` …: not a tensor, a module or a registered
    name) is set directly, as ``Module.__setattr__`` would set it minus its checks (two
    Python-level ``isinstance`` calls a value), and its parameters and buffers go
    straight into their tables. Those checks cannot fail here: a fresh torch layer's
    names are free and valid, and the parameters it makes are leaves (its own
    ``Parameter(torch.empty(…))``); ``register_parameter`` alone raised and caught an
    ``AttributeError`` (``hasattr``) for each. Together, two fifths of a conv's
    construction."""

    def reset_parameters(self) -> None:
        """Put off: :func:`layer` runs the real one where there is data to fill."""

    def __setattr__(self, name: str, value: Any) -> None:
        own = self.__dict__
        if type(value) is nn.Parameter:
            self.register_parameter(name, value)
        elif (
            isinstance(value, _REGISTERED)
            or name in own.get("_parameters", ())
            or name in own.get("_modules", ())
            or name in own.get("_buffers", ())
        ):
            nn.Module.__setattr__(self, name, value)
        else:
            object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: nn.Parameter | None) -> None:
        if any(_REGISTRATION_HOOKS):
            nn.Module.register_parameter(self, name, param)
        else:
            self._parameters[name] = param

    def register_buffer(
        self, name: str, tensor: torch.Tensor | None, persistent: bool = True
    ) -> None:
        if any(_REGISTRATION_HOOKS):
            nn.Module.register_buffer(self, name, tensor, persistent)
            return
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers_set.add(name)


# The torch layers whose constructor ends by calling ``reset_parameters``, each with its
# building twin: the same layout, so the instance becomes the layer itself once built.
_BUILDING: dict[type[nn.Module], type[nn.Module]] = {
    cls: type(f"_Building{cls.__name__}", (_Building, cls), {})
    for cls in (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
}


def layer(cls: type[Layer], *args: Any, **kwargs: Any) -> Layer:
    """``cls(*args, **kwargs)`` for ``nn.Conv2d``, ``nn.BatchNorm2d`` or ``nn.Linear``:
    the same module, built faster, and on ``meta`` without its ``reset_parameters``,
    which fills nothing there yet was a third of a conv's and of a batch norm's
    construction (14 and 21 µs of 46 and 61)."""
    building = _BUILDING.get(cls)
    if building is None:
        known = ", ".join(c.__name__ for c in _BUILDING)
        raise TypeError(f"layer() builds {known}; not {cls.__name__}")
    module = building.__new__(building)
    cls.__init__(module, *args, **kwargs)
    module.__class__ = cls
    # The layer's own tensors, read directly: parameters() is a walk, 5 µs a layer.
    own = [t for t in (*module._parameters.values(), *module._buffers.values()) if t is not None]
    if own and not own[0].is_meta:
        module.reset_parameters()
    return module


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
        self.conv = layer(
            nn.Conv2d,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=bias,
        )
        self.bn = layer(nn.BatchNorm2d, out_channels, eps=eps) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)
