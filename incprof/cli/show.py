"""``incprof show``: one variant's per-module breakdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import FORMAT_OPTION, INPUT_OPTION, OUTPUT_OPTION, as_option_error
from incprof.cli.output import render, write_output


@click.command("show")
@click.argument("variant")
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Module nesting depth shown.",
)
@INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def show_command(
    variant: str, depth: int, input_text: tuple[str, ...], fmt: str, output: Path | None
) -> None:
    """Per-module breakdown of one VARIANT: output shape, params, MACs and share.

    VARIANT is a registered name, package.module:callable returning an nn.Module, or a
    .onnx file (shapes from ONNX shape inference; --input for a dynamic size).

    \b
    Examples:
      incprof show inception_v3 --depth 1 --input 3x512x512
      incprof show block_naive.onnx --depth 1
    """
    from incprof.api import show_records
    from incprof.parse import parse_inputs
    from incprof.sources import resolve

    with as_option_error("--input"):
        shape = parse_inputs(input_text)
    resolved = resolve(variant, shape)
    analysis, rows = show_records(resolved, input_shape=shape, depth=depth)
    if fmt not in ("table", "markdown"):
        # Every row names the unknown operators its module ran (not counted in its MACs).
        write_output(render(rows, fmt), output)
        return
    header, columns = _table_header(analysis, resolved, rows)
    write_output(header + "\n" + render(rows, fmt, columns), output)


def _table_header(
    analysis: Any, resolved: Any, rows: list[dict[str, Any]]
) -> tuple[str, list[str] | None]:
    """The lines above the table (the totals, the source's note, the operators not
    counted) and its columns: the unknown_ops column only when some module ran one."""
    from incprof.api import source_note

    header = (
        f"{analysis.variant}  input {'x'.join(map(str, analysis.input_shape))}  "
        f"params {analysis.params:,}  MACs {analysis.macs:,}  "
        f"other ops {analysis.other_ops:,}\n"
    )
    if source_note(resolved):
        header += f"note: {source_note(resolved)}\n"
    unknown = analysis.unknown_ops()
    columns = [c for c in rows[0] if c != "unknown_ops"] if rows else None
    if unknown:
        header += f"unknown operators (not counted): {', '.join(sorted(unknown))}\n"
        columns = None  # with the column that says which module ran them
    return header, columns
