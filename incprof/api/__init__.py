"""What each command computes, as plain functions returning flat records.

The CLI is a thin layer over these; scripts and notebooks can call them directly. The
submodules split them by concern; every name is re-exported here.
"""

from incprof.api.claims import (
    claim_check,
    claim_figures,
)
from incprof.api.measured import (
    MeasureMemory,
    counter_records,
    join_latency,
    join_measured_memory,
    latency_records,
)
from incprof.api.memory import (
    TOTAL_ROW,
    memory_module_records,
    memory_records,
    step_memory_records,
)
from incprof.api.prediction import (
    DEFAULT_PROFILE,
    add_factorize_predictions,
    add_predictions,
    default_dtype,
    device_profile,
    predict_records,
    predict_variant,
)
from incprof.api.records import (
    MAIN_FAMILY,
    NeedsRealData,
    Progress,
    add_baseline_ratios,
    analysis,
    analyze_variant,
    analyzer_figures,
    compare_records,
    list_records,
    memory_figures,
    rf_analysis,
    rf_records,
    show_records,
    sort_records,
    source_note,
)

__all__ = [
    "DEFAULT_PROFILE",
    "MAIN_FAMILY",
    "TOTAL_ROW",
    "MeasureMemory",
    "NeedsRealData",
    "Progress",
    "add_baseline_ratios",
    "add_factorize_predictions",
    "add_predictions",
    "analysis",
    "analyze_variant",
    "analyzer_figures",
    "claim_check",
    "claim_figures",
    "compare_records",
    "counter_records",
    "default_dtype",
    "device_profile",
    "join_latency",
    "join_measured_memory",
    "latency_records",
    "list_records",
    "memory_figures",
    "memory_module_records",
    "memory_records",
    "predict_records",
    "predict_variant",
    "rf_analysis",
    "rf_records",
    "show_records",
    "sort_records",
    "source_note",
    "step_memory_records",
]
