"""What every plot shares: the fixed style, a figure outside pyplot, the save without
metadata, and the axes and colours several plots draw alike."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


Record = Mapping[str, Any]

DPI = 120
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _style() -> Any:
    """The fixed style; every plot draws and saves inside it."""
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib.rc_context(STYLE)


def _figure(width: float, height: float) -> Figure:
    """A figure outside pyplot's global state (nothing to close, nothing shared)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _plain_log_y(ax: Any) -> None:
    """A log y axis labelled 1, 2, 5, 10, 20, 50 rather than 2×10⁰."""
    import math

    from matplotlib.ticker import FuncFormatter

    def label(value: float, _: Any) -> str:
        mantissa = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0.0
        return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5)) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.yaxis.set_minor_formatter(FuncFormatter(label))


def _suptitle(fig: Figure, title: str) -> None:
    """A figure title wrapped to the figure's width (about 11 characters an inch at the
    title's size), so that a long device name is not cut off on a one-panel figure."""
    fig.suptitle(textwrap.fill(title, width=int(fig.get_figwidth() * 11)))


def _panel_row(count: int, panel_width: float) -> tuple[Figure, Any]:
    """A figure of ``count`` side-by-side panels sharing the y axis (one when empty)."""
    fig = _figure(panel_width * max(1, count) + 1.0, 4.4)
    return fig, fig.subplots(1, max(1, count), sharey=True, squeeze=False)[0]


def _batch_axis(ax: Any, batches: Sequence[int]) -> None:
    """Batch sizes on a log₂ x axis, each measured batch labelled."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.minorticks_off()
    ax.set_xlabel("batch (images)")


def _colors(names: Sequence[str]) -> dict[str, Any]:
    """One colour per name, the same in every panel of a figure."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    return {name: palette(i % 10) for i, name in enumerate(names)}
