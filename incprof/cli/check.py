"""``incprof check``: a baseline's figures recomputed, what changed shown, a regression
the exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import FORMAT_OPTION, OUTPUT_OPTION, split_commas
from incprof.cli.output import BadInput, check_writable, render, write_output


@click.command("check")
@click.argument("baseline_path", metavar="BASELINE.json", type=click.Path(path_type=Path))
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Allowed change of the exact figures, in percent (0: they must match exactly).",
)
@click.option(
    "--latency-tolerance",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Allowed slowdown, in percent; latency is only measured on the baseline's GPU.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Rewrite BASELINE.json with today's figures (whole, keeping its mode and symlink); "
    "create it if missing.",
)
@click.option(
    "--variants",
    "variants_text",
    metavar="NAME,...",
    help="With --update: the entries the analytic baseline holds (registered names or "
    "package.module:callable); default: the ones it holds, or every registered entry for a "
    "new file.",
)
@click.option(
    "--import",
    "imports",
    metavar="MODULE",
    multiple=True,
    help="Let entries that name MODULE:callable (or a module inside package MODULE) import "
    "it; repeatable. Without it such an entry is refused: a file never decides what code runs.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
def check_command(
    baseline_path: Path,
    tolerance: float,
    latency_tolerance: float,
    update: bool,
    variants_text: str | None,
    imports: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Recompute what BASELINE.json holds and show what changed.

    An analytic baseline holds each entry's exact params, params_with_aux, MACs, other
    ops and receptive field: any change is a regression (either way: an architecture
    changed) unless --tolerance allows it. A latency baseline holds median times on one
    GPU: they compare as a ratio, only on that GPU; elsewhere each row is skipped.

    An entry naming package.module:callable imports that module only if --import names
    it (names typed after --variants need no consent: you typed them).

    Exit status: 0 nothing regressed, 1 something did, 2 a baseline that is missing,
    malformed, empty, of another schema version, naming an unknown variant or a module
    not allowed by --import. Without --update nothing is written.

    \b
    Examples:
      incprof check benchmarks/baselines/analytic.json
      incprof check benchmarks/baselines/latency_h100-80gb-hbm3.json --latency-tolerance 5
      incprof check my_models.json --update --variants googlenet_tv,inception_v3
    """
    from incprof.baseline import current_gpu, not_here, write_baseline

    names = _names(variants_text, update=update)
    if update:
        check_writable(baseline_path)  # before any computing, and before a read-only file
    if names or (update and not baseline_path.exists()):
        _write_new(baseline_path, names)
        return
    baseline = _load(baseline_path)
    gpu = current_gpu() if baseline.kind == "latency" else None
    result = _recompute(baseline, baseline_path, tolerance, latency_tolerance, gpu, imports)
    if update and result.updated is None:
        raise BadInput(f"cannot update {baseline_path} here: {not_here(baseline, gpu)}")
    _write_result(result, baseline, baseline_path, fmt, output)
    if update:
        write_baseline(baseline_path, result.updated)
        click.echo(f"incprof: updated {baseline_path}", err=True)
    elif result.regressed:
        raise click.exceptions.Exit(1)


def _names(variants_text: str | None, *, update: bool) -> list[str]:
    """--variants split; it names what --update writes, so only beside it."""
    if variants_text is not None and not update:
        raise BadInput("--variants names what --update writes; give --update too")
    names = split_commas(variants_text or "")
    if variants_text is not None and not names:
        raise BadInput(f"--variants takes comma-separated names; got {variants_text!r}")
    return names


def _write_new(baseline_path: Path, names: list[str]) -> None:
    """An analytic baseline of ``names`` (default: every registered entry) written."""
    from incprof.baseline import analytic_baseline, write_baseline
    from incprof.sources import resolve

    for name in names:
        resolve(name)  # an unknown name fails now, not after minutes of computing
    data = analytic_baseline(names or None)
    write_baseline(baseline_path, data)
    held = f"{len(data['entries'])} entries"
    if not names:
        held += " (every registered entry; name yours with --variants)"
    click.echo(f"incprof: wrote {baseline_path} with {held}", err=True)


def _load(baseline_path: Path) -> Any:
    """The baseline read; a missing or empty one says how to write it."""
    from incprof.baseline import EmptyBaselineError, load_baseline

    if not baseline_path.exists():
        raise BadInput(
            f"baseline {baseline_path} does not exist "
            f"(create it with 'incprof check {baseline_path} --update')"
        )
    try:
        return load_baseline(baseline_path)
    except EmptyBaselineError as exc:
        raise BadInput(
            f"{exc} (name what it holds: incprof check {baseline_path} --update --variants "
            "NAME,...)"
        ) from None


def _recompute(
    baseline: Any,
    baseline_path: Path,
    tolerance: float,
    latency_tolerance: float,
    gpu: Any,
    imports: tuple[str, ...],
) -> Any:
    """The baseline's figures recomputed; a module not allowed names the --import to add."""
    from incprof.baseline import check
    from incprof.jsonfile import clip
    from incprof.sources import ConsentError

    try:
        return check(
            baseline,
            tolerance_pct=tolerance,
            latency_tolerance_pct=latency_tolerance,
            gpu=gpu,
            allow_imports=imports,
        )
    except ConsentError as exc:
        allow = f"incprof check {baseline_path} --import {clip(exc.module)}"
        raise BadInput(f"{exc}: {allow}") from None


def _write_result(
    result: Any, baseline: Any, baseline_path: Path, fmt: str, output: Path | None
) -> None:
    """json and csv: every row on standard output, the summary on stderr; a table: the
    rows that changed, then the summary."""
    from incprof.columns import CHECK_COLUMNS

    counts = result.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing to check"
    summary = f"{baseline_path}: {len(baseline.entries)} entries, {summary}"
    if fmt in ("json", "csv"):
        write_output(render([r.record() for r in result.rows], fmt), output)
        click.echo(f"incprof: {summary}", err=True)
        return
    changed = [{**r.record(), "change": r.change} for r in result.rows if r.changed]
    table = render(changed, fmt, CHECK_COLUMNS) + "\n" if changed else ""
    write_output(f"{table}{summary}\n", output)
