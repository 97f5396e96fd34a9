"""``incprof compare``: side-by-side cost of several variants, with measured, saved or
predicted latency columns beside it on request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from incprof.cli.options import (
    BATCH,
    DEVICE_OPTION,
    FORMAT_OPTION,
    INPUT_OPTION,
    OUTPUT_OPTION,
    PREDICT_DTYPE_OPTION,
    PREDICT_MODE_OPTION,
    as_option_error,
    predict_option,
    resolve_profile,
    split_commas,
)
from incprof.cli.output import (
    BadInput,
    predicted_footer,
    progress,
    render,
    render_notes,
    write_output,
)


@click.command("compare")
@click.argument("variants", nargs=-1)
@click.option(
    "--counters",
    "counters_text",
    default="analytic",
    show_default=True,
    help="Comma-separated: analytic,torch,fvcore,thop,ptflops,torch-cpu (each adds "
    "macs_<counter>, '-' as '_').",
)
@click.option("--baseline", help="Add <metric>_vs_baseline ratios against this VARIANT.")
@click.option("--sort", "sort_column", help="Sort by a column; a leading '-' sorts descending.")
@click.option("--latency", is_flag=True, help="Measure latency (fp32, eager) and add its columns.")
@click.option(
    "--results",
    type=click.Path(dir_okay=False),
    help="Take the latency columns from saved results (incprof latency --save, benchmarks).",
)
@DEVICE_OPTION
@click.option(
    "--batch",
    type=BATCH,
    default=1,
    show_default=True,
    help="Batch of the latency and predicted columns.",
)
@predict_option("predicted_ms (and the bound it sits on)")
@PREDICT_DTYPE_OPTION
@PREDICT_MODE_OPTION
@INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def compare_command(
    variants: tuple[str, ...],
    counters_text: str,
    baseline: str | None,
    sort_column: str | None,
    latency: bool,
    results: str | None,
    device: str,
    batch: int,
    predict_device: str | None,
    predict_dtype: str | None,
    predict_mode: str,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Side-by-side cost of VARIANTS (default: the main Inception family).

    Columns: params, params_with_aux, MACs, FLOPs (= 2 × MACs), other ops, the eval
    forward's activation peak, bytes moved and FLOPs per byte (batch 1, fp32; tables in
    MiB), train_macs (forward + backward), the final feature map's receptive field and
    stride and whether its branches meet aligned (rf_note says why a field is empty),
    published top-1/top-5 with their source.

    --predict DEVICE adds the forward's predicted time at --batch (see `incprof predict`),
    in bf16 on a GPU and fp32 on cpu unless --predict-dtype, eager unless --predict-mode;
    a line under the table names the profile and its source.

    \b
    Examples:
      incprof compare
      incprof compare googlenet_tv inception_v3 --counters analytic,torch,fvcore
      incprof compare --baseline googlenet --sort -macs
      incprof compare googlenet inception_v3 --predict h100-sxm --batch 32 --predict-mode graph
      incprof compare googlenet_tv inception_v3 --batch 32 \\
        --results benchmarks/results/latency_parity_h100-80gb-hbm3.json
    """
    request = _checked_request(
        variants,
        counters_text,
        baseline,
        sort_column,
        latency,
        results,
        device,
        batch,
        predict_device,
        predict_dtype,
        predict_mode,
        input_text,
    )
    records, notes, footer = _records(request)
    write_output(_rendered(records, request.keys, fmt, footer, notes), output)


@dataclass
class _Request:
    """What compare's options ask for, each checked before anything is computed."""

    names: list[str]
    counters: list[str]
    shape: Any
    keys: list[str]
    order: tuple[str, bool] | None
    baseline: str | None
    latency: bool
    results: str | None
    saved: list[dict[str, Any]] | None
    device: str
    batch: int
    profile: Any
    predict_dtype: str | None
    predict_mode: str


def _checked_request(
    variants: tuple[str, ...],
    counters_text: str,
    baseline: str | None,
    sort_column: str | None,
    latency: bool,
    results: str | None,
    device: str,
    batch: int,
    predict_device: str | None,
    predict_dtype: str | None,
    predict_mode: str,
    input_text: tuple[str, ...],
) -> _Request:
    """The options checked in the order their errors are reported, the first one wins."""
    from incprof.api import MAIN_FAMILY
    from incprof.columns import compare_keys
    from incprof.parse import parse_sort

    counters = _counters(counters_text)
    if latency and results:
        raise BadInput("--latency measures, --results reads saved figures: give one of them")
    names = list(variants or MAIN_FAMILY)
    if baseline and baseline not in names:
        names.append(baseline)
    shape = _input_shape(input_text, runs_the_model=bool(latency or counters))
    keys = compare_keys(
        counters,
        latency=bool(latency or results),
        baseline=bool(baseline),
        predicted=predict_device is not None,
    )
    with as_option_error("--sort"):
        order = parse_sort(sort_column, keys) if sort_column is not None else None
    if predict_dtype is not None and predict_device is None:
        raise BadInput("--predict-dtype sets the dtype of --predict's columns; give --predict too")
    profile = resolve_profile(predict_device) if predict_device else None
    saved = _saved_latency(results, batch) if results else None
    return _Request(
        names=names,
        counters=counters,
        shape=shape,
        keys=keys,
        order=order,
        baseline=baseline,
        latency=latency,
        results=results,
        saved=saved,
        device=device,
        batch=batch,
        profile=profile,
        predict_dtype=predict_dtype,
        predict_mode=predict_mode,
    )


def _counters(counters_text: str) -> list[str]:
    """The measured counters asked for beside the analytic MACs (always there)."""
    from incprof.analysis.counters import ALL_COUNTERS

    counters = [c for c in split_commas(counters_text) if c != "analytic"]
    unknown = [c for c in counters if c not in ALL_COUNTERS]
    if unknown:
        raise BadInput(
            f"unknown counter {unknown[0]!r}; choose from analytic, {', '.join(ALL_COUNTERS)}"
        )
    return counters


def _input_shape(input_text: tuple[str, ...], *, runs_the_model: bool) -> Any:
    """--input parsed; several or typed inputs only where nothing runs the model."""
    from incprof.parse import Inputs, parse_inputs

    with as_option_error("--input"):
        shape = parse_inputs(input_text)
    if isinstance(shape, Inputs) and runs_the_model:
        # The timed run and the other counters feed the model one random float tensor.
        raise BadInput(
            f"--latency and --counters run one float input (e.g. 3x224x224); got {shape}"
        )
    return shape


def _saved_latency(results: str, batch: int) -> list[dict[str, Any]]:
    """The saved latency records of --results, which must hold some at --batch."""
    from incprof.results import load_latency_results

    saved = load_latency_results(results)
    if not any(r.get("batch") == batch for r in saved):
        found = sorted({r["batch"] for r in saved if isinstance(r.get("batch"), int)})
        raise BadInput(
            f"{results} has no latency results at batch {batch}"
            f" (it has batch {', '.join(map(str, found)) or 'none'}); choose one with --batch"
        )
    return saved


def _records(request: _Request) -> tuple[list[dict[str, Any]], list[str], str]:
    """The compared records, the notes under their table and the predicted footer."""
    from incprof.api import add_baseline_ratios, compare_records, sort_records

    records = compare_records(
        request.names, input_shape=request.shape, counters=request.counters, progress=progress()
    )
    notes = [
        f"{r['variant']}: not aligned: {r['alignment_note']}"
        for r in records
        if r["alignment_note"]
    ]
    saved = _measured_latency(request) if request.latency else request.saved
    if saved is not None:
        notes += _join_latency(records, saved, request)
    footer = _add_predictions(records, request) if request.profile is not None else ""
    if request.baseline:
        with as_option_error("--baseline"):
            add_baseline_ratios(records, request.baseline)
    if request.order is not None:
        column, descending = request.order
        records = sort_records(records, column, descending=descending)
    return records, notes, footer


def _measured_latency(request: _Request) -> list[dict[str, Any]]:
    """--latency: each variant timed now at --batch, fp32, eager."""
    from incprof.analysis.latency import DeviceError
    from incprof.api import latency_records

    with as_option_error(f"--device {request.device}:", DeviceError):
        return latency_records(
            request.names,
            batches=[request.batch],
            device=request.device,
            input_shape=request.shape,
            progress=progress(),
        )


def _join_latency(
    records: list[dict[str, Any]], saved: list[dict[str, Any]], request: _Request
) -> list[str]:
    """The latency columns joined in; the note for the variants left blank."""
    from incprof.api import join_latency

    missing = join_latency(records, saved, batch=request.batch)
    where = request.results or "the measurement"
    blank = f"{where} has no ok result at batch {request.batch} and this input"
    for record in records:
        record["latency_note"] = blank if record["variant"] in missing else ""
    if missing:
        return [f"{blank} for {', '.join(missing)}: its latency columns are blank"]
    return []


def _add_predictions(records: list[dict[str, Any]], request: _Request) -> str:
    """--predict's columns added; the footer that names their profile."""
    from incprof.api import add_predictions

    add_predictions(
        records,
        request.names,
        profile=request.profile,
        dtype=request.predict_dtype,
        mode=request.predict_mode,
        batch=request.batch,
        input_shape=request.shape,
    )
    return predicted_footer(records)


def _rendered(
    records: list[dict[str, Any]], keys: list[str], fmt: str, footer: str, notes: list[str]
) -> str:
    """json and csv: every key, for scripts; a table: its columns in units, then the
    predicted footer and the notes (alignment, blank latency) under it, not in a column."""
    from incprof.columns import PREDICTED_NOTES, compare_columns, in_units

    if fmt not in ("table", "markdown"):
        return render(records, fmt, None)
    shown = [k for k in compare_columns(records, keys) if k not in PREDICTED_NOTES]
    records, columns = in_units(records, shown, unit="MiB")
    return render(records, fmt, columns) + footer + render_notes(notes, fmt)
