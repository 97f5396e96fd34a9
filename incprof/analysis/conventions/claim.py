"""Checking a claim: a published figure set against every convention's, pure functions of
the figures of :mod:`incprof.analysis.conventions.figures`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from incprof.analysis.conventions.figures import CLAIM_UNITS, DEFAULT_TOLERANCE_PCT, FORWARD, Figure
from incprof.errors import InputError

_SUFFIXES = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}
_VALUE = re.compile(r"([0-9][0-9_,]*\.?[0-9]*(?:e[+-]?[0-9]+)?)\s*([kmgbt]?)", re.IGNORECASE)


def parse_value(text: str) -> float:
    """'1.5e9', '1.5G', '5B', '6,624,904', '13.6M' -> a positive number."""
    match = _VALUE.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"VALUE must be a positive number such as 1.5e9, 1.5G, 5B or 6.6M; got {text!r}"
        )
    number, suffix = match.groups()
    value = float(number.replace(",", "").replace("_", "")) * _SUFFIXES.get(suffix.lower(), 1)
    if not value > 0:
        raise InputError(f"VALUE must be positive; got {text!r}")
    return value


def check_tolerance(tolerance_pct: float) -> float:
    if not 0 <= tolerance_pct <= 100:
        raise InputError(f"must be a percentage from 0 to 100; got {tolerance_pct:g}")
    return tolerance_pct


def check_unit(unit: str) -> str:
    if unit not in CLAIM_UNITS:
        raise InputError(f"unknown unit {unit!r}; choose from {', '.join(CLAIM_UNITS)}")
    return unit


HOLDS = "holds"
HOLDS_IN_OTHER_UNIT = "holds only in another unit"
DOES_NOT_HOLD = "does not hold"


@dataclass(frozen=True)
class Tried:
    """One convention tried against a claim."""

    figure: Figure
    deviation_pct: float  # how far the convention's figure is above (+) the claim
    unit_as_claimed: bool
    holds: bool


@dataclass(frozen=True)
class ClaimCheck:
    """A claim against every convention tried, closest first."""

    variant: str
    value: float
    unit: str
    tolerance_pct: float
    at_most: bool
    tried: tuple[Tried, ...]

    @property
    def verdict(self) -> str:
        if any(t.holds and t.unit_as_claimed for t in self.tried):
            return HOLDS
        if any(t.holds for t in self.tried):
            return HOLDS_IN_OTHER_UNIT
        return DOES_NOT_HOLD

    @property
    def holding(self) -> list[Tried]:
        return [t for t in self.tried if t.holds]

    @property
    def nearest(self) -> Tried | None:
        """The closest convention in the claimed unit (any unit if none is)."""
        same = [t for t in self.tried if t.unit_as_claimed]
        return (same or list(self.tried) or [None])[0]

    def summary(self) -> str:
        """One line: the verdict and the convention behind it, or the nearest miss."""
        bound = "at most " if self.at_most else ""
        head = f"{self.variant}: {bound}{_number(self.value)} {self.unit}"
        if self.verdict == HOLDS:
            best = next(t for t in self.tried if t.holds and t.unit_as_claimed)
            conv = best.figure.convention
            return (
                f"{head} holds under {conv.label()} ({conv.tool}): "
                f"{_number(best.figure.value)}, {best.deviation_pct:+.2f}%"
            )
        if self.verdict == HOLDS_IN_OTHER_UNIT:
            best = self.holding[0]
            conv = best.figure.convention
            return (
                f"{head} holds only as {conv.unit}, not {self.unit}: {conv.label()} "
                f"({conv.tool}) gives {_number(best.figure.value)}, {best.deviation_pct:+.2f}%"
            )
        near = self.nearest
        if near is None:
            return f"{head}: no convention could be computed"
        conv = near.figure.convention
        return (
            f"{head} does not hold within {self.tolerance_pct:g}%: nearest {conv.label()} "
            f"({conv.tool}) gives {_number(near.figure.value)} {conv.unit}, "
            f"{near.deviation_pct:+.2f}%; remainder {_number(self.value - near.figure.value)}"
        )

    def records(self, variant: str | None = None) -> list[dict[str, Any]]:
        """One flat record per convention tried, closest first."""
        return [
            {
                "variant": variant or self.variant,
                "claim_value": self.value,
                "claim_unit": self.unit,
                "tolerance_pct": self.tolerance_pct,
                "rule": t.figure.convention.rule,
                "tool": t.figure.convention.tool,
                "unit": t.figure.convention.unit,
                "unit_as_claimed": t.unit_as_claimed,
                "input_shape": "x".join(map(str, t.figure.convention.input_shape or ())) or None,
                "aux_heads": t.figure.convention.aux_heads,
                "phase": t.figure.convention.phase,
                "bn_folded": t.figure.convention.bn_folded,
                "figure": t.figure.value,
                "deviation_pct": t.deviation_pct,
                "holds": t.holds,
                "counts": t.figure.convention.counts,
            }
            for t in self.tried
        ]

    def reference(self, tried: Tried) -> Figure | None:
        """What incprof counts at all under ``tried``'s input, aux heads and phase: every
        op (``all_ops``; × 2 for a FLOP figure) or every parameter the model holds."""
        conv = tried.figure.convention
        if conv.unit == "params":
            held = [t.figure for t in self.tried if t.figure.convention.rule == "params"]
            return max(held, key=lambda f: f.convention.aux_heads, default=None)
        if conv.phase != FORWARD:
            return tried.figure
        wanted = ("all_ops", conv.input_shape, conv.aux_heads, FORWARD)
        for other in self.tried:
            c = other.figure.convention
            key = (c.rule, c.input_shape, c.aux_heads, c.phase)
            if key == wanted and not c.bn_folded and c.doubled == (conv.unit == "flops"):
                return other.figure
        return None

    def remainder(self) -> list[dict[str, Any]]:
        """The nearest convention by category: what it counts of each beside everything
        incprof counts there (every op, or every parameter), and the remainder, so that
        the categories that could close the gap can be read off."""
        near = self.nearest
        if near is None:
            return []
        reference = self.reference(near)
        everything = reference.by_category if reference else {}
        counted = near.figure.by_category
        # largest first; ties by name, so that a report is the same on every run
        categories = sorted(
            set(counted) | set(everything),
            key=lambda c: (-abs(everything.get(c, counted.get(c, 0))), c),
        )
        rows = [
            {
                "category": cat,
                "counted": counted.get(cat, 0),
                "all": everything.get(cat),
                "not_counted": everything[cat] - counted.get(cat, 0) if cat in everything else None,
            }
            for cat in categories
        ]
        rows.append(
            {
                "category": "remainder (claim − figure)",
                "counted": self.value - near.figure.value,
                "all": None,
                "not_counted": None,
            }
        )
        return rows


def _number(value: float) -> str:
    """'1.583e+09' style for big figures, whole numbers with separators below a million."""
    if abs(value) >= 1e6:
        return f"{value:.4g}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def check_claim(
    variant: str,
    figures: Sequence[Figure],
    value: float,
    *,
    unit: str = "auto",
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    at_most: bool = False,
) -> ClaimCheck:
    """Set a claim against figures. A MAC or FLOP claim is tried against every MAC and
    FLOP convention (a FLOP figure matching a MAC claim says the claim's MACs are FLOPs);
    a parameter claim against the parameter conventions; ``auto`` against all. ``at_most``
    (a bound: "less than 25 million") holds for every figure not above it."""
    check_unit(unit)
    check_tolerance(tolerance_pct)
    tried = []
    for figure in figures:
        fig_unit = figure.convention.unit
        if unit == "params" and fig_unit != "params":
            continue
        if unit in ("macs", "flops") and fig_unit == "params":
            continue
        deviation = 100 * (figure.value - value) / value
        holds = figure.value <= value if at_most else abs(deviation) <= tolerance_pct + 1e-9
        tried.append(Tried(figure, deviation, unit in ("auto", fig_unit), holds))
    tried.sort(key=lambda t: (abs(t.deviation_pct), not t.unit_as_claimed))
    return ClaimCheck(variant, value, unit, tolerance_pct, at_most, tuple(tried))
