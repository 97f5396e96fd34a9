"""The pages of the paper studies: the factorization study, GoogLeNet's Table 1 checked
against its own widths, and the published cost claims."""

from __future__ import annotations

from collections.abc import Sequence

from incprof.report.markdown.common import Record, _page, _table

FAMILY_COLUMNS = (
    "variant",
    "baseline",
    "input_shape",
    "output_shape",
    "params",
    "macs",
    "saving_pct",
    "rf_size",
    "rf_kept",
    "rf_aligned",
    "bytes_moved_fp32",
    "activation_peak_bytes_fp32",
    "arithmetic_intensity_fp32",
)
CLAIM_COLUMNS = ("variant", "paper_claim", "paper_saving_pct", "saving_pct", "agrees", "note")


def factorization_page(
    families: Sequence[tuple[str, Sequence[Record], Sequence[Record]]], *, agreement_points: float
) -> str:
    """The factorization study: per family, its alternatives, and the paper's claims
    beside our savings. ``families`` holds (family, alternatives, claims)."""
    intro = (
        "Each family holds alternatives with the same input and output shape, at the "
        "family's default input; `saving_pct` is the share of the baseline's MACs an "
        "alternative saves (MACs as everywhere in incprof: conv + linear, BN excluded). "
        "`rf_size` is the receptive field of one output position in input pixels; "
        "`rf_kept` says whether the alternative's field is at least the baseline's on both "
        "axes. A claim of the "
        f"paper agrees when our saving is within {agreement_points} percentage points of "
        "it; where it does not, the note names the assumption the paper's figure rests on."
    )
    memory = (
        "`bytes_moved_fp32`, `activation_peak_bytes_fp32` and `arithmetic_intensity_fp32` "
        "price each alternative's forward at batch 1 in fp32 (see the "
        "[memory page](memory.md) for the conventions), so that each saving in MACs sits "
        "beside what it costs in traffic: a factorized convolution writes an intermediate "
        "map, reads it again, and keeps it alive while the next layer runs."
    )
    sections = [intro, memory]
    for family, alternatives, claims in families:
        sections += [f"## {family}", _table(alternatives, FAMILY_COLUMNS)]
        if claims:
            sections.append(_table(claims, CLAIM_COLUMNS))
    return _page(
        "Factorization study (Rethinking the Inception Architecture, arXiv 1512.00567)",
        *sections,
    )


TABLE1_PRINTED_COLUMNS = (
    "type",
    "patch_stride",
    "output_size",
    "depth",
    "n1x1",
    "n3x3_reduce",
    "n3x3",
    "n5x5_reduce",
    "n5x5",
    "pool_proj",
    "params_printed",
    "ops_printed",
    "check",
)
TABLE1_CHECK_COLUMNS = (
    "row",
    "params_printed",
    "weights_from_widths",
    "biases_from_widths",
    "params_reading",
    "params_gap_pct",
    "params_agree",
    "params_incprof",
    "ops_printed",
    "macs_incprof",
    "ops_reading",
    "ops_gap_pct",
    "ops_agree",
)


def _disagreement(row: Record) -> str:
    parts = []
    if row["params_agree"] is False:
        parts.append(
            f"printed params {row['params_printed']}, but the widths give "
            f"{row['weights_from_widths']:,} weights + {row['biases_from_widths']:,} biases; "
            f"the printed figure is {row['params_gap_pct']:+.2f}% against the closest reading "
            f"({row['params_reading']})"
        )
    if row["ops_agree"] is False:
        parts.append(
            f"printed ops {row['ops_printed']}, but the same widths give "
            f"{row['macs_incprof']:,} MACs at 224×224; the printed figure is "
            f"{row['ops_gap_pct']:+.2f}% against the closest reading ({row['ops_reading']})"
        )
    return f"**{row['row']}**: " + "; ".join(parts)


def table1_page(rows: Sequence[Record], *, source: str, variant: str) -> str:
    """GoogLeNet's Table 1 as printed, each row checked against its own widths."""
    marked = [r for r in rows if r["params_agree"] is False or r["ops_agree"] is False]
    intro = (
        f"Source: {source}. The first table is the paper's, row by row, as printed; the "
        "`check` column marks rows whose printed figures do not follow from the printed "
        "widths. The second table shows the arithmetic. `weights_from_widths` is the "
        "closed form of the row's layers from its printed widths and the previous row's "
        "depth (inception: in·(#1×1 + #3×3 reduce + #5×5 reduce + pool proj) + "
        "9·reduce·#3×3 + 25·reduce·#5×5; convolution: k²·in·out, after a 1×1 to the reduce "
        "width at depth 2; linear: in·out), `biases_from_widths` one per output channel. "
        "A printed figure agrees when some reading of it (weights only or with biases; "
        "K = 1000 or 1024, M = 10⁶ or 2²⁰) lies within one step of its last printed digit, "
        "which allows for rounding and truncation; `params_reading` names that reading, or "
        "the closest one and its gap. Printed ops are compared with the MACs of incprof's "
        f"`{variant}` entry at 224×224, which follow from the same widths; "
        f"`params_incprof` is that entry's parameter count for the row's modules "
        "(its convolutions carry biases, as the paper's did)."
    )
    summary = "\n".join(f"- {_disagreement(r)}" for r in marked) or (
        "- none: every printed figure follows from the widths."
    )
    return _page(
        "GoogLeNet Table 1, reproduced and checked",
        intro,
        _table(rows, TABLE1_PRINTED_COLUMNS),
        "## Rows where the printed table disagrees with its own widths",
        summary,
        "## The arithmetic",
        _table(rows, TABLE1_CHECK_COLUMNS),
    )


PUBLISHED_CLAIM_COLUMNS = (
    "variant",
    "printed",
    "unit",
    "tolerance_pct",
    "verdict",
    "convention",
    "tool",
    "figure",
    "deviation_pct",
    "also_holds_under",
)
REMAINDER_COLUMNS = ("category", "counted", "all", "not_counted")


def claims_page(records: Sequence[Record], *, no_figure: Sequence[tuple[str, str]]) -> str:
    """Published cost claims, each checked against every counting convention."""
    intro = (
        "Each published figure is set against every counting convention `incprof claim` "
        "knows: MACs or FLOPs (2 per MAC), each network's default input and 224 and 299 "
        "pixels, aux heads out (eval) or in (a train-mode forward), what else is counted "
        "(the paper's conv + linear multiply-adds; torch FlopCounterMode, fvcore, thop, "
        "ptflops as each counts by default; every op incprof counts), batch norm folded "
        "or not, one forward or a training step, and for parameters: as used, as held, "
        "BN folded, with BN running statistics. A claim's tolerance is its printed "
        "rounding (half a step of the last printed digit; for Table 1's totals, the rows' "
        "roundings added up). `verdict`: *holds* under the convention shown (the closest "
        "in the claim's own unit); *holds only in another unit* (torchvision's GFLOPS are "
        "MACs); *does not hold*: the nearest convention and, below, its figure by "
        "category beside everything incprof counts there. `incprof claim VARIANT VALUE "
        "--format json` lists every convention tried."
    )
    sections = [intro, _table(records, PUBLISHED_CLAIM_COLUMNS), "## Sources"]
    sections.append(
        "\n".join(
            f"- **{r['key']}** ({r['variant']}): {r['source']}: \u201c{r['quote']}\u201d"
            + (f" {r['note']}" if r["note"] else "")
            for r in records
        )
    )
    failed = [r for r in records if r["by_category"]]
    if failed:
        sections.append("## Claims that hold under no convention")
    for r in failed:
        sections.append(
            f"### {r['key']}: {r['printed']} ({r['variant']})\n\n"
            f"Nearest: {r['convention']} ({r['tool']}), {r['figure']:,.0f} {r['figure_unit']}, "
            f"{r['deviation_pct']:+.2f}%; remainder {r['remainder']:+,.0f}."
        )
        sections.append(_table(r["by_category"], REMAINDER_COLUMNS))
    if no_figure:
        sections.append("## Papers that state no figure")
        sections.append("\n".join(f"- {source}: {what}." for source, what in no_figure))
    return _page("Published cost claims", *sections)
