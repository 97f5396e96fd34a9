"""Plots for the Markdown reports: each function takes records and a path, writes one PNG.

The PNGs are committed, so a rebuild must give the same bytes: fixed figure size, dpi and
font (DejaVu Sans, which ships with matplotlib), no dates, and no "Software" text chunk
(the only metadata matplotlib would write). matplotlib is imported inside the functions,
so importing incprof does not pay for it.
"""

from incprof.report.plots.costs import accuracy_plot, memory_plot, rf_plot
from incprof.report.plots.timing import latency_plot, parity_plot, predicted_scatter, roofline_plot

__all__ = [
    "accuracy_plot",
    "latency_plot",
    "memory_plot",
    "parity_plot",
    "predicted_scatter",
    "rf_plot",
    "roofline_plot",
]
