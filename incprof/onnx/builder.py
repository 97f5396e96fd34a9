"""The tensors, storages and ops of an ONNX trace, collected as :func:`trace_module`
does for a real pass, and each storage's lifetime."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import torch

from incprof.analysis.trace import (
    OpCall,
    Role,
    StorageInfo,
    TensorInfo,
)
from incprof.onnx.lowering import (
    Call,
)

aten = torch.ops.aten


def _contiguous(shape: Sequence[int]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _view_strides(call: Call, source: TensorInfo, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A view's strides over its source: permuted, broadcast (0) or contiguous."""
    if call.func is aten.t.default:
        return source.strides[::-1]
    if call.func is aten.permute.default:
        return tuple(source.strides[p] for p in call.args[1])
    if call.func is aten.expand.default:
        lead = len(shape) - len(source.shape)
        return tuple(
            0 if i < lead or source.shape[i - lead] != size else source.strides[i - lead]
            for i, size in enumerate(shape)
        )
    return _contiguous(shape)


class _Builder:
    """Collects tensors, storages and ops as :func:`trace_module` does for a real pass."""

    def __init__(self) -> None:
        self.tensors: list[TensorInfo] = []
        self.storages: list[list[Any]] = []  # [nbytes, dtype, role, producer]
        self.ops: list[OpCall] = []

    def tensor(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        producer: int | None,
        role: Role,
        name: str = "",
        view_of: TensorInfo | None = None,
        strides: tuple[int, ...] | None = None,
    ) -> TensorInfo:
        if view_of is None:
            storage = len(self.storages)
            self.storages.append([math.prod(shape) * dtype.itemsize, dtype, role, producer])
        else:
            storage = view_of.storage
        info = TensorInfo(
            len(self.tensors),
            tuple(shape),
            dtype,
            strides or _contiguous(shape),
            storage,
            0,
            producer,
            role,
            name,
        )
        self.tensors.append(info)
        return info

    def call(self, call: Call, module: str, made: dict[int, TensorInfo]) -> list[TensorInfo]:
        """Record one lowered call; ``made`` maps earlier calls of the node to outputs."""

        def resolve(arg: Any) -> Any:
            if isinstance(arg, Call):
                return made[id(arg)]
            if isinstance(arg, tuple):
                return tuple(resolve(a) for a in arg)
            return arg

        args = tuple(resolve(a) for a in call.args)
        index = len(self.ops)
        source = args[0] if call.view else None
        outs = [
            self.tensor(
                shape,
                dtype,
                index,
                "activation",
                view_of=source,
                strides=_view_strides(call, source, shape) if source is not None else None,
            )
            for shape, dtype in call.out
        ]
        out: Any = outs[0] if len(outs) == 1 else tuple(outs)
        self.ops.append(OpCall(index, module, call.func, args, _NO_KWARGS, out))
        made[id(call)] = outs[0]
        return outs


_NO_KWARGS = MappingProxyType({})


def _storages(builder: _Builder, outputs: Sequence[TensorInfo | None]) -> tuple[StorageInfo, ...]:
    """Each storage with its lifetime: an activation is freed after its last reader (what
    PyTorch's eager pass does when the last reference drops); the outputs stay."""
    last_read: dict[int, int] = {}
    for op in builder.ops:
        for t in op.inputs:
            last_read[t.storage] = op.index
    kept = {t.storage for t in outputs if t is not None}
    storages = []
    for index, (nbytes, dtype, role, producer) in enumerate(builder.storages):
        freed = None
        if role == "activation" and index not in kept:
            freed = last_read.get(index, producer) + 1
        storages.append(StorageInfo(index, nbytes, dtype, role, producer, freed))
    return tuple(storages)
