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
    "rf_size",
    "rf_stride",
    "rf_aligned",
    "rf_note",
)
ACCURACY_KEYS = ("top1", "top5")
LATENCY_KEYS = ("latency_ms", "latency_p10_ms", "latency_p90_ms", "images_per_s", "latency_config")
# The metrics a compare record holds as a ratio to the reference variant's.
RATIO_METRICS = ("params", "macs", "latency_ms")
COMPARE_NOTES = ("unknown_ops", "counter_errors", "accuracy_source")
# Compare columns a table shows only when some row has something in them.
COMPARE_SPARSE = (
    "rf_note",
    "latency_ms_vs_baseline",
    "unknown_ops",
    "counter_errors",
    "accuracy_source",
)


def macs_key(counter: str) -> str:
    """The record key of a counter's MACs: snake_case, as every JSON key (macs_torch_cpu)."""
    return f"macs_{counter.replace('-', '_')}"


def compare_keys(
    counters: Sequence[str] = (), *, latency: bool = False, baseline: bool = False
) -> list[str]:
    """Every key a compare record can hold with these options, in column order."""
    keys = [*COMPARE_KEYS, *(macs_key(c) for c in counters), *ACCURACY_KEYS]
    if latency:
        keys += LATENCY_KEYS
    if baseline:
        keys += [f"{metric}_vs_baseline" for metric in RATIO_METRICS]
    notes = [k for k in COMPARE_NOTES if counters or k != "counter_errors"]
    return keys + notes


def compare_columns(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """The compare table's columns: ``keys``, less the sparse ones no record fills."""
    return [k for k in keys if k not in COMPARE_SPARSE or any(r.get(k) for r in records)]


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
    "paper_saving_pct",
    "agrees",
    "rf_size",
    "rf_aligned",
    "note",
)

# incprof check: the rows that changed, each with its change worded.
CHECK_COLUMNS = ("variant", "config", "metric", "baseline", "now", "change", "status", "reason")
