"""Calibration's fit: the factors fitted together to a device's micro-benchmark timings
(``FIT_KEYS``), and what the fitted profile predicts beside each measured time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from incprof.analysis.calibrate_benchmarks import Timed
from incprof.analysis.fit import _Columns, fit, total_s
from incprof.analysis.profiles import DeviceProfile, Figure

# What a calibration fits by default; peak and bandwidth are measured or published, not fitted.
# Pooling gets its own memory efficiency: on a CPU its kernels run at a small fraction of
# the copy bandwidth (max pooling was 43% of GoogLeNet's eager time at batch 8 on the
# 2-thread Xeon this was written on), and one shared efficiency then misprices both pools
# and everything else (rms log error over the micro-benchmarks 0.91 without, 0.60 with).
# Other per-category efficiencies moved it little (0.55 with six more) and are left out,
# but for depthwise convolutions: no GEMM runs them, and on the 2-thread AMD EPYC the
# calibration with one compute efficiency priced the mobile networks of
# benchmarks/cpu_validate.py 57-84% too fast at batch 1 (timm's fits give them 4-6% of
# peak on GPUs too); their own micro-benchmarks (MobileNet's shapes) fit their own.
EFFICIENCY_KEYS = (
    "compute_efficiency.default",
    "compute_efficiency.dwconv",
    "memory_efficiency.default",
    "memory_efficiency.pool",
)
FIT_KEYS = (*EFFICIENCY_KEYS, "launch_us", "gap_us")


@dataclass(frozen=True)
class CalibrationRow:
    """A micro-benchmark's measured time beside what the fitted profile predicts."""

    benchmark: str
    batch: int
    mode: str
    kernels: int
    measured_ms: float
    predicted_ms: float

    @property
    def error_pct(self) -> float:
        return 100 * (self.predicted_ms / self.measured_ms - 1)

    def record(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "batch": self.batch,
            "mode": self.mode,
            "kernels": self.kernels,
            "measured_ms": self.measured_ms,
            "predicted_ms": self.predicted_ms,
            "error_pct": self.error_pct,
        }


@dataclass(frozen=True)
class Calibration:
    """A fitted profile and how well it predicts the micro-benchmarks it was fitted to."""

    profile: DeviceProfile
    rows: tuple[CalibrationRow, ...]
    rms_log_error: float  # sqrt(mean(log(predicted / measured)²)) over the rows
    keys: tuple[str, ...]  # the figures fitted

    def records(self) -> list[dict[str, Any]]:
        return [row.record() for row in self.rows]

    def figure_records(self) -> list[dict[str, Any]]:
        """Every figure of the profile: fitted, measured or published, with its source."""
        return [
            {"figure": key, "value": f.value, "kind": f.kind, "source": f.source}
            for key, f in self.profile.figures().items()
        ]


def fit_calibration(
    timed: Sequence[Timed],
    start: DeviceProfile,
    *,
    keys: Sequence[str] = FIT_KEYS,
    source: str,
    name: str,
    title: str,
) -> Calibration:
    """Fit ``keys`` of ``start`` to the timings; the fitted figures' source is ``source``
    and the fit's rms log error. The profile is renamed ``name`` / ``title``."""
    fitted = fit([t.sample for t in timed], start, keys, source=source)
    rms = fitted.rms_log_error
    stamped = {
        key: Figure(f.value, "fitted", f"{source}; rms log error {rms:.3f}")
        for key, f in fitted.profile.figures().items()
        if key in keys
    }
    profile = replace(fitted.profile.with_figures(stamped), name=name, title=title)
    rows = tuple(
        CalibrationRow(
            t.benchmark,
            t.batch,
            t.sample.mode,
            sum(op.kernel for op in t.sample.ops),
            t.sample.measured_s * 1e3,
            1e3
            * total_s(_Columns(t.sample.ops), profile, dtype=t.sample.dtype, mode=t.sample.mode),
        )
        for t in timed
    )
    return Calibration(profile, rows, rms, tuple(keys))
