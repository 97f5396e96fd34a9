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
import gc
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from incprof.analysis import latency
from incprof.analysis.fit import Sample, _Columns, fit, total_s
from incprof.analysis.predict import OpWork, work
from incprof.analysis.profiles import (
    SCHEMA,
    DeviceProfile,
    Figure,
    ProfileError,
    builtin,
    from_dict,
)
from incprof.analysis.trace import trace_module
from incprof.errors import InputError
from incprof.results import device_slug

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
# Batches timed when none are given: those `incprof latency` is run at on each device.
DEFAULT_BATCHES = {"cpu": (1, 8), "cuda": (1, 32, 256)}
# Modes timed: the CPU has no graph replay; on a GPU it isolates the per-kernel gap.
MODES = {"cpu": ("eager",), "cuda": ("eager", "graph")}
# Seconds each micro-benchmark is timed for (CPU), or the CUDA timer's target per one.
MIN_RUN_TIME_S = 0.1
# A quick calibration (a rough profile in a few seconds, for a first look and for tests):
# batch 1 only, and these seconds per timing and per starting figure.
QUICK_MIN_RUN_TIME_S = 0.02
QUICK_FIGURES_MIN_RUN_TIME_S = 0.05
# Seconds `measure_cpu_figures` gives each of its kernels: `cpu` is measured every time
# a user asks for it, so the whole stays near 3 s.
CPU_FIGURES_MIN_RUN_TIME_S = 0.25
# Ops in each launch probe: enough that the module call around them is a small part.
PROBE_OPS = 64
# Samples per CPU timing (each the mean of a block of calls); the median is reported.
_BLOCKS = 5
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


class _Views(nn.Module):
    """A launch probe: ``PROBE_OPS`` views, each a dispatch that runs no kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(PROBE_OPS):
            x = x.view(-1)
        return x


class _TinyReLUs(nn.Module):
    """A launch probe: ``PROBE_OPS`` out-of-place ReLUs on a few numbers, each a kernel
    that does nearly nothing: its time beyond a view's is the per-kernel gap."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(PROBE_OPS):
            x = torch.relu(x)
        return x


class _Add(nn.Module):
    """A residual add (Inception-ResNet): the two halves of the input's channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a + b


class _Cat(nn.Module):
    """A block's concat of its branches' outputs (views of the input here)."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        self.widths = list(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(x.split(self.widths, dim=1), dim=1)


class _Clone(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


@dataclass(frozen=True)
class Benchmark:
    """One micro-benchmark: a tiny module and the C×H×W (or features) input it runs on."""

    label: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]


def _depthwise(channels: int, grid: int, stride: int = 1) -> Benchmark:
    """A 3×3 depthwise convolution as MobileNets have it, padded by one."""
    label = f"depthwise 3×3{f'/{stride}' if stride > 1 else ''} {channels} @{grid}²"
    return Benchmark(
        label,
        partial(nn.Conv2d, channels, channels, 3, stride, 1, groups=channels, bias=False),
        (channels, grid, grid),
    )


def _conv(
    cin: int, cout: int, kernel: tuple[int, int], grid: int, stride: int = 1, where: str = ""
) -> Benchmark:
    """A bias-free convolution as the networks' BasicConv2d has it, 'same' padded unless
    strided (a reduction, as Inception's are), labelled e.g. 'conv 1×7 128→128 @17²'."""
    kh, kw = kernel
    padding = (0, 0) if stride > 1 else (kh // 2, kw // 2)
    label = f"conv {kh}×{kw}{f'/{stride}' if stride > 1 else ''} {cin}→{cout} @{grid}²"
    return Benchmark(
        f"{label} ({where})" if where else label,
        partial(nn.Conv2d, cin, cout, kernel, stride=stride, padding=padding, bias=False),
        (cin, grid, grid),
    )


# Shapes from the networks: Inception-v3's blocks at 35², 17², 8² and its stem, GoogLeNet's
# stem and 28² block, Inception-ResNet-v2's 1×1 projections; and MobileNet-v2's depthwise
# convolutions at each of its grids (the one operator class Inception has none of that
# costs differently: see EFFICIENCY_KEYS).
BENCHMARKS = (
    _conv(3, 32, (3, 3), 299, stride=2, where="v3 stem"),
    _conv(32, 64, (3, 3), 147, where="v3 stem"),
    _conv(3, 64, (7, 7), 224, stride=2, where="GoogLeNet stem"),
    _conv(192, 64, (1, 1), 28, where="GoogLeNet 3a"),
    _conv(96, 128, (3, 3), 28, where="GoogLeNet 3a"),
    _conv(192, 64, (1, 1), 35),
    _conv(48, 64, (5, 5), 35),
    _conv(64, 96, (3, 3), 35),
    _conv(96, 96, (3, 3), 35),
    _conv(288, 384, (3, 3), 35, stride=2),
    _conv(768, 192, (1, 1), 17),
    _conv(128, 128, (1, 7), 17),
    _conv(128, 192, (7, 1), 17),
    _conv(1088, 192, (1, 1), 17, where="IRv2"),
    _conv(1280, 320, (1, 1), 8),
    _conv(384, 384, (1, 3), 8),
    _conv(384, 384, (3, 1), 8),
    _depthwise(32, 112),
    _depthwise(96, 112, stride=2),
    _depthwise(144, 56),
    _depthwise(192, 28),
    _depthwise(384, 14),
    _depthwise(960, 7),
    Benchmark("linear 2048→1000", partial(nn.Linear, 2048, 1000), (2048,)),
    Benchmark("relu_ 192 @35²", partial(nn.ReLU, inplace=True), (192, 35, 35)),
    Benchmark("relu_ 768 @17²", partial(nn.ReLU, inplace=True), (768, 17, 17)),
    Benchmark("add 320+320 @35² (IRv2)", _Add, (640, 35, 35)),
    Benchmark("batch norm 192 @35²", partial(nn.BatchNorm2d, 192, eps=1e-3), (192, 35, 35)),
    Benchmark("batch norm 64 @147²", partial(nn.BatchNorm2d, 64, eps=1e-3), (64, 147, 147)),
    Benchmark("max pool 3×3/2 288 @35²", partial(nn.MaxPool2d, 3, 2), (288, 35, 35)),
    Benchmark("max pool 3×3/2 64 @147²", partial(nn.MaxPool2d, 3, 2), (64, 147, 147)),
    Benchmark("avg pool 3×3/1 192 @35²", partial(nn.AvgPool2d, 3, 1, 1), (192, 35, 35)),
    Benchmark("cat 64+64+96+64 @35²", partial(_Cat, (64, 64, 96, 64)), (288, 35, 35)),
    Benchmark("cat 4×192 @17²", partial(_Cat, (192,) * 4), (768, 17, 17)),
    Benchmark("copy 192 @35²", _Clone, (192, 35, 35)),
    Benchmark(f"launch probe: {PROBE_OPS} views", _Views, (8, 1, 1)),
    Benchmark(f"launch probe: {PROBE_OPS} tiny relus", _TinyReLUs, (8, 1, 1)),
)


# -- measuring ------------------------------------------------------------------------


def _cpu_seconds(fn: Callable[[], Any], min_run_time: float) -> float:
    """Median over ``_BLOCKS`` blocks of one call's mean time: ``latency.cpu_time`` made
    lean (no Timer setup, no extra rounds), for many short kernels within a budget."""
    fn()  # warm-up: oneDNN primitives, the allocator's cache
    started = time.perf_counter()
    fn()
    once = max(time.perf_counter() - started, 1e-7)
    number = max(1, int(min_run_time / (_BLOCKS * once)))
    blocks = []
    gc.collect()
    gc.disable()  # a collection inside a block of microsecond calls is noise
    try:
        for _ in range(_BLOCKS):
            started = time.perf_counter()
            for _ in range(number):
                fn()
            blocks.append((time.perf_counter() - started) / number)
    finally:
        gc.enable()
    return statistics.median(blocks)


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


@dataclass(frozen=True)
class Timed:
    """One micro-benchmark at one batch and mode: its work and measured time."""

    benchmark: str
    batch: int
    sample: Sample


def benchmark_work(
    benchmark: Benchmark, *, batch: int, dtype: str, mode: str
) -> tuple[OpWork, ...]:
    """What the prediction prices for ``benchmark``: its meta trace's work."""
    with torch.device("meta"):
        model = benchmark.build().eval()
    trace = trace_module(model, benchmark.input_shape, batch=batch, name=benchmark.label)
    return work(trace, dtype=dtype, mode=mode)


def _storage(dtype: str) -> torch.dtype:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype, torch.float32)


def time_benchmarks(
    device: str,
    *,
    dtype: str,
    batches: Sequence[int],
    modes: Sequence[str],
    channels_last: bool = False,
    min_run_time: float = MIN_RUN_TIME_S,
    benchmarks: Sequence[Benchmark] = BENCHMARKS,
    progress: Callable[[str], None] | None = None,
) -> list[Timed]:
    """Time every benchmark at every batch and mode on ``device`` (eager: module call
    inside ``no_grad`` and ``latency.precision``; graph: a captured CUDA graph replayed)."""
    timer = None
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        timer = latency.CudaTimer(warmup_ms=50.0, min_reps=20, target_ms=1e3 * min_run_time)
    # A benchmark that runs no kernel (the views) costs nothing without a host: not timed.
    plan = [
        (bench, batch, mode, ops)
        for batch in batches
        for mode in modes
        for bench in benchmarks
        if (ops := benchmark_work(bench, batch=batch, dtype=dtype, mode=mode))
        and (mode == "eager" or any(op.kernel for op in ops))
    ]
    timed = []
    for i, (bench, batch, mode, ops) in enumerate(plan, 1):
        if progress:
            progress(f"[{i}/{len(plan)}] {bench.label} batch {batch} {mode}")
        seconds = _time_one(bench, batch, mode, device, dtype, channels_last, timer, min_run_time)
        timed.append(Timed(bench.label, batch, Sample(bench.label, ops, dtype, mode, seconds)))
    return timed


def _time_one(
    bench: Benchmark,
    batch: int,
    mode: str,
    device: str,
    dtype: str,
    channels_last: bool,
    timer: latency.CudaTimer | None,
    min_run_time: float,
) -> float:
    model = bench.build().to(device).eval()
    x = torch.randn((batch, *bench.input_shape), device=device).to(_storage(dtype))
    if channels_last and x.dim() == 4:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if timer is not None and mode == "graph":
        return timer(latency.forward_callable(model, x, mode, dtype, device)).median_ms * 1e-3
    with torch.no_grad(), latency.precision(dtype, device):
        if timer is not None:
            return timer(lambda: model(x)).median_ms * 1e-3
        return _cpu_seconds(lambda: model(x), min_run_time)


# -- fitting --------------------------------------------------------------------------


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
    if dtype not in latency.DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; choose from {', '.join(latency.DTYPES)}")
    if device == "cpu" and dtype in latency.CPU_SKIPPED_DTYPES:
        raise ProfileError(f"{dtype} is a GPU configuration: calibrate the CPU in fp32 or bf16")
    if progress:
        progress(f"measuring the {device}'s starting figures")
    if device == "cpu":
        measured = measure_cpu_figures(min_run_time=figures_min_run_time)
        start = builtin("cpu").with_figures(measured, origin="measured now on this CPU")
    else:
        start = _cuda_start(dtype, progress)
    start.peak(dtype)  # no peak for the dtype: an error before minutes of timing
    batches = tuple(batches or DEFAULT_BATCHES[device])
    modes = MODES[device]
    layout = device == "cuda" if channels_last is None else channels_last
    timed = time_benchmarks(
        device,
        dtype=dtype,
        batches=batches,
        modes=modes,
        channels_last=layout,
        min_run_time=min_run_time,
        benchmarks=benchmarks,
        progress=progress,
    )
    device_name = latency.cpu_name() if device == "cpu" else torch.cuda.get_device_name()
    today = _dt.date.today().isoformat()
    source = (
        f"incprof calibrate ({device}, {dtype}): {', '.join(keys)} fitted together to "
        f"{len(timed)} timings of {len(benchmarks)} micro-benchmarks "
        "(incprof.analysis.calibrate.BENCHMARKS: "
        "Inception's convolution shapes, ReLU, add, eval batch norm, pools, cat, copy, "
        f"matmul, launch probes) at batch {','.join(map(str, batches))}, {'+'.join(modes)}, "
        f"{'channels_last' if layout else 'contiguous'}, on {device_name}, "
        f"host {platform.node() or 'unknown'}, torch {torch.__version__}"
        + (f", OMP_WAIT_POLICY={policy}" if (policy := os.environ.get("OMP_WAIT_POLICY")) else "")
        + f", {today}"
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
