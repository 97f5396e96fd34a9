"""The plots of measured and predicted time: latency and parity against batch,
predicted against measured, and each network's ops on the roofline."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incprof.report.plots.common import (
    Record,
    _batch_axis,
    _colors,
    _figure,
    _panel_row,
    _plain_log_y,
    _save,
    _style,
    _suptitle,
)

# Plotted order of the latency panels, so every build lays them out alike.
DTYPE_ORDER = ("fp32", "tf32", "bf16", "fp16")


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


def _roof_lines(ax: Any, x: Any, roofs: Sequence[Record], datasheet: Record) -> None:
    """The datasheet's roof dashed, then each model roof: grey where there is one, else
    in its first category's colour, each thinner than the one before."""
    import numpy as np

    colors = _colors(CATEGORY_ORDER)
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


def _op_points(ax: Any, points: Sequence[Record]) -> None:
    """The ops as points, one colour and one legend entry (with its count) per category."""
    colors = _colors(CATEGORY_ORDER)
    for category in [c for c in CATEGORY_ORDER if any(p["category"] == c for p in points)]:
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

    intensities = [p["intensity"] for p in points] or [1.0]
    ridge = datasheet["peak"] / datasheet["bandwidth"]
    low = min(min(intensities), ridge) / 4
    high = max(max(intensities), ridge) * 4
    x = np.geomspace(low, high, 200)
    with _style():
        fig = _figure(7.0, 4.8)
        ax = fig.add_subplot()
        _roof_lines(ax, x, roofs, datasheet)
        _op_points(ax, points)
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
