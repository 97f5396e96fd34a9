"""One traced pass: every ATen operator of a forward on the ``meta`` device, once.

A model is built on ``meta`` (no memory, no weight init) and run once in eval mode under
one dispatch mode that records, for each operator call, the module running when it was
issued, its arguments with every tensor replaced by a :class:`TensorInfo` (shape, dtype,
strides, storage), and its outputs. Each tensor value knows the op that produced it, so
the trace is also the dataflow graph; views share their base's storage and an in-place op
writes a new version of the same storage, so aliasing is visible to whoever reads it.

Analyzers (MACs, receptive field, and later memory or bytes moved) are functions of a
:class:`Trace`: they never run the model again. The trace itself knows nothing of cost or
printing. Traces of registered variants are kept per process (:func:`trace_variant`), so
``incprof report`` or a regression check that asks for the same network many times
traces it once.

The parts: the trace's data in :mod:`~incprof.analysis.trace_ir`, the recorder and the
module hooks in :mod:`~incprof.analysis.recorder`, the meta build in
:mod:`~incprof.analysis.meta_build`; this module assembles a pass from them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from incprof.analysis.gc_pause import without_gc
from incprof.analysis.inputs import as_inputs, is_lazy, make_inputs, materialized
from incprof.analysis.meta_build import in_eval_mode, meta_copy, meta_model
from incprof.analysis.recorder import (
    _Recorder,
    kernel_of,
    module_tracking,
    run_op,
)
from incprof.analysis.trace_ir import (
    ROOT,
    ModuleCall,
    OpCall,
    ParameterInfo,
    Role,
    StorageInfo,
    TensorInfo,
    Trace,
    first_tensor,
    make_module_call,
    make_parameter_info,
    make_storage_info,
    tensor_leaves,
)
from incprof.parse import Inputs
from incprof.registry import InputShape, Variant

# Importers take the trace's data and its parts from here, where the pass is assembled.
__all__ = [
    "ROOT",
    "ModuleCall",
    "OpCall",
    "ParameterInfo",
    "Role",
    "StorageInfo",
    "TensorInfo",
    "Trace",
    "first_tensor",
    "kernel_of",
    "meta_copy",
    "meta_model",
    "module_tracking",
    "run_op",
    "tensor_leaves",
    "trace_module",
    "trace_variant",
]


def trace_module(
    model: nn.Module,
    input_shape: InputShape | tuple[int, ...] | Inputs,
    *,
    batch: int = 1,
    name: str = "model",
    end_points: Iterable[str] = (),
    training: bool = False,
    device: str = "meta",
) -> Trace:
    """Trace ``model``'s eval forward on ``meta``: on one float ``batch × input_shape``
    input (any rank), or on :class:`~incprof.parse.Inputs`, several tensors of any shape
    and dtype, positional and keyword (see :func:`make_inputs`).

    ``training``: a training step instead, the forward in train mode, then the backward
    of the sum of the main output (see :func:`_training_step`). A model with real weights
    is copied to ``meta`` first (ties kept), lazy modules materialised there; its mode is
    restored afterwards. ``device="cpu"``: the model as it is, on real CPU tensors, for a
    forward that reads values (slower, and the model must live on the CPU).
    """
    spec = as_inputs(input_shape)
    args, kwargs = make_inputs(spec, batch, device)
    named = list(model.named_modules())  # one walk; a module two parents share, once
    traced = _traceable(model, named, args, kwargs, device)
    if traced is not model:
        model, named = traced, list(traced.named_modules())
    stack = [ROOT]
    recorder = _Recorder(stack)
    params, values, sources = _known_values(recorder, named, (args, kwargs))
    log = _CallLog(recorder, training)
    # A step's gradients belong to its trace: the model keeps the ones it had, so the
    # next step traced on it starts as this one did (accumulating would change it).
    grads = [(p, p.grad) for p, _name, _owner in params.values()] if training else []
    try:
        out = _forward(model, (args, kwargs), recorder, log, named, training=training)
        storages = tuple(
            make_storage_info(i, *facts) for i, facts in enumerate(recorder.storage_facts)
        )  # a snapshot: frees after the pass ended do not count
        outputs = tuple(recorder.latest.get(id(t)) for t in tensor_leaves(out))
    finally:  # a forward that raised too: its tensors may outlive it, in the traceback
        recorder.release()
    for p, grad in grads:
        p.grad = grad
    return Trace(
        name=name,
        input_shape=_first_shape(spec, sources[0]),
        batch=batch,
        input=sources[0],
        ops=tuple(recorder.ops),
        modules=log.modules(),
        parameters=_parameter_infos(params, values, recorder.used),
        outputs=outputs,
        output_type=type(out).__name__,
        end_points=tuple(end_points) or tuple(n for n, _ in model.named_children()),
        training=training,
        saved=tuple(recorder.saved),
        storages=storages,
        inputs=tuple(sources),
        input_text=str(spec),
    )


def _known_values(
    recorder: _Recorder, named: list[tuple[str, nn.Module]], inputs: tuple[Any, Any]
) -> tuple[dict[int, Any], dict[int, TensorInfo], list[TensorInfo]]:
    """The values that exist before the first op: parameters (by id, with their info),
    buffers and the input tensors, noted so each op's reads of them are known.

    The parameters and inputs are held by the caller (``params``, ``inputs``) until the
    pass ends; a buffer is not: a forward may replace one, and its free then counts.
    """
    params, buffers = _weights(named)
    values = {
        pid: recorder.value(p, None, "parameter", q, held=True)
        for pid, (p, q, _o) in params.items()
    }
    for b, qualified in buffers.values():
        recorder.value(b, None, "buffer", qualified)
    args, kwargs = inputs
    leaves = tensor_leaves([*args, *kwargs.values()])
    sources = [recorder.value(t, None, "input", held=True) for t in leaves]
    if not sources:
        raise ValueError("the model needs at least one tensor input to trace")
    return params, values, sources


def _traceable(
    model: nn.Module,
    named: list[tuple[str, nn.Module]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    device: str,
) -> nn.Module:
    """What is traced: on ``meta``, a lazy model materialised on a meta copy and a model
    with real weights copied to meta (ties kept); a meta model, or any on the CPU, as is.
    (``named``: the model's modules, walked once for every question asked of them.)"""
    if device != "meta":
        return model
    modules = [m for _, m in named]
    if is_lazy(model, modules):
        return materialized(model, args, kwargs)
    if any(p is not None and not p.is_meta for m in modules for p in m._parameters.values()):
        return meta_copy(model)
    return model


class _CallLog:
    """Each module call of the pass: the ops it spans and its first output (and, in a
    training step, the hooks that tell whose backward runs)."""

    def __init__(self, recorder: _Recorder, training: bool) -> None:
        self.recorder = recorder
        self.training = training
        self.calls: list[list[Any]] = []  # [name, module, first_op, end_op, output]
        self.open: list[list[Any]] = []

    def on_call(self, module_name: str, module: nn.Module, started: bool, value: Any) -> None:
        recorder = self.recorder
        if self.training:
            recorder.backward_modules.on_call(module_name, started, value)
        if started:
            call = [module_name, module, len(recorder.ops), None, None]
            self.calls.append(call)
            self.open.append(call)
            return
        call = self.open.pop()
        call[3] = len(recorder.ops)
        first = first_tensor(value)
        if first is not None:
            call[4] = recorder.latest.get(id(first))

    def modules(self) -> tuple[ModuleCall, ...]:
        return tuple(
            make_module_call(n, type(m).__name__, *kernel_of(m), first_op, end_op, output)
            for n, m, first_op, end_op, output in self.calls
        )


def _forward(
    model: nn.Module,
    inputs: tuple[tuple[Any, ...], dict[str, Any]],
    recorder: _Recorder,
    log: _CallLog,
    named: list[tuple[str, nn.Module]],
    *,
    training: bool,
) -> Any:
    """The eval forward, or the training step, under the recorder and the module log;
    each module in the pass's mode, and back in its own after."""
    args, kwargs = inputs
    modes = [(module, module.training) for _, module in named]
    switch = any(flag != training for _, flag in modes)
    if switch:
        model.train(training)
    try:
        with module_tracking(named, recorder.stack, log.on_call), recorder:
            if training:
                return _training_step(model, args, kwargs, recorder)
            with torch.no_grad():
                return model(*args, **kwargs)
    finally:
        recorder.backward_modules.close()
        if switch:  # each module back in its own mode, as it was
            for module, flag in modes:
                module.training = flag


def _parameter_infos(
    params: dict[int, tuple[nn.Parameter, str, str]],
    values: dict[int, TensorInfo],
    used: set[int],
) -> tuple[ParameterInfo, ...]:
    return tuple(
        make_parameter_info(
            q, owner, p.numel(), values[pid], values[pid].index in used, p.requires_grad
        )
        for pid, (p, q, owner) in params.items()
    )


def _first_shape(spec: Inputs, first: TensorInfo) -> tuple[int, ...]:
    """The first input's shape as given: batch excluded where it was prepended."""
    specs = spec.specs()
    return specs[0].shape if specs and specs[0].batched else first.shape


def _weights(
    named: list[tuple[str, nn.Module]],
) -> tuple[dict[int, tuple[nn.Parameter, str, str]], dict[int, tuple[torch.Tensor, str]]]:
    """Parameters by id (it, qualified name, owner) and buffers by id (it, name); a
    tensor two modules share is the first one's."""
    params: dict[int, tuple[nn.Parameter, str, str]] = {}
    buffers: dict[int, tuple[torch.Tensor, str]] = {}
    for module_name, module in named:
        prefix = f"{module_name}." if module_name else ""
        # What named_parameters/named_buffers(recurse=False) read, without a walk each.
        for local, p in module._parameters.items():
            if p is not None and id(p) not in params:
                params[id(p)] = (p, prefix + local, module_name or ROOT)
        for local, b in module._buffers.items():
            if b is not None and id(b) not in buffers:
                buffers[id(b)] = (b, prefix + local)
    return params, buffers


def _training_step(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], recorder: _Recorder
) -> Any:
    """Forward in train mode, noting each tensor autograd saves for the backward, then the
    backward of the sum of every output that depends on a parameter (a stand-in loss:
    aux heads, where the model runs them in training, take part as in a real step).

    Backward ops are recorded with ``phase="backward"``, each with the module whose
    backward is running (see :class:`_BackwardModules`; ``ROOT`` outside any).
    """

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        recorder.saved.append(recorder._in(tensor))
        # Kept detached, out of the recorder's sight: a saved output kept as itself would
        # hold its own grad_fn, a cycle through autograd's C++ graph that only a backward
        # breaks, so a forward that raised would leave the graph and this recorder behind.
        with torch._C._DisableTorchDispatch():
            return tensor.detach()

    with torch.enable_grad():
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            out = model(*args, **kwargs)
        heads = [t for t in tensor_leaves(out) if t.requires_grad]
        if not heads:
            raise ValueError("a training step needs an output that depends on parameters")
        loss = heads[0].sum()
        for head in heads[1:]:
            loss = loss + head.sum()
        del heads
        recorder.phase = "backward"
        loss.backward()
    return out


# Traces of registered variants, newest last: a report asks for the same ones many times.
_CACHE_SIZE = 64


_cache: OrderedDict[tuple[Any, ...], tuple[Variant, Trace]] = OrderedDict()


@without_gc
def trace_variant(
    variant: Variant,
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    overrides: Mapping[str, Any] | None = None,
    training: bool = False,
) -> Trace:
    """The trace of a registered (or user) variant at its default or a given input: its
    eval forward, or with ``training`` a training step (see :func:`trace_module`).

    Kept per process by (variant, input, batch, overrides, training); a trace is
    immutable, so every analyzer can share it.
    """
    given = input_shape or variant.input_for(overrides)
    shape = given if isinstance(given, Inputs) else tuple(given)
    try:
        key: tuple[Any, ...] | None = (
            id(variant),
            shape,
            batch,
            tuple(sorted((overrides or {}).items())),
            training,
        )
        hash(key)
    except TypeError:  # an override that cannot be a key: trace every time
        key = None
    if key is not None and key in _cache and _cache[key][0] is variant:
        _cache.move_to_end(key)
        return _cache[key][1]
    if variant.trace_source is not None:
        trace = variant.trace_source(shape, batch, training)
    else:
        trace = trace_module(
            in_eval_mode(meta_model(variant, overrides)),
            shape,
            batch=batch,
            name=variant.name,
            end_points=variant.end_points,
            training=training,
        )
    if key is not None:
        _cache[key] = (variant, trace)
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return trace
