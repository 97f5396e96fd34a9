"""Fitting a profile's factors to measured times: the calibration behind every prediction.

Free figures (efficiencies, launch cost, gap) are searched in log space to minimize the
mean squared log ratio of predicted to measured time, so that a 10% miss on a 1 ms run
weighs what a 10% miss on a 60 ms run weighs. The search is a deterministic pattern
search (no random start, no dependency beyond the standard library): the same samples and
starting profile always give the same profile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from incprof.analysis.predict import OpWork, quantization, roof_dtype
from incprof.analysis.profiles import CATEGORIES, DTYPE_CLASS, DeviceProfile, Figure

# What a factor may take: efficiencies in (0, 1], times in microseconds.
BOUNDS = {
    "compute_efficiency": (1e-3, 1.0),
    "memory_efficiency": (1e-3, 1.0),
    "launch_us": (1e-3, 1e4),
    "gap_us": (1e-3, 1e4),
}


@dataclass(frozen=True)
class Sample:
    """One measured time and the work it timed: a network run or a micro-benchmark."""

    label: str
    ops: tuple[OpWork, ...]
    dtype: str
    mode: str
    measured_s: float


class _Columns:
    """A sample's ops as arrays, so that one evaluation of the fit is a few vector ops."""

    def __init__(self, ops: Sequence[OpWork]) -> None:
        self.count = len(ops)
        kernels = [op for op in ops if op.kernel]
        self.flops = np.array([op.flops for op in kernels], dtype=float)
        self.bytes = np.array([op.bytes for op in kernels], dtype=float)
        self.category = np.array([CATEGORIES.index(op.category) for op in kernels], dtype=int)
        # How many ops (views and fused ones included) the host has launched by each kernel.
        self.launched = np.array([i + 1 for i, op in enumerate(ops) if op.kernel], dtype=float)
        self._gemms = [op.gemm if op.category != "dwconv" else None for op in kernels]
        self._scales: dict[tuple[int, str], np.ndarray] = {}
        self.dwconv = self.category == CATEGORIES.index("dwconv")

    def scale(self, sm_count: int | None, cls: str) -> np.ndarray | float:
        """Each kernel's ``predict.quantization`` on ``sm_count`` SMs (1 without)."""
        if sm_count is None:
            return 1.0
        key = (sm_count, cls)
        if key not in self._scales:
            self._scales[key] = np.array(
                [quantization(g, sm_count, cls) if g else 1.0 for g in self._gemms]
            )
        return self._scales[key]


def total_s(columns: _Columns, profile: DeviceProfile, *, dtype: str, mode: str) -> float:
    """``predict.op_times``'s total in closed form: on an overlapping device the run ends
    at max over kernels j of (launch of j + all kernel time from j on), or at the last
    launch; on a CPU the costs add up. Tests hold the two equal."""
    compute_eff = np.array([profile.compute_eff(c, dtype) for c in CATEGORIES])
    memory_eff = np.array([profile.memory_eff(c, dtype) for c in CATEGORIES])[columns.category]
    peaks = np.array([profile.peak(roof_dtype(c, dtype, profile)).value for c in CATEGORIES])
    per_flop = 1e-12 / (compute_eff * peaks)
    bandwidth = profile.bandwidth_gbs.value * 1e9
    launch = profile.launch_us.value * 1e-6 if mode == "eager" else 0.0
    sm_count = int(profile.sm_count.value) if profile.sm_count else None
    compute = (
        columns.flops * per_flop[columns.category] * columns.scale(sm_count, DTYPE_CLASS[dtype])
    )
    kernel = (
        np.maximum(compute, columns.bytes / (memory_eff * bandwidth)) + profile.gap_us.value * 1e-6
    )
    host_end = launch * columns.count
    if not profile.host_overlap or not len(kernel):
        return host_end + float(kernel.sum())
    after = np.cumsum(kernel[::-1])[::-1]  # kernel time from each kernel to the end
    return max(host_end, float(np.max(launch * columns.launched + after)))


class _Stack:
    """Samples of one dtype and mode as one set of arrays: a fit's evaluation over
    thousands of network runs is then a handful of vector ops (``totals``), equal to
    ``total_s`` per sample (tests hold the two equal)."""

    def __init__(self, samples: Sequence[Sample], columns: Sequence[_Columns]) -> None:
        self.samples = list(samples)
        self.columns = list(columns)
        self.dtype, self.mode = samples[0].dtype, samples[0].mode
        lengths = [len(c.flops) for c in columns]
        self.starts = np.cumsum([0, *lengths[:-1]])
        self.ends = np.cumsum(lengths)
        self.measured = np.array([s.measured_s for s in samples])
        self.count = np.array([c.count for c in columns], dtype=float)
        self.flops = np.concatenate([c.flops for c in columns])
        self.bytes = np.concatenate([c.bytes for c in columns])
        self.category = np.concatenate([c.category for c in columns])
        self.launched = np.concatenate([c.launched for c in columns])
        self._scales: dict[int | None, np.ndarray] = {}

    def scale(self, sm_count: int | None) -> np.ndarray:
        if sm_count not in self._scales:
            cls = DTYPE_CLASS[self.dtype]
            parts = [np.broadcast_to(c.scale(sm_count, cls), c.flops.shape) for c in self.columns]
            self._scales[sm_count] = np.concatenate(parts)
        return self._scales[sm_count]

    def totals(self, profile: DeviceProfile) -> np.ndarray:
        """Each sample's predicted seconds on ``profile``."""
        dtype = self.dtype
        compute_eff = np.array([profile.compute_eff(c, dtype) for c in CATEGORIES])
        memory_eff = np.array([profile.memory_eff(c, dtype) for c in CATEGORIES])
        peaks = np.array([profile.peak(roof_dtype(c, dtype, profile)).value for c in CATEGORIES])
        per_flop = (1e-12 / (compute_eff * peaks))[self.category]
        bandwidth = profile.bandwidth_gbs.value * 1e9
        sm_count = int(profile.sm_count.value) if profile.sm_count else None
        kernel = (
            np.maximum(
                self.flops * per_flop * self.scale(sm_count),
                self.bytes / (memory_eff[self.category] * bandwidth),
            )
            + profile.gap_us.value * 1e-6
        )
        launch = profile.launch_us.value * 1e-6 if self.mode == "eager" else 0.0
        running = np.concatenate([[0.0], np.cumsum(kernel)])
        device = running[self.ends] - running[self.starts]
        host_end = launch * self.count
        if not profile.host_overlap:
            return host_end + device
        after = running[self.ends].repeat(self.ends - self.starts) - running[:-1]
        latest = np.zeros(len(self.samples))  # a sample without kernels ends at its launches
        if len(kernel):
            ran = self.ends > self.starts
            latest[ran] = np.maximum.reduceat(launch * self.launched + after, self.starts[ran])
        return np.maximum(host_end, latest)


def stacks(samples: Sequence[Sample]) -> list[_Stack]:
    """The samples grouped by (dtype, mode), each group one :class:`_Stack`."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        groups.setdefault((sample.dtype, sample.mode), []).append(sample)
    return [_Stack(group, [_Columns(s.ops) for s in group]) for group in groups.values()]


@dataclass(frozen=True)
class Fit:
    profile: DeviceProfile
    rms_log_error: float  # of the fitted profile on the samples it was fitted to
    evaluations: int


def _bounds(key: str) -> tuple[float, float]:
    return BOUNDS[key.partition(".")[0]]


def _clamped(key: str, value: float) -> float:
    low, high = _bounds(key)
    return min(max(value, low), high)


def fit(
    samples: Sequence[Sample],
    profile: DeviceProfile,
    keys: Sequence[str],
    *,
    source: str,
    max_evaluations: int = 4000,
) -> Fit:
    """Fit the figures named by ``keys`` (dotted, as ``DeviceProfile.figures``) to
    ``samples``, starting from ``profile``'s values; the others stay as they are.

    The fitted figures get kind ``fitted`` and ``source``, which should name the rows.
    """
    if not samples:
        raise ValueError("fit needs at least one measured sample")
    if any(s.measured_s <= 0 for s in samples):
        raise ValueError("every measured time must be positive")
    figures = profile.figures()
    unknown = [k for k in keys if k not in figures and k.partition(".")[0] not in BOUNDS]
    if unknown:
        raise ValueError(f"cannot fit {unknown[0]!r}: not a factor of the profile")
    default = {k: figures.get(k, figures.get(k.partition(".")[0] + ".default")) for k in keys}
    # A start outside the bounds (a gap measured as 0 on a loaded host) starts at the bound.
    x = [math.log(_clamped(k, default[k].value if default[k] else 0.5)) for k in keys]
    evaluations = 0
    groups = stacks(samples)

    def cost(point: Sequence[float]) -> float:
        nonlocal evaluations
        evaluations += 1
        trial = _with_values(profile, keys, point, source)
        total = sum(float((np.log(g.totals(trial) / g.measured) ** 2).sum()) for g in groups)
        return total / len(samples)

    best = cost(x)
    step = 1.0
    while step > 1e-3 and evaluations < max_evaluations:
        improved = False
        for i, key in enumerate(keys):
            low, high = (math.log(b) for b in _bounds(key))
            for direction in (1.0, -1.0):
                trial = list(x)
                trial[i] = min(max(x[i] + direction * step, low), high)
                if trial[i] == x[i]:
                    continue
                value = cost(trial)
                if value < best:
                    x, best, improved = trial, value, True
                    break
        if not improved:
            step /= 2
    return Fit(_with_values(profile, keys, x, source), math.sqrt(best), evaluations)


def _with_values(
    profile: DeviceProfile, keys: Sequence[str], point: Sequence[float], source: str
) -> DeviceProfile:
    figures: Mapping[str, Figure] = {
        k: Figure(math.exp(v), "fitted", source) for k, v in zip(keys, point, strict=True)
    }
    return profile.with_figures(figures)
