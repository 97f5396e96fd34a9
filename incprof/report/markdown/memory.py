"""The memory page: the forward's live memory and bytes moved, and a training step's
memory by kind, per network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from incprof.report.markdown.common import Record, _image, _page, _table

MEMORY_COLUMNS = (
    "variant",
    "input_shape",
    "activation_peak_bytes_fp32",
    "peak_module",
    "peak_operator",
    "bytes_moved_fp32",
    "arithmetic_intensity_fp32",
    "train_macs",
    "step_total_peak_bytes_sgd",
    "step_total_peak_bytes_adam",
)
LIVE_COLUMNS = ("module", "operator", "shape", "bytes", "mib")
STEP_COLUMNS = ("kind", "bytes", "mib", "holds")
MIB = 2**20
OPTIMIZER_NAMES = {"sgd": "SGD with momentum", "adam": "Adam"}


def _with_mib(rows: Sequence[Record]) -> list[dict[str, Any]]:
    return [{**r, "mib": round(r["bytes"] / MIB, 2)} for r in rows]


MEMORY_INTRO = (
    "Exact figures from the meta-device trace of each network's eval forward at its "
    "default input, batch 1, fp32 (no data, no GPU). `activation_peak_bytes_fp32` is "
    "the largest sum of live activation storages during the forward, with lifetimes as "
    "eager PyTorch frees them (views and in-place ops share their storage); the input, "
    "parameters and buffers are not in it and are given apart. An eval max pool's int64 "
    "indices count: the CPU and CUDA kernels allocate them too, and drop them when the "
    "pool returns. `bytes_moved_fp32` follows the unfused eager convention: "
    "each ATen op reads its inputs (weights included) from memory and writes its "
    "outputs; views move nothing; an in-place op reads and writes its tensor once. "
    "`arithmetic_intensity_fp32` = FLOPs (2 × MACs) / bytes moved. `train_macs` = "
    "forward + backward MACs of a training step (closed form: a convolution or linear "
    "layer costs its forward MACs again for its input's gradient, unless the input "
    "needs none, and again for its weight's)."
)


def _step_text(step_batch: int, optimizer: str) -> str:
    """What the training step's columns hold, at its batch and for its optimizer."""
    return (
        f"The training step (forward in train mode, aux heads included where the network "
        f"runs them, then backward) is priced at batch {step_batch}, fp32. "
        "`step_total_peak_bytes_sgd` and `step_total_peak_bytes_adam` are everything held "
        "at the step's worst moment: parameters, buffers, the optimizer's state (SGD with "
        "momentum: one buffer per parameter; Adam: two, and a float32 step each), the input, "
        "and the live activations and gradients. Each network's table breaks the step "
        f"down by kind for {optimizer}."
    )


def _network_section(section: Record, *, step_batch: int, optimizer: str) -> list[str]:
    """One network's part of the page: its plot, its peak, what is alive there and its
    training step by kind (or why the step is not priced)."""
    name = section["variant"]
    peak = (
        f"Peak: {section['peak_bytes']:,} bytes ({section['peak_bytes'] / MIB:.2f} MiB) "
        f"of live activations at `{section['peak_at']}`, op {section['peak_op']} of "
        f"{section['ops']}; apart from it the input holds {section['input_bytes']:,} "
        f"bytes, the parameters {section['parameter_bytes']:,} and the buffers "
        f"{section['buffer_bytes']:,}."
    )
    shown, alive = len(section["at_peak"]), section["alive_at_peak"]
    live = (
        f"The {shown} largest of the {alive} tensors alive at the peak"
        if shown < alive
        else f"The {alive} tensors alive at the peak"
    ) + ", with the module and operator that made each (largest first):"
    return [
        f"## {name}",
        _image(f"{name}: live activation memory over the forward", section["plot"]),
        peak,
        live,
        _table(_with_mib(section["at_peak"]), LIVE_COLUMNS),
        f"### Training step: batch {step_batch}, fp32, {optimizer}",
        _table(_with_mib(section["step"]), STEP_COLUMNS)
        if section["step"]
        else f"Not priced: {section['step_note']}",
    ]


def memory_page(
    summaries: Sequence[Record],
    sections: Sequence[Record],
    *,
    step_batch: int,
    step_optimizer: str,
) -> str:
    """Memory and bytes moved of each network: one summary table, then per network its
    live-memory plot, what is alive at the peak and a training step's memory by kind.

    ``sections`` hold per network: ``variant``, ``plot``, ``peak_op``, ``ops``,
    ``peak_bytes``, ``peak_at``, ``input_bytes``, ``parameter_bytes``, ``buffer_bytes``,
    ``at_peak`` (rows), ``alive_at_peak``, ``step`` (rows by kind) and ``step_note``.
    """
    optimizer = OPTIMIZER_NAMES.get(step_optimizer, step_optimizer)
    columns = list(MEMORY_COLUMNS)
    if any(r.get("step_note") for r in summaries):
        columns.append("step_note")
    parts = [MEMORY_INTRO, _table(summaries, columns), _step_text(step_batch, optimizer)]
    for section in sections:
        parts += _network_section(section, step_batch=step_batch, optimizer=optimizer)
    return _page("Memory and bytes moved", *parts)
