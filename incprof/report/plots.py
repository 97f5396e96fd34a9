"""Plots for the Markdown reports: each function takes records and a path, writes one PNG.

The PNGs are committed, so a rebuild must give the same bytes: fixed figure size, dpi and
font (DejaVu Sans, which ships with matplotlib), no dates, and no "Software" text chunk
(the only metadata matplotlib would write). matplotlib is imported inside the functions,
so importing incprof does not pay for it.
"""

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
# Plotted order of the latency panels, so every build lays them out alike.
DTYPE_ORDER = ("fp32", "tf32", "bf16", "fp16")


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


COSTS = {
    "macs": (1e9, "GMACs per image (multiply-accumulates, batch 1, default input)", "compute"),
    "params": (1e6, "parameters (millions, eval path, aux heads excluded)", "parameters"),
}


def accuracy_plot(records: Sequence[Record], path: Path, *, cost: str) -> None:
    """Published top-1 against ``cost`` ('macs' or 'params'), one labelled point per
    network; networks without a published top-1 are named in a corner of the axes."""
    scale, label, what = COSTS[cost]
    shown = [r for r in records if r.get("top1") is not None]
    missing = [r["variant"] for r in records if r.get("top1") is None]
    with _style():
        fig = _figure(7.0, 4.6)
        ax = fig.add_subplot()
        colors = _colors([r["variant"] for r in records])
        for i, record in enumerate(sorted(shown, key=lambda r: r[cost])):
            x, y = record[cost] / scale, record["top1"]
            ax.scatter([x], [y], s=36, color=colors[record["variant"]], zorder=3)
            # Alternate labels above and below, so neighbours of similar cost stay legible.
            above = i % 2 == 0
            ax.annotate(
                f"{record['variant']} ({x:.1f}, {y:.1f}%)",
                (x, y),
                xytext=(6, 6 if above else -12),
                textcoords="offset points",
                fontsize=8,
            )
        if shown:
            top1 = [r["top1"] for r in shown]
            ax.set_ylim(min(top1) - 2, max(top1) + 2)
            largest = max(r[cost] for r in shown) / scale
            ax.set_xlim(0, largest * 1.35)
        ax.set_xlabel(label)
        ax.set_ylabel("published ImageNet top-1 (%)")
        ax.set_title(f"Published top-1 against {what}")
        if missing:
            ax.text(
                0.99,
                0.02,
                f"no published top-1, not shown: {', '.join(missing)}",
                transform=ax.transAxes,
                fontsize=8,
                ha="right",
                va="bottom",
            )
        _save(fig, path)


def rf_plot(
    rows: Sequence[Record], path: Path, *, network: str, input_size: int | None = None
) -> None:
    """Receptive field size (left axis) and effective stride (right axis, log₂) at each
    end point, in forward order, with the input size drawn for reference."""
    names = [str(r["endpoint"]) for r in rows]
    index = list(range(len(rows)))
    with _style():
        fig = _figure(max(6.5, 2.5 + 0.42 * len(rows)), 4.6)
        ax = fig.add_subplot()
        size_line = ax.plot(
            index, [r["size"] for r in rows], marker="o", color="tab:blue", label="RF size (px)"
        )
        for i, row in enumerate(rows):
            ax.annotate(
                str(row["size"]),
                (i, row["size"]),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
        handles = list(size_line)
        if input_size:
            handles.append(
                ax.axhline(
                    input_size,
                    color="grey",
                    linestyle="--",
                    linewidth=1,
                    label=f"input size ({input_size} px)",
                )
            )
        largest = max([*(r["size"] for r in rows), input_size or 0], default=1)
        ax.set_ylim(0, largest * 1.12)  # room for the value labels
        ax.set_ylabel("receptive field size (input pixels)")
        ax.set_xlabel("end point (forward order)")
        ax.set_xticks(index, names, rotation=45, ha="right")
        strides = ax.twinx()
        strides.grid(False)
        handles += strides.step(
            index,
            [r["stride"] for r in rows],
            where="mid",
            marker="s",
            markersize=4,
            color="tab:orange",
            label="effective stride (px)",
        )
        strides.set_yscale("log", base=2)
        ticks = sorted({int(r["stride"]) for r in rows})
        strides.set_yticks(ticks, [str(t) for t in ticks])
        strides.minorticks_off()
        strides.set_ylabel("effective stride (input pixels, log₂)")
        ax.set_title(f"{network}: receptive field growth")
        ax.legend(handles=handles, loc="upper left")
        _save(fig, path)


LATENCY_METRICS = {
    "median_ms": ("median latency per batch (ms; bars: p10–p90)", True),
    "peak_share_pct": ("achieved TFLOP/s, % of the measured peak", False),
}


def latency_plot(rows: Sequence[Record], path: Path, *, mode: str, metric: str, title: str) -> None:
    """``metric`` ('median_ms' or 'peak_share_pct') against batch for one ``mode``: one
    panel per dtype, one line per network; rows that did not run are named under it."""
    ylabel, log_y = LATENCY_METRICS[metric]
    mine = [r for r in rows if r.get("mode") == mode]
    ok = [r for r in mine if r.get("status") == "ok" and r.get(metric) is not None]
    not_run = [
        f"{r['variant']} batch {r['batch']} {r['dtype']} ({r.get('status')})"
        for r in mine
        if r.get("status") != "ok"
    ]
    dtypes = [d for d in DTYPE_ORDER if any(r["dtype"] == d for r in ok)]
    dtypes += sorted({r["dtype"] for r in ok} - set(dtypes))
    variants = sorted({r["variant"] for r in ok})
    colors = _colors(variants)
    batches = sorted({int(r["batch"]) for r in ok})
    with _style():
        fig, axes = _panel_row(len(dtypes), 3.2)
        if not dtypes:
            axes[0].text(0.5, 0.5, f"no configuration ran in mode {mode}", ha="center")
        for ax, dtype in zip(axes[: len(dtypes)], dtypes, strict=True):
            for variant in variants:
                mine = sorted(
                    (r for r in ok if r["dtype"] == dtype and r["variant"] == variant),
                    key=lambda r: r["batch"],
                )
                if not mine:
                    continue
                x = [r["batch"] for r in mine]
                y = [r[metric] for r in mine]
                if metric == "median_ms" and all(r.get("p10_ms") is not None for r in mine):
                    spread = [
                        [r["median_ms"] - r["p10_ms"] for r in mine],
                        [r["p90_ms"] - r["median_ms"] for r in mine],
                    ]
                    ax.errorbar(
                        x,
                        y,
                        yerr=spread,
                        marker="o",
                        capsize=3,
                        color=colors[variant],
                        label=variant,
                    )
                else:
                    ax.plot(x, y, marker="o", color=colors[variant], label=variant)
            _batch_axis(ax, batches)
            if log_y:
                _plain_log_y(ax)
            ax.set_title(dtype)
        axes[0].set_ylabel(ylabel)
        if not log_y:
            axes[0].set_ylim(bottom=0)
        if variants:
            axes[-1].legend(loc="best")
        _suptitle(fig, title)
        if not_run:
            fig.supxlabel("not shown: " + "; ".join(not_run), fontsize=7)
        _save(fig, path)


def parity_plot(rows: Sequence[Record], path: Path, *, title: str) -> None:
    """Ours against the reference implementation: latency against batch, one panel per
    mode, one colour per network, solid for incprof's module and dashed for the reference."""
    measured = [r for r in rows if r.get("ours_ms") is not None]
    modes = sorted({r["mode"] for r in measured})
    variants = sorted({r["variant"] for r in measured})
    colors = _colors(variants)
    batches = sorted({int(r["batch"]) for r in measured})
    with _style():
        fig, axes = _panel_row(len(modes), 3.6)
        for ax, mode in zip(axes, modes, strict=False):
            for variant in variants:
                mine = sorted(
                    (r for r in measured if r["mode"] == mode and r["variant"] == variant),
                    key=lambda r: r["batch"],
                )
                x = [r["batch"] for r in mine]
                ax.plot(
                    x,
                    [r["ours_ms"] for r in mine],
                    marker="o",
                    color=colors[variant],
                    label=f"{variant} (incprof)",
                )
                reference = [r for r in mine if r.get("reference_ms") is not None]
                if reference:
                    ax.plot(
                        [r["batch"] for r in reference],
                        [r["reference_ms"] for r in reference],
                        marker="x",
                        linestyle="--",
                        color=colors[variant],
                        label=f"{reference[0]['reference']}",
                    )
            _batch_axis(ax, batches)
            _plain_log_y(ax)
            ax.set_title(f"mode {mode}")
        axes[0].set_ylabel("median latency per batch (ms)")
        if variants:
            axes[-1].legend(loc="upper left", fontsize=6)
        _suptitle(fig, title)
        _save(fig, path)


MIB = 2**20


def memory_plot(
    live_bytes: Sequence[int],
    path: Path,
    *,
    title: str,
    peak_op: int | None,
    peak_label: str,
    modules: Sequence[tuple[int, str]] = (),
) -> None:
    """Live activation memory (MiB) during each op of a forward, the peak marked and
    labelled (``peak_label``: its module); ``modules`` (first op, name) label the x axis
    where each top-level module starts."""
    index = list(range(len(live_bytes)))
    mib = [b / MIB for b in live_bytes]
    with _style():
        fig = _figure(9.0, 4.6)
        ax = fig.add_subplot()
        ax.fill_between(index, mib, step="mid", color="tab:blue", alpha=0.25, linewidth=0)
        ax.step(index, mib, where="mid", color="tab:blue", linewidth=1, label="live activations")
        if peak_op is not None:
            peak = mib[peak_op]
            ax.scatter([peak_op], [peak], s=36, color="tab:red", zorder=3, label="peak")
            # The label sits on the side of the peak with more room.
            right = peak_op < len(index) / 2
            ax.annotate(
                f"peak {peak:.2f} MiB at {peak_label}",
                (peak_op, peak),
                xytext=(8 if right else -8, 4),
                textcoords="offset points",
                ha="left" if right else "right",
                va="bottom",
                fontsize=8,
                color="tab:red",
            )
            ax.set_ylim(0, peak * 1.15)
        ax.set_xlim(0, max(1, len(index) - 1))
        ax.set_ylabel("live activation memory (MiB)")
        ax.set_xlabel("op of the forward, in order (ticks: where top-level modules start)")
        ticks = _spaced(modules, min_gap=len(index) / 60)
        if ticks:
            ax.set_xticks([first for first, _ in ticks], [name for _, name in ticks])
            ax.tick_params(axis="x", labelsize=7, labelrotation=60)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
        ax.set_title(title)
        ax.legend(loc="best")
        _save(fig, path)


def _spaced(ticks: Sequence[tuple[int, str]], *, min_gap: float) -> list[tuple[int, str]]:
    """The ticks at least ``min_gap`` apart, earliest kept: labels of short modules that
    start close together would print over each other."""
    kept: list[tuple[int, str]] = []
    for first, name in sorted(ticks):
        if not kept or first - kept[-1][0] >= min_gap:
            kept.append((first, name))
    return kept


# One marker per mode, the same in every panel.
MODE_MARKERS = {"eager": "o", "graph": "s", "compile": "^"}


def predicted_scatter(rows: Sequence[Record], path: Path, *, title: str) -> None:
    """Predicted against measured time, log-log, one panel per (platform, fit): one colour
    per network, one marker per mode, the line y = x and dotted lines at ±25%."""
    shown = [
        r
        for r in rows
        if isinstance(r.get("measured_ms"), int | float)
        and isinstance(r.get("predicted_ms"), int | float)
        and r["measured_ms"] > 0
        and r["predicted_ms"] > 0
    ]
    panels = sorted({(str(r["platform"]), str(r["fit"])) for r in shown})
    colors = _colors(sorted({str(r["variant"]) for r in shown}))
    columns = min(3, max(1, len(panels)))
    lines = max(1, -(-len(panels) // columns))
    with _style():
        fig = _figure(3.8 * columns + 0.6, 3.9 * lines + 0.5)
        axes = fig.subplots(lines, columns, squeeze=False).flatten()
        if not panels:
            axes[0].text(0.5, 0.5, "no predicted and measured pair", ha="center")
        for ax in axes[len(panels) :] if panels else ():
            ax.set_axis_off()
        for ax, (platform, fit) in zip(axes, panels, strict=False):
            mine = [r for r in shown if r["platform"] == platform and r["fit"] == fit]
            values = [v for r in mine for v in (r["measured_ms"], r["predicted_ms"])]
            low, high = min(values) / 1.5, max(values) * 1.5
            ax.plot([low, high], [low, high], color="black", linewidth=1, label="y = x")
            for factor in (0.75, 1.25):
                ax.plot(
                    [low, high],
                    [low * factor, high * factor],
                    color="grey",
                    linewidth=0.8,
                    linestyle=":",
                    label="±25%" if factor > 1 else None,
                )
            _scatter_by_network(ax, mine, colors)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(low, high)
            ax.set_ylim(low, high)
            ax.set_aspect("equal")
            ax.set_xlabel("measured (ms per batch)")
            ax.set_ylabel("predicted (ms per batch)")
            ax.set_title(f"{platform}: {fit}")
            ax.legend(loc="upper left", fontsize=6)
        _suptitle(fig, title)
        _save(fig, path)


# Above this many networks in a panel, one colour and no legend entry per network: a
# zoo's hundreds of entries would fill the panel (and take seconds to lay out).
MAX_NAMED_NETWORKS = 12


def _scatter_by_network(ax: Any, rows: Sequence[Record], colors: Mapping[str, Any]) -> None:
    """One colour per network and one marker per mode; a zoo, one colour per mode."""
    variants = sorted({str(r["variant"]) for r in rows})
    named = len(variants) <= MAX_NAMED_NETWORKS
    for mode in sorted({str(r["mode"]) for r in rows}):
        groups = [
            (v, [r for r in rows if r["variant"] == v and r["mode"] == mode]) for v in variants
        ]
        if not named:
            groups = [(f"{len(variants)} networks", [r for r in rows if r["mode"] == mode])]
        for label, points in groups:
            if points:
                ax.scatter(
                    [r["measured_ms"] for r in points],
                    [r["predicted_ms"] for r in points],
                    s=22 if named else 8,
                    marker=MODE_MARKERS.get(mode, "x"),
                    color=colors[label] if named else None,
                    alpha=1.0 if named else 0.6,
                    label=f"{label}, {mode}",
                    zorder=3,
                )


# One colour per op category on the roofline plots.
CATEGORY_ORDER = ("conv", "matmul", "norm", "pointwise", "pool", "copy", "other")


def roofline_plot(
    points: Sequence[Record],
    path: Path,
    *,
    roofs: Sequence[Record],
    datasheet: Record,
    title: str,
    note: str = "",
) -> None:
    """Each op with FLOPs as a point at its arithmetic intensity (FLOP per byte) against
    the FLOP/s its predicted kernel time gives, log-log; under them each category's roof,
    min(η_c · peak, intensity · η_m · bandwidth), and the datasheet's roof dashed.

    ``points``: ``category``, ``intensity``, ``flops_per_s``; ``roofs``: ``label``,
    ``peak`` (FLOP/s), ``bandwidth`` (byte/s); ``datasheet`` the same for the bare figures."""
    import numpy as np

    categories = [c for c in CATEGORY_ORDER if any(p["category"] == c for p in points)]
    colors = _colors(CATEGORY_ORDER)
    intensities = [p["intensity"] for p in points] or [1.0]
    ridge = datasheet["peak"] / datasheet["bandwidth"]
    low = min(min(intensities), ridge) / 4
    high = max(max(intensities), ridge) * 4
    x = np.geomspace(low, high, 200)
    with _style():
        fig = _figure(7.0, 4.8)
        ax = fig.add_subplot()
        ax.plot(
            x,
            np.minimum(datasheet["peak"], x * datasheet["bandwidth"]) / 1e12,
            color="black",
            linestyle="--",
            linewidth=1,
            label=datasheet["label"],
        )
        for i, roof in enumerate(roofs):
            ax.plot(
                x,
                np.minimum(roof["peak"], x * roof["bandwidth"]) / 1e12,
                color="grey" if len(roofs) == 1 else colors[roof["category"]],
                linewidth=1.5 - 0.3 * i,
                label=roof["label"],
            )
        for category in categories:
            mine = [p for p in points if p["category"] == category]
            ax.scatter(
                [p["intensity"] for p in mine],
                [p["flops_per_s"] / 1e12 for p in mine],
                s=10,
                alpha=0.6,
                color=colors[category],
                label=f"{category} ops ({len(mine)})",
                zorder=3,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(low, high)
        ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
        ax.set_ylabel("attainable TFLOP/s (FLOPs / predicted kernel time)")
        ax.set_title(textwrap.fill(title, width=80))
        ax.legend(loc="lower right", fontsize=7)
        if note:
            fig.supxlabel(textwrap.fill(note, width=110), fontsize=7)
        _save(fig, path)
