"""``incprof predict``: latency predicted on a device profile, without running the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.analysis.profiles import builtin_names
from incprof.cli.options import (
    FORMAT_OPTION,
    INPUT_OPTION,
    OUTPUT_OPTION,
    as_option_error,
    resolve_profile,
    split_commas,
)
from incprof.cli.output import BadInput, progress, render, write_output


@click.command("predict")
@click.argument("variants", nargs=-1, required=True)
@click.option(
    "--device",
    "device_name",
    metavar="NAME",
    default=None,
    help=f"A built-in profile: {', '.join(builtin_names())}; cpu is this machine, its peak, "
    "copy bandwidth and launch cost measured now (a few seconds) [default: h100-sxm, whose "
    "factors are fitted on the committed H100 measurements].",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A profile FILE instead (incprof calibrate --out, or written by hand).",
)
@click.option(
    "--batch", "batch_text", default="1", show_default=True, help="Batch sizes, e.g. 1,32,256."
)
@click.option(
    "--dtype",
    "dtype_text",
    default=None,
    help="Comma-separated: fp32, tf32, bf16, fp16 [default: bf16 on a GPU profile, as "
    "inference runs there (fp16 on one without a bf16 peak); fp32 on a CPU one].",
)
@click.option(
    "--mode",
    "mode_text",
    default="eager",
    show_default=True,
    help="Comma-separated: eager (plain PyTorch, as a user runs it: host launch cost per "
    "op), graph (a replayed CUDA graph), compile (graph with fusions).",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    help="Per-module rows, this many levels deep, then a total row per configuration.",
)
@INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def predict_command(
    variants: tuple[str, ...],
    device_name: str | None,
    profile_path: str | None,
    batch_text: str,
    dtype_text: str | None,
    mode_text: str,
    depth: int | None,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Predicted latency of VARIANTS on a device profile, without running them.

    Per ATen op of the meta-device trace: max(FLOPs / (η_c · peak), bytes / (η_m ·
    bandwidth)) plus the mode's overhead (eager: the host's launch cost per op, which the
    GPU waits on at small batches; graph: a gap per kernel; compile: graph after folding
    batch norm into convolutions and fusing pointwise ops into their producer). Each row
    says which share of the time is compute-, memory- and launch-bound, and the dominant
    bound. The profile used and the kind of its figures (datasheet, measured, fitted,
    assumed) are named under the table and in every json/csv record (`profile`); the
    prediction's error against measured times is on the report's "Predicted vs measured"
    page.

    \b
    Examples:
      incprof predict inception_v3 googlenet --batch 1,32,256
      incprof predict inception_v3 --device a100-sxm --mode graph,compile --depth 1
      incprof predict bn_inception --device l4 --dtype fp16 --batch 8 --format json
    """
    from incprof.api import predict_records
    from incprof.parse import parse_inputs

    if device_name is not None and profile_path is not None:
        raise BadInput("--device names a built-in profile, --profile a file: give one of them")
    batches, dtypes, modes = _sweep(batch_text, dtype_text, mode_text)
    with as_option_error("--input"):
        shape = parse_inputs(input_text)
    profile = _profile(device_name, profile_path)
    records = predict_records(
        variants,
        profile=profile,
        dtypes=dtypes,
        batches=batches,
        modes=modes,
        depth=depth,
        input_shape=shape,
        progress=progress(),
    )
    if fmt in ("json", "csv"):
        write_output(render(records, fmt), output)
        return
    write_output(_table(records, profile, fmt, by_module=depth is not None), output)


def _sweep(batch_text: str, dtype_text: str | None, mode_text: str) -> tuple[list[int], Any, Any]:
    """The batches, dtypes (None: the profile's default) and modes predicted."""
    from incprof.analysis.predict import DTYPES, MODES
    from incprof.parse import parse_batches, parse_choices

    with as_option_error("--batch"):
        batches = parse_batches(batch_text)
    with as_option_error("--dtype"):
        dtypes = parse_choices(dtype_text, DTYPES) if dtype_text is not None else None
    with as_option_error("--mode"):
        modes = parse_choices(mode_text, MODES)
    return batches, dtypes, modes


def _profile(device_name: str | None, profile_path: str | None) -> Any:
    """The profile FILE of --profile, else --device's (default: h100-sxm)."""
    from incprof.api import DEFAULT_PROFILE

    if profile_path is not None:
        from incprof.analysis.profiles import load

        return load(profile_path)
    return resolve_profile(device_name or DEFAULT_PROFILE)


def _table(records: list[dict[str, Any]], profile: Any, fmt: str, *, by_module: bool) -> str:
    """The table, then the profile's source and notes, and the operators priced by their
    bytes alone."""
    from incprof.columns import PREDICT_COLUMNS, PREDICT_MODULE_COLUMNS

    columns = list(PREDICT_MODULE_COLUMNS if by_module else PREDICT_COLUMNS)
    footer = f"profile: {profile.source}\n"
    footer += "".join(f"note: {note}\n" for note in profile.notes)
    unpriced = sorted({op for r in records for op in split_commas(r.get("unpriced") or "")})
    if unpriced:
        footer += f"priced by their bytes alone (no FLOP formula): {', '.join(unpriced)}\n"
    return render(records, fmt, columns) + footer
