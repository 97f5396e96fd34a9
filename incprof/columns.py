"""The columns of each table the commands print, in the order they show them: one list per
table, read by the record functions, the command line, the report pages and the tests.

Tables only the report pages show keep their lists in :mod:`incprof.report.markdown`.
Torch-free, so that the command line can check ``--sort`` before loading anything heavy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# incprof list: what each entry is (json and csv give every key, accuracy included).
LIST_COLUMNS = ("variant", "family", "tag", "input_shape", "reproduces")

# What compare and factorize add of memory and traffic: batch 1, fp32, the eval forward as
# traced; train_macs = forward + backward MACs (compare only).
MEMORY_COMPARE_KEYS = (
    "activation_peak_bytes_fp32",
    "bytes_moved_fp32",
    "arithmetic_intensity_fp32",
    "train_macs",
)

# incprof compare, and the report's family overview: always, per measured counter, with
# latency columns, and with a reference variant (--baseline); the notes last.
COMPARE_KEYS = (
    "variant",
    "input_shape",
    "params",
    "params_with_aux",
    "macs",
    "flops",
    "other_ops",
    *MEMORY_COMPARE_KEYS,
    "rf_size",
    "rf_stride",
    "rf_aligned",
    "rf_note",
)
ACCURACY_KEYS = ("top1", "top5")
LATENCY_KEYS = ("latency_ms", "latency_p10_ms", "latency_p90_ms", "images_per_s", "latency_config")
# compare --predict and factorize --predict: the predicted forward time on a device
# profile (incprof.analysis.predict) and the bound it sits on; the profile's source line
# and the configuration (batch, dtype, mode) ride along in every record, and tables name
# them in a line under the table.
PREDICTED_KEYS = ("predicted_ms", "predicted_bound")
PREDICTED_NOTES = ("predicted_profile", "predicted_config")
# The metrics a compare record holds as a ratio to the reference variant's.
RATIO_METRICS = ("params", "macs", "latency_ms", "predicted_ms")
# source_note: what a graph read from a file (ONNX) differs by from its PyTorch module.
COMPARE_NOTES = ("unknown_ops", "counter_errors", "accuracy_source", "source_note")
# Facts a table prints under itself rather than in a column (JSON and CSV carry them):
# where branches meet misaligned, why the saved latency of a row is blank.
COMPARE_FOOTNOTES = ("alignment_note",)
LATENCY_FOOTNOTES = ("latency_note",)
# Compare columns a table shows only when some row has something in them.
COMPARE_SPARSE = (
    "rf_note",
    "latency_ms_vs_baseline",
    "unknown_ops",
    "counter_errors",
    "accuracy_source",
    "source_note",
)


def macs_key(counter: str) -> str:
    """The record key of a counter's MACs: snake_case, as every JSON key (macs_torch_cpu)."""
    return f"macs_{counter.replace('-', '_')}"


def compare_keys(
    counters: Sequence[str] = (),
    *,
    latency: bool = False,
    baseline: bool = False,
    predicted: bool = False,
) -> list[str]:
    """Every key a compare record can hold with these options, in column order."""
    keys = [*COMPARE_KEYS, *(macs_key(c) for c in counters), *ACCURACY_KEYS]
    if latency:
        keys += LATENCY_KEYS
    if predicted:
        keys += PREDICTED_KEYS
    if baseline:
        keys += [
            f"{metric}_vs_baseline"
            for metric in RATIO_METRICS
            if predicted or metric != "predicted_ms"
        ]
    notes = [k for k in COMPARE_NOTES if counters or k != "counter_errors"]
    notes += [*COMPARE_FOOTNOTES, *(LATENCY_FOOTNOTES if latency else ())]
    return keys + notes + (list(PREDICTED_NOTES) if predicted else [])


def compare_columns(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """The compare table's columns: ``keys``, less the footnotes (printed under it) and
    the sparse ones no record fills."""
    footnotes = {*COMPARE_FOOTNOTES, *LATENCY_FOOTNOTES}
    return [
        k
        for k in keys
        if k not in footnotes and (k not in COMPARE_SPARSE or any(r.get(k) for r in records))
    ]


# incprof counters (the report's per-network tables leave out the variant).
COUNTER_COLUMNS = ("variant", "counter", "macs", "delta_vs_analytic_pct", "explanation")

# incprof latency; a caveat column joins only when some row has one.
LATENCY_COLUMNS = (
    "variant",
    "batch",
    "dtype",
    "mode",
    "layout",
    "status",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "images_per_s",
    "tflops",
    "peak_share_pct",
    "peak_memory_mib",
)
LATENCY_CAVEATS = ("single_sample", "peak_note")

# incprof factorize (json and csv give every key, the paper's claim text included).
FACTORIZE_COLUMNS = (
    "family",
    "variant",
    "input_shape",
    "output_shape",
    "params",
    "macs",
    "saving_pct",
    "bytes_moved_fp32",
    "activation_peak_bytes_fp32",
    "arithmetic_intensity_fp32",
    "paper_saving_pct",
    "agrees",
    "rf_size",
    "rf_aligned",
    "note",
)

# incprof factorize --predict: beside the MAC saving, the predicted time and its saving
# against the family's reference variant (the profile and configuration in the notes).
FACTORIZE_PREDICTED_KEYS = ("predicted_ms", "predicted_saving_pct", "predicted_bound")


def factorize_columns(*, predicted: bool = False) -> list[str]:
    """The factorize table's columns: the predicted ones right after the MAC saving."""
    columns = list(FACTORIZE_COLUMNS)
    if predicted:
        at = columns.index("saving_pct") + 1
        columns[at:at] = FACTORIZE_PREDICTED_KEYS
    return columns


# incprof predict: one row per (variant, batch, dtype, mode), the profile's source beside
# it (tables name it under the table); with --depth, one row per module and a total.
PREDICT_COLUMNS = (
    "variant",
    "input_shape",
    "batch",
    "dtype",
    "mode",
    "device",
    "predicted_ms",
    "kernels",
    "compute_pct",
    "memory_pct",
    "launch_pct",
    "bound",
    "peak_tflops",
    "bandwidth_gbs",
)
PREDICT_MODULE_COLUMNS = (
    "variant",
    "batch",
    "dtype",
    "mode",
    "module",
    "type",
    "predicted_ms",
    "compute_ms",
    "memory_ms",
    "launch_ms",
    "bound",
    "bound_ratio",
)

# incprof check: the rows that changed, each with its change worded.
# incprof claim: the conventions that hold (or the nearest), and the nearest by category
# (json and csv give every key of every convention tried, what each counts included).
CLAIM_COLUMNS = (
    "tool",
    "unit",
    "input_shape",
    "aux_heads",
    "phase",
    "bn_folded",
    "figure",
    "deviation_pct",
    "holds",
)
CLAIM_REMAINDER_COLUMNS = ("category", "counted", "all", "not_counted")

CHECK_COLUMNS = ("variant", "config", "metric", "baseline", "now", "change", "status", "reason")

# incprof memory: the eval forward per (variant, dtype), the training step's MACs beside it.
MEMORY_COLUMNS = (
    "variant",
    "input_shape",
    "batch",
    "dtype",
    "activation_peak_bytes",
    "peak_module",
    "peak_operator",
    "input_bytes",
    "parameter_bytes",
    "buffer_bytes",
    "bytes_read",
    "bytes_written",
    "bytes_moved",
    "flops",
    "arithmetic_intensity",
    "backward_macs",
    "train_macs",
)
# incprof memory --depth N: per module, then the network's total.
MEMORY_MODULE_COLUMNS = (
    "dtype",
    "module",
    "type",
    "bytes_read",
    "bytes_written",
    "bytes_moved",
    "flops",
    "arithmetic_intensity",
    "live_peak_bytes",
)
# incprof memory --train: a training step per (variant, dtype, optimizer), by kind; status
# says why a row is empty.
STEP_MEMORY_COLUMNS = (
    "variant",
    "input_shape",
    "batch",
    "dtype",
    "optimizer",
    "status",
    "parameter_bytes",
    "buffer_bytes",
    "input_bytes",
    "gradient_bytes",
    "optimizer_state_bytes",
    "saved_bytes",
    "forward_peak_bytes",
    "step_peak_bytes",
    "step_peak_phase",
    "step_peak_module",
    "step_peak_operator",
    "total_peak_bytes",
    "backward_macs",
    "train_macs",
)
# incprof memory --measured: the real pass's peaks (incprof.analysis.measured_memory).
MEASURED_MEMORY_KEYS = (
    "measured_tracker_peak_bytes",
    "measured_profiler_peak_bytes",
    "measured_memtracker_peak_bytes",
    "measured_cuda_peak_bytes",
    "measured_notes",
)

# A table's byte units, largest first: a column takes the largest its values reach.
BYTE_UNITS = (("MiB", 2**20), ("KiB", 2**10))


def is_bytes_key(key: str) -> bool:
    """Whether a record key holds a byte count (a 'bytes' word: bytes_moved, input_bytes)."""
    return "bytes" in key.split("_")


def unit_header(key: str, unit: str) -> str:
    """The table header of a byte key in ``unit`` (bytes_moved_fp32 -> mib_moved_fp32), or
    of an intensity (arithmetic_intensity_fp32 -> flop_per_byte_fp32)."""
    if key.startswith("arithmetic_intensity"):
        return "flop_per_byte" + key.removeprefix("arithmetic_intensity")
    return "_".join(unit.lower() if word == "bytes" else word for word in key.split("_"))


def column_unit(values: Sequence[Any]) -> str:
    """KiB, or MiB once some value of the column reaches 1 MiB: one unit per column."""
    largest = max((abs(v) for v in values if isinstance(v, int | float)), default=0)
    return next((name for name, size in BYTE_UNITS if largest >= size), BYTE_UNITS[-1][0])


def in_units(
    records: Sequence[Mapping[str, Any]], columns: Sequence[str], *, unit: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The table view of ``records``: each byte column in one unit (``unit``, else the
    column's own by :func:`column_unit`), its header naming it; intensity headed as FLOP
    per byte. For console and Markdown tables only: JSON and CSV keep exact integer bytes."""
    sizes = dict(BYTE_UNITS)
    headers: dict[str, str] = {}
    factors: dict[str, int] = {}
    for key in columns:
        if is_bytes_key(key):
            chosen = unit or column_unit([r.get(key) for r in records])
            headers[key], factors[key] = unit_header(key, chosen), sizes[chosen]
        elif key.startswith("arithmetic_intensity"):
            headers[key] = unit_header(key, "")
    shown = [
        {
            headers.get(key, key): (
                value / factors[key]
                if key in factors and isinstance(value := r.get(key), int | float)
                else r.get(key)
            )
            for key in columns
        }
        for r in records
    ]
    return shown, [headers.get(key, key) for key in columns]


def bytes_text(nbytes: int) -> str:
    """'5.36 MiB (5,619,712 bytes)': a byte count in a sentence, exact beside readable."""
    unit = column_unit([nbytes])
    return f"{nbytes / dict(BYTE_UNITS)[unit]:,.2f} {unit} ({nbytes:,} bytes)"


# Keys every analyzer's summary() repeats: ``incprof analyze`` and the report's analyzers
# page name the model once, above or across, and leave these out of each record.
MODEL_KEYS = ("variant", "input_shape")
