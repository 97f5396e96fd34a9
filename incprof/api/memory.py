"""``incprof memory`` records: the analytic inference and training-step peaks, whole
network and per module; apart because the step memory has its own skip rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from incprof.api.records import Progress, analysis
from incprof.errors import InputError
from incprof.registry import InputShape
from incprof.sources import resolve

if TYPE_CHECKING:
    from incprof.analysis.memory import MemoryAnalysis


def memory_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtypes: Sequence[str] = ("fp32",),
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per (variant, dtype): the eval forward's activation peak and where it
    occurs, input, parameter and buffer bytes, bytes moved and arithmetic intensity (see
    :meth:`~incprof.analysis.memory.MemoryAnalysis.summary`), and beside them the
    training step's ``backward_macs`` and ``train_macs`` at this batch."""
    records = []
    variants = [resolve(name, input_shape) for name in names]  # a bad name fails first
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(variants)}] {variant.name}")
        step = analysis("backward", variant, input_shape, batch=batch)
        for dtype in dtypes:
            figures = analysis("memory", variant, input_shape, batch=batch, dtype=dtype)
            records.append(
                {
                    **figures.summary(),
                    "backward_macs": step.backward_macs,
                    "train_macs": step.train_macs,
                }
            )
    return records


# The ``module`` of the row that sums a network in ``incprof memory --depth``.
TOTAL_ROW = "(total)"


def memory_module_records(
    name: str,
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtypes: Sequence[str] = ("fp32",),
    depth: int | None = 2,
) -> tuple[list[MemoryAnalysis], list[dict[str, Any]]]:
    """Per dtype, one variant's modules (at most ``depth`` deep), each with its subtree's
    bytes, FLOPs, intensity and the most live activation bytes while it ran, then a
    ``(total)`` row for the network (its live peak is the activation peak)."""
    variant = resolve(name, input_shape)
    analyses = []
    rows = []
    for dtype in dtypes:
        figures = analysis("memory", variant, input_shape, batch=batch, dtype=dtype)
        analyses.append(figures)
        rows += [{"dtype": dtype, **row} for row in figures.by_module(depth)]
        rows.append(
            {
                "dtype": dtype,
                "module": TOTAL_ROW,
                "type": "",
                "bytes_read": figures.bytes_read,
                "bytes_written": figures.bytes_written,
                "bytes_moved": figures.bytes_moved,
                "flops": figures.flops,
                "arithmetic_intensity": figures.arithmetic_intensity,
                "live_peak_bytes": figures.activation_peak_bytes,
            }
        )
    return analyses, rows


# What torch raises when batch norm in train mode sees one value per channel.
_ONE_VALUE_PER_CHANNEL = "more than 1 value per channel"


def step_memory_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtypes: Sequence[str] = ("fp32",),
    optimizers: Sequence[str] = ("sgd",),
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per (variant, dtype, optimizer): what a training step holds, by kind
    (see :meth:`~incprof.analysis.training.StepMemory.summary`), with ``status`` "ok".
    A step that cannot run (batch norm on a 1×1 map at batch 1) is a row whose ``status``
    says why and what to change, its figures None; an eval forward that cannot run is
    an :class:`InputError`, as everywhere."""
    from incprof.columns import STEP_MEMORY_COLUMNS

    records = []
    variants = [resolve(name, input_shape) for name in names]
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(variants)}] {variant.name}: training step")
        step = analysis("backward", variant, input_shape, batch=batch)
        macs = {"backward_macs": step.backward_macs, "train_macs": step.train_macs}
        configs = [(dtype, optimizer) for dtype in dtypes for optimizer in optimizers]
        try:
            held = [
                analysis(
                    "step_memory", variant, input_shape, batch=batch, dtype=d, optimizer=o
                ).summary()
                for d, o in configs
            ]
            records += [
                {**dict.fromkeys(STEP_MEMORY_COLUMNS), **h, "status": "ok", **macs} for h in held
            ]
        except InputError as exc:
            shape = "x".join(map(str, input_shape or variant.input_for()))
            status = _step_skipped(str(exc))
            records += [
                {
                    **dict.fromkeys(STEP_MEMORY_COLUMNS),
                    "variant": variant.name,
                    "input_shape": shape,
                    "batch": batch,
                    "dtype": dtype,
                    "optimizer": optimizer,
                    "status": status,
                }
                for dtype, optimizer in configs
            ]
    return records


def _step_skipped(reason: str) -> str:
    """A skipped step's status: what to change first where that is known, then why."""
    if _ONE_VALUE_PER_CHANNEL in reason:
        return f"skipped: batch norm in train mode needs a batch of 2 or more here ({reason})"
    return f"skipped: {reason}"
