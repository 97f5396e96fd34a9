"""Latency measured the way GPU engineers measure it.

GPU: inputs already on the device, cuDNN autotuning on, a warm-up, then many timed
repetitions, each between two CUDA events with the L2 cache flushed before it (as
``triton.testing.do_bench`` does), reported as the median with p10/p90 and IQR. fp32 runs
with TF32 off, ``tf32`` with it on, bf16/fp16 under autocast. Modes: eager, a captured CUDA
graph replayed, and ``torch.compile``. The device's peak for each dtype is measured in the
same run with a large matmul, so achieved TFLOP/s (2 × MACs × batch / time) can be read as
a share of what this device does, not of a datasheet.

CPU: the same records through ``torch.utils.benchmark`` (its blocked autorange, at least
``MIN_CPU_SAMPLES`` samples), with the faster of a matmul and a 3×3 convolution, run the way
the network runs (autocast for bf16), as the peak (see ``measure_peak_tflops``).

A configuration that does not fit in memory or cannot run is a record that says why; the
sweep goes on. A share of the peak is never above 100%: such a share, or a peak that could
not be measured, is left empty and ``peak_note`` says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from incprof.analysis.latency_runs import (
    CPU_SKIPPED_DTYPES,
    LatencyRecord,
    Peak,
    _device_model,
    _out_of_memory,
    _release,
    _Skip,
    forward_callable,
)
from incprof.analysis.latency_timing import (
    MIN_CPU_SAMPLES,
    CudaTimer,
    DeviceError,
    EagerOps,
    Timing,
    alternate,
    cpu_name,
    cpu_time,
    eager_ops,
    environment,
    precision,
    resolve_device,
)
from incprof.errors import error_line
from incprof.registry import InputShape, Variant
from incprof.run_settings import MODES
from incprof.run_settings import PRECISIONS as DTYPES

# The names this module has always offered: the timers and records live beside it, and
# ``measure``/``sweep`` look ``cpu_time``, ``forward_callable`` and ``measure_peak_tflops``
# up here at call time (so a patched one takes effect).
__all__ = [
    "CPU_SKIPPED_DTYPES",
    "DTYPES",
    "MIN_CPU_SAMPLES",
    "MODES",
    "PEAK_CALL_LIMIT_S",
    "CudaTimer",
    "DeviceError",
    "EagerOps",
    "LatencyRecord",
    "Peak",
    "Timing",
    "alternate",
    "cpu_name",
    "cpu_time",
    "eager_ops",
    "environment",
    "forward_callable",
    "measure",
    "measure_peak_tflops",
    "precision",
    "resolve_device",
    "sweep",
]

# on the CPU, small enough that a slow kernel still answers in a fraction of a second.
_PEAK_SIDE = {"cuda": 8192, "cpu": 1024}
# The CPU's other candidate: a 3×3 convolution, 256 → 256 channels at 28×28 (0.92 GFLOP).
_PEAK_CONV = (256, 28)
# A CPU probe kernel whose first call takes longer than this (under 8.6 GFLOP/s for the
# matmul, 3.7 for the convolution) is not timed: the dtype has no fast kernel there.
PEAK_CALL_LIMIT_S = 0.25


def measure_peak_tflops(
    dtype: str, timer: CudaTimer | None, *, device: str = "cuda", cpu_min_run_time: float = 1.0
) -> Peak:
    """This device's best dense TFLOP/s for ``dtype``: the denominator of ``peak_share_pct``.

    Measured, not a datasheet ceiling. GPU: an 8192² matmul in the dtype.

    CPU: the faster of a 1024² matmul (the BLAS library) and a 3×3 convolution (oneDNN,
    which runs the networks' convolutions), each on fp32 tensors inside ``precision`` as
    the network is timed, so that bf16 times the casts and kernels autocast picks. On some
    CPUs the BLAS takes a slow path (MKL on AMD processors runs at half of oneDNN's rate),
    and a matmul alone would then put shares far above 100%. A CPU without native kernels
    for the dtype falls back to reference loops (bf16: ~0.001 TFLOP/s, minutes for a large
    problem); so each kernel is called once first, and one slower than
    ``PEAK_CALL_LIMIT_S`` is not timed. With neither kernel timed, there is no peak and the
    note says why.
    """
    if device == "cuda":
        side = _PEAK_SIDE["cuda"]
        storage = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(dtype, torch.float32)
        a = torch.randn(side, side, device=device, dtype=storage)
        b = torch.randn(side, side, device=device, dtype=storage)
        timer = timer or CudaTimer()
        with precision("tf32" if dtype == "tf32" else "fp32", device):
            return Peak(2 * side**3 / (timer(lambda: a @ b).median_ms * 1e-3) / 1e12)
    side = _PEAK_SIDE["cpu"]
    a, b = torch.randn(side, side), torch.randn(side, side)
    channels, width = _PEAK_CONV
    x = torch.randn(1, channels, width, width)
    w = torch.randn(channels, channels, 3, 3)
    kernels: dict[str, tuple[int, Callable[[], Any]]] = {
        f"{side}² matmul": (2 * side**3, lambda: a @ b),
        f"{channels}-channel 3×3 convolution": (
            2 * channels * channels * 9 * width * width,
            lambda: nn.functional.conv2d(x, w, padding=1),
        ),
    }
    rates = []
    too_slow = []
    for name, (flop, kernel) in kernels.items():

        def run(kernel: Callable[[], Any] = kernel) -> Any:
            with precision(dtype, device):
                return kernel()

        started = time.perf_counter()
        run()
        first_s = time.perf_counter() - started
        if first_s > PEAK_CALL_LIMIT_S:
            too_slow.append(f"one {name} took {first_s:.2f} s")
            continue
        rates.append(flop / (cpu_time(run, min_run_time=cpu_min_run_time).median_ms * 1e-3))
    if not rates:
        return Peak(
            None,
            f"no {dtype} peak: {' and '.join(too_slow)} (limit {PEAK_CALL_LIMIT_S:g} s), "
            f"so this CPU has no fast {dtype} kernels to measure one with",
        )
    return Peak(max(rates) / 1e12)


# The timing fields of a record that did not run.
_UNTIMED_FIELDS = (
    "median_ms",
    "p10_ms",
    "p90_ms",
    "iqr_ms",
    "repetitions",
    "images_per_s",
    "tflops",
    "peak_share_pct",
    "peak_memory_mib",
)


def _configuration_fields(
    variant: Variant,
    input_shape: InputShape,
    batch: int,
    dtype: str,
    mode: str,
    channels_last: bool,
    env: dict[str, Any],
) -> dict[str, Any]:
    """The fields that name a configuration and where it ran, common to every outcome."""
    return dict(
        variant=variant.name,
        input_shape="x".join(map(str, input_shape)),
        batch=batch,
        dtype=dtype,
        mode=mode,
        layout="channels_last" if channels_last else "contiguous",
        **env,
    )


def _time_forward(
    variant: Variant,
    *,
    input_shape: InputShape,
    batch: int,
    dtype: str,
    mode: str,
    channels_last: bool,
    device: str,
    timer: CudaTimer | None,
    cpu_min_run_time: float,
) -> tuple[Timing, float | None]:
    """Build, place and time one configuration: its timing and peak CUDA memory (MiB)."""
    fn = model = x = None
    try:
        if device == "cpu" and dtype in CPU_SKIPPED_DTYPES:
            raise _Skip(f"{dtype} is a GPU configuration")
        model = _device_model(variant, device, channels_last)
        x = torch.randn((batch, *input_shape), device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        fn = forward_callable(model, x, mode, dtype, device)
        timing = (
            timer(fn)
            if device == "cuda" and timer is not None
            else cpu_time(fn, min_run_time=cpu_min_run_time)
        )
        memory = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
        return timing, memory
    finally:
        # Drop the model, its graph and its input before the next configuration.
        fn = model = x = None
        _release(device)


def _share_of_peak(tflops: float | None, peak: Peak, dtype: str) -> tuple[float | None, str | None]:
    """The share of ``peak`` achieved and the note: a share above 100% is left empty."""
    share = 100 * tflops / peak.tflops if peak.tflops and tflops is not None else None
    if share is not None and share > 100:
        return None, (
            f"no share: {share:.0f}% of the {dtype} peak measured, whose probe kernels ran "
            "slower than this network's, so that peak understates the device"
        )
    return share, peak.note


def measure(
    variant: Variant,
    *,
    macs: int | None,
    input_shape: InputShape,
    batch: int,
    dtype: str,
    mode: str,
    channels_last: bool,
    device: str,
    env: dict[str, Any],
    timer: CudaTimer | None = None,
    peak: Peak | None = None,
    cpu_min_run_time: float = 1.0,
) -> LatencyRecord:
    """One configuration; never raises for out-of-memory or unsupported combinations.

    A share of ``peak`` above 100% is left empty with a ``peak_note``: the probe's kernels
    then ran slower than the network's, so the peak understates the device.
    """
    peak = peak or Peak(None)
    base = _configuration_fields(variant, input_shape, batch, dtype, mode, channels_last, env)
    empty = dict.fromkeys(_UNTIMED_FIELDS)
    try:
        timing, memory = _time_forward(
            variant,
            input_shape=input_shape,
            batch=batch,
            dtype=dtype,
            mode=mode,
            channels_last=channels_last,
            device=device,
            timer=timer,
            cpu_min_run_time=cpu_min_run_time,
        )
    except _Skip as skip:
        return LatencyRecord(**base, status=f"skipped: {skip}", peak_tflops=peak.tflops, **empty)
    except Exception as exc:  # one failing configuration is a row, the sweep goes on
        _release(device)
        status = "out of memory" if _out_of_memory(exc) else f"error: {error_line(exc)}"[:200]
        return LatencyRecord(**base, status=status, peak_tflops=peak.tflops, **empty)
    seconds = timing.median_ms * 1e-3
    tflops = 2 * macs * batch / seconds / 1e12 if macs is not None else None
    share, peak_note = _share_of_peak(tflops, peak, dtype)
    return LatencyRecord(
        **base,
        status="ok",
        median_ms=timing.median_ms,
        p10_ms=timing.p10_ms,
        p90_ms=timing.p90_ms,
        iqr_ms=timing.iqr_ms,
        repetitions=timing.repetitions,
        images_per_s=batch / seconds,
        tflops=tflops,
        peak_tflops=peak.tflops,
        peak_share_pct=share,
        peak_memory_mib=memory,
        peak_note=peak_note,
        single_sample=timing.single_sample,
    )


def _device_peaks(
    dtypes: Sequence[str],
    timer: CudaTimer | None,
    device: str,
    progress: Callable[[str], None] | None,
    cpu_min_run_time: float,
) -> dict[str, Peak | None]:
    """The device's peak in each dtype it runs (None for a GPU-only dtype on the CPU)."""
    peaks: dict[str, Peak | None] = {}
    for dtype in dtypes:
        if device == "cpu" and dtype in CPU_SKIPPED_DTYPES:
            peaks[dtype] = None
            continue
        if progress:
            progress(f"measuring the device's {dtype} peak")
        peaks[dtype] = measure_peak_tflops(
            dtype, timer, device=device, cpu_min_run_time=cpu_min_run_time
        )
    return peaks


def sweep(
    variants: Sequence[Variant],
    *,
    macs: dict[str, int | None],
    input_shapes: dict[str, InputShape],
    batches: Sequence[int] = (1,),
    dtypes: Sequence[str] = ("fp32",),
    modes: Sequence[str] = ("eager",),
    channels_last: bool = False,
    device: str = "auto",
    progress: Callable[[str], None] | None = None,
    cpu_min_run_time: float = 1.0,
    timer: CudaTimer | None = None,
) -> list[LatencyRecord]:
    """Every (variant, batch, dtype, mode) configuration, in that order.

    ``macs`` and ``input_shapes`` are keyed by variant name (the analytic MACs at batch 1
    and the input the variant runs at).
    """
    device = resolve_device(device)
    env = environment(device)
    if device == "cuda" and timer is None:
        timer = CudaTimer()
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    peaks = _device_peaks(dtypes, timer, device, progress, cpu_min_run_time)
    configurations = [
        (variant, batch, dtype, mode)
        for variant in variants
        for batch in batches
        for dtype in dtypes
        for mode in modes
    ]
    records = []
    for step, (variant, batch, dtype, mode) in enumerate(configurations, 1):
        if progress:
            progress(f"[{step}/{len(configurations)}] {variant.name} batch {batch} {dtype} {mode}")
        records.append(
            measure(
                variant,
                macs=macs[variant.name],
                input_shape=input_shapes[variant.name],
                batch=batch,
                dtype=dtype,
                mode=mode,
                channels_last=channels_last,
                device=device,
                env=env,
                timer=timer,
                peak=peaks[dtype],
                cpu_min_run_time=cpu_min_run_time,
            )
        )
    return records
