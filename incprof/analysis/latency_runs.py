"""What the latency sweep runs and records: a configuration's model on the device, the
forward pass that is timed (eager, CUDA graph, compiled), the record a configuration
becomes, and how a failure that is out of memory is told from one that is not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from incprof.analysis.latency_timing import precision
from incprof.analysis.trace import meta_model
from incprof.registry import Variant
from incprof.run_settings import MODES


@dataclass(frozen=True)
class Peak:
    """A device's measured dense TFLOP/s in one dtype, or None and the reason (``note``)."""

    tflops: float | None
    note: str | None = None


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


def _release(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
