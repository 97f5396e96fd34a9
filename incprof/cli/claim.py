"""``incprof claim``: which counting conventions reproduce a published figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import FORMAT_OPTION, OUTPUT_OPTION, as_option_error
from incprof.cli.output import (
    check_writable,
    progress,
    render,
    render_notes,
    warn,
    write_output,
)


@click.command("claim")
@click.argument("variant")
@click.argument("value_text", metavar="VALUE")
@click.option(
    "--unit",
    type=click.Choice(["auto", "macs", "flops", "params"]),
    default="auto",
    show_default=True,
    help="The unit the claim states; auto tries every unit.",
)
@click.option(
    "--tolerance",
    "tolerance_pct",
    type=float,
    default=5.0,
    show_default=True,
    metavar="PCT",
    help="How far a figure may be from VALUE, in percent of VALUE (0 to 100).",
)
@click.option(
    "--input",
    "input_texts",
    metavar="SHAPE",
    multiple=True,
    help="Also try this input, any rank and dtype (3x320x320, 1x128:int64); repeatable, "
    "each a separate try. The variant's default, 3x224x224 and 3x299x299 (image "
    "networks) are always tried.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
def claim_command(
    variant: str,
    value_text: str,
    unit: str,
    tolerance_pct: float,
    input_texts: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Which counting conventions reproduce a published cost VALUE for VARIANT.

    Tries every convention: MACs, or FLOPs (2 per MAC); the default input, 224, 299 and
    each --input; aux heads out (eval) or in (a train-mode forward); what else is
    counted, following the rules of the paper (conv + linear multiply-adds), torch's
    FlopCounterMode, fvcore, thop and ptflops, or every op incprof counts; batch norm
    folded into the conv or not; one forward or a training step (forward + backward);
    and for parameters: as used, as held (aux heads in), BN folded, BN running stats.
    VALUE takes 1.5e9, 1.5G, 5B, 6.6M, 27,161,264.

    Lists the conventions within --tolerance, closest first, each with the tool whose
    default it is; a MAC claim that holds only as FLOPs (or the reverse) says so. When
    none holds: the nearest conventions and the nearest one by category (what it counts,
    what incprof counts there at all), and the remainder. --format json lists every
    convention tried with its figure, deviation_pct and what it counts.

    Exit status: 0 the claim holds under some convention, 1 it holds under none, 2 bad
    input (unknown variant, a VALUE that is not a positive number, a tolerance outside
    0 to 100).

    \b
    Examples:
      incprof claim googlenet_tv 1.5G
      incprof claim inception_v3 27161264 --unit params --tolerance 0
      incprof claim inception_v3 11.4e9 --unit macs --format json
    """
    from incprof.analysis.conventions import DOES_NOT_HOLD, check_tolerance, parse_value
    from incprof.api import claim_check
    from incprof.parse import parse_inputs

    value = parse_value(value_text)
    with as_option_error("--tolerance"):
        check_tolerance(tolerance_pct)
    with as_option_error("--input"):
        shapes = [parse_inputs(text) for text in input_texts]
    check_writable(output)
    check, notes = claim_check(
        variant,
        value,
        unit=unit,
        tolerance_pct=tolerance_pct,
        input_shapes=[s for s in shapes if s is not None],
        progress=progress(),
    )
    if fmt in ("json", "csv"):
        _write_data(check, notes, fmt, output)
    else:
        write_output(_table(check, notes, fmt), output)
    if check.verdict == DOES_NOT_HOLD:
        raise click.exceptions.Exit(1)


def _write_data(check: Any, notes: list[str], fmt: str, output: Path | None) -> None:
    """Standard output holds the data alone; what it leaves out, and the verdict, stderr."""
    for note in notes:
        warn(note)
    write_output(render(check.records(), fmt), output)
    click.echo(f"incprof: {check.summary()}", err=True)


def _table(check: Any, notes: list[str], fmt: str) -> str:
    """The verdict, the conventions that hold (else the five nearest), and when none
    holds the nearest one by category; the notes under it."""
    from incprof.analysis.conventions import DOES_NOT_HOLD
    from incprof.columns import CLAIM_COLUMNS, CLAIM_REMAINDER_COLUMNS

    records = check.records()
    shown = [r for r in records if r["holds"]] or records[:5]
    text = f"{check.summary()}\n\n" + render(shown, fmt, CLAIM_COLUMNS)
    if check.verdict == DOES_NOT_HOLD:
        near = check.nearest
        label = near.figure.convention.label() if near else ""
        text += f"\nThe nearest ({label}) by category:\n\n"
        text += render(check.remainder(), fmt, CLAIM_REMAINDER_COLUMNS)
    return text + render_notes(notes, fmt)
