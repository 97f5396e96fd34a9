"""The analyzers page: each registered analyzer's record for each network, one table an
analyzer, figures down and networks across (records are wide; networks are few)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incprof.columns import MODEL_KEYS
from incprof.report.markdown.common import _page, _table

INTRO = (
    "Every analyzer registered in `incprof.analysis` (`ANALYZERS`, `STEP_ANALYZERS`), "
    "run by `incprof.profile(name, batch={batch}).figures()` on each network at its "
    "default input (batch {batch}, the memory page's training-step batch); the same "
    "records as `incprof analyze NAME --batch {batch}`. An analyzer added in one module "
    "and one registration line appears here with no other edit. A cell an analyzer "
    "leaves empty is a figure it has no value for; an analyzer that does not apply to a "
    "network says why in a `skipped` row."
)


def analyzers_page(figures: Mapping[str, Mapping[str, Mapping[str, Any]]], *, batch: int) -> str:
    """``figures``: network -> analyzer -> its record (``Profile.figures()``) at ``batch``."""
    networks = list(figures)
    analyzers = list(dict.fromkeys(a for by in figures.values() for a in by))
    sections = [_section(a, networks, figures) for a in analyzers]
    return _page("Every registered analyzer", INTRO.format(batch=batch), *sections)


def _section(
    analyzer: str, networks: list[str], figures: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> str:
    records = {n: figures[n].get(analyzer, {}) for n in networks}
    keys = list(dict.fromkeys(k for r in records.values() for k in r if k not in MODEL_KEYS))
    rows = [{"figure": k, **{n: records[n].get(k) for n in networks}} for k in keys]
    return f"## `{analyzer}`\n\n" + _table(rows, ["figure", *networks])
