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
"""

from __future__ import annotations

import copy
import dataclasses
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import nn
from torch.autograd.graph import register_multi_grad_hook
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.overrides import TorchFunctionMode
from torch.utils._device import _device_constructors
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis.gc_pause import without_gc
from incprof.analysis.inputs import as_inputs, is_lazy, make_inputs, materialized
from incprof.analysis.meta_kernels import shape_shortcut
from incprof.parse import Inputs
from incprof.registry import InputShape, Variant

ROOT = "(root)"

Role = Literal["input", "parameter", "buffer", "activation", "constant"]


@dataclass(frozen=True, slots=True, eq=False)
class TensorInfo:
    """One value a tensor held during the pass.

    An in-place op gives its tensor a new value (a new ``TensorInfo``, same ``storage``);
    a view is a new value on its base's ``storage``. ``producer`` is the index of the op
    that made the value, None for the input, parameters, buffers and constants.
    Formulas read it like a tensor: ``shape``, ``dim()``, ``numel()``.
    """

    index: int
    shape: tuple[int, ...]
    dtype: torch.dtype
    strides: tuple[int, ...]
    storage: int
    storage_offset: int
    producer: int | None
    role: Role
    name: str = ""  # a parameter's or buffer's qualified name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel() * self.dtype.itemsize


@dataclass(frozen=True, slots=True, eq=False)
class OpCall:
    """One ATen operator call, with tensors as :class:`TensorInfo`."""

    index: int
    module: str  # the innermost module running (backward: whose backward is); ROOT: none
    func: Any  # the ATen overload, e.g. ``aten.convolution.default``
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    out: Any  # a TensorInfo, a tuple of them (and of non-tensors), or a plain value
    phase: Literal["forward", "backward"] = "forward"

    @property
    def name(self) -> str:
        """The operator's name without overload: ``convolution``, ``relu_``."""
        return self.func.overloadpacket.__name__

    @property
    def inputs(self) -> tuple[TensorInfo, ...]:
        """Every tensor argument, nested lists (``cat``'s) included, in order."""
        return tuple(_infos((self.args, tuple(self.kwargs.values()))))

    @property
    def outputs(self) -> tuple[TensorInfo, ...]:
        return tuple(_infos(self.out))


@dataclass(frozen=True, slots=True)
class StorageInfo:
    """One block of memory the pass saw: how big, who made it, when it was freed.

    Lifetimes are observed, not guessed: the pass runs eager PyTorch on ``meta`` tensors,
    and a storage is freed when its last reference drops (a weak reference tells), as it
    would be on a real device. ``freed_before`` is the index of the first op issued after
    the free (None: still alive when the pass ended, like the output and the weights).
    """

    index: int
    nbytes: int  # at the traced dtype
    dtype: torch.dtype  # of the first tensor seen on it
    role: Role  # of the first tensor seen on it: a view or an in-place op keeps it
    producer: int | None  # the op that allocated it; None: it existed before the pass
    freed_before: int | None


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """One call of a module: where it sits, what kind it is, what it returned."""

    name: str
    type: str
    kernel_size: tuple[int, ...] | None  # conv and pool layers; None for the rest
    stride: tuple[int, ...] | None
    first_op: int  # ops first_op .. end_op - 1 ran inside this call
    end_op: int
    output: TensorInfo | None  # the first tensor of what it returned


@dataclass(frozen=True, slots=True)
class ParameterInfo:
    """A parameter of the model; ties are one parameter, owned by the first module."""

    name: str
    owner: str  # the module holding it directly (``ROOT``: the model itself)
    numel: int
    value: TensorInfo
    used: bool  # read by some op of the traced pass
    trainable: bool = True  # requires_grad: a frozen parameter gets no gradient


@dataclass(frozen=True)
class Trace:
    """Everything one forward pass did, as plain immutable data."""

    name: str
    input_shape: tuple[int, ...]  # the first input's, batch excluded where it was prepended
    batch: int
    input: TensorInfo  # the first input tensor
    ops: tuple[OpCall, ...]
    modules: tuple[ModuleCall, ...]  # in the order the calls started: parents first
    parameters: tuple[ParameterInfo, ...]
    outputs: tuple[TensorInfo | None, ...]  # the output's tensor leaves, in order
    output_type: str  # what the model returned (``Tensor``, ``tuple``, a dataclass …)
    end_points: tuple[str, ...]  # declared, else the model's top-level children
    training: bool = False  # a training step: forward in train mode, then backward
    saved: tuple[TensorInfo, ...] = ()  # the values autograd saved for the backward
    storages: tuple[StorageInfo, ...] = ()  # indexed by ``TensorInfo.storage``
    inputs: tuple[TensorInfo, ...] = ()  # every input tensor, positional then keyword
    input_text: str = ""  # the inputs as given: '3x299x299', '12:int64, mask=12:bool'

    @property
    def output(self) -> TensorInfo | None:
        """The main output: the first tensor leaf."""
        return self.outputs[0] if self.outputs else None

    def module_types(self) -> dict[str, str]:
        return {m.name: m.type for m in self.modules}


def _infos(value: Any) -> list[TensorInfo]:
    """The TensorInfos in ``value``, nested tuples and lists walked in order (a loop, not
    a recursive generator: every memory figure asks it of every op)."""
    if isinstance(value, TensorInfo):
        return [value]
    found: list[TensorInfo] = []
    if isinstance(value, tuple | list):
        for item in value:
            if isinstance(item, TensorInfo):
                found.append(item)
            elif isinstance(item, tuple | list):
                found.extend(_infos(item))
    return found


def tensor_leaves(value: Any) -> list[Any]:
    """Every tensor in a model's output, in order: a tensor, or tensors nested in tuples,
    lists, dicts and dataclasses (detection and multi-head models return those)."""
    if isinstance(value, torch.Tensor | TensorInfo):
        return [value]
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.values()
    elif isinstance(value, tuple | list):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = (getattr(value, f.name) for f in dataclasses.fields(value))
    else:
        return []
    return [leaf for item in items for leaf in tensor_leaves(item)]


def first_tensor(value: Any) -> Any:
    """The main output: the first tensor leaf, or None when there is none."""
    leaves = tensor_leaves(value)
    return leaves[0] if leaves else None


class _Recorder(TorchDispatchMode):
    """Runs each ATen call (shape shortcuts where they are exact) and records it."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch would wrap __torch_dispatch__ in dynamo.disable, importing torch._dynamo
        # (~850 modules, ~2 s) on the first op; nothing here is ever compiled.
        return False

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.ops: list[OpCall] = []
        self.tensors: list[TensorInfo] = []
        self.latest: dict[int, TensorInfo] = {}  # id(tensor) -> its current value
        # A dead tensor's id may be reused: its weak reference drops it from ``latest``.
        self.tensor_refs: dict[int, weakref.ref[torch.Tensor]] = {}
        self.storages: dict[int, int] = {}  # a live storage's address -> its index
        self.storage_facts: list[list[Any]] = []  # [nbytes, dtype, role, producer, freed]
        self.storage_refs: list[weakref.ref[Any]] = []
        self.used: set[int] = set()  # indices of the parameter values some op read
        self.saved: list[TensorInfo] = []
        self.phase: Literal["forward", "backward"] = "forward"
        self.backward_modules = _BackwardModules()

    def value(
        self, tensor: torch.Tensor, producer: int | None, role: Role, name: str = ""
    ) -> TensorInfo:
        """A new value of ``tensor``: the current one from now on."""
        untyped = tensor.untyped_storage()
        key = untyped._cdata
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = len(self.storage_facts)
            self.storage_facts.append([untyped.nbytes(), tensor.dtype, role, producer, None])
            self.storage_refs.append(weakref.ref(untyped, self._storage_freed(key, storage)))
        info = TensorInfo(
            len(self.tensors),
            tuple(tensor.shape),
            tensor.dtype,
            tuple(tensor.stride()),
            storage,
            tensor.storage_offset(),
            producer,
            role,
            name,
        )
        self.tensors.append(info)
        key = id(tensor)
        if key not in self.latest:
            self.tensor_refs[key] = weakref.ref(tensor, self._tensor_dead(key))
        self.latest[key] = info
        return info

    def release(self) -> None:
        """The pass is over: drop the weak references, whose callbacks refer back here,
        so the recorder goes when its last reference does (not at the collector's next
        full pass: ~13,000 objects a network) and no free after the pass is noted."""
        self.tensor_refs.clear()
        self.storage_refs.clear()
        self.latest.clear()
        self.storages.clear()

    def _storage_freed(self, key: int, storage: int) -> Callable[[Any], None]:
        def freed(_ref: Any) -> None:
            if self.storages.get(key) == storage:
                del self.storages[key]
            self.storage_facts[storage][4] = len(self.ops)

        return freed

    def _tensor_dead(self, key: int) -> Callable[[Any], None]:
        def dead(ref: Any) -> None:
            if self.tensor_refs.get(key) is ref:
                del self.tensor_refs[key]
                self.latest.pop(key, None)

        return dead

    def _in(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            info = self.latest.get(id(value))
            if info is None:
                return self.value(value, None, "constant")
            if info.role == "parameter":
                self.used.add(info.index)
            return info
        if isinstance(value, tuple | list):
            if value and type(value[0]) is int:  # sizes, strides, paddings: no tensors
                return tuple(value)
            return tuple(self._in(v) for v in value)
        return value

    def _out(self, value: Any, index: int) -> Any:
        if isinstance(value, torch.Tensor):
            return self.value(value, index, "activation")
        if isinstance(value, tuple | list):
            return tuple(self._out(v, index) for v in value)
        return value

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = run_op(func, args, kwargs or {})
        index = len(self.ops)
        recorded_kwargs = (
            MappingProxyType({k: self._in(v) for k, v in kwargs.items()}) if kwargs else _NO_KWARGS
        )
        module = self.stack[-1] if self.phase == "forward" else self.backward_modules.current()
        self.ops.append(
            OpCall(
                index,
                module,
                func,
                tuple([self._in(a) for a in args]),
                recorded_kwargs,
                self._out(out, index),
                self.phase,
            )
        )
        return out


_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})


def run_op(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run one ATen call; on meta tensors, take an exact shape shortcut where one exists
    (torch's meta kernels for batch norm, cat, mean … are slow Python decompositions)."""
    shortcut = shape_shortcut(func, args, kwargs)
    return shortcut if shortcut is not None else func(*args, **kwargs)


def kernel_of(module: nn.Module) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(kernel size, stride) of conv and pool layers, per spatial axis; (None, None) else."""
    kernel = getattr(module, "kernel_size", None)
    if kernel is None:
        return None, None
    stride = getattr(module, "stride", 1)

    def pair(v: Any) -> tuple[int, ...]:
        return tuple(v) if isinstance(v, tuple | list) else (v, v)

    return pair(kernel), pair(stride if stride is not None else kernel)


@contextmanager
def module_tracking(
    model: nn.Module,
    stack: list[str],
    on_call: Callable[[str, nn.Module, bool, Any], None] | None = None,
) -> Iterator[None]:
    """Keep ``stack`` at the names of ``model``'s modules that are running.

    ``on_call(name, module, started, value)`` sees each call start (``value``: its inputs)
    and end (``value``: its output). Two global hooks, not two per module: set-up does not
    grow with size.
    """
    names = {id(m): name for name, m in model.named_modules() if name}

    def pre(module: nn.Module, inputs: Any) -> None:
        name = names.get(id(module))
        if name is not None:
            stack.append(name)
            if on_call is not None:
                on_call(name, module, True, inputs)

    def post(module: nn.Module, _inputs: Any, output: Any) -> None:
        name = names.get(id(module))
        if name is not None:
            stack.pop()
            if on_call is not None:
                on_call(name, module, False, output)

    with ExitStack() as hooks:
        hooks.callback(register_module_forward_pre_hook(pre).remove)
        hooks.callback(register_module_forward_hook(post, always_call=True).remove)
        yield


class _BackwardModules:
    """Which module's backward is running, from gradient hooks set during the forward.

    A module is entered when the gradient of its output is about to flow (a hook on its
    output) and left when its inputs' gradients are (a hook on its inputs), as
    ``torch.utils.module_tracker`` does; the innermost is the one entered last and not yet
    left. Hooks add no operator and keep no tensor alive, so lifetimes stay as they were.
    """

    def __init__(self) -> None:
        self.entered: list[str] = []
        self.handles: list[Any] = []

    def current(self) -> str:
        return self.entered[-1] if self.entered else ROOT

    def on_call(self, name: str, started: bool, value: Any) -> None:
        tensors = [t for t in tensor_leaves(value) if t.requires_grad and t.grad_fn is not None]
        if not tensors:
            return
        # A call's start hooks its inputs (left once their gradients flow); its end hooks
        # its output (entered once the output's gradient is about to flow).
        hook = self._leave(name) if started else self._enter(name)
        self.handles.append(register_multi_grad_hook(tensors, hook, mode="any"))

    def _enter(self, name: str) -> Callable[[Any], None]:
        def enter(_grad: Any) -> None:
            self.entered.append(name)

        return enter

    def _leave(self, name: str) -> Callable[[Any], None]:
        def leave(_grad: Any) -> None:
            if name in self.entered:
                self.entered.reverse()
                self.entered.remove(name)  # the latest entry of it
                self.entered.reverse()

        return leave

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


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


class _MetaBuild(TorchFunctionMode):
    """``torch.device("meta")`` for a model's constructor, minus the weight init: tensors
    on ``meta`` hold nothing, so ``nn.init``'s and the modules' own fills are skipped,
    not computed (a fifth of the time a network's analysis took)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _INIT_FUNCTIONS or func in _FILLS:
            tensor = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
                return tensor
        elif kwargs.get("device") is None and func in _CONSTRUCTORS:
            kwargs["device"] = "meta"
            if func in _FILLED and "out" not in kwargs:
                func = torch.empty  # the same tensor, without torch's Python meta kernel
        return func(*args, **kwargs)


_CONSTRUCTORS = _device_constructors()
# Constructors whose only difference from ``empty`` is the value (a batch norm's
# running statistics): on ``meta`` there is none.
_FILLED = frozenset({torch.zeros, torch.ones})


def meta_model(variant: Variant, overrides: Mapping[str, Any] | None = None) -> nn.Module:
    """Build a variant with its parameters on the meta device (no memory, no init cost)."""
    overrides = dict(overrides or {})
    try:
        with _MetaBuild():
            return variant.build(**overrides)
    except (NotImplementedError, RuntimeError):
        # Some user models initialise from real data; build on the CPU, then drop the data.
        return meta_copy(variant.build(**overrides))


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
    model = _traceable(model, args, kwargs, device)
    stack = [ROOT]
    recorder = _Recorder(stack)
    named = list(model.named_modules())  # one walk; a module two parents share, once
    params, buffers = _weights(named)
    values = {pid: recorder.value(p, None, "parameter", q) for pid, (p, q, _o) in params.items()}
    for b, qualified in buffers.values():
        recorder.value(b, None, "buffer", qualified)
    sources = [recorder.value(t, None, "input") for t in tensor_leaves([*args, *kwargs.values()])]
    if not sources:
        raise ValueError("the model needs at least one tensor input to trace")
    log = _CallLog(recorder, training)
    # A step's gradients belong to its trace: the model keeps the ones it had, so the
    # next step traced on it starts as this one did (accumulating would change it).
    grads = [(p, p.grad) for p, _name, _owner in params.values()] if training else []
    out = _forward(model, (args, kwargs), recorder, log, named, training=training)
    storages = tuple(
        StorageInfo(i, *facts) for i, facts in enumerate(recorder.storage_facts)
    )  # a snapshot: frees after the pass ended do not count
    outputs = tuple(recorder.latest.get(id(t)) for t in tensor_leaves(out))
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


def _traceable(
    model: nn.Module, args: tuple[Any, ...], kwargs: Mapping[str, Any], device: str
) -> nn.Module:
    """What is traced: on ``meta``, a lazy model materialised on a meta copy and a model
    with real weights copied to meta (ties kept); a meta model, or any on the CPU, as is."""
    if device != "meta":
        return model
    if is_lazy(model):
        return materialized(model, args, kwargs)
    if any(p.device.type != "meta" for p in model.parameters()):
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
            ModuleCall(n, type(m).__name__, *kernel_of(m), first_op, end_op, output)
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
        with module_tracking(model, recorder.stack, log.on_call), recorder:
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
        ParameterInfo(q, owner, p.numel(), values[pid], values[pid].index in used, p.requires_grad)
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
        return tensor

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
            meta_model(variant, overrides).eval(),
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
