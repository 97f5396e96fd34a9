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

import datetime as _dt
import gc
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from incprof.analysis.analytic import analyze_module
from incprof.analysis.trace import meta_model
from incprof.errors import InputError, error_line
from incprof.registry import InputShape, Variant
from incprof.run_settings import MODES
from incprof.run_settings import PRECISIONS as DTYPES

_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(InputError):
    """The device asked for is not there (CUDA without a GPU); the caller names what asked."""


def resolve_device(name: str) -> str:
    """'auto' picks CUDA when there is a GPU; asking for a missing one is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("no CUDA GPU is available on this machine")
    if name not in ("cpu", "cuda"):
        raise DeviceError(f"the device must be auto, cpu or cuda; got {name!r}")
    return name


@dataclass(frozen=True)
class Timing:
    """Per-repetition times in milliseconds, summarised. One sample has no spread: its
    p10, p90 and IQR are None, not copies of the median that would read as a tight one."""

    median_ms: float
    p10_ms: float | None
    p90_ms: float | None
    iqr_ms: float | None
    repetitions: int

    @property
    def single_sample(self) -> bool:
        return self.repetitions == 1

    @classmethod
    def of(cls, times_ms: Sequence[float]) -> Timing:
        ordered = sorted(times_ms)
        if len(ordered) == 1:
            return cls(ordered[0], None, None, None, 1)
        deciles = statistics.quantiles(ordered, n=10, method="inclusive")
        quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(
            statistics.median(ordered),
            deciles[0],
            deciles[-1],
            quartiles[2] - quartiles[0],
            len(ordered),
        )


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's model and the thread count torch runs on, e.g. 'AMD EPYC 7B13
    (2 threads)': a CPU time depends on both. The model is /proc/cpuinfo's "model name"
    where Linux gives one (platform's name for the processor elsewhere)."""
    model = None
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as lines:
            model = next(
                (
                    line.partition(":")[2].strip()
                    for line in lines
                    if line.partition(":")[0].strip() == "model name"
                ),
                None,
            )
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    threads = torch.get_num_threads()
    return f"{model} ({threads} thread{'' if threads == 1 else 's'})"


def environment(device: str) -> dict[str, Any]:
    """What a saved result must carry to be compared later."""
    env: dict[str, Any] = {
        "device_name": cpu_name(),
        "torch": torch.__version__,
        "cuda": None,
        "cudnn": None,
        "date": _dt.date.today().isoformat(),
    }
    if device == "cuda":
        env.update(
            device_name=torch.cuda.get_device_name(),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    return env


@contextmanager
def precision(dtype: str, device: str) -> Iterator[None]:
    """TF32 on only for 'tf32'; autocast for bf16/fp16. Restores the global flags."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = dtype == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    autocast = (
        torch.autocast(device_type=device, dtype=_AUTOCAST[dtype])
        if dtype in _AUTOCAST
        else nullcontext()
    )
    try:
        with autocast:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class CudaTimer:
    """Times a callable with CUDA events, one pair per repetition, L2 flushed before each."""

    def __init__(
        self,
        *,
        warmup_ms: float = 100.0,
        min_reps: int = 50,
        max_reps: int = 1000,
        target_ms: float = 1000.0,
        flush_l2: bool = True,
    ) -> None:
        self.warmup_ms = warmup_ms
        self.min_reps = min_reps
        self.max_reps = max_reps
        self.target_ms = target_ms
        self.flush = (
            torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda") if flush_l2 else None
        )

    def _estimate_ms(self, fn: Callable[[], Any]) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(5):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 5

    def __call__(self, fn: Callable[[], Any]) -> Timing:
        fn()
        torch.cuda.synchronize()
        estimate = max(self._estimate_ms(fn), 1e-3)
        for _ in range(max(1, int(self.warmup_ms / estimate))):
            fn()
        reps = int(min(self.max_reps, max(self.min_reps, self.target_ms / estimate)))
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        # A collection in the middle of a launch-bound loop is noise, not the model's cost.
        gc.collect()
        gc.disable()
        try:
            for start, end in zip(starts, ends, strict=True):
                if self.flush is not None:
                    self.flush.zero_()
                start.record()
                fn()
                end.record()
            torch.cuda.synchronize()
        finally:
            gc.enable()
        return Timing.of([s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)])

    def compare(
        self, fn_a: Callable[[], Any], fn_b: Callable[[], Any], *, pairs: int = 4
    ) -> tuple[Timing, Timing, float]:
        """``alternate`` with this timer, the time per measurement split over its rounds."""
        saved = self.target_ms
        self.target_ms = max(saved / (2 * pairs), 50.0)
        try:
            return alternate(self, fn_a, fn_b, pairs=pairs)
        finally:
            self.target_ms = saved


def alternate(
    time: Callable[[Callable[[], Any]], Timing],
    fn_a: Callable[[], Any],
    fn_b: Callable[[], Any],
    *,
    pairs: int = 4,
) -> tuple[Timing, Timing, float]:
    """Time two callables in A-B, B-A pairs of rounds; the ratio a/b is the median over
    the pairs of (a₁ + a₂) / (b₁ + b₂).

    Timing one callable and then the other reads a drift of the machine (clocks, other
    tenants, a CPU-bound launch loop) as a difference between them. Within an A-B-B-A pair
    a drift that is linear in time adds the same to both sums and cancels; a plain median
    of per-round ratios would not cancel it, because one order has one more round.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1; got {pairs}")
    a_times: list[float] = []
    b_times: list[float] = []
    ratios = []
    for _ in range(pairs):
        a1, b1 = time(fn_a).median_ms, time(fn_b).median_ms
        b2, a2 = time(fn_b).median_ms, time(fn_a).median_ms
        a_times += [a1, a2]
        b_times += [b1, b2]
        ratios.append((a1 + a2) / (b1 + b2))
    return Timing.of(a_times), Timing.of(b_times), statistics.median(ratios)


# CPU samples taken whatever the time budget: fewer would give no spread worth the name.
MIN_CPU_SAMPLES = 5


def cpu_time(fn: Callable[[], Any], *, min_run_time: float = 1.0) -> Timing:
    """torch.utils.benchmark's blocked autorange; each block's mean is one sample, and
    there are at least ``MIN_CPU_SAMPLES``.

    Blocked autorange stops once ``min_run_time`` is spent, so a call longer than a fifth
    of it gives fewer than five samples (one, when a call is longer than all of it). Then
    it runs again with the time the missing samples take at the rate just measured, until
    there are enough: each extra round costs one warm-up call, not a full budget.
    It runs on torch's thread count (the one the environment records): the Timer's own
    default is a single thread, which would time a different machine.
    """
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    samples_s: list[float] = []
    budget_s = min_run_time
    while True:
        measurement = timer.blocked_autorange(min_run_time=budget_s)
        samples_s += measurement.times
        missing = MIN_CPU_SAMPLES - len(samples_s)
        if missing <= 0:
            return Timing.of([t * 1e3 for t in samples_s])
        budget_s = missing * measurement.number_per_run * measurement.median


@dataclass(frozen=True)
class EagerOps:
    """What the host does for one eager forward: ATen operators dispatched and module calls.

    At small batches a GPU waits on the host, which launches roughly a kernel per
    operator, so two layouts with the same counts cost the same in eager mode.
    """

    aten_ops: int
    module_calls: int


def eager_ops(model: nn.Module, input_shape: InputShape, *, batch: int = 1) -> EagerOps:
    """Count on the meta device (no kernels run, any size costs the same); fp32, eval.

    The operators are the analytic pass's records (one per ATen call). ``model`` must
    already live on the meta device (``with torch.device("meta"): build()``), so that
    counting never moves or copies a caller's weights.
    """
    if any(t.device.type != "meta" for t in [*model.parameters(), *model.buffers()]):
        raise ValueError("eager_ops counts a model built on the meta device")
    calls = 0

    def _called(*_: Any) -> None:
        nonlocal calls
        calls += 1

    with ExitStack() as hooks:
        for module in model.modules():
            hooks.callback(module.register_forward_pre_hook(_called).remove)
        analysis = analyze_module(model, input_shape, batch=batch)
    return EagerOps(len(analysis.records), calls)


@dataclass(frozen=True)
class Peak:
    """A device's measured dense TFLOP/s in one dtype, or None and the reason (``note``)."""

    tflops: float | None
    note: str | None = None


# Square matmul sides for the peak: large enough to saturate the device's matmul units;
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


@dataclass(frozen=True)
class LatencyRecord:
    variant: str
    input_shape: str
    batch: int
    dtype: str
    mode: str
    layout: str
    status: str
    median_ms: float | None
    p10_ms: float | None
    p90_ms: float | None
    iqr_ms: float | None
    repetitions: int | None
    images_per_s: float | None
    tflops: float | None
    peak_tflops: float | None
    peak_share_pct: float | None
    peak_memory_mib: float | None
    device_name: str
    torch: str
    cuda: str | None
    cudnn: int | None
    date: str
    # Why peak_share_pct is empty though the row ran (no peak, or a share above 100%).
    peak_note: str | None = None
    # Timed once: median_ms is that one time, and p10/p90/IQR are empty.
    single_sample: bool = False

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _device_model(variant: Variant, device: str, channels_last: bool) -> nn.Module:
    """Real weights on the device, small and finite (the values do not change the time)."""
    model = meta_model(variant).to_empty(device=device).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def forward_callable(
    model: nn.Module, x: torch.Tensor, mode: str, dtype: str, device: str
) -> Callable[[], Any]:
    """The thing that is timed: one forward pass, as eager, CUDA graph or compiled code."""
    if mode == "eager":

        def forward() -> Any:
            with torch.no_grad(), precision(dtype, device):
                return model(x)

        return forward
    if mode == "compile":
        compiled = torch.compile(model)

        def forward_compiled() -> Any:
            with torch.no_grad(), precision(dtype, device):
                return compiled(x)

        return forward_compiled
    if mode == "graph":
        if device != "cuda":
            raise _Skip("CUDA graphs need a GPU")
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.no_grad(), precision(dtype, device):
            for _ in range(3):
                model(x)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad(), precision(dtype, device):
            model(x)
        return graph.replay
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


# dtypes measured on the GPU only: TF32 is a tensor-core mode, fp16 autocast a GPU one.
CPU_SKIPPED_DTYPES = ("tf32", "fp16")

# How the CPU allocator words a failed allocation: torch raises it as a plain RuntimeError
# ("[enforce fail at alloc_cpu.cpp:…] … DefaultCPUAllocator: can't allocate memory: …";
# "not enough memory" on Windows and Android), not as torch.OutOfMemoryError.
_CPU_OUT_OF_MEMORY = (
    "DefaultCPUAllocator: can't allocate memory",
    "DefaultCPUAllocator: not enough memory",
)


def _out_of_memory(exc: BaseException) -> bool:
    """A configuration that did not fit, on the GPU or the CPU."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and any(text in str(exc) for text in _CPU_OUT_OF_MEMORY)
    )


class _Skip(Exception):
    """A configuration that does not apply here; its message is the record's status."""


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
    base = dict(
        variant=variant.name,
        input_shape="x".join(map(str, input_shape)),
        batch=batch,
        dtype=dtype,
        mode=mode,
        layout="channels_last" if channels_last else "contiguous",
        **env,
    )
    empty = dict.fromkeys(
        (
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
    )
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
    except _Skip as skip:
        return LatencyRecord(**base, status=f"skipped: {skip}", peak_tflops=peak.tflops, **empty)
    except Exception as exc:  # one failing configuration is a row, the sweep goes on
        _release(device)
        status = "out of memory" if _out_of_memory(exc) else f"error: {error_line(exc)}"[:200]
        return LatencyRecord(**base, status=status, peak_tflops=peak.tflops, **empty)
    finally:
        # Drop the model, its graph and its input before the next configuration.
        fn = model = x = None
        _release(device)
    seconds = timing.median_ms * 1e-3
    tflops = 2 * macs * batch / seconds / 1e12 if macs is not None else None
    share = 100 * tflops / peak.tflops if peak.tflops and tflops is not None else None
    peak_note = peak.note
    if share is not None and share > 100:
        peak_note = (
            f"no share: {share:.0f}% of the {dtype} peak measured, whose probe kernels ran "
            "slower than this network's, so that peak understates the device"
        )
        share = None
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


def _release(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


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
    records = []
    total = len(variants) * len(batches) * len(dtypes) * len(modes)
    for variant in variants:
        for batch in batches:
            for dtype in dtypes:
                for mode in modes:
                    if progress:
                        step = f"[{len(records) + 1}/{total}]"
                        progress(f"{step} {variant.name} batch {batch} {dtype} {mode}")
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
