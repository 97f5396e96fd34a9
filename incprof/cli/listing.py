"""``incprof list``: the registered networks, blocks and factorization variants."""

from __future__ import annotations

from pathlib import Path

import click

from incprof.cli.options import FORMAT_OPTION, OUTPUT_OPTION
from incprof.cli.output import render, write_output


@click.command("list")
@click.option(
    "--tag",
    type=click.Choice(["network", "block", "factorization"]),
    help="Only entries of this tag.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
def list_command(tag: str | None, fmt: str, output: Path | None) -> None:
    """List every registered network, block and factorization variant.

    \b
    Example:
      incprof list --tag factorization --format markdown
    """
    from incprof.api import list_records
    from incprof.columns import LIST_COLUMNS

    records = list_records(tag)
    columns = None if fmt in ("json", "csv") else LIST_COLUMNS
    write_output(render(records, fmt, columns), output)
