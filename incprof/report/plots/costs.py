"""The plots of counted figures: published accuracy against cost, receptive-field
growth, and live activation memory over a forward."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from incprof.report.plots.common import (
    Record,
    _colors,
    _figure,
    _save,
    _style,
)

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
