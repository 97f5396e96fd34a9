"""Models on the ``meta`` device: built there without weight init, or copied there
with ties kept; nothing is allocated and nothing computed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors

from incprof.registry import Variant


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every parameter and buffer on the meta device, ties kept.

    ``model.to("meta")`` gives each module that holds a parameter a new one, so a weight
    two modules share (a decoder reusing its encoder's) would become two and be counted
    twice. Here each tensor is mapped once, through deepcopy's memo, and no data is copied.
    """
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


_INIT_FUNCTIONS = frozenset(
    getattr(nn.init, name)
    for name in dir(nn.init)
    if name.endswith("_") and not name.startswith("_") and callable(getattr(nn.init, name))
)


# In-place fills a module's constructor runs (``reset_running_stats``, ``reset_parameters``).
_FILLS = frozenset(
    {
        torch.Tensor.zero_,
        torch.Tensor.fill_,
        torch.Tensor.uniform_,
        torch.Tensor.normal_,
        torch.Tensor.copy_,
    }
)

# Constructors whose only difference from ``empty`` is the value (a batch norm's
# running statistics): on ``meta`` there is none.
_FILLED = frozenset({torch.zeros, torch.ones})

# What the build does with each function it treats apart; every other call (the
# thousands of tensor methods and grad-mode switches a constructor makes) is one dict
# miss and runs as it is.
_SKIP, _ON_META, _AS_EMPTY = range(3)
_ACTIONS: dict[Any, int] = {
    **{func: _ON_META for func in _device_constructors()},
    **{func: _AS_EMPTY for func in _FILLED},
    **{func: _SKIP for func in _INIT_FUNCTIONS | _FILLS},
}


class _MetaBuild(TorchFunctionMode):
    """``torch.device("meta")`` for a model's constructor, minus the weight init: tensors
    on ``meta`` hold nothing, so ``nn.init``'s and the modules' own fills are skipped,
    not computed (a fifth of the time a network's analysis took)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        action = _ACTIONS.get(func)
        if action is None:
            return func(*args, **(kwargs or {}))
        kwargs = kwargs or {}
        if action == _SKIP:
            tensor = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
                return tensor
        elif kwargs.get("device") is None:
            kwargs["device"] = "meta"
            if action == _AS_EMPTY and "out" not in kwargs:
                func = torch.empty  # the same tensor, without torch's Python meta kernel
        return func(*args, **kwargs)


def meta_model(variant: Variant, overrides: Mapping[str, Any] | None = None) -> nn.Module:
    """Build a variant with its parameters on the meta device (no memory, no init cost)."""
    overrides = dict(overrides or {})
    try:
        with _MetaBuild():
            return variant.build(**overrides)
    except (NotImplementedError, RuntimeError):
        # Some user models initialise from real data; build on the CPU, then drop the data.
        return meta_copy(variant.build(**overrides))


def in_eval_mode(model: nn.Module) -> nn.Module:
    """``model.eval()``, flag by flag where no module overrides ``train`` or
    ``__setattr__``: the same end state, without torch's recursion through
    ``Module.__setattr__`` for each module (0.7 ms of an Inception-v3 analysis, a third
    of that here)."""
    modules = list(model.modules())
    if any(
        type(m).train is not nn.Module.train or type(m).__setattr__ is not nn.Module.__setattr__
        for m in modules
    ):
        return model.eval()
    for m in modules:
        m.__dict__["training"] = False
    return model
