"""Render lists of flat records as console tables, Markdown, CSV or JSON.

Records are plain dicts with snake_case keys and numbers as numbers; these functions only
format them, so the JSON a script reads holds exactly what the table shows.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

FORMATS = ("table", "markdown", "csv", "json")

Record = Mapping[str, Any]


def _cell(value: Any) -> Any:
    """Integers get thousands separators in human-facing tables; None shows as blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.5g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, tuple | list):
        return "×".join(str(v) for v in value)
    return str(value)


def _columns(records: Sequence[Record], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for record in records:
        seen.update(dict.fromkeys(record))
    return list(seen)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value


def to_json(records: Sequence[Record], columns: Sequence[str] | None = None) -> str:
    cols = _columns(records, columns)
    rows = [{c: _json_value(r.get(c)) for c in cols} for r in records]
    return json.dumps(rows, indent=2) + "\n"


def to_csv(records: Sequence[Record], columns: Sequence[str] | None = None) -> str:
    cols = _columns(records, columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                c: "x".join(map(str, v)) if isinstance(v := record.get(c), tuple | list) else v
                for c in cols
            }
        )
    return buffer.getvalue()


# Console tables cut long text cells to this many characters; the other formats keep all.
CONSOLE_TEXT_WIDTH = 64


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _markdown_cell(text: str) -> str:
    """A pipe or a line break inside a cell would end the Markdown row early."""
    return text.replace("|", "\\|").replace("\n", " ")


def to_text(
    records: Sequence[Record], columns: Sequence[str] | None = None, *, markdown: bool = False
) -> str:
    from tabulate import tabulate

    cols = _columns(records, columns)
    if markdown:
        rows = [[_markdown_cell(_cell(r.get(c))) for c in cols] for r in records]
    else:
        rows = [[_clip(_cell(r.get(c)), CONSOLE_TEXT_WIDTH) for c in cols] for r in records]
    style = "github" if markdown else "simple"
    numeric = [
        any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in records)
        for c in cols
    ]
    align = ["right" if n else "left" for n in numeric]
    return (
        tabulate(rows, headers=cols, tablefmt=style, colalign=align, disable_numparse=True) + "\n"
    )


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def filled_columns(records: Sequence[Record], columns: Sequence[str] | None = None) -> list[str]:
    """``columns`` (default: every key) less those no record fills: a table a person reads
    has no column that is blank in every row (CSV and JSON keep them: a stable schema)."""
    return [c for c in _columns(records, columns) if any(not _empty(r.get(c)) for r in records)]


def notes_text(notes: Sequence[str], fmt: str) -> str:
    """Facts about a table (where a field is misaligned, why a cell is blank) printed under
    it, so that a successful run writes nothing to stderr; empty when there are none."""
    if not notes:
        return ""
    if fmt == "markdown":
        return "\nNotes:\n\n" + "".join(f"- {_markdown_cell(n)}\n" for n in notes)
    return "\nnotes:\n" + "".join(f"  {n}\n" for n in notes)


def render(records: Sequence[Record], fmt: str, columns: Sequence[str] | None = None) -> str:
    """One of :data:`FORMATS`; ``columns`` picks and orders the keys shown."""
    if fmt == "json":
        return to_json(records, columns)
    if fmt == "csv":
        return to_csv(records, columns)
    if fmt in ("table", "markdown"):
        return to_text(records, columns, markdown=fmt == "markdown")
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
