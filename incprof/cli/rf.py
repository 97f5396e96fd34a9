"""``incprof rf``: the receptive field of each end point of a variant."""

from __future__ import annotations

from pathlib import Path

import click

from incprof.cli.options import FORMAT_OPTION, ONE_INPUT_OPTION, OUTPUT_OPTION, as_option_error
from incprof.cli.output import render, render_notes, write_output


@click.command("rf")
@click.argument("variant")
@ONE_INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def rf_command(variant: str, input_text: tuple[str, ...], fmt: str, output: Path | None) -> None:
    """Receptive field of each end point of VARIANT and of its final feature map.

    size is the field in input pixels, stride the effective stride (jump) and padding
    the effective padding: output index i sees input pixels i·stride − padding onwards.
    Branches that meet must share stride and centre; a graph that does not is reported,
    and aligned is "no" from there on. After a strided transposed convolution or an
    upsampling no single field describes every position: the cells stay empty and note
    says why.

    \b
    Example:
      incprof rf inception_v3 --format markdown
    """
    from incprof.api import rf_records
    from incprof.parse import parse_image_shape

    with as_option_error("--input"):
        shape = parse_image_shape(input_text)
    analysis, rows = rf_records(variant, input_shape=shape)
    notes = [f"not aligned: {m}" for m in analysis.misalignments]
    notes += [f"unknown to the receptive-field walk: {op}" for op in analysis.unknown_ops]
    if fmt in ("table", "markdown"):
        write_output(render(rows, fmt) + render_notes(notes, fmt), output)
        return
    if notes and rows:  # the final map's row says what its field went through
        final = rows[-1]
        final["note"] = "; ".join(filter(None, [final["note"], *notes]))
    write_output(render(rows, fmt), output)
