"""The ``incprof`` command: one small function per subcommand over :mod:`incprof.api`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from incprof import __version__
from incprof.analysis.profiles import builtin_names
from incprof.errors import InputError

EXAMPLES = """\b
Examples:
  incprof list --tag network
  incprof compare                          # the main Inception family
  incprof compare googlenet_tv inception_v3 --counters torch,fvcore
  incprof show inception_v3 --depth 1
  incprof counters googlenet_tv --format markdown
  incprof claim googlenet_tv 1.5G          # which conventions give 1.5 billion
  incprof memory inception_v3 --train --batch 2   # training-step memory by kind
  incprof predict inception_v3 --device h100-sxm --batch 1,256 --mode eager,graph
  incprof show incprof.models.googlenet:build_googlenet_tv   # any package.module:callable
  incprof report --out reports/
"""

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format; json is a list of flat records.",
)


class _FileName(click.Path):
    """click.Path that keeps an empty name empty, so that it can be refused."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "":
            self.fail("needs a file name, or - for standard output", param, ctx)
        return super().convert(value, param, ctx)


OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=_FileName(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write to FILE instead of standard output ('-'): a symlink's target, keeping the "
    "file's mode; a device or pipe is written straight through.",
)
INPUT_OPTION = click.option(
    "--input",
    "input_text",
    metavar="SHAPE",
    multiple=True,
    help="Input shape without the batch, any rank, optional dtype: 3x299x299, 128, "
    "1x128:int64, 3x16x112x112; repeat for several positional inputs, NAME=SHAPE for a "
    "keyword input (default: each variant's own).",
)
ONE_INPUT_OPTION = click.option(
    "--input",
    "input_text",
    metavar="SHAPE",
    multiple=True,
    help="Input shape without the batch, any rank, e.g. 3x299x299 or 3x16x112x112; one "
    "float input here (default: each variant's own).",
)

DEVICE_OPTION = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto: the GPU when there is one, else the CPU.",
)


class BadInput(click.ClickException):
    """One clear line on stderr and exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"incprof: error: {self.format_message()}", err=True)


# click >= 8.2 shows the help through this usage error when no command is given.
_SHOWS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _usage_line(exc: click.UsageError, ctx: click.Context) -> BadInput:
    """click's usage error (a bad option value, a missing argument) as one line."""
    where = exc.ctx.command_path if exc.ctx else ctx.command_path
    return BadInput(f"{exc.format_message()} (see '{where} --help')")


class IncprofGroup(click.Group):
    """Turns the library's input errors and click's usage errors into exit code 2 with
    one line, never a traceback or a usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if isinstance(exc, _SHOWS_HELP):
                raise
            raise _usage_line(exc, ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        from incprof.errors import RegistryError

        try:
            return super().invoke(ctx)
        except (InputError, RegistryError) as exc:
            raise BadInput(str(exc)) from None
        except KeyboardInterrupt:
            # 130 as a shell reports Ctrl-C; 1 is what `check` means by "regressed".
            click.echo("incprof: interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except click.UsageError as exc:
            raise _usage_line(exc, ctx) from None


class _Batch(click.ParamType):
    """One batch size, its errors worded as every --batch error is (incprof.parse)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from incprof.parse import parse_batch

        with _as_option_error(param.opts[0] if param is not None else "--batch"):
            return parse_batch(value)


BATCH = _Batch()


@contextmanager
def _as_option_error(option: str, error: type[InputError] = InputError) -> Iterator[None]:
    """Word the library's ``error`` about an option's value as that option's error: the
    library says what is wrong ("must be CxHxW ..."), the command line says where."""
    try:
        yield
    except error as exc:
        raise BadInput(f"{option} {exc}") from None


def write_output(text: str, output: Path | None) -> None:
    """Print, or write ``output`` whole (see :mod:`incprof.files`): never half a report,
    never a user's symlink, device or file mode replaced."""
    from incprof.files import STDOUT, write_text

    if output is None or str(output) == STDOUT:
        _print(text)
        return
    try:
        write_text(output, text)
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc.strerror or exc}") from None


def _print(text: str) -> None:
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


def _check_writable(path: Path | None) -> None:
    """Refuse up front an output path that cannot be written, for commands that run long."""
    from incprof.files import STDOUT, target

    if path is None or str(path) == STDOUT:
        return
    try:
        target(path)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None


def _progress() -> Callable[[str], None] | None:
    """Progress lines on stderr, only when a person is watching it."""
    if not sys.stderr.isatty():
        return None
    return lambda message: click.echo(f"incprof: {message}", err=True)


def _warn(message: str) -> None:
    """Warnings reach stderr whether or not a person is watching: logs keep them."""
    click.echo(f"incprof: {message}", err=True)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _render(
    records: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None
) -> str:
    from incprof.report.tables import filled_columns, render

    if fmt in ("table", "markdown") and records:
        columns = filled_columns(records, columns)
    return render(records, fmt, columns)


def _notes(notes: Sequence[str], fmt: str) -> str:
    from incprof.report.tables import notes_text

    return notes_text(notes, fmt)


PREDICT_DTYPE_OPTION = click.option(
    "--predict-dtype",
    type=click.Choice(["fp32", "tf32", "bf16", "fp16"]),
    default=None,
    help="dtype of the predicted columns: fp32, tf32, bf16, fp16 [default: bf16 on a GPU "
    "profile, fp32 on cpu].",
)
PREDICT_MODE_OPTION = click.option(
    "--predict-mode",
    type=click.Choice(["eager", "graph", "compile"]),
    default="eager",
    show_default=True,
    help="Mode of the predicted columns (eager: plain PyTorch, as a user runs it).",
)


def _predict_option(what: str) -> Any:
    return click.option(
        "--predict",
        "predict_device",
        metavar="DEVICE",
        default=None,
        help=f"Add {what} predicted on DEVICE (a built-in profile such as h100-sxm, cpu "
        "measured now, or a profile FILE; see `incprof predict`).",
    )


def _predicted_footer(records: Sequence[dict[str, Any]]) -> str:
    """The line under a table that names the profile and configuration of its predicted
    columns: a prediction is never shown without the profile it used."""
    seen = dict.fromkeys(
        (r["predicted_profile"], r["predicted_config"]) for r in records if "predicted_ms" in r
    )
    return "".join(f"predicted on {profile}, {config}\n" for profile, config in seen)


def _resolve_profile(spec: str) -> Any:
    """A device name or profile file; ``cpu`` is measured now, which takes a few seconds.
    A bad one is a ProfileError whose line names the device or file (and close names)."""
    from incprof.api import device_profile

    progress = _progress()
    if spec == "cpu" and progress:
        progress("measuring this CPU's peak, copy bandwidth and per-op launch cost")
    return device_profile(spec)


@click.group(
    cls=IncprofGroup, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="incprof")
def cli() -> None:
    """What each Inception design decision costs: exact MACs, parameters, receptive
    fields and latency for GoogLeNet, BN-Inception, Inception-v3/v4, Inception-ResNet
    and their factorization variants.

    MACs are multiply-accumulates of convolutions and linear layers (bias excluded,
    batch 1, eval path); FLOPs = 2 × MACs; everything else is other_ops.
    """


@cli.command("list")
@click.option(
    "--tag",
    type=click.Choice(["network", "block", "factorization"]),
    help="Only entries of this tag.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
def list_command(tag: str | None, fmt: str, output: Path | None) -> None:
    """List every registered network, block and factorization variant.

    \b
    Example:
      incprof list --tag factorization --format markdown
    """
    from incprof.api import list_records
    from incprof.columns import LIST_COLUMNS

    records = list_records(tag)
    columns = None if fmt in ("json", "csv") else LIST_COLUMNS
    write_output(_render(records, fmt, columns), output)


@cli.command("show")
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
    from incprof.api import show_records, source_note
    from incprof.parse import parse_inputs
    from incprof.sources import resolve

    with _as_option_error("--input"):
        shape = parse_inputs(input_text)
    resolved = resolve(variant, shape)
    analysis, rows = show_records(resolved, input_shape=shape, depth=depth)
    if fmt in ("table", "markdown"):
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
        write_output(header + "\n" + _render(rows, fmt, columns), output)
    else:
        # Every row names the unknown operators its module ran (not counted in its MACs).
        write_output(_render(rows, fmt), output)


@cli.command("compare")
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
@_predict_option("predicted_ms (and the bound it sits on)")
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
    from incprof.analysis.counters import ALL_COUNTERS
    from incprof.api import (
        MAIN_FAMILY,
        add_baseline_ratios,
        compare_records,
        join_latency,
        latency_records,
        sort_records,
    )
    from incprof.columns import PREDICTED_NOTES, compare_columns, compare_keys, in_units
    from incprof.parse import Inputs, parse_inputs, parse_sort
    from incprof.results import load_latency_results

    counters = [c for c in _split(counters_text) if c != "analytic"]
    unknown = [c for c in counters if c not in ALL_COUNTERS]
    if unknown:
        raise BadInput(
            f"unknown counter {unknown[0]!r}; choose from analytic, {', '.join(ALL_COUNTERS)}"
        )
    if latency and results:
        raise BadInput("--latency measures, --results reads saved figures: give one of them")
    names = list(variants or MAIN_FAMILY)
    if baseline and baseline not in names:
        names.append(baseline)
    with _as_option_error("--input"):
        shape = parse_inputs(input_text)
    if isinstance(shape, Inputs) and (latency or counters):
        # The timed run and the other counters feed the model one random float tensor.
        raise BadInput(
            f"--latency and --counters run one float input (e.g. 3x224x224); got {shape}"
        )
    keys = compare_keys(
        counters,
        latency=bool(latency or results),
        baseline=bool(baseline),
        predicted=predict_device is not None,
    )
    with _as_option_error("--sort"):
        order = parse_sort(sort_column, keys) if sort_column is not None else None
    if predict_dtype is not None and predict_device is None:
        raise BadInput("--predict-dtype sets the dtype of --predict's columns; give --predict too")
    profile = _resolve_profile(predict_device) if predict_device else None
    saved = load_latency_results(results) if results else None
    if saved is not None and not any(r.get("batch") == batch for r in saved):
        found = sorted({r["batch"] for r in saved if isinstance(r.get("batch"), int)})
        raise BadInput(
            f"{results} has no latency results at batch {batch}"
            f" (it has batch {', '.join(map(str, found)) or 'none'}); choose one with --batch"
        )
    records = compare_records(names, input_shape=shape, counters=counters, progress=_progress())
    notes = [
        f"{r['variant']}: not aligned: {r['alignment_note']}"
        for r in records
        if r["alignment_note"]
    ]
    if latency:
        from incprof.analysis.latency import DeviceError

        with _as_option_error(f"--device {device}:", DeviceError):
            saved = latency_records(
                names, batches=[batch], device=device, input_shape=shape, progress=_progress()
            )
    if saved is not None:
        missing = join_latency(records, saved, batch=batch)
        where = results or "the measurement"
        blank = f"{where} has no ok result at batch {batch} and this input"
        for record in records:
            record["latency_note"] = blank if record["variant"] in missing else ""
        if missing:
            notes.append(f"{blank} for {', '.join(missing)}: its latency columns are blank")
    footer = ""
    if profile is not None:
        from incprof.api import add_predictions

        add_predictions(
            records,
            names,
            profile=profile,
            dtype=predict_dtype,
            mode=predict_mode,
            batch=batch,
            input_shape=shape,
        )
        footer = _predicted_footer(records)
    if baseline:
        with _as_option_error("--baseline"):
            add_baseline_ratios(records, baseline)
    if order is not None:
        records = sort_records(records, order[0], descending=order[1])
    columns = None  # json and csv: every key, for scripts
    if fmt in ("table", "markdown"):
        # The notes (alignment, blank latency) go under the table, not in a column.
        shown = [k for k in compare_columns(records, keys) if k not in PREDICTED_NOTES]
        records, columns = in_units(records, shown, unit="MiB")
        write_output(_render(records, fmt, columns) + footer + _notes(notes, fmt), output)
        return
    write_output(_render(records, fmt, columns), output)


@cli.command("counters")
@click.argument("variants", nargs=-1)
@click.option(
    "--counters",
    "counters_text",
    default="torch,fvcore,thop",
    show_default=True,
    help="Comma-separated measured counters: torch,fvcore,thop,ptflops, and torch-cpu "
    "(FlopCounterMode over a real CPU forward, as a user runs it).",
)
@ONE_INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def counters_command(
    variants: tuple[str, ...],
    counters_text: str,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Counter agreement: every counter beside the analytic MACs, each gap explained.

    \b
    Example:
      incprof counters googlenet_tv inception_v3 --format markdown
    """
    from incprof.analysis.counters import ALL_COUNTERS
    from incprof.api import MAIN_FAMILY, counter_records
    from incprof.columns import COUNTER_COLUMNS
    from incprof.parse import parse_input_shape

    counters = _split(counters_text)
    unknown = [c for c in counters if c not in ALL_COUNTERS]
    if unknown:
        raise BadInput(f"unknown counter {unknown[0]!r}; choose from {', '.join(ALL_COUNTERS)}")
    with _as_option_error("--input"):
        shape = parse_input_shape(input_text)
    records = counter_records(
        variants or MAIN_FAMILY, input_shape=shape, counters=counters, progress=_progress()
    )
    columns = None if fmt in ("json", "csv") else COUNTER_COLUMNS
    write_output(_render(records, fmt, columns), output)


@cli.command("latency")
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
    type=_FileName(dir_okay=False, path_type=Path),
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
    from incprof.analysis.latency import DTYPES, MODES, DeviceError
    from incprof.api import latency_records
    from incprof.columns import LATENCY_CAVEATS, LATENCY_COLUMNS
    from incprof.parse import parse_batches, parse_choices, parse_input_shape

    with _as_option_error("--batch"):
        batches = parse_batches(batch_text)
    with _as_option_error("--dtype"):
        dtypes = parse_choices(dtype_text, DTYPES)
    with _as_option_error("--mode"):
        modes = parse_choices(mode_text, MODES)
    for path in (save, output):  # before minutes of measuring, not after
        _check_writable(path)
    with _as_option_error("--input"):
        shape = parse_input_shape(input_text)
    with _as_option_error(f"--device {device}:", DeviceError):
        records = latency_records(
            variants,
            batches=batches,
            dtypes=dtypes,
            modes=modes,
            channels_last=channels_last,
            device=device,
            input_shape=shape,
            progress=_progress(),
        )
    if save is not None:
        write_output(_render(records, "json"), save)
    # Caveats get a column only when some row has one.
    caveats = [key for key in LATENCY_CAVEATS if any(r[key] for r in records)]
    columns = None if fmt in ("json", "csv") else [*LATENCY_COLUMNS, *caveats]
    write_output(_render(records, fmt, columns), output)
    if not any(r["status"] == "ok" for r in records):
        # A row that does not apply (tf32 on the CPU) says less than one that failed.
        first = next((r for r in records if not r["status"].startswith("skipped")), records[0])
        where = f"{first['variant']} batch {first['batch']} {first['dtype']} {first['mode']}"
        raise BadInput(f"no configuration ran ({len(records)} tried); {where}: {first['status']}")


@cli.command("calibrate")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), required=True)
@click.option(
    "--dtype",
    type=click.Choice(["fp32", "tf32", "bf16", "fp16"]),
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
    type=_FileName(dir_okay=False, allow_dash=True, path_type=Path),
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
    import json

    from incprof.analysis import calibrate as cal
    from incprof.analysis.latency import DeviceError
    from incprof.parse import parse_batches

    batches = None
    if batch_text is not None:
        with _as_option_error("--batch"):
            batches = parse_batches(batch_text)
    elif quick:
        batches = [1]
    _check_writable(out)
    timing = (
        dict(
            min_run_time=cal.QUICK_MIN_RUN_TIME_S,
            figures_min_run_time=cal.QUICK_FIGURES_MIN_RUN_TIME_S,
        )
        if quick
        else {}
    )
    with _as_option_error(f"--device {device}:", DeviceError):
        result = cal.calibrate(
            device,
            dtype=dtype,
            batches=batches,
            keys=cal.FIT_KEYS if fit_what == "all" else cal.EFFICIENCY_KEYS,
            channels_last=channels_last,
            progress=_progress(),
            **timing,
        )
    tables = (
        _render(result.records(), "table")
        + f"\nrms log error {result.rms_log_error:.3f} over {len(result.rows)} timings\n\n"
        + _render(result.figure_records(), "table")
    )
    profile = json.dumps(result.profile.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if out is not None and str(out) == "-":
        click.echo(tables, err=True, nl=False)
        write_output(profile, None)
        return
    write_output(tables, None)
    if out is None:
        _warn("the profile was not saved: give --out FILE to keep it")
    else:
        write_output(profile, out)


@cli.command("memory")
@click.argument("variants", nargs=-1, required=True)
@click.option("--batch", type=BATCH, default=1, show_default=True, help="Batch size.")
@click.option(
    "--dtype",
    "dtype_text",
    default="fp32",
    show_default=True,
    help="Comma-separated: fp32, bf16, fp16 (floating storages scale; integer ones keep "
    "their size).",
)
@click.option(
    "--train",
    is_flag=True,
    help="A training step instead: gradients, optimizer state, saved activations, peaks.",
)
@click.option(
    "--optimizer",
    "optimizer_text",
    default=None,
    help="With --train, comma-separated: sgd (momentum), adam  [default: sgd]",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=None,
    help="Per-module rows of one VARIANT, this many levels deep, then a total row.",
)
@click.option(
    "--measured",
    is_flag=True,
    help="Also run the real pass on the CPU in fp32 and add its measured peaks: a "
    "function-level tracker, torch.profiler's allocator events and torch's MemTracker.",
)
@INPUT_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def memory_command(
    variants: tuple[str, ...],
    batch: int,
    dtype_text: str,
    train: bool,
    optimizer_text: str | None,
    depth: int | None,
    measured: bool,
    input_text: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Memory and bytes moved of VARIANTS, exact, from the meta-device trace.

    Per variant and dtype: the activation peak of an eval forward and the module and
    operator where it occurs, input, parameter and buffer bytes apart, bytes read,
    written and moved (unfused eager: each ATen op reads its inputs and writes its
    outputs; views move nothing), FLOPs (2 × MACs) and their intensity in FLOP per byte,
    and the training step's backward and total MACs. Tables show bytes in KiB or MiB
    (one unit per column, named in its header); json and csv give exact integer bytes.

    --depth N breaks one variant down by module, each with its largest live activation
    bytes, then a (total) row. --train shows a training step by kind instead: gradients,
    optimizer state, activations saved for backward, forward and step peaks, and the total
    at the step peak. A step that cannot run (batch norm on a 1×1 map at batch 1) is a row
    whose status says why, with a warning; the command exits 2 only when no step ran.

    \b
    Examples:
      incprof memory googlenet inception_v3 --dtype fp32,bf16
      incprof memory inception_v3 --depth 1 --format markdown
      incprof memory block_v3_fig10 --train --batch 8 --optimizer sgd,adam
    """
    from incprof.analysis.memory import DTYPES
    from incprof.analysis.training import OPTIMIZERS
    from incprof.api import (
        join_measured_memory,
        memory_module_records,
        memory_records,
        step_memory_records,
    )
    from incprof.columns import (
        MEASURED_MEMORY_KEYS,
        MEMORY_COLUMNS,
        MEMORY_MODULE_COLUMNS,
        STEP_MEMORY_COLUMNS,
        bytes_text,
        in_units,
    )
    from incprof.parse import Inputs, parse_choices, parse_inputs

    with _as_option_error("--dtype"):
        dtypes = parse_choices(dtype_text, list(DTYPES))
    if optimizer_text is not None and not train:
        raise BadInput("--optimizer sets the training step's optimizer; give --train too")
    with _as_option_error("--optimizer"):
        optimizers = parse_choices(optimizer_text or "sgd", list(OPTIMIZERS))
    if depth is not None:
        if len(variants) > 1:
            raise BadInput(
                f"--depth breaks down one VARIANT's modules; got {len(variants)} (one command each)"
            )
        if train or measured:
            raise BadInput("--depth breaks down the eval forward; leave out --train and --measured")
    with _as_option_error("--input"):
        shape = parse_inputs(input_text)
    if measured:
        if isinstance(shape, Inputs):  # the real pass runs one random float input
            raise BadInput(f"--measured runs one float input (e.g. 3x224x224); got {shape}")
        _check_writable(output)  # before the real passes, not after

    if depth is not None:
        analyses, rows = memory_module_records(
            variants[0], input_shape=shape, batch=batch, dtypes=dtypes, depth=depth
        )
        if fmt not in ("table", "markdown"):
            write_output(_render(rows, fmt), output)
            return
        header = "".join(
            f"{a.variant}  input {'x'.join(map(str, a.input_shape))}  batch {a.batch}  "
            f"{a.dtype}  activation peak {bytes_text(a.activation_peak_bytes)} at "
            f"{a.peak_module or 'root'} ({a.peak_operator})\n"
            for a in analyses
        )
        shown, columns = in_units(rows, MEMORY_MODULE_COLUMNS)
        write_output(header + "\n" + _render(shown, fmt, columns), output)
        return

    if train:
        records = step_memory_records(
            variants,
            input_shape=shape,
            batch=batch,
            dtypes=dtypes,
            optimizers=optimizers,
            progress=_progress(),
        )
        keys = list(STEP_MEMORY_COLUMNS)
    else:
        records = memory_records(
            variants,
            input_shape=shape,
            batch=batch,
            dtypes=dtypes,
            progress=_progress(),
        )
        keys = list(MEMORY_COLUMNS)
    if measured:
        # The CPU methods always; the CUDA column too, or its reason (no GPU here).
        join_measured_memory(records, train=train, device="cuda", progress=_progress())
        keys += MEASURED_MEMORY_KEYS
    # A training step that could not run is a row saying why; exit 2 only if none ran.
    skipped = {r["variant"]: r["status"] for r in records if r.get("status", "ok") != "ok"}
    ran = len(skipped) < len({r["variant"] for r in records})
    if ran:
        for variant, status in skipped.items():
            _warn(f"{variant}: {status}")
    if fmt in ("table", "markdown"):
        shown, columns = in_units(records, keys)
        write_output(_render(shown, fmt, columns), output)
    else:
        write_output(_render(records, fmt), output)
    if not ran:
        variant, status = next(iter(skipped.items()))
        raise BadInput(f"no training step ran; {variant}: {status}")


@cli.command("predict")
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
    "inference runs there; fp32 on a CPU one].",
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
    from incprof.analysis.predict import DTYPES, MODES
    from incprof.api import DEFAULT_PROFILE, predict_records
    from incprof.columns import PREDICT_COLUMNS, PREDICT_MODULE_COLUMNS
    from incprof.parse import parse_batches, parse_choices, parse_inputs

    if device_name is not None and profile_path is not None:
        raise BadInput("--device names a built-in profile, --profile a file: give one of them")
    with _as_option_error("--batch"):
        batches = parse_batches(batch_text)
    with _as_option_error("--dtype"):
        dtypes = parse_choices(dtype_text, DTYPES) if dtype_text is not None else None
    with _as_option_error("--mode"):
        modes = parse_choices(mode_text, MODES)
    with _as_option_error("--input"):
        shape = parse_inputs(input_text)
    if profile_path is not None:
        from incprof.analysis.profiles import load

        profile = load(profile_path)
    else:
        profile = _resolve_profile(device_name or DEFAULT_PROFILE)
    records = predict_records(
        variants,
        profile=profile,
        dtypes=dtypes,
        batches=batches,
        modes=modes,
        depth=depth,
        input_shape=shape,
        progress=_progress(),
    )
    if fmt in ("json", "csv"):
        write_output(_render(records, fmt), output)
        return
    columns = list(PREDICT_MODULE_COLUMNS if depth is not None else PREDICT_COLUMNS)
    footer = f"profile: {profile.source}\n"
    footer += "".join(f"note: {note}\n" for note in profile.notes)
    unpriced = sorted({op for r in records for op in _split(r.get("unpriced") or "")})
    if unpriced:
        footer += f"priced by their bytes alone (no FLOP formula): {', '.join(unpriced)}\n"
    write_output(_render(records, fmt, columns) + footer, output)


@cli.command("factorize")
@click.argument("families", nargs=-1)
@click.option("--channels", type=click.IntRange(min=1), help="Input channels of every family.")
@click.option("--grid", type=click.IntRange(min=1), help="Input grid size (H = W) of every family.")
@_predict_option("each alternative's predicted time and the time it saves")
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
    profile = _resolve_profile(predict_device) if predict_device else None
    records = factorize_records(families, channels=channels, grid=grid)
    footer = ""
    if profile is not None:
        from incprof.api import add_factorize_predictions

        add_factorize_predictions(
            records,
            profile=profile,
            dtype=predict_dtype,
            mode=predict_mode,
            batch=predict_batch,
            channels=channels,
            grid=grid,
        )
        footer = _predicted_footer(records)
    columns = None  # json and csv: every key, exact bytes
    if fmt in ("table", "markdown"):
        records, columns = in_units(records, factorize_columns(predicted=profile is not None))
    write_output(_render(records, fmt, columns) + (footer if columns else ""), output)


@cli.command("claim")
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
    from incprof.analysis.claims import DOES_NOT_HOLD, check_tolerance, parse_value
    from incprof.api import claim_check
    from incprof.columns import CLAIM_COLUMNS, CLAIM_REMAINDER_COLUMNS
    from incprof.parse import parse_inputs

    value = parse_value(value_text)
    with _as_option_error("--tolerance"):
        check_tolerance(tolerance_pct)
    with _as_option_error("--input"):
        shapes = [parse_inputs(text) for text in input_texts]
    _check_writable(output)
    check, notes = claim_check(
        variant,
        value,
        unit=unit,
        tolerance_pct=tolerance_pct,
        input_shapes=[s for s in shapes if s is not None],
        progress=_progress(),
    )
    if fmt in ("json", "csv"):  # stdout holds the data alone; what it leaves out, stderr
        for note in notes:
            _warn(note)
        write_output(_render(check.records(), fmt), output)
        click.echo(f"incprof: {check.summary()}", err=True)
    else:
        records = check.records()
        shown = [r for r in records if r["holds"]] or records[:5]
        text = f"{check.summary()}\n\n" + _render(shown, fmt, CLAIM_COLUMNS)
        if check.verdict == DOES_NOT_HOLD:
            near = check.nearest
            label = near.figure.convention.label() if near else ""
            text += f"\nThe nearest ({label}) by category:\n\n"
            text += _render(check.remainder(), fmt, CLAIM_REMAINDER_COLUMNS)
        write_output(text + _notes(notes, fmt), output)
    if check.verdict == DOES_NOT_HOLD:
        raise click.exceptions.Exit(1)


@cli.command("rf")
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

    with _as_option_error("--input"):
        shape = parse_image_shape(input_text)
    analysis, rows = rf_records(variant, input_shape=shape)
    notes = [f"not aligned: {m}" for m in analysis.misalignments]
    notes += [f"unknown to the receptive-field walk: {op}" for op in analysis.unknown_ops]
    if fmt in ("table", "markdown"):
        write_output(_render(rows, fmt) + _notes(notes, fmt), output)
        return
    if notes and rows:  # the final map's row says what its field went through
        final = rows[-1]
        final["note"] = "; ".join(filter(None, [final["note"], *notes]))
    write_output(_render(rows, fmt), output)


@cli.command("export")
@click.argument("variant")
@click.option(
    "--onnx",
    "onnx_path",
    required=True,
    type=_FileName(dir_okay=False, allow_dash=True, path_type=Path),
    help="The ONNX file to write ('-': standard output); a symlink's target, keeping the "
    "file's mode.",
)
@INPUT_OPTION
@click.option(
    "--opset",
    type=click.IntRange(min=7),
    default=None,
    help="ONNX opset version [default: the exporter's own].",
)
@click.option("--dynamic-batch", is_flag=True, help="Leave the batch dimension symbolic ('batch').")
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Run the graph in ONNX Runtime on a random input beside PyTorch; a difference "
    "over the tolerance writes nothing and exits 1.",
)
def export_command(
    variant: str,
    onnx_path: Path,
    input_text: tuple[str, ...],
    opset: int | None,
    dynamic_batch: bool,
    check: bool,
) -> None:
    """Export VARIANT's eval graph (aux heads off) to ONNX, to open in Netron or deploy.

    VARIANT is a registered name or package.module:callable. Weights are random (seeded),
    with non-zero biases and batch norm statistics so that the check means something;
    torch's exporter folds batch norm into the convolutions. Needs the onnx extra:
    pip install 'incprof[onnx]'. Every analyzing command reads the file back.

    \b
    Examples:
      incprof export block_naive --onnx block_naive.onnx
      incprof export googlenet --onnx googlenet.onnx --dynamic-batch --opset 18
      incprof compare googlenet googlenet.onnx
    """
    from incprof.files import STDOUT, write_bytes
    from incprof.onnx import is_onnx_path
    from incprof.onnx.export import export
    from incprof.parse import parse_inputs
    from incprof.sources import resolve

    with _as_option_error("--input"):
        shape = parse_inputs(input_text)
    if is_onnx_path(variant):
        raise BadInput(f"{variant} is an ONNX file already; export takes a PyTorch model")
    _check_writable(onnx_path)
    exported = export(
        resolve(variant, shape),
        input_shape=shape,
        opset=opset,
        dynamic_batch=dynamic_batch,
        check=check,
    )
    if exported.matches is False:
        _warn(f"not written: {exported.summary()}")
        raise click.exceptions.Exit(1)
    try:
        if str(onnx_path) == STDOUT:
            sys.stdout.buffer.write(exported.data)
            sys.stdout.flush()
        else:
            write_bytes(onnx_path, exported.data)
    except OSError as exc:
        raise BadInput(f"cannot write {onnx_path}: {exc.strerror or exc}") from None
    _warn(f"wrote {onnx_path}: {exported.summary()}")


@cli.command("report")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder the Markdown pages and PNG plots are written to.",
)
@click.option(
    "--results",
    "results_dirs",
    type=click.Path(file_okay=False, path_type=Path),
    multiple=True,
    help="A folder of your own saved results (latency*.json, predict_*.json), added to the "
    "measurements incprof comes with; repeatable.",
)
def report_command(out_dir: Path, results_dirs: tuple[Path, ...]) -> None:
    """Regenerate the Markdown reports: family overview, one page per network, the
    factorization study, counter agreement, latency and GoogLeNet's Table 1.

    Runs from any directory: the measured results incprof comes with (benchmarks/results
    of its checkout) are always read, and --results adds yours. A second run on unchanged
    code writes byte-identical files, so the committed reports/ folder shows no diff after
    `incprof report`.

    \b
    Example:
      incprof report --out reports/
    """
    from incprof.report.build import build_reports, results_folders

    for folder in results_dirs:
        if not folder.is_dir():
            raise BadInput(f"--results {folder}: no such folder")
    folders = results_folders(results_dirs)
    if not any(f.glob("latency*.json") for f in folders):
        click.echo(
            "incprof: no latency*.json in the results read (give yours with --results): "
            "the latency page will have no measurements and no plots",
            err=True,
        )
    try:
        written = build_reports(out_dir, results_dir=folders, progress=_progress())
    except OSError as exc:
        raise BadInput(f"cannot write the reports under {out_dir}: {exc.strerror or exc}") from None
    click.echo(f"incprof: wrote {len(written)} files under {out_dir}", err=True)


@cli.command("check")
@click.argument("baseline_path", metavar="BASELINE.json", type=click.Path(path_type=Path))
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Allowed change of the exact figures, in percent (0: they must match exactly).",
)
@click.option(
    "--latency-tolerance",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Allowed slowdown, in percent; latency is only measured on the baseline's GPU.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Rewrite BASELINE.json with today's figures (whole, keeping its mode and symlink); "
    "create it if missing.",
)
@click.option(
    "--variants",
    "variants_text",
    metavar="NAME,...",
    help="With --update: the entries the analytic baseline holds (registered names or "
    "package.module:callable); default: the ones it holds, or every registered entry for a "
    "new file.",
)
@click.option(
    "--import",
    "imports",
    metavar="MODULE",
    multiple=True,
    help="Let entries that name MODULE:callable (or a module inside package MODULE) import "
    "it; repeatable. Without it such an entry is refused: a file never decides what code runs.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
def check_command(
    baseline_path: Path,
    tolerance: float,
    latency_tolerance: float,
    update: bool,
    variants_text: str | None,
    imports: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """Recompute what BASELINE.json holds and show what changed.

    An analytic baseline holds each entry's exact params, params_with_aux, MACs, other
    ops and receptive field: any change is a regression (either way: an architecture
    changed) unless --tolerance allows it. A latency baseline holds median times on one
    GPU: they compare as a ratio, only on that GPU; elsewhere each row is skipped.

    An entry naming package.module:callable imports that module only if --import names
    it (names typed after --variants need no consent: you typed them).

    Exit status: 0 nothing regressed, 1 something did, 2 a baseline that is missing,
    malformed, empty, of another schema version, naming an unknown variant or a module
    not allowed by --import. Without --update nothing is written.

    \b
    Examples:
      incprof check benchmarks/baselines/analytic.json
      incprof check benchmarks/baselines/latency_h100-80gb-hbm3.json --latency-tolerance 5
      incprof check my_models.json --update --variants googlenet_tv,inception_v3
    """
    from incprof.baseline import (
        EmptyBaselineError,
        analytic_baseline,
        check,
        current_gpu,
        load_baseline,
        not_here,
        write_baseline,
    )
    from incprof.columns import CHECK_COLUMNS
    from incprof.jsonfile import clip
    from incprof.sources import ConsentError

    if variants_text is not None and not update:
        raise BadInput("--variants names what --update writes; give --update too")
    names = _split(variants_text or "")
    if variants_text is not None and not names:
        raise BadInput(f"--variants takes comma-separated names; got {variants_text!r}")
    if update:
        _check_writable(baseline_path)  # before any computing, and before a read-only file
    if names or (update and not baseline_path.exists()):
        from incprof.sources import resolve

        for name in names:
            resolve(name)  # an unknown name fails now, not after minutes of computing
        data = analytic_baseline(names or None)
        write_baseline(baseline_path, data)
        held = f"{len(data['entries'])} entries"
        if not names:
            held += " (every registered entry; name yours with --variants)"
        click.echo(f"incprof: wrote {baseline_path} with {held}", err=True)
        return
    if not baseline_path.exists():
        raise BadInput(
            f"baseline {baseline_path} does not exist "
            f"(create it with 'incprof check {baseline_path} --update')"
        )
    try:
        baseline = load_baseline(baseline_path)
    except EmptyBaselineError as exc:
        raise BadInput(
            f"{exc} (name what it holds: incprof check {baseline_path} --update --variants "
            "NAME,...)"
        ) from None
    gpu = current_gpu() if baseline.kind == "latency" else None
    try:
        result = check(
            baseline,
            tolerance_pct=tolerance,
            latency_tolerance_pct=latency_tolerance,
            gpu=gpu,
            allow_imports=imports,
        )
    except ConsentError as exc:
        allow = f"incprof check {baseline_path} --import {clip(exc.module)}"
        raise BadInput(f"{exc}: {allow}") from None
    if update and result.updated is None:
        raise BadInput(f"cannot update {baseline_path} here: {not_here(baseline, gpu)}")
    counts = result.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing to check"
    summary = f"{baseline_path}: {len(baseline.entries)} entries, {summary}"
    if fmt in ("json", "csv"):
        write_output(_render([r.record() for r in result.rows], fmt), output)
        click.echo(f"incprof: {summary}", err=True)
    else:
        changed = [{**r.record(), "change": r.change} for r in result.rows if r.changed]
        table = _render(changed, fmt, CHECK_COLUMNS) + "\n" if changed else ""
        write_output(f"{table}{summary}\n", output)
    if update:
        write_baseline(baseline_path, result.updated)
        click.echo(f"incprof: updated {baseline_path}", err=True)
    elif result.regressed:
        raise click.exceptions.Exit(1)


def main() -> None:
    cli(prog_name="incprof")
