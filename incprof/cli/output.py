"""The one output path of every command and every ``--format``: records rendered as a
table, Markdown, CSV or JSON, written to standard output or a file whole, and the one-line
errors, warnings and progress lines on stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click


class BadInput(click.ClickException):
    """One clear line on stderr and exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"incprof: error: {self.format_message()}", err=True)


def write_output(text: str, output: Path | None) -> None:
    """Print, or write ``output`` whole (see :mod:`incprof.files`): never half a report,
    never a user's symlink, device or file mode replaced."""
    from incprof.files import STDOUT, write_text

    if output is None or str(output) == STDOUT:
        print_text(text)
        return
    try:
        write_text(output, text)
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc.strerror or exc}") from None


def print_text(text: str) -> None:
    """Standard output, flushed here so that a full device is exit 2, not a late crash."""
    try:
        click.echo(text, nl=False)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`incprof list | head -1`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None
    except OSError as exc:
        raise BadInput(f"cannot write standard output: {exc.strerror or exc}") from None


def check_writable(path: Path | None) -> None:
    """Refuse up front an output path that cannot be written, for commands that run long."""
    from incprof.files import STDOUT, target

    if path is None or str(path) == STDOUT:
        return
    try:
        target(path)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


def progress() -> Callable[[str], None] | None:
    """Progress lines on stderr, only when a person is watching it."""
    if not sys.stderr.isatty():
        return None
    return lambda message: click.echo(f"incprof: {message}", err=True)


def warn(message: str) -> None:
    """Warnings reach stderr whether or not a person is watching: logs keep them."""
    click.echo(f"incprof: {message}", err=True)


def render(
    records: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None
) -> str:
    """``records`` in ``fmt``; a table or Markdown leaves out the columns no row fills."""
    from incprof.report.tables import filled_columns
    from incprof.report.tables import render as render_table

    if fmt in ("table", "markdown") and records:
        columns = filled_columns(records, columns)
    return render_table(records, fmt, columns)


def render_notes(lines: Sequence[str], fmt: str) -> str:
    """The notes under a table, worded for ``fmt``."""
    from incprof.report.tables import notes_text

    return notes_text(lines, fmt)


def predicted_footer(records: Sequence[dict[str, Any]]) -> str:
    """The line under a table that names the profile and configuration of its predicted
    columns: a prediction is never shown without the profile it used."""
    seen = dict.fromkeys(
        (r["predicted_profile"], r["predicted_config"]) for r in records if "predicted_ms" in r
    )
    return "".join(f"predicted on {profile}, {config}\n" for profile, config in seen)
