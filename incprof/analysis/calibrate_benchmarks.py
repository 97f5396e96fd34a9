"""Calibration's micro-benchmarks and their timing: the pieces Inception networks are made
of (``BENCHMARKS``, see :mod:`incprof.analysis.calibrate`), each a tiny module traced on
``meta`` for the work its prediction prices, and timed on the device the way ``incprof
latency`` runs a network.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from incprof.analysis import latency
from incprof.analysis.fit import Sample
from incprof.analysis.predict import OpWork, work
from incprof.analysis.trace import trace_module

# Seconds each micro-benchmark is timed for (CPU), or the CUDA timer's target per one.
MIN_RUN_TIME_S = 0.1
# Ops in each launch probe: enough that the module call around them is a small part.
PROBE_OPS = 64
# Samples per CPU timing (each the mean of a block of calls); the median is reported.
_BLOCKS = 5


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
