"""``incprof latency``: measured latency of a sweep of batches, dtypes and modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import (
    DEVICE_OPTION,
    FORMAT_OPTION,
    ONE_INPUT_OPTION,
    OUTPUT_OPTION,
    FileName,
    as_option_error,
)
from incprof.cli.output import BadInput, check_writable, progress, render, write_output


@click.command("latency")
@click.argument("variants", nargs=-1, required=True)
@DEVICE_OPTION
@click.option(
    "--batch", "batch_text", default="1", show_default=True, help="Batch sizes, e.g. 1,32,256."
)
@click.option(
    "--dtype",
    "dtype_text",
    default="fp32",
    show_default=True,
    help="fp32 (TF32 off), tf32, bf16, fp16.",
)
@click.option(
    "--mode",
    "mode_text",
    default="eager",
    show_default=True,
    help="eager, graph (CUDA graph), compile.",
)
@click.option("--channels-last", is_flag=True, help="Run model and input in channels_last layout.")
@click.option(
    "--save",
    type=FileName(dir_okay=False, path_type=Path),
    help="Also save the records, with their environment, as JSON (for reports and checks).",
)
@ONE_INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def latency_command(
    variants: tuple[str, ...],
    device: str,
    batch_text: str,
    dtype_text: str,
    mode_text: str,
    channels_last: bool,
    save: Path | None,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Latency of VARIANTS: median and p10/p90 in ms, images/s, achieved TFLOP/s and its
    share of this device's measured peak (a large matmul; on a CPU the faster of a
    matmul and a 3×3 convolution), peak memory.

    On a GPU: CUDA events around each repetition, warm-up, cuDNN autotuning, L2 flushed.
    On the CPU: torch.utils.benchmark, at least 5 samples. A batch that does not fit is a
    row marked "out of memory" and the sweep goes on; when no configuration ran, the table
    (and --save) is still written, and the command exits 2.

    \b
    Examples:
      incprof latency inception_v3 --device cuda --batch 1,32,256 --dtype fp32,bf16 \\
        --mode eager,graph
      incprof latency googlenet_tv --device cpu --save results.json
    """
    from incprof.analysis.latency import DeviceError
    from incprof.api import latency_records
    from incprof.parse import parse_input_shape

    batches, dtypes, modes = _sweep(batch_text, dtype_text, mode_text)
    for path in (save, output):  # before minutes of measuring, not after
        check_writable(path)
    with as_option_error("--input"):
        shape = parse_input_shape(input_text)
    with as_option_error(f"--device {device}:", DeviceError):
        records = latency_records(
            variants,
            batches=batches,
            dtypes=dtypes,
            modes=modes,
            channels_last=channels_last,
            device=device,
            input_shape=shape,
            progress=progress(),
        )
    if save is not None:
        write_output(render(records, "json"), save)
    write_output(render(records, fmt, _columns(records, fmt)), output)
    _refuse_when_none_ran(records)


def _sweep(batch_text: str, dtype_text: str, mode_text: str) -> tuple[list[int], Any, Any]:
    """The batches, dtypes and modes swept, each option's error worded as its own."""
    from incprof.analysis.latency import DTYPES, MODES
    from incprof.parse import parse_batches, parse_choices

    with as_option_error("--batch"):
        batches = parse_batches(batch_text)
    with as_option_error("--dtype"):
        dtypes = parse_choices(dtype_text, DTYPES)
    with as_option_error("--mode"):
        modes = parse_choices(mode_text, MODES)
    return batches, dtypes, modes


def _columns(records: list[dict[str, Any]], fmt: str) -> list[str] | None:
    """json and csv: every key; a table: its columns, a caveat's only when a row has one."""
    from incprof.columns import LATENCY_CAVEATS, LATENCY_COLUMNS

    caveats = [key for key in LATENCY_CAVEATS if any(r[key] for r in records)]
    return None if fmt in ("json", "csv") else [*LATENCY_COLUMNS, *caveats]


def _refuse_when_none_ran(records: list[dict[str, Any]]) -> None:
    """Exit 2, after the table is written, when no configuration ran."""
    if any(r["status"] == "ok" for r in records):
        return
    # A row that does not apply (tf32 on the CPU) says less than one that failed.
    first = next((r for r in records if not r["status"].startswith("skipped")), records[0])
    where = f"{first['variant']} batch {first['batch']} {first['dtype']} {first['mode']}"
    raise BadInput(f"no configuration ran ({len(records)} tried); {where}: {first['status']}")
