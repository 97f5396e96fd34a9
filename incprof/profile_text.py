"""How a :class:`~incprof.profiling.Profile` prints itself: a per-module table with its
totals under it, as text (``print``), Markdown and HTML (notebooks), torchinfo-like."""

from __future__ import annotations

from html import escape
from typing import Any

from incprof.report.tables import render

# A Profile, untyped here: profiling.py imports this module, and the layering test
# counts a type-only import back as a cycle.
Profile = Any

# Columns of the per-module table ``print(profile)`` shows.
TABLE_COLUMNS = ("module", "type", "output_shape", "params", "macs", "macs_pct")


def rows(profile: Profile, depth: int | None) -> list[dict[str, Any]]:
    return [{k: row[k] for k in TABLE_COLUMNS} for row in profile.by_module(depth)]


def totals(profile: Profile) -> list[str]:
    """The lines under the table: totals, operators not priced, notes."""
    params = profile.params
    lines = [
        f"{profile.name}  inputs {profile.inputs}  batch {profile.batch}",
        f"MACs {profile.macs:,}  FLOPs (2 × MACs) {profile.flops:,}  "
        f"other ops {profile.other_ops:,}",
        f"params {params.total:,} (trainable {params.trainable:,}, frozen "
        f"{params.frozen:,}; used in eval {params.used:,}); buffers {params.buffers:,}",
        f"activation peak (fp32) {profile.memory.activation_peak_bytes:,} B",
    ]
    if profile.unknown_ops:
        counts = ", ".join(f"{k}×{v['count']}" for k, v in sorted(profile.unknown_ops.items()))
        lines.append(f"unknown operators (not priced): {counts}")
    return lines + [f"note: {n}" for n in profile.notes]


def markdown(profile: Profile, depth: int | None) -> str:
    table = render(rows(profile, depth), "markdown", TABLE_COLUMNS)
    return table + "\n\n" + "\n".join(f"- {line}" for line in totals(profile)) + "\n"


def text(profile: Profile) -> str:
    return render(rows(profile, 2), "table", TABLE_COLUMNS) + "\n" + "\n".join(totals(profile))


def html(profile: Profile) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in TABLE_COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(row[c]))}</td>" for c in TABLE_COLUMNS) + "</tr>"
        for row in rows(profile, 2)
    )
    foot = "".join(f"<p>{escape(line)}</p>" for line in totals(profile))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)
