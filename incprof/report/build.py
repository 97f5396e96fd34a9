"""``incprof report``: compute every page's records through :mod:`incprof.api`, and write
the Markdown pages and PNG plots under one folder.

Deterministic: inputs are read in sorted order, no wall-clock time is written (the only
dates are the ones in the latency results files), and plots are byte-stable, so rebuilding
unchanged code gives unchanged files. Every file is written whole (temp file, then
rename); nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incprof import api
from incprof.analysis.trace import trace_variant
from incprof.errors import InputError
from incprof.files import write_into
from incprof.jsonfile import read_json
from incprof.registry import list_variants
from incprof.report import markdown, plots
from incprof.report.diagrams import block_graph, drawn_modules, same_drawing
from incprof.report.drawing import Drawer, Plot
from incprof.report.zoo import zoo_page, zoo_results
from incprof.results import latency_rows
from incprof.sources import resolve
from incprof.studies.factorization import AGREEMENT_POINTS, factorize_records
from incprof.studies.googlenet_table1 import (
    GOOGLENET_TABLE1_SOURCE,
    TABLE1_VARIANT,
    table1_records,
)

# The measured counters the counter-agreement page shows beside the analytic MACs.
REPORT_COUNTERS = ("torch", "fvcore", "thop")
# How many of a network's top-level modules "where the MACs go" lists.
TOP_MODULES = 5
# The memory page: the eval forward as compare prices it (batch 1, fp32), and a training
# step at a batch that trains (inception_v3's aux head cannot at batch 1), with SGD's
# state in its table and Adam's total beside it.
STEP_BATCH = 8
STEP_OPTIMIZERS = ("sgd", "adam")
# How many of the tensors alive at the peak a network's section lists.
TOP_LIVE = 5
# The roofline plots: each network's ops as the H100 SXM runs them at a large batch in a
# replayed graph (no host cost), in bf16 as the committed H100 measurements ran.
ROOFLINE = {"profile": "h100-sxm", "dtype": "bf16", "batch": 256, "mode": "graph"}


class _Writer:
    """Writes files under ``root`` (whole, into what is there) and remembers what it wrote."""

    def __init__(self, root: Path, drawer: Drawer | None = None) -> None:
        self.root = root
        self.drawer = drawer or Drawer()  # not entered: plots drawn here, as asked
        self.written: list[Path] = []

    def _write(self, relative: str, write: Callable[[Path], None]) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_into(path, write)
        self.written.append(path)
        return path

    def text(self, relative: str, text: str) -> Path:
        return self._write(
            relative, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n")
        )

    def plot(self, relative: str, plot: Plot, data: Any, **options: Any) -> Path:
        """``plot(data, path, **options)``, drawn in the drawer's second process."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.drawer.plot(path, plot, data, options)
        self.written.append(path)
        return path


# The repository this package sits in (a checkout, or the README's editable install):
# its measured results are the ones incprof comes with, found from any directory.
CHECKOUT = Path(__file__).resolve().parents[2]
SHIPPED_RESULTS = CHECKOUT / "benchmarks" / "results"


def results_folders(extra: Sequence[Path] = ()) -> list[Path]:
    """The measured results incprof comes with (when its checkout holds them), then
    ``extra`` (a user's own), each folder once."""
    folders = [SHIPPED_RESULTS, *extra] if SHIPPED_RESULTS.is_dir() else list(extra)
    unique: dict[Path, Path] = {}
    for folder in folders:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def _results(folders: Path | Sequence[Path], pattern: str) -> list[Path]:
    """The files matching ``pattern`` in each folder (one folder, or several), in order."""
    folders = [folders] if isinstance(folders, Path) else folders
    return [p for folder in folders if folder.is_dir() for p in sorted(folder.glob(pattern))]


def _shown(path: Path) -> str:
    """A folder as the pages name it: relative to the working directory, or else to the
    checkout, when inside it, so pages do not carry a machine's absolute paths."""
    for root in (Path.cwd(), CHECKOUT):
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def _shown_all(folders: Path | Sequence[Path]) -> str:
    folders = [folders] if isinstance(folders, Path) else folders
    return ", ".join(_shown(f) for f in folders) or "no results folder"


def _step(progress: api.Progress | None, message: str) -> None:
    if progress:
        progress(message)


def build_reports(
    out_dir: Path,
    *,
    results_dir: Path | Sequence[Path] = SHIPPED_RESULTS,
    networks: Sequence[str] = api.MAIN_FAMILY,
    counters: Sequence[str] = REPORT_COUNTERS,
    progress: api.Progress | None = None,
) -> list[Path]:
    """Write every report page and plot under ``out_dir``; return the paths written.

    ``networks`` are the family overview's rows, each with its own page; ``counters``
    are the measured counters of the counter-agreement page (empty: no such page). The
    latency page reads ``latency*.json`` (the files bench_latency.py writes) and the
    prediction page ``predict_*.json`` from ``results_dir``, one folder or several.
    """
    folders = [Path(results_dir)] if isinstance(results_dir, str | Path) else list(results_dir)
    if not counters:
        return _build(Path(out_dir), folders, networks, counters, None, progress)
    with _Beside(api.counter_records, tuple(networks), counters=tuple(counters)) as measured:
        return _build(Path(out_dir), folders, networks, counters, measured, progress)


class _Beside:
    """Runs ``function(*args, **kwargs)`` in a second process while the pages are built.

    The counter-agreement page runs fvcore, thop and FlopCounterMode over real CPU
    forwards, a third of a build, and depends on nothing else the build does; on two cores
    it costs no wall time beside the rest. A fresh interpreter ("spawn"), so nothing of
    this process's state (torch's threads, open files) is shared; where no second process
    can start, the call runs here when its result is asked for. A build that fails stops
    the second process rather than waiting for it.
    """

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.call = (function, args, kwargs)
        self.pool: Any = None
        self.pending: Any = None

    def __enter__(self) -> _Beside:
        import multiprocessing

        function, args, kwargs = self.call
        try:
            self.pool = multiprocessing.get_context("spawn").Pool(1)
            self.pending = self.pool.apply_async(function, args, kwargs)
        except (OSError, RuntimeError):
            self.pool = self.pending = None
        return self

    def result(self) -> Any:
        function, args, kwargs = self.call
        if self.pending is not None:
            return self.pending.get()
        return function(*args, **kwargs)

    def __exit__(self, *_exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _build(
    out_dir: Path,
    folders: list[Path],
    networks: Sequence[str],
    counters: Sequence[str],
    measured: _Beside | None,  # the counter-agreement records, None: no such page
    progress: api.Progress | None,
) -> list[Path]:
    with Drawer() as drawer:
        out = _Writer(out_dir, drawer)
        _pages(_Build(out, folders, networks, counters, measured, progress))
        _step(progress, "waiting for the plots")
        drawer.wait()
    return out.written


@dataclass(frozen=True)
class _Build:
    """What each page's builder reads."""

    out: _Writer
    folders: list[Path]
    networks: Sequence[str]
    counters: Sequence[str]
    measured: _Beside | None
    progress: api.Progress | None


@dataclass(frozen=True)
class _Page:
    """One page of the index: its title, file and summary (``{folders}``, ``{counters}``
    filled in), the progress line and its builder; ``shown``: whether this build has
    the page; ``last``: built after the others, as it waits on a second process."""

    title: str
    file: str
    summary: str
    step: str
    build: Callable[[_Build], str]
    shown: Callable[[_Build], bool] = lambda b: True
    last: bool = False


def _family(b: _Build) -> str:
    family = api.compare_records(b.networks)
    for cost in ("macs", "params"):
        b.out.plot(f"plots/top1_vs_{cost}.png", plots.accuracy_plot, family, cost=cost)
    entries = {r["variant"]: r for r in api.list_records("network")}
    for summary in family:
        _step(b.progress, f"network page: {summary['variant']}")
        _network_page(b.out, summary, entries[summary["variant"]])
    return markdown.overview_page(
        family,
        links=_links(b.networks),
        plots=[
            ("published top-1 against GMACs", "plots/top1_vs_macs.png"),
            ("published top-1 against parameters", "plots/top1_vs_params.png"),
        ],
    )


def _counters(b: _Build) -> str:
    assert b.measured is not None
    return markdown.counters_page(b.measured.result(), counters=b.counters)


def _zoo(b: _Build) -> str:
    zoo = [result for folder in b.folders for result in zoo_results(folder)]
    return zoo_page(zoo, folder=_shown_all(b.folders))


def _links(networks: Sequence[str]) -> dict[str, str]:
    return {name: f"networks/{name}.md" for name in networks}


# The index's pages, in its order.
PAGES: tuple[_Page, ...] = (
    _Page(
        "Family overview",
        "family.md",
        "params, MACs, FLOPs, other ops, receptive field and published accuracy of "
        "the main family, with accuracy-against-cost plots",
        "family overview",
        _family,
    ),
    _Page(
        "Factorization study",
        "factorization.md",
        "each factorization of 'Rethinking the Inception Architecture' against its "
        "baseline, the paper's claims beside ours",
        "factorization study",
        lambda b: _factorization_page(),
    ),
    _Page(
        "Teaching blocks and factorizations as diagrams",
        "blocks.md",
        "each block and factorization variant as a Mermaid flowchart from its traced "
        "dataflow: kernels, shapes, MACs per layer and each branch's share of them",
        "block diagrams",
        lambda b: _blocks_page(),
    ),
    _Page(
        "Memory and bytes moved",
        "memory.md",
        "live activation memory over each network's forward with its peak, bytes moved "
        "and arithmetic intensity, and a training step's memory by kind",
        "memory",
        lambda b: _memory_page(b.out, b.networks),
    ),
    _Page(
        "Counter agreement",
        "counters.md",
        "analytic MACs beside {counters}, every gap explained",
        "counter agreement ({counters}, in a second process)",
        _counters,
        shown=lambda b: b.measured is not None,
        last=True,
    ),
    _Page(
        "Latency",
        "latency.md",
        "saved GPU and CPU measurements from `{folders}`, ours "
        "beside the reference implementations (device and date from each file)",
        "latency",
        lambda b: _latency_page(b.out, b.folders),
    ),
    _Page(
        "Predicted vs measured",
        "predict.md",
        "the latency model's error against measured times (out of sample), its ranking "
        "of the networks, and a roofline of each network's ops on the H100 SXM",
        "predicted vs measured",
        lambda b: _predict_page(b.out, b.folders, b.networks),
    ),
    _Page(
        "The model zoo, checked",
        "zoo.md",
        "torchvision's and timm's models against their published MACs and parameters "
        "and against FlopCounterMode: passes, unknown operators, time per model",
        "model zoo",
        _zoo,
    ),
    _Page(
        "GoogLeNet Table 1",
        "googlenet_table1.md",
        "the paper's Table 1 row by row beside incprof's figures, rows that disagree "
        "with their own widths marked",
        "GoogLeNet Table 1",
        lambda b: _table1_page(),
    ),
    _Page(
        "Published cost claims",
        "claims.md",
        "the papers' and model zoos' MAC, FLOP and parameter figures, each checked "
        "against every counting convention: holds, under which, or the remainder",
        "published cost claims",
        lambda b: _claims_page(),
    ),
)


def _pages(b: _Build) -> None:
    """Every page of :data:`PAGES` (those marked ``last`` after the rest), then the index."""
    fill = {"folders": _shown_all(b.folders), "counters": ", ".join(b.counters)}
    pages = [page for page in PAGES if page.shown(b)]
    for page in sorted(pages, key=lambda p: p.last):
        _step(b.progress, page.step.format(**fill))
        b.out.text(page.file, page.build(b))
    listed = [(p.title, p.file, p.summary.format(**fill)) for p in pages]
    links = _links(b.networks)
    b.out.text(
        "README.md",
        markdown.index_page(listed, networks=[(name, links[name]) for name in b.networks]),
    )


def _network_page(out: _Writer, summary: dict[str, Any], entry: dict[str, Any]) -> None:
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


def _blocks_page() -> str:
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


def _memory_page(out: _Writer, networks: Sequence[str]) -> str:
    """Per network: the forward's live memory as a plot, what is alive at its peak, and a
    training step's memory by kind; one summary row each."""
    summaries = []
    sections = []
    for name in networks:
        variant = resolve(name)
        memory = api.analysis("memory", variant)
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
        summary = {
            "variant": name,
            "input_shape": "x".join(map(str, memory.input_shape)),
            "activation_peak_bytes_fp32": memory.activation_peak_bytes,
            "peak_module": memory.peak_module,
            "peak_operator": memory.peak_operator,
            "bytes_moved_fp32": memory.bytes_moved,
            "arithmetic_intensity_fp32": memory.arithmetic_intensity,
            "train_macs": api.analysis("backward", variant).train_macs,
        }
        try:
            steps = {
                optimizer: api.analysis(
                    "step_memory", variant, batch=STEP_BATCH, optimizer=optimizer
                )
                for optimizer in STEP_OPTIMIZERS
            }
            step_note = ""
        except InputError as exc:  # a row that says why, not a failed build
            steps, step_note = {}, str(exc)
        for optimizer, step in steps.items():
            summary[f"step_total_peak_bytes_{optimizer}"] = step.total_peak_bytes
        summary["step_note"] = step_note
        summaries.append(summary)
        sections.append(
            {
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


def _factorization_page() -> str:
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


def _read_results(path: Path) -> dict[str, Any]:
    """One results file: its environment, sweep, host and parity rows, timer checks."""
    data = read_json(path)
    has_sweep = isinstance(data, list) or (isinstance(data, dict) and "sweep" in data)
    sweep = latency_rows(data, path, parity=False) if has_sweep else []
    data = data if isinstance(data, dict) else {}
    environment = dict(data.get("environment") or {})
    if not environment and sweep:  # `incprof latency --save` rows carry their environment
        environment = {k: sweep[0].get(k) for k in ("device_name", "torch", "cuda", "cudnn")}
    dates = {r["date"] for r in sweep if r.get("date")}
    if environment.get("date"):
        dates.add(environment["date"])
    environment["dates"] = sorted(dates)
    return {
        "file": path.name,
        "environment": environment,
        "method": str(data.get("method") or ""),
        "sweep": sweep,
        "host": list(data.get("host") or []),
        "parity": list(data.get("parity") or []),
        "timer_checks": [
            {"check": key, **values}
            for key, values in sorted((data.get("timer_checks") or {}).items())
        ],
    }


def _latency_page(out: _Writer, folders: Path | Sequence[Path]) -> str:
    files = _results(folders, "latency*.json")
    results = []
    for path in files:
        result = _read_results(path)
        env = result["environment"]
        device = env.get("device_name") or "unknown device"
        when = ", ".join(env["dates"]) or "no date recorded"
        modes = []
        for mode in sorted({r.get("mode") for r in result["sweep"] if r.get("mode")}):
            pngs = []
            for metric, stem, what in (
                ("median_ms", "latency", "Latency per batch"),
                ("peak_share_pct", "peak_share", "Share of the measured peak"),
            ):
                relative = f"plots/{path.stem}_{mode}_{stem}.png"
                title = f"{what}, {mode} mode: {device} ({when})"
                out.plot(
                    relative,
                    plots.latency_plot,
                    result["sweep"],
                    mode=mode,
                    metric=metric,
                    title=title,
                )
                pngs.append(relative)
            modes.append((mode, *pngs))
        result["modes"] = modes
        if any(r.get("ours_ms") is not None for r in result["parity"]):
            relative = f"plots/{path.stem}_parity.png"
            title = f"incprof beside the reference implementations: {device} ({when})"
            out.plot(relative, plots.parity_plot, result["parity"], title=title)
            result["parity_plot"] = relative
        # A row without a reference time has no ratio to be within 5% of.
        result["parity"] = [
            {**r, "within_5pct": r.get("within_5pct") if r.get("ratio") is not None else None}
            for r in result["parity"]
        ]
        pairs = [r for r in result["parity"] if r.get("ratio") is not None]
        if result["parity"]:
            within = sum(1 for r in pairs if r["within_5pct"])
            result["parity_summary"] = (
                f"{within} of {len(pairs)} measured pairs within 5% of the reference "
                "(`ratio` = ours / reference median); rows without a reference time: "
                f"{len(result['parity']) - len(pairs)}. " + _parity_by_mode(pairs)
            )
        results.append(result)
    return markdown.latency_page(results, folder=_shown_all(folders))


def _parity_by_mode(pairs: Sequence[dict[str, Any]]) -> str:
    """Per mode, the largest gap from the reference: it shows whether misses are the
    launch-bound eager mode's (CPU-side time of the Python modules) or the kernels'."""
    parts = []
    for mode in sorted({r["mode"] for r in pairs}):
        rows = [r for r in pairs if r["mode"] == mode]
        worst = max(rows, key=lambda r: abs(r["ratio"] - 1))
        within = sum(1 for r in rows if r["within_5pct"])
        parts.append(
            f"mode {mode}: {within} of {len(rows)} within 5%, largest gap "
            f"{100 * (worst['ratio'] - 1):+.1f}% ({worst['variant']}, batch {worst['batch']})"
        )
    return "By mode: " + "; ".join(parts) + "."


def _table1_page() -> str:
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


def _claims_page() -> str:
    """Every published claim against every convention of its network."""
    from incprof.registry import get
    from incprof.studies.claims import NO_FIGURE, claim_records

    records = claim_records(lambda name: api.claim_figures(get(name))[0])
    return markdown.claims_page(records, no_figure=NO_FIGURE)


def _listed(value: Any) -> Any:
    """A list cell (a ranking's order, a fit's keys) as text a table can show."""
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def _read_validation(path: Path) -> dict[str, Any]:
    """One ``predict_*.json`` (benchmarks/bench_predict.py): its tables, lists as text."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise InputError(f"{path} holds no validation rows (a dict with 'rows')")
    tables = {
        key: [
            {k: _listed(v) for k, v in row.items()}
            for row in data.get(key) or []
            if isinstance(row, dict)
        ]
        for key in ("rows", "summary", "ranking", "goals")
    }
    tables["fits"] = [
        {
            **{k: _listed(v) for k, v in fit.items() if k != "figures"},
            "figures": "; ".join(
                f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                for k, v in sorted((fit.get("figures") or {}).items())
            ),
        }
        for fit in data.get("fits") or []
        if isinstance(fit, dict)
    ]
    return {
        "file": path.name,
        "environment": dict(data.get("environment") or {}),
        "method": str(data.get("method") or ""),
        **tables,
        "raw_rows": [r for r in data["rows"] if isinstance(r, dict)],
    }


def _roofline(name: str) -> dict[str, Any]:
    """One network's predicted ops on the roofline configuration: each op with FLOPs as a
    point, each category's roof, and the prediction's summary."""
    from incprof.analysis.profiles import builtin

    profile = builtin(ROOFLINE["profile"])
    predicted = api.predict_variant(
        resolve(name),
        profile,
        batch=ROOFLINE["batch"],
        dtype=ROOFLINE["dtype"],
        mode=ROOFLINE["mode"],
    )
    points = []
    flopless_s = 0.0
    for t in predicted.ops:
        kernel_s = t.compute_s + t.memory_s
        if not t.work.kernel or kernel_s <= 0:
            continue
        if t.work.flops and t.work.bytes:
            points.append(
                {
                    "category": t.work.category,
                    "intensity": t.work.flops / t.work.bytes,
                    "flops_per_s": t.work.flops / kernel_s,
                }
            )
        else:
            flopless_s += kernel_s
    peak = profile.peak(ROOFLINE["dtype"]).value * 1e12
    bandwidth = profile.bandwidth_gbs.value * 1e9
    roofs: dict[tuple[float, float], list[str]] = {}
    dtype = ROOFLINE["dtype"]
    for category in sorted({p["category"] for p in points}):
        key = (profile.compute_eff(category, dtype), profile.memory_eff(category, dtype))
        roofs.setdefault(key, []).append(category)
    summary = predicted.summary()
    return {
        "variant": name,
        "points": points,
        "roofs": [
            {
                "category": categories[0],
                "label": f"model roof ({', '.join(categories)}): η_c = {eta_c:.3g}, "
                f"η_m = {eta_m:.3g} (a GEMM's tile and wave quantization puts it below)",
                "peak": eta_c * peak,
                "bandwidth": eta_m * bandwidth,
            }
            for (eta_c, eta_m), categories in roofs.items()
        ],
        "datasheet": {
            "label": f"datasheet: {peak / 1e12:g} TFLOP/s, {bandwidth / 1e9:g} GB/s",
            "peak": peak,
            "bandwidth": bandwidth,
        },
        "summary": {
            **summary,
            "ops_with_flops": len(points),
            "flopless_kernel_ms": 1e3 * flopless_s,
        },
        "profile": profile,
    }


def _predict_page(out: _Writer, folders: Path | Sequence[Path], networks: Sequence[str]) -> str:
    """The validation files' error tables and scatter plots, then a roofline per network."""
    files = _results(folders, "predict_*.json")
    validations = []
    for path in files:
        result = _read_validation(path)
        relative = f"plots/{path.stem}_scatter.png"
        title = f"Predicted against measured latency ({path.name})"
        out.plot(relative, plots.predicted_scatter, result["raw_rows"], title=title)
        result["scatter"] = relative
        validations.append(result)
    rooflines = []
    for name in networks:
        roofline = _roofline(name)
        relative = f"plots/roofline_{name}.png"
        config = (
            f"{ROOFLINE['profile']}, {ROOFLINE['dtype']}, batch {ROOFLINE['batch']}, "
            f"{ROOFLINE['mode']}"
        )
        note = (
            f"Not shown: ops without FLOPs (batch norm, activations, pooling, concat), "
            f"{roofline['summary']['flopless_kernel_ms']:.3g} ms of kernel time, on the "
            "bandwidth roof by construction."
        )
        out.plot(
            relative,
            plots.roofline_plot,
            roofline["points"],
            roofs=roofline["roofs"],
            datasheet=roofline["datasheet"],
            title=f"{name}: each op on the roofline ({config})",
            note=note,
        )
        rooflines.append({**roofline, "plot": relative})
    profile = rooflines[0]["profile"] if rooflines else None
    return markdown.predict_page(
        validations,
        [r["summary"] for r in rooflines],
        [(r["variant"], r["plot"]) for r in rooflines],
        folder=_shown_all(folders),
        roofline=ROOFLINE,
        profile_source=profile.source if profile else "",
        profile_figures=[
            {"figure": key, "value": f.value, "kind": f.kind, "source": f.source}
            for key, f in profile.figures().items()
        ]
        if profile
        else [],
    )
