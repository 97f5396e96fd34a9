"""Predicted latency: a roofline per ATen op of the trace, with launch costs, per mode.

Each op that runs a kernel takes

    kernel = max(FLOPs / (η_c[category] · peak[dtype]), bytes / (η_m[category] · bandwidth))
             + gap

with FLOPs = 2 × MACs (convolutions and matmuls; every other op is priced by its bytes)
and bytes counted as the bytes-moved analyzer (:func:`incprof.analysis.memory.traffic`)
does, each tensor in the dtype it holds: fp32 for ``fp32``/``tf32``; for ``bf16``/``fp16``
the one autocast gives it (:mod:`incprof.analysis.autocast`: half convolutions and
matmuls, fp32 layer norms and softmax, promoted residual streams), autocast's casts being
copy kernels of their own. Views and allocations (``view``, ``t``, ``empty``) run no kernel.

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

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from incprof.analysis.predict_work import (
    K_STEP,
    TILES,
    OpWork,
    gemm_shape,
    quantization,
    work,
)
from incprof.analysis.profiles import DTYPE_CLASS, DeviceProfile, builtin
from incprof.analysis.rollup import shown_modules, subtrees
from incprof.analysis.trace import ROOT, Trace
from incprof.run_settings import DEFAULT_DEVICE_PROFILE as DEFAULT_DEVICE
from incprof.run_settings import MODES
from incprof.run_settings import PRECISIONS as DTYPES

# The names this module has always offered; the work rows and the shape model live in
# predict_work.
__all__ = [
    "DEFAULT_DEVICE",
    "DTYPES",
    "K_STEP",
    "MODES",
    "TILES",
    "OpTime",
    "OpWork",
    "Prediction",
    "flop_cost",
    "gemm_shape",
    "op_times",
    "predict",
    "predict_time_s",
    "provenance_record",
    "quantization",
    "roof_dtype",
    "work",
]

Bound = Literal["compute", "memory", "launch"]


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
    unpriced = sorted({w.operator for w in ops if w.kernel and w.category == "other"})
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
