"""``incprof calibrate``: micro-benchmarks timed here, a device profile fitted to them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import FileName, as_option_error
from incprof.cli.output import check_writable, progress, render, warn, write_output
from incprof.run_settings import PRECISIONS


@click.command("calibrate")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), required=True)
@click.option(
    "--dtype",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="What the micro-benchmarks run in (tf32 and fp16 on a GPU only).",
)
@click.option(
    "--batch", "batch_text", help="Batch sizes, e.g. 1,32,256 (default: cpu 1,8; cuda 1,32,256)."
)
@click.option(
    "--fit",
    "fit_what",
    type=click.Choice(["all", "efficiencies"]),
    default="all",
    show_default=True,
    help="all: the compute and memory efficiencies (pooling's apart), launch cost and gap; "
    "efficiencies: those only, launch and gap kept as measured (cpu) or as the GPU's "
    "built-in profile has them (how the built-in cpu profile was fitted).",
)
@click.option(
    "--channels-last/--contiguous",
    default=None,
    help="Layout of the micro-benchmarks (default: channels_last on cuda, contiguous on cpu).",
)
@click.option(
    "--quick", is_flag=True, help="Batch 1 and short timings: a rough profile in seconds."
)
@click.option(
    "--out",
    type=FileName(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the fitted profile (JSON) to FILE, for --profile FILE later; '-' prints it "
    "(and the tables go to stderr). A symlink's target is written, a device straight through.",
)
def calibrate_command(
    device: str,
    dtype: str,
    batch_text: str | None,
    fit_what: str,
    channels_last: bool | None,
    quick: bool,
    out: Path | None,
) -> None:
    """Time a fixed set of micro-benchmarks on this machine's CPU or GPU (Inception's
    convolution shapes, ReLU, add, batch norm, pools, cat, a copy, launch probes) and fit
    the latency model's factors to them: a device profile for predicting there.

    Peak and bandwidth are measured now (CPU) or taken from the GPU's built-in profile
    (else measured); the compute and memory efficiencies, the per-op launch cost and the
    per-kernel gap are fitted (pooling, slow on CPUs, gets its own memory efficiency).
    Prints each micro-benchmark's measured and predicted time, then every figure of the
    profile with its kind and source. Takes about 20 s on a CPU, a minute or two on a GPU.

    \b
    Examples:
      incprof calibrate --device cpu --quick --out cpu-profile.json
      incprof calibrate --device cuda --dtype bf16 --batch 1,32,256 --out gpu-profile.json
    """
    from incprof.analysis import calibrate as cal
    from incprof.analysis.latency import DeviceError

    batches = _batches(batch_text, quick=quick)
    check_writable(out)
    timing = (
        dict(
            min_run_time=cal.QUICK_MIN_RUN_TIME_S,
            figures_min_run_time=cal.QUICK_FIGURES_MIN_RUN_TIME_S,
        )
        if quick
        else {}
    )
    with as_option_error(f"--device {device}:", DeviceError):
        result = cal.calibrate(
            device,
            dtype=dtype,
            batches=batches,
            keys=cal.FIT_KEYS if fit_what == "all" else cal.EFFICIENCY_KEYS,
            channels_last=channels_last,
            progress=progress(),
            **timing,
        )
    _write(result, out)


def _batches(batch_text: str | None, *, quick: bool) -> list[int] | None:
    """--batch parsed; --quick alone means batch 1; neither, the device's default."""
    from incprof.parse import parse_batches

    if batch_text is not None:
        with as_option_error("--batch"):
            return parse_batches(batch_text)
    return [1] if quick else None


def _write(result: Any, out: Path | None) -> None:
    """The fit's tables on standard output and the profile to --out; with --out - the
    profile alone on standard output and the tables on stderr."""
    import json

    tables = (
        render(result.records(), "table")
        + f"\nrms log error {result.rms_log_error:.3f} over {len(result.rows)} timings\n\n"
        + render(result.figure_records(), "table")
    )
    profile = json.dumps(result.profile.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if out is not None and str(out) == "-":
        click.echo(tables, err=True, nl=False)
        write_output(profile, None)
        return
    write_output(tables, None)
    if out is None:
        warn("the profile was not saved: give --out FILE to keep it")
    else:
        write_output(profile, out)
