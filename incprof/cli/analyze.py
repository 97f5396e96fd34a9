"""``incprof analyze``: every registered analyzer's figures for one model, read from
``incprof.profile()``: an analyzer registered in one line shows here with no other edit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import BATCH, FORMAT_OPTION, INPUT_OPTION, OUTPUT_OPTION, as_option_error
from incprof.cli.output import render, write_output
from incprof.columns import MODEL_KEYS


@click.command("analyze")
@click.argument("variant")
@click.option(
    "--analyzer",
    "names",
    multiple=True,
    help="An analyzer to run (repeatable; default: every registered one, see "
    "incprof.analysis.ANALYZERS).",
)
@click.option("--batch", type=BATCH, default=1, show_default=True, help="Batch size.")
@INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def analyze_command(
    variant: str,
    names: tuple[str, ...],
    batch: int,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Every registered analyzer's figures for one VARIANT: one row a figure.

    VARIANT is a registered name, package.module:callable, torchvision:NAME, timm:NAME or
    a .onnx file. An analyzer that does not apply (a receptive field without an image
    input) is a row saying why it was skipped.

    \b
    Examples:
      incprof analyze inception_v3
      incprof analyze googlenet_tv --analyzer cost --analyzer backward --format json
    """
    import incprof

    with as_option_error("--input"):
        inputs = _profile_inputs(input_text)
    profile = incprof.profile(variant, *inputs[0], batch=batch, kwargs=inputs[1])
    table = render(figure_rows(profile.figures(names or None)), fmt)
    if fmt in ("table", "markdown"):
        table = f"{profile.name}  inputs {profile.inputs}  batch {profile.batch}\n\n" + table
    write_output(table, output)


def _profile_inputs(texts: tuple[str, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``--input`` values as ``incprof.profile``'s positional and keyword inputs (none:
    the model's own default input)."""
    from incprof.parse import Inputs, parse_inputs

    parsed = parse_inputs(texts)
    if parsed is None:
        return (), {}
    if not isinstance(parsed, Inputs):
        return (tuple(parsed),), {}
    return tuple(parsed.args), dict(parsed.kwargs)


def figure_rows(figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``analyzer, figure, value`` rows from ``Profile.figures()``, in its order."""
    return [
        {"analyzer": name, "figure": key, "value": value}
        for name, record in figures.items()
        for key, value in record.items()
        if key not in MODEL_KEYS
    ]
