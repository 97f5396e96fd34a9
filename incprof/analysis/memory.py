"""Memory and bytes moved: what an inference forward holds and moves, from one trace.

Two conventions (DESIGN.md), both exact integers from the meta-device trace:

* **Bytes moved**, unfused eager: each ATen op reads its inputs (weights included) from
  memory and writes its outputs; a view moves nothing; an in-place op reads its tensor
  and writes it once. A broadcast input (stride 0) is read once per element it holds.
  ``arithmetic_intensity`` = FLOPs (2 × MACs) / bytes moved.
* **Activation peak**: the largest sum of live activation storages at any op of the eval
  forward. Lifetimes are the ones eager PyTorch gives (the trace observes each storage's
  free), alias-aware (views and in-place ops share their storage). The input, parameters
  and buffers are reported apart.

The dtype is a parameter: the trace is fp32, and every floating storage scales by the
itemsize (integer ones, such as max-pool indices, keep theirs). The trace allocates what
the CPU and CUDA kernels allocate (an eval ``max_pool2d`` computes its int64 indices and
drops them on both); kernels' private workspace (oneDNN's reordered weights, cuDNN's
scratch) is not a tensor and is not in it.

One difference from eager PyTorch is corrected: under any Python dispatch mode (the
trace's), autograd sums the gradients two consumers send out of place, where eager adds
into the first when it holds its only reference. A backward ``add`` of that kind is
counted as in place (:func:`_in_place_gradient_sums`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from incprof.analysis.formulas import cost_of
from incprof.analysis.rollup import shown_modules, subtrees
from incprof.analysis.trace import ROOT, OpCall, TensorInfo, Trace

aten = torch.ops.aten

# The dtypes the figures are given in: name -> torch dtype (the record's ``dtype`` key).
DTYPES: Mapping[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def dtype_of(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose from {', '.join(DTYPES)}")
    return DTYPES[name]


def in_dtype(nbytes: int, traced: torch.dtype, dtype: torch.dtype) -> int:
    """Bytes of a traced block in ``dtype``: floating data scales, integers keep theirs."""
    if not traced.is_floating_point or traced == dtype:
        return nbytes
    return nbytes // traced.itemsize * dtype.itemsize


def input_bytes(trace: Trace, dtype: torch.dtype) -> int:
    """Every input tensor of the forward, positional and keyword, in ``dtype``."""
    return sum(in_dtype(t.nbytes, t.dtype, dtype) for t in trace.inputs or (trace.input,))


def footprint(tensor: TensorInfo, dtype: torch.dtype) -> int:
    """Bytes a kernel touches reading ``tensor``: its distinct elements (a stride-0,
    broadcast dimension holds one), in ``dtype`` if it is floating."""
    elements = 1
    for size, stride in zip(tensor.shape, tensor.strides, strict=True):
        if stride != 0:
            elements *= size
    return in_dtype(elements * tensor.dtype.itemsize, tensor.dtype, dtype)


def is_view(op: OpCall) -> bool:
    """Whether the op only relabels memory (``view``, ``t``, ``expand`` …, and the in-place
    views ``as_strided_``, ``transpose_``): no bytes."""
    return bool(getattr(op.func, "is_view", False)) or torch.Tag.inplace_view in getattr(
        op.func, "tags", ()
    )


@dataclass(frozen=True)
class OpTraffic:
    """One op's bytes in the analysis dtype, and the FLOPs they feed."""

    index: int
    module: str
    operator: str
    bytes_read: int
    bytes_written: int
    flops: int  # 2 × MACs: conv and matmul only, as ``flops`` everywhere

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written


@dataclass(frozen=True)
class LiveTensor:
    """A block of memory alive at the peak, with the op and module that allocated it."""

    nbytes: int
    shape: tuple[int, ...]
    module: str
    operator: str

    def record(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "operator": self.operator,
            "shape": "x".join(map(str, self.shape)),
            "bytes": self.nbytes,
        }


@dataclass(frozen=True)
class Timeline:
    """Live bytes during each op, and where the largest sum occurs."""

    live: tuple[int, ...]  # during op i: what was alive before it, less frees, plus its outputs
    peak_bytes: int
    peak_op: int | None  # None: no op allocated anything
    at_peak: tuple[LiveTensor, ...]  # largest first


def timeline(
    trace: Trace,
    *,
    dtype: torch.dtype = torch.float32,
) -> Timeline:
    """Live bytes of the activation storages (gradients too, in a step), op by op."""
    sizes: dict[int, int] = {}
    allocated: dict[int, int] = defaultdict(int)
    freed: dict[int, int] = defaultdict(int)
    for s in trace.storages:
        if s.role != "activation" or s.producer is None:
            continue
        size = in_dtype(s.nbytes, s.dtype, dtype)
        sizes[s.index] = size
        allocated[s.producer] += size
        if s.freed_before is not None:
            freed[s.freed_before] += size
    for index, storage in _in_place_gradient_sums(trace):
        allocated[index] -= sizes.get(storage, 0)
    live: list[int] = []
    now = peak = 0
    peak_op: int | None = None
    for op in trace.ops:
        now -= freed.get(op.index, 0)
        during = now + allocated.get(op.index, 0)
        live.append(during)
        # What the op made stays (its in-place sums' transient copies never existed).
        now += sum(
            sizes.get(t.storage, 0)
            for t in {t.storage: t for t in op.outputs}.values()
            if trace.storages[t.storage].producer == op.index
        )
        if during > peak:
            peak, peak_op = during, op.index
    return Timeline(tuple(live), peak, peak_op, _alive_at(trace, peak_op, sizes))


def _in_place_gradient_sums(trace: Trace) -> Iterator[tuple[int, int]]:
    """(op, storage) of each backward ``add`` that eager autograd does in place: two
    gradients of one shape summed where the first dies with the sum (autograd held its
    only reference). Eager writes the sum into it; the trace, under a dispatch mode, gets
    a new buffer. The sum's bytes are then not new during that op."""
    storages = trace.storages
    for op in trace.ops:
        if op.phase != "backward" or op.func is not aten.add.Tensor:
            continue
        first, second = op.args[0], op.args[1]
        out = op.out
        if not (isinstance(first, TensorInfo) and isinstance(second, TensorInfo)):
            continue
        if first.shape != out.shape or first.dtype != out.dtype or first.strides != out.strides:
            continue
        old = storages[first.storage]
        if old.producer is None or old.freed_before != op.index + 1:
            continue
        yield op.index, out.storage


def _alive_at(trace: Trace, index: int | None, sizes: Mapping[int, int]) -> tuple[LiveTensor, ...]:
    if index is None:
        return ()
    shapes = {}
    for op in trace.ops[: index + 1]:
        for out in op.outputs:
            shapes.setdefault(out.storage, out.shape)
    alive = []
    for storage, size in sizes.items():
        info = trace.storages[storage]
        producer = info.producer
        if producer is None or producer > index:
            continue
        if not size or (info.freed_before is not None and info.freed_before <= index):
            continue
        op = trace.ops[producer]
        alive.append(LiveTensor(size, shapes.get(storage, ()), op.module, op.name))
    alive.sort(key=lambda t: -t.nbytes)
    return tuple(alive)


def traffic(trace: Trace, *, dtype: torch.dtype = torch.float32) -> tuple[OpTraffic, ...]:
    """Bytes read and written by every op of the trace, in ``dtype``."""
    rows = []
    for op in trace.ops:
        priced = cost_of(op.func, op.args, op.kwargs, op.out)
        flops = 2 * priced.macs if priced is not None else 0
        read, written = op_bytes(op, dtype)
        rows.append(OpTraffic(op.index, op.module, op.name, read, written, flops))
    return tuple(rows)


def op_bytes(op: OpCall, dtype: torch.dtype) -> tuple[int, int]:
    """(read, written) bytes of one op in ``dtype``: each distinct input once, every
    output; a view moves nothing."""
    if is_view(op):
        return 0, 0
    seen: set[int] = set()
    read = 0
    for tensor in op.inputs:
        if tensor.index not in seen:
            seen.add(tensor.index)
            read += footprint(tensor, dtype)
    return read, sum(footprint(t, dtype) for t in op.outputs)


def _role_bytes(trace: Trace, role: str, dtype: torch.dtype) -> int:
    return sum(in_dtype(s.nbytes, s.dtype, dtype) for s in trace.storages if s.role == role)


def intensity(flops: int, nbytes: int) -> float | None:
    """FLOPs per byte moved; None where nothing moved."""
    return flops / nbytes if nbytes else None


@dataclass(frozen=True)
class MemoryAnalysis:
    """Bytes moved and the live-memory peak of one eval forward, in one dtype."""

    variant: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    input_bytes: int
    parameter_bytes: int
    buffer_bytes: int
    timeline: Timeline
    traffic: tuple[OpTraffic, ...]
    modules: tuple[tuple[str, str, int, int], ...]  # (name, type, first_op, end_op)
    ops: tuple[tuple[str, str], ...]  # (module, operator) of each op
    # The inputs as given ('3x8x8, 16, mask=8:bool'); input_shape is the first one's.
    input_text: str = ""

    @property
    def activation_peak_bytes(self) -> int:
        return self.timeline.peak_bytes

    @property
    def peak_module(self) -> str:
        op = self.timeline.peak_op
        return self.ops[op][0] if op is not None else ""

    @property
    def peak_operator(self) -> str:
        op = self.timeline.peak_op
        return self.ops[op][1] if op is not None else ""

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.traffic)

    @property
    def bytes_written(self) -> int:
        return sum(r.bytes_written for r in self.traffic)

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.traffic)

    @property
    def arithmetic_intensity(self) -> float | None:
        return intensity(self.flops, self.bytes_moved)

    def by_operator(self) -> dict[str, dict[str, Any]]:
        """Totals per ATen operator: calls, bytes read/written/moved, FLOPs, intensity."""
        return _totals((r.operator, r) for r in self.traffic)

    def by_module(self, depth: int | None = None) -> list[dict[str, Any]]:
        """One row per module that ran (at most ``depth`` dots deep), with its subtree's
        bytes, FLOPs, intensity and the largest live activation bytes while it ran."""
        shown = shown_modules(((n, t) for n, t, _f, _e in self.modules), depth)
        traffic = subtrees([name for name, _ in shown], self.traffic, lambda r: r.module)
        ranges: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for name, _type, first, end in self.modules:
            ranges[name].append((first, end))
        rows = []
        for name, type_ in shown:
            live = self.timeline.live
            peak = max((max(live[f:e], default=0) for f, e in ranges[name]), default=0)
            rows.append(
                {"module": name, "type": type_, **_sums(traffic[name]), "live_peak_bytes": peak}
            )
        root = [r for r in self.traffic if r.module == ROOT]
        if root:
            peak = max((self.timeline.live[r.index] for r in root), default=0)
            rows.append(
                {"module": ROOT, "type": "functional", **_sums(root), "live_peak_bytes": peak}
            )
        return rows

    def summary(self) -> dict[str, Any]:
        """The flat record ``incprof memory`` shows for this variant."""
        return {
            "variant": self.variant,
            "input_shape": self.input_text or "x".join(map(str, self.input_shape)),
            "batch": self.batch,
            "dtype": self.dtype,
            "activation_peak_bytes": self.activation_peak_bytes,
            "peak_module": self.peak_module,
            "peak_operator": self.peak_operator,
            "input_bytes": self.input_bytes,
            "parameter_bytes": self.parameter_bytes,
            "buffer_bytes": self.buffer_bytes,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "bytes_moved": self.bytes_moved,
            "flops": self.flops,
            "arithmetic_intensity": self.arithmetic_intensity,
        }


def _sums(rows: Sequence[OpTraffic]) -> dict[str, Any]:
    read = sum(r.bytes_read for r in rows)
    written = sum(r.bytes_written for r in rows)
    flops = sum(r.flops for r in rows)
    return {
        "bytes_read": read,
        "bytes_written": written,
        "bytes_moved": read + written,
        "flops": flops,
        "arithmetic_intensity": intensity(flops, read + written),
    }


def _totals(keyed: Iterable[tuple[str, OpTraffic]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[OpTraffic]] = defaultdict(list)
    for key, row in keyed:
        groups[key].append(row)
    return {key: {"calls": len(rows), **_sums(rows)} for key, rows in groups.items()}


def memory(trace: Trace, *, dtype: str = "fp32") -> MemoryAnalysis:
    """Bytes moved and the activation peak of an eval-forward trace, in ``dtype``."""
    torch_dtype = dtype_of(dtype)
    return MemoryAnalysis(
        variant=trace.name,
        input_shape=tuple(trace.input_shape),
        batch=trace.batch,
        dtype=dtype,
        input_bytes=input_bytes(trace, torch_dtype),
        parameter_bytes=_role_bytes(trace, "parameter", torch_dtype),
        buffer_bytes=_role_bytes(trace, "buffer", torch_dtype),
        timeline=timeline(trace, dtype=torch_dtype),
        traffic=traffic(trace, dtype=torch_dtype),
        modules=tuple((m.name, m.type, m.first_op, m.end_op) for m in trace.modules),
        ops=tuple((op.module, op.name) for op in trace.ops),
        input_text=trace.input_text,
    )
