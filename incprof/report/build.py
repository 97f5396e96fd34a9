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
from incprof.report import markdown, plots
from incprof.report.drawing import Drawer, second_process
from incprof.report.measured_pages import latency_page, predict_page
from incprof.report.network_pages import (
    STEP_BATCH,
    blocks_page,
    claims_page,
    factorization_page,
    memory_page,
    network_page,
    table1_page,
)
from incprof.report.writer import (
    SHIPPED_RESULTS,
    Writer,
    shown_all,
    step,
)
from incprof.report.writer import results_folders as results_folders  # the CLI's
from incprof.report.zoo import zoo_page, zoo_results

# The measured counters the counter-agreement page shows beside the analytic MACs.
REPORT_COUNTERS = ("torch", "fvcore", "thop")


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
        function, args, kwargs = self.call
        try:
            self.pool = second_process()
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
        out = Writer(out_dir, drawer)
        _pages(_Build(out, folders, networks, counters, measured, progress))
        step(progress, "waiting for the plots")
        drawer.wait()
    return out.written


@dataclass(frozen=True)
class _Build:
    """What each page's builder reads."""

    out: Writer
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
        step(b.progress, f"network page: {summary['variant']}")
        network_page(b.out, summary, entries[summary["variant"]])
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
    return zoo_page(zoo, folder=shown_all(b.folders))


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
        lambda b: factorization_page(),
    ),
    _Page(
        "Teaching blocks and factorizations as diagrams",
        "blocks.md",
        "each block and factorization variant as a Mermaid flowchart from its traced "
        "dataflow: kernels, shapes, MACs per layer and each branch's share of them",
        "block diagrams",
        lambda b: blocks_page(),
    ),
    _Page(
        "Memory and bytes moved",
        "memory.md",
        "live activation memory over each network's forward with its peak, bytes moved "
        "and arithmetic intensity, and a training step's memory by kind",
        "memory",
        lambda b: memory_page(b.out, b.networks),
    ),
    _Page(
        "Every registered analyzer",
        "analyzers.md",
        "each analyzer registered in incprof.analysis, its record for every network: "
        "what incprof analyze and Profile.figures() give",
        "analyzers",
        lambda b: markdown.analyzers_page(
            api.analyzer_figures(b.networks, batch=STEP_BATCH), batch=STEP_BATCH
        ),
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
        lambda b: latency_page(b.out, b.folders),
    ),
    _Page(
        "Predicted vs measured",
        "predict.md",
        "the latency model's error against measured times (out of sample), its ranking "
        "of the networks, and a roofline of each network's ops on the H100 SXM",
        "predicted vs measured",
        lambda b: predict_page(b.out, b.folders, b.networks),
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
        lambda b: table1_page(),
    ),
    _Page(
        "Published cost claims",
        "claims.md",
        "the papers' and model zoos' MAC, FLOP and parameter figures, each checked "
        "against every counting convention: holds, under which, or the remainder",
        "published cost claims",
        lambda b: claims_page(),
    ),
)


def _pages(b: _Build) -> None:
    """Every page of :data:`PAGES` (those marked ``last`` after the rest), then the index."""
    fill = {"folders": shown_all(b.folders), "counters": ", ".join(b.counters)}
    pages = [page for page in PAGES if page.shown(b)]
    for page in sorted(pages, key=lambda p: p.last):
        step(b.progress, page.step.format(**fill))
        b.out.text(page.file, page.build(b))
    listed = [(p.title, p.file, p.summary.format(**fill)) for p in pages]
    links = _links(b.networks)
    b.out.text(
        "README.md",
        markdown.index_page(listed, networks=[(name, links[name]) for name in b.networks]),
    )
