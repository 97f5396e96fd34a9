"""The recorder of a traced pass: a dispatch mode that runs each ATen call (exact shape
shortcuts where they exist) and notes it with its values and storages, and the hooks that
say which module, forward or backward, is running."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from types import MappingProxyType
from typing import Any, Literal

import torch
from torch import nn
from torch.autograd.graph import register_multi_grad_hook
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis.meta_kernels import shape_shortcut
from incprof.analysis.trace_ir import (
    ROOT,
    SEQUENCES,
    OpCall,
    Role,
    TensorInfo,
    make_op_call,
    make_tensor_info,
    tensor_leaves,
)


class _KeyedRef(weakref.ref):
    """A weak reference that carries what its callback needs: a value's id or storage
    address (and index), not a closure made for each (0.5 µs a value)."""

    __slots__ = ("key", "storage")
    key: int
    storage: int


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
        self.tensor_refs: dict[int, _KeyedRef] = {}
        self.storages: dict[int, int] = {}  # a live storage's address -> its index
        self.storage_facts: list[list[Any]] = []  # [nbytes, dtype, role, producer, freed]
        self.storage_refs: list[_KeyedRef] = []
        self.used: set[int] = set()  # indices of the parameter values some op read
        self.saved: list[TensorInfo] = []
        self.phase: Literal["forward", "backward"] = "forward"
        self.backward_modules = _BackwardModules()

    def value(
        self,
        tensor: torch.Tensor,
        producer: int | None,
        role: Role,
        name: str = "",
        *,
        held: bool = False,
    ) -> TensorInfo:
        """A new value of ``tensor``: the current one from now on.

        ``held``: the caller keeps ``tensor`` alive until the pass ends (the parameters,
        the inputs), so neither its id nor its storage can be freed and reused inside
        it: no weak reference is needed to tell.
        """
        untyped = tensor.untyped_storage()
        key = untyped._cdata
        dtype = tensor.dtype
        storage = self.storages.get(key)
        if storage is None:
            storage = self.storages[key] = len(self.storage_facts)
            self.storage_facts.append([untyped.nbytes(), dtype, role, producer, None])
            if not held:
                ref = _KeyedRef(untyped, self._storage_freed)
                ref.key, ref.storage = key, storage
                self.storage_refs.append(ref)
        info = make_tensor_info(
            len(self.tensors),
            tuple(tensor.shape),
            dtype,
            tuple(tensor.stride()),
            storage,
            tensor.storage_offset(),
            producer,
            role,
            name,
        )
        self.tensors.append(info)
        key = id(tensor)
        if not held and key not in self.latest:
            ref = self.tensor_refs[key] = _KeyedRef(tensor, self._tensor_dead)
            ref.key = key
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

    def _storage_freed(self, ref: _KeyedRef) -> None:
        if self.storages.get(ref.key) == ref.storage:
            del self.storages[ref.key]
        self.storage_facts[ref.storage][4] = len(self.ops)

    def _tensor_dead(self, ref: _KeyedRef) -> None:
        if self.tensor_refs.get(ref.key) is ref:
            del self.tensor_refs[ref.key]
            self.latest.pop(ref.key, None)

    def _in(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            info = self.latest.get(id(value))
            if info is None:
                return self.value(value, None, "constant")
            if info.role == "parameter":
                self.used.add(info.index)
            return info
        if isinstance(value, SEQUENCES):
            if value and type(value[0]) is int:  # sizes, strides, paddings: no tensors
                return tuple(value)
            return tuple(self._in(v) for v in value)
        return value

    def _out(self, value: Any, index: int) -> Any:
        if isinstance(value, torch.Tensor):
            return self.value(value, index, "activation")
        if isinstance(value, SEQUENCES):
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
            make_op_call(
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
    named: Iterable[tuple[str, nn.Module]],
    stack: list[str],
    on_call: Callable[[str, nn.Module, bool, Any], None] | None = None,
) -> Iterator[None]:
    """Keep ``stack`` at the names of the modules (``named``: a model's
    ``named_modules()``) that are running.

    ``on_call(name, module, started, value)`` sees each call start (``value``: its inputs)
    and end (``value``: its output). Two global hooks, not two per module: set-up does not
    grow with size.
    """
    names = {id(m): name for name, m in named if name}

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
