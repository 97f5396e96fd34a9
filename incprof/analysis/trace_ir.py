"""The trace's data: each ATen call (:class:`OpCall`) with its tensors as values
(:class:`TensorInfo`), the storages they live in, the module calls, the parameters, and the
:class:`Trace` that holds them; plain frozen records every analyzer reads."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import torch

ROOT = "(root)"

# Built once: ``isinstance(x, tuple | list)`` makes the union on every call (70 → 125 ns),
# and the pass asks it of every argument of every op.
SEQUENCES = (tuple, list)


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


_Record = TypeVar("_Record")


def slot_constructor(cls: type[_Record]) -> Callable[..., _Record]:
    """A positional constructor for a frozen, slotted record, every field given.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
    (1 µs for a :class:`TensorInfo`). Here a twin class with the same slots, not frozen,
    takes the fields by plain attribute stores, and the instance then becomes a ``cls``:
    the layouts are one, so Python allows the ``__class__`` assignment (0.3 µs; setting
    each slot through its descriptor took 0.55). A pass makes ~4,000 records, each then
    as frozen as the dataclass makes it. Generated as dataclasses generates ``__init__``.
    """
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if cls.__bases__ != (object,) or tuple(getattr(cls, "__slots__", ())) != tuple(names):
        raise TypeError(f"{cls.__name__} is not a flat slotted dataclass")
    fields = ", ".join(names)
    stores = "".join(f"        self.{name} = {name}\n" for name in names)
    source = (
        f"class Twin:\n    __slots__ = slots\n    def __init__(self, {fields}):\n{stores}"
        f"def make({fields}):\n    record = Twin({fields})\n    record.__class__ = cls\n"
        "    return record\n"
    )
    namespace: dict[str, Any] = {"cls": cls, "slots": cls.__slots__}
    exec(source, namespace)  # the names are the dataclass's own fields
    make = namespace["make"]
    make.__qualname__ = f"{cls.__name__}.make"
    return make


# The pass's constructors (all fields, positional): see slot_constructor.
make_tensor_info = slot_constructor(TensorInfo)
make_op_call = slot_constructor(OpCall)
make_storage_info = slot_constructor(StorageInfo)
make_module_call = slot_constructor(ModuleCall)
make_parameter_info = slot_constructor(ParameterInfo)


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
    if isinstance(value, SEQUENCES):
        for item in value:
            if isinstance(item, TensorInfo):
                found.append(item)
            elif isinstance(item, SEQUENCES):
                found.extend(_infos(item))
    return found


def tensor_leaves(value: Any) -> list[Any]:
    """Every tensor in a model's output, in order: a tensor, or tensors nested in tuples,
    lists, dicts and dataclasses (detection and multi-head models return those)."""
    if isinstance(value, torch.Tensor | TensorInfo):
        return [value]
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.values()
    elif isinstance(value, SEQUENCES):
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
