"""The report's pages of counted figures: one page per network, the memory page, the
block diagrams, the factorization study, GoogLeNet's Table 1 and the published claims."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from incprof import api
from incprof.analysis.trace import trace_variant
from incprof.errors import InputError
from incprof.registry import list_variants
from incprof.report import markdown, plots
from incprof.report.diagrams import block_graph, drawn_modules, same_drawing
from incprof.report.writer import (
    Writer,
)
from incprof.sources import resolve
from incprof.studies.factorization import AGREEMENT_POINTS, factorize_records
from incprof.studies.googlenet_table1 import (
    GOOGLENET_TABLE1_SOURCE,
    TABLE1_VARIANT,
    table1_records,
)

# How many of a network's top-level modules "where the MACs go" lists.
TOP_MODULES = 5


# The memory page: the eval forward as compare prices it (batch 1, fp32), and a training
# step at a batch that trains (inception_v3's aux head cannot at batch 1), with SGD's
# state in its table and Adam's total beside it.
STEP_BATCH = 8


STEP_OPTIMIZERS = ("sgd", "adam")


# How many of the tensors alive at the peak a network's section lists.
TOP_LIVE = 5


def network_page(out: Writer, summary: dict[str, Any], entry: dict[str, Any]) -> None:
    name = summary["variant"]
    _, modules = api.show_records(name, depth=1)
    analysis, rf_rows = api.rf_records(name)
    top = sorted(modules, key=lambda r: r["macs"], reverse=True)[:TOP_MODULES]
    notes = [f"not aligned: {m}" for m in analysis.misalignments]
    notes += [f"unknown to the receptive-field walk: {op}" for op in analysis.unknown_ops]
    _, height, width = analysis.input_shape
    variant = resolve(name)
    diagrams = same_drawing(drawn_modules(trace_variant(variant), api.analysis("cost", variant)))
    plot = f"plots/rf_{name}.png"
    out.plot(
        plot,
        plots.rf_plot,
        rf_rows,
        network=name,
        input_size=height if height == width else None,
    )
    out.text(
        f"networks/{name}.md",
        markdown.network_page(
            summary=summary,
            entry=entry,
            modules=modules,
            top_modules=top,
            top_share_pct=sum(r["macs_pct"] for r in top),
            rf_rows=rf_rows,
            rf_notes=notes,
            rf_plot=f"../{plot}",
            diagrams=diagrams,
        ),
    )


def blocks_page() -> str:
    """Every block and factorization variant drawn whole, grouped by tag and family."""
    sections = []
    for tag, heading in (("block", "Blocks"), ("factorization", "Factorizations")):
        records = []
        for variant in list_variants(tag):
            records.append(
                {
                    "variant": variant.name,
                    "family": variant.family,
                    "reproduces": variant.reproduces,
                    "reference": variant.reference,
                    "graph": block_graph(trace_variant(variant), api.analysis("cost", variant)),
                }
            )
        sections.append((heading, records))
    return markdown.blocks_page(sections)


def _memory_plot(out: Writer, name: str, memory: Any) -> tuple[str, str]:
    """Draw one network's live memory over the forward; its path and where the peak is."""
    plot = f"plots/memory_{name}.png"
    top_level = [(first, n) for n, _t, first, _e in memory.modules if n and "." not in n]
    peak_at = f"{memory.peak_module} ({memory.peak_operator})"
    out.plot(
        plot,
        plots.memory_plot,
        list(memory.timeline.live),
        title=f"{memory.variant}: live activations during the eval forward "
        f"({'x'.join(map(str, memory.input_shape))}, batch {memory.batch}, fp32)",
        peak_op=memory.timeline.peak_op,
        peak_label=peak_at,
        modules=top_level,
    )
    return plot, peak_at


def _steps(variant: Any) -> tuple[dict[str, Any], str]:
    """A training step's memory per optimizer, or none and why it cannot be priced."""
    try:
        steps = {
            optimizer: api.analysis("step_memory", variant, batch=STEP_BATCH, optimizer=optimizer)
            for optimizer in STEP_OPTIMIZERS
        }
    except InputError as exc:  # a row that says why, not a failed build
        return {}, str(exc)
    return steps, ""


def _memory_summary(name: str, variant: Any, memory: Any) -> dict[str, Any]:
    """One network's row of the summary table, without the training step's columns."""
    return {
        "variant": name,
        "input_shape": "x".join(map(str, memory.input_shape)),
        "activation_peak_bytes_fp32": memory.activation_peak_bytes,
        "peak_module": memory.peak_module,
        "peak_operator": memory.peak_operator,
        "bytes_moved_fp32": memory.bytes_moved,
        "arithmetic_intensity_fp32": memory.arithmetic_intensity,
        "train_macs": api.analysis("backward", variant).train_macs,
    }


def _memory_section(
    name: str, memory: Any, *, plot: str, peak_at: str, steps: dict[str, Any], step_note: str
) -> dict[str, Any]:
    """One network's section of the page, as :func:`incprof.report.markdown.memory_page`
    reads it."""
    return {
        "variant": name,
        "plot": plot,
        "peak_op": memory.timeline.peak_op,
        "ops": len(memory.timeline.live),
        "peak_bytes": memory.activation_peak_bytes,
        "peak_at": peak_at,
        "input_bytes": memory.input_bytes,
        "parameter_bytes": memory.parameter_bytes,
        "buffer_bytes": memory.buffer_bytes,
        "at_peak": [t.record() for t in memory.timeline.at_peak[:TOP_LIVE]],
        "alive_at_peak": len(memory.timeline.at_peak),
        "step": steps[STEP_OPTIMIZERS[0]].by_kind() if steps else [],
        "step_note": step_note,
    }


def memory_page(out: Writer, networks: Sequence[str]) -> str:
    """Per network: the forward's live memory as a plot, what is alive at its peak, and a
    training step's memory by kind; one summary row each."""
    summaries = []
    sections = []
    for name in networks:
        variant = resolve(name)
        memory = api.analysis("memory", variant)
        plot, peak_at = _memory_plot(out, name, memory)
        summary = _memory_summary(name, variant, memory)
        steps, step_note = _steps(variant)
        for optimizer, step in steps.items():
            summary[f"step_total_peak_bytes_{optimizer}"] = step.total_peak_bytes
        summary["step_note"] = step_note
        summaries.append(summary)
        sections.append(
            _memory_section(
                name, memory, plot=plot, peak_at=peak_at, steps=steps, step_note=step_note
            )
        )
    return markdown.memory_page(
        summaries, sections, step_batch=STEP_BATCH, step_optimizer=STEP_OPTIMIZERS[0]
    )


def _field(text: str | None) -> tuple[int, ...] | None:
    return tuple(int(v) for v in text.split("x")) if text else None


def _sees_as_far(field: tuple[int, ...] | None, reference: tuple[int, ...] | None) -> bool | None:
    """Whether a field is at least the reference variant's on every axis."""
    if field is None or reference is None:
        return None
    return all(mine >= theirs for mine, theirs in zip(field, reference, strict=True))


def factorization_page() -> str:
    """factorize_records at the defaults, split per family into alternatives and claims."""
    records = factorize_records()
    families = []
    for family in dict.fromkeys(r["family"] for r in records):
        rows = [r for r in records if r["family"] == family]
        # The records mark a family's reference variant under their "baseline" key.
        reference_rf = next((_field(r["rf_size"]) for r in rows if r["baseline"]), None)
        unique: dict[str, dict[str, Any]] = {}
        for r in rows:  # an alternative has one row per claim about it
            unique.setdefault(r["variant"], r)
        alternatives = [
            {**r, "rf_kept": _sees_as_far(_field(r["rf_size"]), reference_rf)}
            for r in unique.values()
        ]
        claims = [r for r in rows if r["paper_claim"]]
        families.append((family, alternatives, claims))
    return markdown.factorization_page(families, agreement_points=AGREEMENT_POINTS)


def table1_page() -> str:
    """GoogLeNet's printed Table 1 with, per row, the figures its widths imply and
    incprof's figures for the same modules; ``check`` flags the printed figures that
    disagree."""
    _, modules = api.show_records(TABLE1_VARIANT, depth=1)
    rows = table1_records({r["module"]: r for r in modules})
    for record in rows:
        flags = [c for c in ("params", "ops") if record[f"{c}_agree"] is False]
        checked = any(record[f"{c}_agree"] is not None for c in ("params", "ops"))
        record["check"] = (
            " ".join(f"**{c} ✗**" for c in flags) if flags else ("ok" if checked else "")
        )
    return markdown.table1_page(rows, source=GOOGLENET_TABLE1_SOURCE, variant=TABLE1_VARIANT)


def claims_page() -> str:
    """Every published claim against every convention of its network."""
    from incprof.registry import get
    from incprof.studies.claims import NO_FIGURE, claim_records

    records = claim_records(lambda name: api.claim_figures(get(name))[0])
    return markdown.claims_page(records, no_figure=NO_FIGURE)
