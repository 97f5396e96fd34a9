"""The factorization study of "Rethinking the Inception Architecture for Computer Vision".

Szegedy et al. 2015 (arXiv 1512.00567) claims, per factorization, a saving against the
one it replaces. ``PAPER_CLAIMS`` holds those claims and what they rest on;
:func:`factorize_records` sets each family's alternatives (registered by
:mod:`incprof.models.factorization`) beside the family's reference variant and each
claim beside the saving incprof computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from incprof.analysis.analytic import analyze
from incprof.analysis.memory import memory
from incprof.analysis.receptive_field import Field, analyze_rf
from incprof.analysis.trace import trace_variant
from incprof.errors import InputError
from incprof.registry import Variant, family_members, list_variants


class Claim(NamedTuple):
    """A cost claim of the paper about one family, and what it rests on."""

    variant: str  # the alternative the claim is about, compared with the family's reference
    text: str
    saving: float  # fraction of the reference's conv MACs the alternative saves
    assumption: str
    source: str


_EQUAL_WIDTHS = "equal input, intermediate and output channels; conv MACs only (no BN, bias)"

# Each family's claims, the main one first; a claim names the alternative it is about.
PAPER_CLAIMS: dict[str, tuple[Claim, ...]] = {
    "fact_5x5": (
        Claim(
            variant="fact_5x5_two_3x3",
            text="two 3×3 for a 5×5 saves 28% ((9 + 9)/25 of the cost)",
            saving=1 - 18 / 25,
            assumption=f"{_EQUAL_WIDTHS} (the paper's α = 1, no expansion)",
            source="section 3.1, figure 1",
        ),
    ),
    "asym_3": (
        Claim(
            variant="asym_3_1x3_3x1",
            text="1×3 + 3×1 for a 3×3 saves 33%",
            saving=1 - 6 / 9,
            assumption=_EQUAL_WIDTHS,
            source="section 3.2, figure 3",
        ),
    ),
    "asym_5": (
        Claim(
            variant="asym_5_1x5_5x1",
            text="1×5 + 5×1 for a 5×5 saves 60% (2n/n² of the cost)",
            saving=1 - 10 / 25,
            assumption=_EQUAL_WIDTHS,
            source="section 3.2 (the saving 'increases dramatically as n grows'; "
            "the figure follows its count, the paper gives none)",
        ),
    ),
    "asym_7": (
        Claim(
            variant="asym_7_1x7_7x1",
            text="1×7 + 7×1 for a 7×7 saves 71% (2n/n² of the cost)",
            saving=1 - 14 / 49,
            assumption=_EQUAL_WIDTHS,
            source="section 3.2 (the saving 'increases dramatically as n grows'; "
            "the figure follows its count, the paper gives none)",
        ),
    ),
    "fact_3x3": (
        Claim(
            variant="fact_3x3_two_2x2",
            text="two 2×2 for a 3×3 saves 11%",
            saving=1 - 8 / 9,
            assumption=_EQUAL_WIDTHS,
            source="section 3.2",
        ),
    ),
    "grid_reduction": (
        Claim(
            variant="grid_pool_then_conv",
            text="pooling first costs a quarter (2(d/2)²k² vs 2d²k²), "
            "but creates a representational bottleneck",
            saving=0.75,
            assumption="the output grid is exactly d/2 and pooling is free; with valid 3×3/2 "
            "pooling it is ⌊(d−1)/2⌋, so the cost is (⌊(d−1)/2⌋/d)² of the baseline's "
            "(0.236 at d = 35)",
            source="section 5, figure 9",
        ),
        Claim(
            variant="grid_pool_then_conv",
            text="the expand-then-pool reduction is 3 times more expensive than pool-then-expand",
            saving=1 - 1 / 3,
            assumption="the caption's own figure; the text's count (2d²k² vs 2(d/2)²k²) makes "
            "it 4 times, and valid 3×3/2 pooling about 4.2 times at d = 35",
            source="figure 9 caption",
        ),
    ),
}


# Our saving agrees with the paper's when they are this close, in percentage points.
AGREEMENT_POINTS = 0.5


def factorization_families() -> list[str]:
    """The factorization families, in registry order."""
    return list(dict.fromkeys(v.family for v in list_variants("factorization")))


def factorize_records(
    families: Sequence[str] = (),
    *,
    channels: int | None = None,
    grid: int | None = None,
) -> list[dict[str, Any]]:
    """Each alternative's cost, traffic and field beside its family's reference variant's,
    and the paper's claim beside our saving. The ``baseline`` key marks the reference
    variant; ``bytes_moved_fp32``, ``activation_peak_bytes_fp32`` and
    ``arithmetic_intensity_fp32`` are what a MAC saving costs in memory traffic."""
    known = factorization_families()
    chosen = list(families) or known
    for family in chosen:
        if family not in known:
            raise InputError(
                f"unknown factorization family {family!r}; choose from {', '.join(known)}"
            )
    overrides = {k: v for k, v in (("channels", channels), ("grid", grid)) if v is not None}
    records = []
    for family in chosen:
        claims = PAPER_CLAIMS.get(family, ())
        reference_macs = None
        for variant in family_members(family):
            record = _variant_record(family, variant, overrides)
            if reference_macs is None:
                reference_macs = record["macs"]
            saving = 100 * (1 - record["macs"] / reference_macs) if reference_macs else None
            record["saving_pct"] = saving
            records += _claim_rows(record, [c for c in claims if c.variant == variant.name])
    return records


def _variant_record(family: str, variant: Variant, overrides: dict[str, int]) -> dict[str, Any]:
    """One variant's cost, traffic (fp32, batch 1, as compare's) and field; no saving yet."""
    shape = variant.input_for(overrides)
    try:
        cost = analyze(variant, input_shape=shape, overrides=overrides)
        field = analyze_rf(variant, input_shape=shape, overrides=overrides)
        traffic = memory(trace_variant(variant, input_shape=shape, overrides=overrides))
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{variant.name} at {'x'.join(map(str, shape))}: {exc}") from None
    final = field.final.field if field.final else None
    return {
        "family": family,
        "variant": variant.name,
        "baseline": variant.reference,
        "input_shape": "x".join(map(str, shape)),
        "output_shape": "x".join(map(str, cost.output_shape[1:])),
        "params": cost.params,
        "macs": cost.macs,
        "saving_pct": None,
        "bytes_moved_fp32": traffic.bytes_moved,
        "activation_peak_bytes_fp32": traffic.activation_peak_bytes,
        "arithmetic_intensity_fp32": traffic.arithmetic_intensity,
        "rf_size": "x".join(map(str, final.size)) if isinstance(final, Field) else None,
        "rf_aligned": final.aligned if final else field.aligned,
        "paper_claim": "",
        "paper_saving_pct": None,
        "agrees": None,
        "note": "",
    }


def _claim_rows(record: dict[str, Any], claims: Sequence[Claim]) -> list[dict[str, Any]]:
    """The record once per claim about its variant (a claim is a saving vs the
    reference), or as it is when the paper claims nothing about it."""
    if not claims:
        return [record]
    saving = record["saving_pct"]
    rows = []
    for claim in claims:
        paper = 100 * claim.saving
        agrees = saving is not None and abs(saving - paper) <= AGREEMENT_POINTS
        rows.append(
            {
                **record,
                "paper_claim": f"{claim.text} ({claim.source})",
                "paper_saving_pct": paper,
                "agrees": agrees,
                "note": "" if agrees else f"holds only under its assumption: {claim.assumption}",
            }
        )
    return rows
