"""A forward's inputs from specs: tensors of any rank and dtype, made on ``meta`` (or on
the CPU for a forward that reads values), and lazy modules made concrete at them.

Specs (:class:`~incprof.parse.Inputs`) hold shapes and dtypes only, so a result that keeps
them keeps no user data alive.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from incprof.parse import Inputs, TensorSpec
from incprof.registry import InputShape


def as_inputs(input_shape: InputShape | tuple[int, ...] | Inputs) -> Inputs:
    """One float input of ``input_shape`` (batch prepended), or the given inputs."""
    if isinstance(input_shape, Inputs):
        return input_shape
    return Inputs((TensorSpec(tuple(input_shape)),))


_ZERO_FILLED = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def make_inputs(
    spec: Inputs, batch: int, device: str = "meta"
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The forward's positional and keyword arguments: a tensor per spec, batch prepended
    where the spec asks, on ``device`` (off meta: random floats, zero integers, which
    every embedding takes as an index); real tensors (a real run's) and everything else
    passed as they are."""

    def make(value: Any) -> Any:
        if isinstance(value, torch.Tensor):  # a real tensor for a real run: as it is
            return value
        if isinstance(value, TensorSpec):
            shape = (batch, *value.shape) if value.batched else value.shape
            dtype = getattr(torch, value.dtype)
            if device == "meta" or dtype in _ZERO_FILLED:
                tensor = torch.zeros if device != "meta" else torch.empty
                return tensor(shape, dtype=dtype, device=device)
            return torch.randn(shape, dtype=dtype, device=device)
        if isinstance(value, Mapping):
            return {k: make(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return type(value)(make(v) for v in value)
        return value

    return tuple(make(a) for a in spec.args), {k: make(v) for k, v in spec.kwargs}


def is_lazy(model: nn.Module) -> bool:
    """Whether ``model`` holds lazy modules whose parameters exist only after a forward.
    (Asked of the modules: an isinstance check per parameter costs ~2 ms on Inception-v3.)"""
    return any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params() for m in model.modules()
    )


def materialized(model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> nn.Module:
    """A meta copy of a model with lazy modules, made concrete by one forward on ``meta``
    at the given input (as a user's first real batch would): their parameters then count.
    The user's model is left as it was."""
    memo: dict[int, Any] = {}
    for p in model.parameters():
        lazy = isinstance(p, nn.parameter.UninitializedParameter)
        memo[id(p)] = (
            nn.parameter.UninitializedParameter(p.requires_grad, device="meta")
            if lazy
            else nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
        )
    for b in model.buffers():
        lazy = isinstance(b, nn.parameter.UninitializedBuffer)
        memo[id(b)] = (
            nn.parameter.UninitializedBuffer(device="meta")
            if lazy
            else torch.empty_like(b, device="meta")
        )
    copied = copy.deepcopy(model, memo)
    with torch.no_grad():
        copied(*args, **kwargs)
    return copied
