"""The pages of counted cost: the overview, one page per network with its block
diagrams, every block drawn whole, the counters beside the analytic MACs, and the index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from incprof.columns import COUNTER_COLUMNS, compare_columns, compare_keys, in_units
from incprof.report.diagrams import BlockGraph, mermaid
from incprof.report.markdown.common import Record, _image, _page, _table

CONVENTIONS = (
    "MACs are multiply-accumulates of convolutions and linear layers (bias adds excluded), "
    "batch 1, eval path, at each network's default input; FLOPs = 2 × MACs. Other "
    "operations (batch norm, pooling, activations, adds) are `other_ops`, never mixed into "
    "MACs. `params` counts the parameters the eval forward uses (aux heads excluded), "
    "`params_with_aux` all parameters as built."
)


def _link_variants(records: Sequence[Record], links: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {**r, "variant": f"[{r['variant']}]({links[r['variant']]})"}
        if r["variant"] in links
        else dict(r)
        for r in records
    ]


def overview_page(
    records: Sequence[Record], *, links: Mapping[str, str], plots: Sequence[tuple[str, str]]
) -> str:
    """The main family side by side, with published accuracy against cost: compare's
    table, the operators no formula knows listed under it rather than in a column."""
    columns = [c for c in compare_columns(records, compare_keys()) if c != "unknown_ops"]
    table = _table(*in_units(_link_variants(records, links), columns, unit="MiB"))
    unknown = [f"{r['variant']}: {r['unknown_ops']}" for r in records if r.get("unknown_ops")]
    notes = [
        CONVENTIONS,
        "`rf_size` and `rf_stride` are the receptive field and effective stride of the "
        "final feature map, in input pixels (the larger axis where they differ). "
        "`rf_aligned` says whether every set of branches that meets on the way there "
        "shares stride and centre; where not, the size is the largest branch's and the "
        "network's page names the merges. `top1` and "
        "`top5` are published ImageNet accuracies (percent) with their source; incprof does "
        "not measure accuracy, and leaves the cells empty where no figure was published "
        "for that exact network.",
        "`activation_peak_mib_fp32` is the most live activation memory of an eval forward "
        "(batch 1, fp32), `mib_moved_fp32` the bytes its operators read and write (unfused "
        "eager), `flop_per_byte_fp32` their arithmetic intensity and `train_macs` a training "
        "step's forward + backward MACs: the [memory page](memory.md) has the conventions "
        "and each network's live memory over the forward.",
    ]
    if unknown:
        notes.append("Operators no formula knows (not counted): " + "; ".join(unknown) + ".")
    figures = "\n\n".join(_image(caption, path) for caption, path in plots)
    return _page(
        "The Inception family: cost and published accuracy",
        table,
        "\n\n".join(notes),
        "## Published accuracy against cost",
        figures,
    )


MODULE_COLUMNS = (
    "module",
    "type",
    "kernel",
    "output_shape",
    "params",
    "macs",
    "other_ops",
    "macs_pct",
)
TOP_COLUMNS = ("module", "type", "output_shape", "params", "macs", "macs_pct")
RF_COLUMNS = ("endpoint", "size", "stride", "padding", "aligned", "output_shape")


RF_TEXT = (
    "`size` is the receptive field in input pixels, `stride` the effective stride and "
    "`padding` the effective padding: output index i sees input pixels from "
    "i·stride − padding onwards. `aligned` is no where branches with different "
    "strides or centres meet on the way to that end point (each such merge is named "
    "below); the size there is the largest branch's."
)


def _network_facts(summary: Record, entry: Record) -> str:
    """The network page's opening list: family, input, parameters, MACs, the final
    receptive field and the published accuracy."""
    accuracy = (
        f"top-1 {entry['top1']}%, top-5 {entry['top5']}% ({entry['accuracy_source']})"
        if entry.get("top1") is not None
        else "none published for this exact network"
    )
    return "\n".join(
        [
            f"- family: `{entry['family']}`; default input {summary['input_shape']}",
            f"- params {summary['params']:,} (with aux heads {summary['params_with_aux']:,})",
            f"- MACs {summary['macs']:,} (FLOPs = 2 × MACs = {summary['flops']:,}); "
            f"other ops {summary['other_ops']:,}",
            _final_field(summary),
            f"- published accuracy: {accuracy}",
        ]
    )


def _rf_sections(
    name: str, rf_rows: Sequence[Record], rf_notes: Sequence[str], rf_plot: str
) -> list[str]:
    """The receptive field per end point: its table (a ``note`` column where a row has
    one), the merges that are not aligned, and the growth plot."""
    rf_columns = list(RF_COLUMNS)
    if any(r.get("note") for r in rf_rows):
        rf_columns.insert(rf_columns.index("aligned") + 1, "note")
    return [
        "## Receptive field per end point",
        RF_TEXT,
        _table(rf_rows, rf_columns),
        "\n".join(f"- {note}" for note in rf_notes),
        _image(f"{name}: receptive field growth", rf_plot),
    ]


def network_page(
    *,
    summary: Record,
    entry: Record,
    modules: Sequence[Record],
    top_modules: Sequence[Record],
    top_share_pct: float,
    rf_rows: Sequence[Record],
    rf_notes: Sequence[str],
    rf_plot: str,
    diagrams: Sequence[Sequence[BlockGraph]] = (),
) -> str:
    """One network: what it reproduces, where its MACs go, how its receptive field grows,
    and its blocks drawn (``diagrams``: groups of blocks whose drawings are identical)."""
    name = summary["variant"]
    top = (
        f"The {len(top_modules)} top-level modules with the most MACs hold "
        f"{top_share_pct:.1f}% of them (`macs_pct` is the module's share of the network's "
        "MACs)."
    )
    return _page(
        name,
        _network_facts(summary, entry),
        "## What it reproduces",
        entry["reproduces"],
        "## How it differs",
        entry["differences"] or "No differences recorded.",
        "## Where the MACs go",
        top,
        _table(top_modules, TOP_COLUMNS),
        "## Per-module breakdown (depth 1)",
        _table(modules, MODULE_COLUMNS),
        *_rf_sections(name, rf_rows, rf_notes, rf_plot),
        *_block_diagrams(diagrams, network_macs=summary["macs"]),
    )


DIAGRAM_NOTE = (
    "Drawn from the traced dataflow, not by hand. A box is a layer: a conv → BN → ReLU "
    "unit, a pool, or a pool the block's own forward calls, with its kernel (/stride), "
    "output shape C×H×W and MACs; the rounded boxes are the block's input and its joins "
    "(concat, residual add). ReLU, batch norm, views and a residual branch's scale are "
    "folded into the edges. The percentage on an edge into a join is the share of the "
    "block's MACs that only that branch spends; `shortcut` is the block's input carried "
    "straight to a residual add. GitHub, GitLab and most Markdown editors render the "
    "diagrams."
)


def _fenced(graph: BlockGraph) -> str:
    return f"```mermaid\n{mermaid(graph)}\n```"


def _modules_text(names: Sequence[str]) -> str:
    """'Mixed_6c, Mixed_6d'; 'Repeat.0 … Repeat.9' for a longer run."""
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} … {names[-1]}"


def _block_diagrams(groups: Sequence[Sequence[BlockGraph]], *, network_macs: int) -> list[str]:
    """The network page's diagrams: each distinct block once, with how many there are."""
    if not groups:
        return []
    sections = [
        "## Block diagrams",
        "Each end point whose branches meet in a join, drawn once per distinct drawing "
        "(the blocks of a repeat are drawn once, with their count). " + DIAGRAM_NOTE,
    ]
    for group in groups:
        first, count = group[0], len(group)
        names = _modules_text([g.root for g in group])
        pct = 100 * first.macs / network_macs if network_macs else 0.0
        about = f"{first.macs:,} MACs, {pct:.1f}% of the network's"
        if count > 1:
            about = (
                f"{first.macs:,} MACs each, {pct:.1f}% of the network's "
                f"(the {count} together: {count * pct:.1f}%)"
            )
        heading = f"### {names} ({first.type}{f', ×{count}' if count > 1 else ''})"
        sections += [heading, about, _fenced(first)]
    return sections


def blocks_page(sections: Sequence[tuple[str, Sequence[Record]]]) -> str:
    """Every block and factorization variant drawn whole. ``sections`` holds (heading,
    records with ``variant``, ``family``, ``reproduces``, ``reference``, ``graph``)."""
    body = [
        "Each registered block and each member of each factorization family, drawn whole "
        "at its default input; the [factorization study](factorization.md) has their "
        "costs side by side. " + DIAGRAM_NOTE
    ]
    for heading, records in sections:
        body.append(f"## {heading}")
        family = None
        for record in records:
            if record["family"] != family:
                family = record["family"]
                body.append(f"### Family `{family}`")
            graph = record["graph"]
            reference = " (the family's reference)" if record["reference"] else ""
            body += [
                f"#### `{record['variant']}`{reference}",
                f"{record['reproduces']}. {graph.macs:,} MACs.",
                _fenced(graph),
            ]
    return _page("Teaching blocks and factorizations as diagrams", *body)


def _final_field(summary: Record) -> str:
    """The facts line of the final receptive field: its size and stride, aligned or not,
    or why it has none."""
    if summary["rf_size"] is None:
        return f"- no final receptive field: {summary['rf_note']}"
    aligned = "aligned" if summary["rf_aligned"] else "not aligned (see below)"
    return (
        f"- final receptive field {summary['rf_size']} px, effective stride "
        f"{summary['rf_stride']} px, {aligned}"
    )


def counters_page(records: Sequence[Record], *, counters: Sequence[str]) -> str:
    """Every measured counter beside the analytic MACs, with the reason for each gap."""
    intro = (
        f"Counters: analytic (incprof's closed form) and {', '.join(counters)}, each "
        "normalised to MACs (torch's FlopCounterMode reports FLOPs and is halved). "
        "`delta_vs_analytic_pct` is the counter's excess over the analytic MACs; the "
        "explanation names, operator by operator, what the counter adds (batch norm, "
        "pooling, ...) or cannot see (functional ops outside module hooks). A counter "
        "that fails is a row that says why. torch's FlopCounterMode runs on the meta "
        "device, where torch takes no fused CPU path. Over a real CPU forward (eval, "
        "no_grad) it has no formula for nn.MultiheadAttention's fast path or oneDNN's "
        "fused LSTM and counts nothing for them: 787,072 MACs instead of 2,359,936 on a "
        "patch-attention model, 442,688 instead of 5,161,280 on a patch-LSTM. `incprof "
        "counters --counters torch-cpu` shows that figure and names each such operator; "
        "these Inception networks run none of them."
    )
    sections = [intro]
    columns = [c for c in COUNTER_COLUMNS if c != "variant"]  # one section per variant
    for variant in dict.fromkeys(r["variant"] for r in records):
        mine = [r for r in records if r["variant"] == variant]
        sections += [f"## {variant}", _table(mine, columns)]
    return _page("Counter agreement", *sections)


def index_page(
    pages: Sequence[tuple[str, str, str]], *, networks: Sequence[tuple[str, str]]
) -> str:
    """reports/README.md: every page, and how to regenerate them. ``pages`` holds
    (title, relative link, one-line description); ``networks`` (name, link)."""
    page_list = "\n".join(f"- [{title}]({link}): {about}" for title, link, about in pages)
    network_list = "\n".join(f"- [{name}]({link})" for name, link in networks)
    how = (
        "Regenerate every page and plot with `incprof report` (writes to `reports/`; "
        "`incprof report --out DIR` writes elsewhere). The build is deterministic: the same "
        "code and the same results files give byte-identical files, so a diff here means "
        "a number changed. Latency comes from the `latency*.json` files in "
        "`benchmarks/results/`, written by `benchmarks/bench_latency.py`."
    )
    sections = [how, "## Pages", page_list]
    if networks:
        sections += ["## Networks", network_list]
    return _page("incprof reports", *sections)
