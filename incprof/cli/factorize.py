"""``incprof factorize``: the factorization study, with predicted times on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import (
    BATCH,
    FORMAT_OPTION,
    OUTPUT_OPTION,
    PREDICT_DTYPE_OPTION,
    PREDICT_MODE_OPTION,
    predict_option,
    resolve_profile,
)
from incprof.cli.output import BadInput, predicted_footer, render, write_output


@click.command("factorize")
@click.argument("families", nargs=-1)
@click.option("--channels", type=click.IntRange(min=1), help="Input channels of every family.")
@click.option("--grid", type=click.IntRange(min=1), help="Input grid size (H = W) of every family.")
@predict_option("each alternative's predicted time and the time it saves")
@PREDICT_DTYPE_OPTION
@PREDICT_MODE_OPTION
@click.option(
    "--predict-batch",
    type=BATCH,
    default=1,
    show_default=True,
    help="Batch of the predicted columns.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
def factorize_command(
    families: tuple[str, ...],
    channels: int | None,
    grid: int | None,
    predict_device: str | None,
    predict_dtype: str | None,
    predict_mode: str,
    predict_batch: int,
    fmt: str,
    output: Path | None,
) -> None:
    """The factorization study of "Rethinking the Inception Architecture": per FAMILY,
    each alternative's MACs, params and receptive field, its saving against the family's
    reference variant (the row whose `baseline` is true), and the paper's claim beside it.
    Beside each saving, what it costs in traffic (batch 1, fp32): bytes moved, the
    activation peak and FLOPs per byte (see `incprof memory`).

    Families: fact_5x5 (5×5 vs two 3×3), asym_3/5/7 (n×n vs 1×n + n×1), fact_3x3 (3×3 vs
    two 2×2), grid_reduction (conv then pool, pool then conv, parallel).

    --predict DEVICE adds each alternative's predicted time (see `incprof predict`) and
    predicted_saving_pct, the time it saves against the reference, beside the MAC saving:
    a factorization adds layers, and small layers pay launch and memory time that MACs do
    not count. Defaults: batch 1, eager, bf16 on a GPU and fp32 on cpu; a line under the
    table names the profile and its source.

    \b
    Examples:
      incprof factorize
      incprof factorize fact_5x5 asym_7 --channels 256 --grid 14
      incprof factorize asym_3 --predict h100-sxm --predict-batch 256 --predict-mode graph
    """
    from incprof.columns import factorize_columns, in_units
    from incprof.studies.factorization import factorize_records

    if predict_device is None and (predict_dtype is not None or predict_batch != 1):
        raise BadInput(
            "--predict-dtype and --predict-batch set the predicted columns; give --predict"
        )
    profile = resolve_profile(predict_device) if predict_device else None
    records = factorize_records(families, channels=channels, grid=grid)
    footer = ""
    if profile is not None:
        setting = (predict_dtype, predict_mode, predict_batch)
        footer = _add_predictions(records, profile, setting, channels=channels, grid=grid)
    columns = None  # json and csv: every key, exact bytes
    if fmt in ("table", "markdown"):
        records, columns = in_units(records, factorize_columns(predicted=profile is not None))
    write_output(render(records, fmt, columns) + (footer if columns else ""), output)


def _add_predictions(
    records: list[dict[str, Any]],
    profile: Any,
    setting: tuple[str | None, str, int],
    *,
    channels: int | None,
    grid: int | None,
) -> str:
    """--predict's columns, at the ``setting`` (dtype, mode, batch), added to every
    alternative; the footer that names their profile."""
    from incprof.api import add_factorize_predictions

    dtype, mode, batch = setting
    add_factorize_predictions(
        records, profile=profile, dtype=dtype, mode=mode, batch=batch, channels=channels, grid=grid
    )
    return predicted_footer(records)
