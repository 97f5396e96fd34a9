"""``incprof report``: the Markdown reports and their plots, regenerated."""

from __future__ import annotations

from pathlib import Path

import click

from incprof.cli.output import BadInput, progress


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder the Markdown pages and PNG plots are written to.",
)
@click.option(
    "--results",
    "results_dirs",
    type=click.Path(file_okay=False, path_type=Path),
    multiple=True,
    help="A folder of your own saved results (latency*.json, predict_*.json), added to the "
    "measurements incprof comes with; repeatable.",
)
def report_command(out_dir: Path, results_dirs: tuple[Path, ...]) -> None:
    """Regenerate the Markdown reports: family overview, one page per network, the
    factorization study, counter agreement, latency and GoogLeNet's Table 1.

    Runs from any directory: the measured results incprof comes with (benchmarks/results
    of its checkout) are always read, and --results adds yours. A second run on unchanged
    code writes byte-identical files, so the committed reports/ folder shows no diff after
    `incprof report`.

    \b
    Example:
      incprof report --out reports/
    """
    from incprof.report.build import build_reports, results_folders

    for folder in results_dirs:
        if not folder.is_dir():
            raise BadInput(f"--results {folder}: no such folder")
    folders = results_folders(results_dirs)
    if not any(f.glob("latency*.json") for f in folders):
        click.echo(
            "incprof: no latency*.json in the results read (give yours with --results): "
            "the latency page will have no measurements and no plots",
            err=True,
        )
    try:
        written = build_reports(out_dir, results_dir=folders, progress=progress())
    except OSError as exc:
        raise BadInput(f"cannot write the reports under {out_dir}: {exc.strerror or exc}") from None
    click.echo(f"incprof: wrote {len(written)} files under {out_dir}", err=True)
