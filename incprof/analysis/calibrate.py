"""Calibration: time a fixed set of micro-benchmarks on the device present and fit the
latency model's factors to them, so that a network can be predicted there without running it.

The micro-benchmarks (``BENCHMARKS``) are the pieces Inception networks are made of: the
convolution shapes they use (1×1, 3×3, 5×5, 1×7/7×1, 1×3/3×1, strided stems and
reductions, at the channel counts and grids of the networks), MobileNet's depthwise 3×3
convolutions (the one class of operator priced apart), ReLU, a residual add, eval
batch norm, max and average pooling, a branch concat, a copy, the classifier's matmul, and
two launch probes (a chain of views, which dispatch and run no kernel, and a chain of
ReLUs on 8 numbers, which run a kernel that does nearly nothing). Each is a tiny module
traced on ``meta`` by the same code that traces the networks, so the work its prediction
prices is the work a network's prediction prices.

Timed in eager mode (and, on a GPU, as a replayed CUDA graph too, which is what separates
the per-kernel gap from the host's launch cost), in the dtype asked for, the way
``incprof latency`` runs a network: fp32 weights, inputs in the storage dtype (a layer's
input in a bf16 network is bf16), autocast for bf16/fp16.

The fit (:func:`incprof.analysis.fit.fit`) starts from this CPU's measured figures (see
:func:`measure_cpu_figures`) or, on a GPU, from the built-in profile of that GPU (its
datasheet peaks and bandwidth), else from a peak and a copy bandwidth measured now. Peak and
bandwidth are never fitted: they stay what was measured or published, and the efficiencies
say how much of them these kernels get.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from incprof.analysis import latency
from incprof.analysis.calibrate_benchmarks import (
    BENCHMARKS,
    MIN_RUN_TIME_S,
    PROBE_OPS,
    Benchmark,
    Timed,
    _cpu_seconds,
    _TinyReLUs,
    _Views,
    benchmark_work,
    time_benchmarks,
)
from incprof.analysis.calibrate_fit import (
    EFFICIENCY_KEYS,
    FIT_KEYS,
    Calibration,
    CalibrationRow,
    fit_calibration,
)
from incprof.analysis.profiles import (
    SCHEMA,
    DeviceProfile,
    Figure,
    ProfileError,
    builtin,
    from_dict,
)
from incprof.errors import InputError
from incprof.results import device_slug

# The names this module has always offered; the benchmark table and its timing live in
# calibrate_benchmarks, the fit in calibrate_fit.
__all__ = [
    "BENCHMARKS",
    "CPU_FIGURES_MIN_RUN_TIME_S",
    "DEFAULT_BATCHES",
    "EFFICIENCY_KEYS",
    "FIT_KEYS",
    "GPU_PROFILES",
    "MIN_RUN_TIME_S",
    "MODES",
    "PROBE_OPS",
    "QUICK_FIGURES_MIN_RUN_TIME_S",
    "QUICK_MIN_RUN_TIME_S",
    "RUN_TIME_FIGURES",
    "Benchmark",
    "Calibration",
    "CalibrationRow",
    "Timed",
    "as_builtin_cpu",
    "benchmark_work",
    "calibrate",
    "fit_calibration",
    "measure_cpu_figures",
    "time_benchmarks",
]

# Batches timed when none are given: those `incprof latency` is run at on each device.
DEFAULT_BATCHES = {"cpu": (1, 8), "cuda": (1, 32, 256)}
# Modes timed: the CPU has no graph replay; on a GPU it isolates the per-kernel gap.
MODES = {"cpu": ("eager",), "cuda": ("eager", "graph")}
# A quick calibration (a rough profile in a few seconds, for a first look and for tests):
# batch 1 only, and these seconds per timing and per starting figure.
QUICK_MIN_RUN_TIME_S = 0.02
QUICK_FIGURES_MIN_RUN_TIME_S = 0.05
# Seconds `measure_cpu_figures` gives each of its kernels: `cpu` is measured every time
# a user asks for it, so the whole stays near 3 s.
CPU_FIGURES_MIN_RUN_TIME_S = 0.25
# The CPU copy for the bandwidth: twice the last-level cache, within these bounds (bytes).
_COPY_BYTES = (64 * 2**20, 1024 * 2**20)
_FALLBACK_LLC_BYTES = 32 * 2**20
# torch.cuda.get_device_name() -> the built-in profile a CUDA calibration starts from.
GPU_PROFILES = {
    "NVIDIA H100 80GB HBM3": "h100-sxm",
    "NVIDIA H100 PCIe": "h100-pcie",
    "NVIDIA H200": "h200",
    "NVIDIA A100-SXM4-80GB": "a100-sxm",
    "NVIDIA L4": "l4",
    "NVIDIA GeForce RTX 4090": "rtx-4090",
}
# A GPU no built-in profile knows starts from these (its peak and bandwidth measured now).
_UNKNOWN_GPU_START = {"launch_us": 10.0, "gap_us": 3.0, "compute": 0.5, "memory": 0.7}


def _last_level_cache_bytes(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """The largest cache of CPU 0 as Linux lists it (e.g. '266240K'); a guess elsewhere."""
    sizes = []
    for entry in root.glob("index*/size"):
        match = re.fullmatch(r"(\d+)([KMG]?)", entry.read_text().strip())
        if match:
            sizes.append(int(match[1]) * 1024 ** " KMG".index(match[2] or " "))
    return max(sizes, default=_FALLBACK_LLC_BYTES)


def _copy_gbs(size: int, min_run_time: float) -> float:
    source = torch.ones(size // 4)
    target = torch.empty_like(source)
    target.copy_(source)  # first touch of every page, outside the timing
    return 2 * size / _cpu_seconds(lambda: target.copy_(source), min_run_time) / 1e9


def _probe_seconds_per_op(probe: type[nn.Module], min_run_time: float) -> float:
    model = probe().eval()
    x = torch.zeros(1, 8, 1, 1)
    with torch.no_grad():
        return _cpu_seconds(lambda: model(x), min_run_time) / PROBE_OPS


def measure_cpu_figures(*, min_run_time: float = CPU_FIGURES_MIN_RUN_TIME_S) -> dict[str, Figure]:
    """This CPU's peak, copy bandwidth, per-op host cost and per-kernel gap, measured now
    (about 3 s), by ``DeviceProfile.figures`` keys.

    ``peak_tflops.bf16`` only where ``latency.measure_peak_tflops`` finds a fast bf16
    kernel; a CPU has no tf32 or fp16 peak here, so asking for one is a ProfileError.
    ``launch_us`` is a view's time (a dispatch that runs no kernel); ``gap_us`` what a
    ReLU on 8 numbers takes beyond it (allocation, kernel call): on a CPU the host runs
    the kernel, so both add to every op's time.
    """
    where = latency.cpu_name()
    probe = "incprof.analysis.calibrate.measure_cpu_figures"
    figures: dict[str, Figure] = {}
    for dtype in ("fp32", "bf16"):
        peak = latency.measure_peak_tflops(dtype, None, device="cpu", cpu_min_run_time=min_run_time)
        if peak.tflops is None:
            if dtype == "fp32":
                raise ProfileError(f"cannot measure this CPU's fp32 peak: {peak.note}")
            continue
        figures[f"peak_tflops.{dtype}"] = Figure(
            peak.tflops,
            "measured",
            f"measured now on {where}: the faster of a 1024² matmul and a 256-channel 3×3 "
            f"convolution{' under bf16 autocast' if dtype == 'bf16' else ''} "
            "(latency.measure_peak_tflops)",
        )
    size = min(max(2 * _last_level_cache_bytes(), _COPY_BYTES[0]), _COPY_BYTES[1])
    figures["bandwidth_gbs"] = Figure(
        _copy_gbs(size, min_run_time),
        "measured",
        f"measured now on {where}: a {size / 2**20:.0f} MiB fp32 copy (twice the last-level "
        f"cache), bytes read + written / time ({probe})",
    )
    launch = _probe_seconds_per_op(_Views, min_run_time / 4)
    tiny = _probe_seconds_per_op(_TinyReLUs, min_run_time / 4)
    figures["launch_us"] = Figure(
        launch * 1e6,
        "measured",
        f"measured now on {where}: one eager view's time, from a chain of {PROBE_OPS} ({probe})",
    )
    figures["gap_us"] = Figure(
        max(tiny - launch, 0.0) * 1e6,
        "measured",
        f"measured now on {where}: an eager ReLU on 8 numbers beyond a view's time, from "
        f"chains of {PROBE_OPS} ({probe})",
    )
    return figures


def _cuda_start(dtype: str, progress: Callable[[str], None] | None) -> DeviceProfile:
    """The built-in profile of this GPU, else one with its peak and copy bandwidth measured
    now and round starting values for the factors the fit sets."""
    device_name = torch.cuda.get_device_name()
    known = GPU_PROFILES.get(device_name.strip())
    if known:  # its datasheet figures; only the efficiencies the fit sets
        return builtin(known).keeping_efficiencies(FIT_KEYS)
    if progress:
        progress(f"{device_name}: no built-in profile; measuring its {dtype} peak and bandwidth")
    timer = latency.CudaTimer()
    peak = latency.measure_peak_tflops(dtype, timer, device="cuda")
    size = 1024 * 2**20
    a = torch.empty(size, dtype=torch.int8, device="cuda")
    b = torch.empty_like(a)
    bandwidth = 2 * size / (timer(lambda: b.copy_(a)).median_ms * 1e-3) / 1e9
    measured = f"measured now on {device_name}"
    start = "a round starting value for the fit, not a measurement"

    def figure(value: float, kind: str, source: str) -> dict[str, Any]:
        return {"value": value, "kind": kind, "source": source}

    return from_dict(
        {
            "schema": SCHEMA,
            "name": device_slug(device_name),
            "title": device_name,
            "host_overlap": True,
            "peak_tflops": {dtype: figure(peak.tflops, "measured", f"{measured}: an 8192² matmul")},
            "bandwidth_gbs": figure(bandwidth, "measured", f"{measured}: a 1 GiB copy"),
            "launch_us": figure(_UNKNOWN_GPU_START["launch_us"], "assumed", start),
            "gap_us": figure(_UNKNOWN_GPU_START["gap_us"], "assumed", start),
            "compute_efficiency": {
                "default": figure(_UNKNOWN_GPU_START["compute"], "assumed", start)
            },
            "memory_efficiency": {
                "default": figure(_UNKNOWN_GPU_START["memory"], "assumed", start)
            },
        },
        origin=f"measured now on {device_name}",
    )


def calibrate(
    device: str,
    *,
    dtype: str = "fp32",
    batches: Sequence[int] | None = None,
    keys: Sequence[str] = FIT_KEYS,
    channels_last: bool | None = None,
    min_run_time: float = MIN_RUN_TIME_S,
    figures_min_run_time: float = CPU_FIGURES_MIN_RUN_TIME_S,
    benchmarks: Sequence[Benchmark] = BENCHMARKS,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Time the micro-benchmarks on ``device`` ('cpu' or 'cuda') and fit ``keys``.

    ``batches``: ``DEFAULT_BATCHES`` for the device unless given. ``channels_last``: on a
    GPU by default (as the committed GPU results were measured), not on the CPU.
    ``min_run_time``: seconds per timing (CPU), the CUDA timer's target per timing;
    ``figures_min_run_time``: what ``measure_cpu_figures`` gives each starting figure.
    A device that is not there is a ``latency.DeviceError``; a dtype the device profile
    has no peak for, a ``ProfileError``, both before anything is timed.
    """
    device = latency.resolve_device(device)
    _check_dtype(device, dtype)
    if progress:
        progress(f"measuring the {device}'s starting figures")
    start = _starting_profile(device, dtype, figures_min_run_time, progress)
    start.peak(dtype)  # no peak for the dtype: an error before minutes of timing
    batches = tuple(batches or DEFAULT_BATCHES[device])
    layout = device == "cuda" if channels_last is None else channels_last
    timed = time_benchmarks(
        device,
        dtype=dtype,
        batches=batches,
        modes=MODES[device],
        channels_last=layout,
        min_run_time=min_run_time,
        benchmarks=benchmarks,
        progress=progress,
    )
    device_name = latency.cpu_name() if device == "cpu" else torch.cuda.get_device_name()
    today = _dt.date.today().isoformat()
    source = _calibration_source(
        device, dtype, keys, len(timed), len(benchmarks), batches, layout, device_name, today
    )
    name = "cpu-calibrated" if device == "cpu" else f"{device_slug(device_name)}-calibrated"
    if progress:
        progress(f"fitting {', '.join(keys)} to {len(timed)} timings")
    result = fit_calibration(
        timed,
        start,
        keys=keys,
        source=source,
        name=name,
        title=f"{device_name}, calibrated {today}",
    )
    return _calibrated_now(result, dtype, device_name)


def _check_dtype(device: str, dtype: str) -> None:
    """A dtype that is unknown, or GPU-only on the CPU, is an error before any timing."""
    if dtype not in latency.DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose from {', '.join(latency.DTYPES)}")
    if device == "cpu" and dtype in latency.CPU_SKIPPED_DTYPES:
        raise ProfileError(f"{dtype} is a GPU configuration: calibrate the CPU in fp32 or bf16")


def _starting_profile(
    device: str,
    dtype: str,
    figures_min_run_time: float,
    progress: Callable[[str], None] | None,
) -> DeviceProfile:
    """Where the fit starts: this CPU's figures measured now, or the GPU's built-in profile."""
    if device == "cpu":
        measured = measure_cpu_figures(min_run_time=figures_min_run_time)
        return builtin("cpu").with_figures(measured, origin="measured now on this CPU")
    return _cuda_start(dtype, progress)


def _calibration_source(
    device: str,
    dtype: str,
    keys: Sequence[str],
    timings: int,
    benchmarks: int,
    batches: Sequence[int],
    channels_last: bool,
    device_name: str,
    today: str,
) -> str:
    """The fitted figures' source: what was timed, how, where, and when."""
    modes = MODES[device]
    return (
        f"incprof calibrate ({device}, {dtype}): {', '.join(keys)} fitted together to "
        f"{timings} timings of {benchmarks} micro-benchmarks "
        "(incprof.analysis.calibrate.BENCHMARKS: "
        "Inception's convolution shapes, ReLU, add, eval batch norm, pools, cat, copy, "
        f"matmul, launch probes) at batch {','.join(map(str, batches))}, {'+'.join(modes)}, "
        f"{'channels_last' if channels_last else 'contiguous'}, on {device_name}, "
        f"host {platform.node() or 'unknown'}, torch {torch.__version__}"
        + (f", OMP_WAIT_POLICY={policy}" if (policy := os.environ.get("OMP_WAIT_POLICY")) else "")
        + f", {today}"
    )


def _calibrated_now(result: Calibration, dtype: str, device_name: str) -> Calibration:
    """The fitted profile marked as calibrated now, in ``dtype``, on this device."""
    return replace(
        result,
        profile=replace(
            result.profile,
            origin=f"calibrated now on {device_name}",
            notes=(
                f"calibrated in {dtype}: the efficiencies are what these kernels got in "
                f"{dtype}; predictions in another dtype use them all the same",
            ),
        ),
    )


# What `devices.resolve("cpu")` measures each time; the other figures are stored.
RUN_TIME_FIGURES = ("peak_tflops.", "bandwidth_gbs", "launch_us", "gap_us")


def as_builtin_cpu(calibrated: DeviceProfile) -> DeviceProfile:
    """The shipped ``cpu`` profile from a CPU calibration's profile (``incprof calibrate
    --device cpu --fit efficiencies``, so that the efficiencies were fitted beside the
    launch cost and gap that ``resolve`` measures): its fitted figures as they are, its
    measured ones marked as re-measured."""
    stored = {
        key: Figure(
            f.value,
            f.kind,
            "re-measured at run time by devices.resolve('cpu'); this value at commit time, "
            + f.source.replace("measured now on", "measured on", 1),
        )
        for key, f in calibrated.figures().items()
        if key.startswith(RUN_TIME_FIGURES)
    }
    return replace(
        calibrated.with_figures(stored),
        name="cpu",
        title="This machine's CPU (peak, bandwidth, launch cost and gap measured at run time)",
        origin="built-in cpu.json",
        notes=(
            "Written by incprof.analysis.calibrate.as_builtin_cpu from the profile of "
            "`incprof calibrate --device cpu --fit efficiencies --out FILE`.",
            "The efficiencies were fitted on the CPU their source names; on another CPU "
            "they are a starting point: `incprof calibrate --device cpu` fits this one.",
        ),
    )
