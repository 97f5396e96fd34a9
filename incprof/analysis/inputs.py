"""A forward's inputs from specs: tensors of any rank and dtype, made on ``meta`` (or on
the CPU for a forward that reads values), and lazy modules made concrete at them.

Specs (:class:`~incprof.parse.Inputs`) hold shapes and dtypes only, so a result that keeps
them keeps no user data alive.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

from incprof.errors import InputError
from incprof.parse import Inputs, TensorSpec, check_dims, parse_tensor_spec
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
    args = tuple(_made(a, batch, device) for a in spec.args)
    return args, {k: _made(v, batch, device) for k, v in spec.kwargs}


def _made(value: Any, batch: int, device: str) -> Any:
    """One argument of :func:`make_inputs`, nested containers walked. (A module function:
    a recursive closure would be a reference cycle left to the collector on every trace.)"""
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
        return {k: _made(v, batch, device) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_made(v, batch, device) for v in value)
    return value


def is_lazy(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> bool:
    """Whether ``model`` holds lazy modules whose parameters exist only after a forward.
    (Asked of the modules: an isinstance check per parameter costs ~2 ms on Inception-v3;
    ``modules``, where the caller has walked them already.)"""
    return any(
        isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()
        for m in (model.modules() if modules is None else modules)
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


def specs_of(
    inputs: tuple[Any, ...], named: Mapping[str, Any], batch: int | None
) -> tuple[Inputs, tuple[tuple[Any, ...], dict[str, Any]]]:
    """``incprof.profile``'s inputs as specs (no tensor kept), and the real tensors given,
    for a CPU run of a forward that reads values."""
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int)):
        raise InputError(f"batch must be a positive integer; got {batch!r}")
    if batch is not None:
        check_dims([batch], f"batch={batch}")
    args = tuple(_spec_of(v, shapes=True) for v in inputs)
    kwargs = tuple((k, _spec_of(v, shapes=False)) for k, v in named.items())
    spec = Inputs(args, kwargs)
    if batch is not None and spec.specs() and not any(s.batched for s in spec.specs()):
        raise InputError("batch= sets the batch of shapes; tensors are taken as they are")
    live_args = tuple(v if isinstance(v, torch.Tensor) else None for v in inputs)
    live_kwargs = {k: v for k, v in named.items() if isinstance(v, torch.Tensor)}
    return spec, (live_args, live_kwargs)


def _spec_of(value: Any, *, shapes: bool) -> Any:
    """A tensor -> its spec as is; a shape (positional only) -> a spec the batch is
    prepended to; containers recursively; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return TensorSpec(tuple(value.shape), str(value.dtype).removeprefix("torch."), False)
    if isinstance(value, TensorSpec):
        return value
    if shapes and isinstance(value, str):
        return parse_tensor_spec(value)
    if shapes and isinstance(value, tuple | list) and value and _all_ints(value):
        return TensorSpec(check_dims(list(value), repr(value)))
    if isinstance(value, Mapping):
        return {k: _spec_of(v, shapes=shapes) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_spec_of(v, shapes=shapes) for v in value)
    return value


def _all_ints(values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)
