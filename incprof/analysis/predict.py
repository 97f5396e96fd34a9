"""Predicted latency: a roofline per ATen op of the trace, with launch costs, per mode.

Each op that runs a kernel takes

    kernel = max(FLOPs / (η_c[category] · peak[dtype]), bytes / (η_m[category] · bandwidth))
             + gap

with FLOPs = 2 × MACs (convolutions and matmuls; every other op is priced by its bytes)
and bytes from the bytes-moved analyzer (:func:`incprof.analysis.memory.traffic`) in the
dtype. Views and allocations (``view``, ``t``, ``empty``) run no kernel.

The modes differ in what the host adds and what is fused:

* ``eager`` — the host spends ``launch_us`` on every ATen op (views too) before the
  kernel can start. On a GPU (``host_overlap``) the stream runs ahead of nothing: a kernel
  starts when both its launch and the previous kernel are done, so small batches are
  launch-bound and large ones device-bound. On a CPU the host runs the kernel itself and
  the costs add up.
* ``graph`` — a captured graph replayed: no host cost, each kernel still pays ``gap``.
* ``compile`` — ``graph`` after two fusion rules (a fixed, stated idealization of what a
  compiler does, not a model of inductor's choices):
  1. an eval batch norm whose input is a convolution's output is folded into that
     convolution's weights: no kernel, no bytes;
  2. a pointwise op (activation, elementwise arithmetic) whose first input was written
     by the kernel just before it is fused into that kernel: no kernel and no gap, and
     the intermediate tensor is neither written nor read back (its bytes leave twice).

**The shape model** (a GPU profile with ``sm_count``): a convolution or matmul runs as a
GEMM (implicit GEMM for convolutions: M = batch × output pixels, N = output channels per
group, K = input channels per group × kernel area, one GEMM per group) tiled into output
tiles that fill the SMs in waves. The kernel pays for whole waves of whole tiles: its
FLOPs are scaled by ``quantization`` (≥ 1), with the tile chosen among ``TILES`` as a
library heuristic would (the least padded work; smaller tiles run each MAC slower).
Depthwise convolutions (``dwconv``) are no GEMM: they run on the CUDA cores at the fp32
peak. The efficiency a kernel reaches is looked up per dtype class (``tensor`` for
TF32/bf16/fp16, ``simt`` for strict fp32) and category, so one profile fitted on fp16
transfers to a GPU it never saw from that GPU's datasheet peaks, bandwidth and SM count.

Every op's prediction says which bound it sits on (``compute``, ``memory`` or, where the
device waited for the host or the gap dominates, ``launch``). An operator no FLOP formula
knows is priced by its bytes alone and named in ``Prediction.unpriced``: never silent.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from incprof.analysis.formulas import cost_of
from incprof.analysis.memory import DTYPES as MEMORY_DTYPES
from incprof.analysis.memory import footprint, is_view, op_bytes
from incprof.analysis.profiles import DTYPE_CLASS, DeviceProfile, builtin
from incprof.analysis.rollup import shown_modules, subtrees
from incprof.analysis.trace import ROOT, OpCall, TensorInfo, Trace
from incprof.run_settings import DEFAULT_DEVICE_PROFILE as DEFAULT_DEVICE
from incprof.run_settings import MODES
from incprof.run_settings import PRECISIONS as DTYPES

aten = torch.ops.aten

Bound = Literal["compute", "memory", "launch"]

# formulas.Cost.category -> the profile's efficiency category.
_CATEGORY = {
    "conv": "conv",
    "linear": "matmul",
    "batch_norm": "norm",
    "norm": "norm",
    "activation": "pointwise",
    "elementwise": "pointwise",
    "dropout": "pointwise",
    "softmax": "pointwise",
    "upsample": "pointwise",
    "pool": "pool",
    "data_movement": "copy",
}
# Ops that allocate and run nothing on the device.
_ALLOCATIONS = frozenset(
    {
        aten.empty.memory_format,
        aten.empty_like.default,
        aten.new_empty.default,
        aten.empty_strided.default,
    }
)
# Views the bytes analyzer counts as copies, which run no kernel on a device.
_FREE_VIEWS = frozenset({aten._unsafe_view.default, aten.alias.default})
_CONVOLUTIONS = frozenset({aten.convolution.default, aten._convolution.default})
# Output tiles (M, N) a GEMM library picks among, with the share of the large tile's MAC
# rate each keeps (smaller tiles reuse each operand less); K is padded to ``K_STEP``.
TILES = ((256, 128, 1.0), (128, 128, 1.0), (128, 64, 0.9), (64, 64, 0.75), (64, 32, 0.6))
K_STEP = {"tensor": 32, "simt": 8}
_EVAL_BATCH_NORM = frozenset(
    {aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default}
)


@dataclass(frozen=True)
class OpWork:
    """What one ATen op asks of the device, independent of any profile."""

    index: int
    module: str
    operator: str
    category: str  # a profile efficiency category (profiles.CATEGORIES)
    kernel: bool  # False: a view or an allocation, or fused away (compile)
    flops: int
    bytes: int
    fused_into: int | None = None  # compile: the op whose kernel absorbed this one
    gemm: tuple[int, int, int, int] | None = None  # (groups, M, N, K) of a conv or matmul


def gemm_shape(op: OpCall) -> tuple[int, int, int, int] | None:
    """The (groups, M, N, K) a conv or matmul runs as; None for any other op."""
    out = op.outputs[0].shape if op.outputs else ()
    tensors = op.inputs
    if op.func in _CONVOLUTIONS and len(tensors) >= 2 and len(out) >= 3:
        weight = tensors[1].shape
        groups = int(op.args[8]) if len(op.args) > 8 else 1
        pixels = math.prod(out[2:])
        return groups, out[0] * pixels, weight[0] // groups, math.prod(weight[1:])
    if op.func in (aten.mm.default, aten.bmm.default) and len(out) >= 2:
        return math.prod(out[:-2]) or 1, out[-2], out[-1], tensors[0].shape[-1]
    if op.func == aten.addmm.default and len(out) == 2 and len(tensors) >= 2:
        return 1, out[0], out[1], tensors[1].shape[-1]
    return None


def quantization(gemm: tuple[int, int, int, int], sm_count: int, cls: str) -> float:
    """How many times its useful MACs a GEMM's kernel pays for: whole waves of whole tiles
    over the SMs, K padded, at the best tile of ``TILES`` (≥ 1; 1/0.95 for a big square)."""
    groups, m, n, k = gemm
    useful = groups * m * n * k
    if not useful:
        return 1.0
    step = K_STEP[cls]
    padded_k = -(-k // step) * step
    best = math.inf
    for tile_m, tile_n, rate in TILES:
        tiles = groups * -(-m // tile_m) * -(-n // tile_n)
        waves = -(-tiles // sm_count)
        best = min(best, waves * sm_count * tile_m * tile_n * padded_k / rate)
    return best / useful


def _storage_dtype(dtype: str) -> torch.dtype:
    return MEMORY_DTYPES["fp32" if dtype == "tf32" else dtype]


def work(trace: Trace, *, dtype: str = "bf16", mode: str = "eager") -> tuple[OpWork, ...]:
    """Each op's category, FLOPs and bytes in ``dtype``, after ``mode``'s fusion rules."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    storage = _storage_dtype(dtype)
    rows = []
    for op in trace.ops:
        priced = cost_of(op.func, op.args, op.kwargs, op.out)
        category = _CATEGORY.get(priced.category, "other") if priced else "other"
        flops = 2 * priced.macs if priced else 0
        if is_view(op) or op.func in _ALLOCATIONS or op.func in _FREE_VIEWS:
            rows.append(OpWork(op.index, op.module, op.name, category, False, flops, 0))
            continue
        gemm = gemm_shape(op) if category in ("conv", "matmul") else None
        if gemm is not None and category == "conv" and gemm[0] > 1 and gemm[2] <= 2:
            category = "dwconv"  # one or two output channels per group: no GEMM runs it
        nbytes = sum(op_bytes(op, storage))
        rows.append(OpWork(op.index, op.module, op.name, category, True, flops, nbytes, None, gemm))
    _flash_attention(trace, rows, storage)
    if mode == "compile":
        return _fuse(trace, rows, storage)
    return tuple(rows)


def _flash_attention(trace: Trace, rows: list[OpWork], dtype: torch.dtype) -> None:
    """``F.scaled_dot_product_attention`` traces on meta as its math decomposition (bmm,
    ``_safe_softmax``, bmm, with ``clone`` copies of the expanded K and V), which no device
    runs: PyTorch picks a fused (flash or memory-efficient) kernel, on the CPU too. So the
    softmax and those copies run no kernel, and the score matrix is neither written by the
    first bmm nor read by the second."""
    for op in trace.ops:
        if op.func is not aten._safe_softmax.default or not op.inputs:
            continue
        scores = footprint(op.inputs[0], dtype)
        _drop(rows, op.index)
        bmms = [_kernel_behind(trace, rows, op.inputs[0].producer)]
        out = op.outputs[0].storage if op.outputs else None
        for later in trace.ops[op.index + 1 : op.index + 8]:
            if later.func is aten.bmm.default and any(t.storage == out for t in later.inputs):
                bmms.append(later.index)
                break
        for index in bmms:
            if index is None or trace.ops[index].func is not aten.bmm.default:
                continue
            rows[index] = _less_bytes(rows[index], scores)
            for t in trace.ops[index].inputs:
                copy = _kernel_behind(trace, rows, t.producer)
                if copy is not None and trace.ops[copy].func is aten.clone.default:
                    _drop(rows, copy)


def _kernel_behind(trace: Trace, rows: Sequence[OpWork], index: int | None) -> int | None:
    """The kernel that wrote a value, looking through the views (no kernel) on the way."""
    while index is not None and not rows[index].kernel:
        inputs = trace.ops[index].inputs
        index = inputs[0].producer if inputs else None
    return index


def _drop(rows: list[OpWork], index: int) -> None:
    row = rows[index]
    rows[index] = OpWork(row.index, row.module, row.operator, row.category, False, row.flops, 0)


def _less_bytes(row: OpWork, saved: int) -> OpWork:
    return OpWork(
        row.index,
        row.module,
        row.operator,
        row.category,
        row.kernel,
        row.flops,
        max(row.bytes - saved, 0),
        row.fused_into,
        row.gemm,
    )


def _first_tensor(op: OpCall) -> TensorInfo | None:
    return next(iter(op.inputs), None)


def _fuse(trace: Trace, rows: list[OpWork], dtype: torch.dtype) -> tuple[OpWork, ...]:
    """Apply the two compile rules of the module docstring, in trace order."""
    writer: dict[int, int] = {}  # storage -> the kernel (row index) that last wrote it
    last_kernel: int | None = None
    out = list(rows)
    for i, op in enumerate(trace.ops):
        row = out[i]
        if not row.kernel:
            continue
        first = _first_tensor(op)
        source = writer.get(first.storage) if first is not None else None
        folded = (
            op.func in _EVAL_BATCH_NORM
            and source is not None
            and trace.ops[source].func in (aten.convolution.default, aten._convolution.default)
        )
        fused = (
            row.category == "pointwise"
            and source is not None
            and source == last_kernel
            and first is not None
            and all(t.shape == first.shape for t in op.outputs[:1])
        )
        if folded or fused:
            target = _kernel_of(out, source)
            saved = 0 if folded else 2 * footprint(first, dtype)
            absorbed = 0 if folded else row.bytes
            host = out[target]
            out[target] = OpWork(
                host.index,
                host.module,
                host.operator,
                host.category,
                True,
                host.flops,
                max(host.bytes + absorbed - saved, 0),
                None,
                host.gemm,
            )
            out[i] = OpWork(
                row.index, row.module, row.operator, row.category, False, row.flops, 0, target
            )
            for t in op.outputs:
                writer[t.storage] = source
            continue
        for t in op.outputs:
            writer[t.storage] = i
        last_kernel = i
    return tuple(out)


def _kernel_of(rows: Sequence[OpWork], index: int) -> int:
    while rows[index].fused_into is not None:
        index = rows[index].fused_into
    return index


@dataclass(frozen=True)
class OpTime:
    """One op's predicted share of the run, split by what bounds it."""

    work: OpWork
    compute_s: float  # its kernel's roofline time if compute-bound, else 0
    memory_s: float  # ... if memory-bound, else 0
    overhead_s: float  # gap, host launch (CPU), and time the device waited for the host
    bound: Bound

    @property
    def time_s(self) -> float:
        return self.compute_s + self.memory_s + self.overhead_s


def op_times(
    ops: Sequence[OpWork], profile: DeviceProfile, *, dtype: str, mode: str
) -> tuple[OpTime, ...]:
    """Simulate the stream: host launches (eager) and device kernels, op by op.

    Each op's time is how far it moves the end of the run, so the times sum to the total.
    """
    bandwidth = profile.bandwidth_gbs.value * 1e9
    launch = profile.launch_us.value * 1e-6 if mode == "eager" else 0.0
    gap = profile.gap_us.value * 1e-6
    host = device = end = 0.0  # when the host is free; the device; the run's end so far
    times = []
    for op in ops:
        host += launch
        kernel = compute = memory = 0.0
        if op.kernel:
            compute = op.flops * flop_cost(op, profile, dtype) if op.flops else 0.0
            memory = op.bytes / (profile.memory_eff(op.category, dtype) * bandwidth)
            kernel = max(compute, memory)
            if profile.host_overlap:
                device = max(device, host) + kernel + gap
            else:
                host = device = max(device, host) + kernel + gap
        moved = max(device, host) - end
        end += moved
        overhead = moved - kernel
        on_compute = op.kernel and compute >= memory
        bound: Bound = "launch" if overhead > kernel else "compute" if on_compute else "memory"
        times.append(
            OpTime(
                op, kernel if on_compute else 0.0, 0.0 if on_compute else kernel, overhead, bound
            )
        )
    return tuple(times)


def roof_dtype(category: str, dtype: str, profile: DeviceProfile) -> str:
    """The peak an op's FLOPs run at: a depthwise convolution's at fp32 (CUDA cores) where
    the profile has it, every other op's at its dtype's."""
    return "fp32" if category == "dwconv" and "fp32" in profile.peak_tflops else dtype


def flop_cost(op: OpWork, profile: DeviceProfile, dtype: str) -> float:
    """Seconds per FLOP of ``op`` on ``profile``: its roof, efficiency and quantization."""
    peak = profile.peak(roof_dtype(op.category, dtype, profile)).value * 1e12
    scale = 1.0
    if op.gemm is not None and profile.sm_count is not None and op.category != "dwconv":
        scale = quantization(op.gemm, int(profile.sm_count.value), DTYPE_CLASS[dtype])
    return scale / (profile.compute_eff(op.category, dtype) * peak)


def predict_time_s(
    ops: Sequence[OpWork], profile: DeviceProfile, *, dtype: str, mode: str
) -> float:
    """The predicted seconds of one forward: the end of the simulated stream."""
    return sum(t.time_s for t in op_times(ops, profile, dtype=dtype, mode=mode))


@dataclass(frozen=True)
class Prediction:
    """A forward's predicted time on one device profile, with each op's bound."""

    variant: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    mode: str
    profile: DeviceProfile
    ops: tuple[OpTime, ...]
    modules: tuple[tuple[str, str, int, int], ...]  # (name, type, first_op, end_op)
    unpriced: tuple[str, ...]  # operators priced by their bytes alone (no FLOP formula)
    # The inputs as given ('3x8x8, 16, mask=8:bool'); input_shape is the first one's.
    input_text: str = ""

    @property
    def time_ms(self) -> float:
        return 1e3 * sum(t.time_s for t in self.ops)

    @property
    def kernels(self) -> int:
        return sum(t.work.kernel for t in self.ops)

    def shares(self, ops: Iterable[OpTime] | None = None) -> dict[str, float]:
        """Seconds spent compute-bound, memory-bound and on overhead."""
        ops = self.ops if ops is None else tuple(ops)
        return {
            "compute": sum(t.compute_s for t in ops),
            "memory": sum(t.memory_s for t in ops),
            "launch": sum(t.overhead_s for t in ops),
        }

    def by_module(self, depth: int | None = None) -> list[dict[str, Any]]:
        """One row per module call (at most ``depth`` dots deep): its subtree's predicted
        time, split into compute-, memory- and launch-bound seconds, the dominant bound and
        how many times the next one it is."""
        shown = shown_modules(((n, t) for n, t, _f, _e in self.modules), depth)
        ops = subtrees([name for name, _ in shown], self.ops, lambda t: t.work.module)
        rows = [
            {"module": name, "type": type_, **_bound_record(self.shares(ops[name]))}
            for name, type_ in shown
        ]
        root = [t for t in self.ops if t.work.module == ROOT]
        if root:
            rows.append({"module": ROOT, "type": "functional", **_bound_record(self.shares(root))})
        return rows

    def by_operator(self) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[OpTime]] = defaultdict(list)
        for t in self.ops:
            groups[t.work.operator].append(t)
        return {
            name: {
                "calls": len(ops),
                "kernels": sum(t.work.kernel for t in ops),
                **_bound_record(self.shares(ops)),
            }
            for name, ops in groups.items()
        }

    def summary(self) -> dict[str, Any]:
        shares = self.shares()
        total = sum(shares.values())
        peak = self.profile.peak(self.dtype)
        return {
            "variant": self.variant,
            "input_shape": self.input_text or "x".join(map(str, self.input_shape)),
            "batch": self.batch,
            "dtype": self.dtype,
            "mode": self.mode,
            "device": self.profile.name,
            "predicted_ms": self.time_ms,
            "kernels": self.kernels,
            "compute_pct": _pct(shares["compute"], total),
            "memory_pct": _pct(shares["memory"], total),
            "launch_pct": _pct(shares["launch"], total),
            "bound": _dominant(shares)[0],
            "peak_tflops": peak.value,
            "bandwidth_gbs": self.profile.bandwidth_gbs.value,
            "profile": self.profile.source,
            **provenance_record(self.profile, self.dtype),
            "unpriced": ", ".join(self.unpriced),
        }


def provenance_record(profile: DeviceProfile, dtype: str) -> dict[str, Any]:
    """Where the factors of a ``dtype`` prediction on ``profile`` come from, whether they
    were validated there, and the measured error band (None where none was measured)."""
    entry = profile.provenance(dtype)
    return {
        "parameters_from": profile.provenance_line(dtype),
        "validated": entry is not None and entry.status == "validated",
        "error_median_pct": entry.median_abs_error_pct if entry else None,
        "error_p90_pct": entry.p90_abs_error_pct if entry else None,
    }


def _pct(part: float, total: float) -> float | None:
    return 100 * part / total if total else None


def _dominant(shares: Mapping[str, float]) -> tuple[str, float | None]:
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    (first, a), (_, b) = ranked[0], ranked[1]
    return first, (a / b if b else None)


def _bound_record(shares: Mapping[str, float]) -> dict[str, Any]:
    total = sum(shares.values())
    bound, ratio = _dominant(shares)
    return {
        "predicted_ms": 1e3 * total,
        "compute_ms": 1e3 * shares["compute"],
        "memory_ms": 1e3 * shares["memory"],
        "launch_ms": 1e3 * shares["launch"],
        "bound": bound if total else "",
        "bound_ratio": ratio,
    }


def predict(
    trace: Trace,
    profile: DeviceProfile | None = None,
    *,
    dtype: str = "bf16",
    mode: str = "eager",
) -> Prediction:
    """The predicted forward time of an eval trace on ``profile`` (default: the built-in
    ``DEFAULT_DEVICE``), in ``dtype`` and ``mode``."""
    profile = profile or builtin(DEFAULT_DEVICE)
    profile.peak(dtype)  # a profile without the dtype is an error before any work
    ops = work(trace, dtype=dtype, mode=mode)
    unpriced = sorted(
        {
            op.name
            for op, w in zip(trace.ops, ops, strict=True)
            if w.kernel and w.category == "other"
        }
    )
    return Prediction(
        variant=trace.name,
        input_shape=tuple(trace.input_shape),
        batch=trace.batch,
        dtype=dtype,
        mode=mode,
        profile=profile,
        ops=op_times(ops, profile, dtype=dtype, mode=mode),
        modules=tuple((m.name, m.type, m.first_op, m.end_op) for m in trace.modules),
        unpriced=tuple(unpriced),
        input_text=trace.input_text,
    )
