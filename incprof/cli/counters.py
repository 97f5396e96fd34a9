"""``incprof counters``: the measured counters beside the analytic MACs."""

from __future__ import annotations

from pathlib import Path

import click

from incprof.cli.options import (
    FORMAT_OPTION,
    ONE_INPUT_OPTION,
    OUTPUT_OPTION,
    as_option_error,
    split_commas,
)
from incprof.cli.output import BadInput, progress, render, write_output


@click.command("counters")
@click.argument("variants", nargs=-1)
@click.option(
    "--counters",
    "counters_text",
    default="torch,fvcore,thop",
    show_default=True,
    help="Comma-separated measured counters: torch,fvcore,thop,ptflops, and torch-cpu "
    "(FlopCounterMode over a real CPU forward, as a user runs it).",
)
@ONE_INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def counters_command(
    variants: tuple[str, ...],
    counters_text: str,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Counter agreement: every counter beside the analytic MACs, each gap explained.

    \b
    Example:
      incprof counters googlenet_tv inception_v3 --format markdown
    """
    from incprof.analysis.counters import ALL_COUNTERS
    from incprof.api import MAIN_FAMILY, counter_records
    from incprof.columns import COUNTER_COLUMNS
    from incprof.parse import parse_input_shape

    counters = split_commas(counters_text)
    unknown = [c for c in counters if c not in ALL_COUNTERS]
    if unknown:
        raise BadInput(f"unknown counter {unknown[0]!r}; choose from {', '.join(ALL_COUNTERS)}")
    with as_option_error("--input"):
        shape = parse_input_shape(input_text)
    records = counter_records(
        variants or MAIN_FAMILY, input_shape=shape, counters=counters, progress=progress()
    )
    columns = None if fmt in ("json", "csv") else COUNTER_COLUMNS
    write_output(render(records, fmt, columns), output)
