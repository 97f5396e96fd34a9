"""The timers behind the latency sweep: the CUDA-event timer, the CPU's blocked autorange,
the paired A/B timer, the precision each dtype runs under, and the environment a record
names (device, torch, CUDA, date).
"""

from __future__ import annotations

import datetime as _dt
import gc
import platform
import statistics
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from incprof.analysis.analytic import analyze_module
from incprof.errors import InputError
from incprof.registry import InputShape
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
