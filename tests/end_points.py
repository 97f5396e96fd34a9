"""Shape-only checks shared by the network tests: what each end point outputs."""

import torch
from torch import nn


def end_point_shapes(model: nn.Module, names: tuple[str, ...], size: int) -> dict[str, tuple]:
    """(C, H, W) of each named submodule's output for one meta-device eval forward at
    ``size`` × ``size``; the hooks are removed afterwards."""
    shapes: dict[str, tuple] = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in names
    ]
    try:
        model.eval()(torch.empty(1, 3, size, size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes
