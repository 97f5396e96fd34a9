"""``incprof memory``: memory and bytes moved, exact, from the meta-device trace: totals per
variant and dtype, per module (--depth), or a training step by kind (--train)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from incprof.cli.options import BATCH, FORMAT_OPTION, INPUT_OPTION, OUTPUT_OPTION, as_option_error
from incprof.cli.output import BadInput, check_writable, progress, render, warn, write_output


@click.command("memory")
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
    dtypes, optimizers = _dtypes_and_optimizers(dtype_text, optimizer_text, train=train)
    if depth is not None:
        _refuse_beside_depth(variants, train=train, measured=measured)
    shape = _input_shape(input_text, measured=measured, output=output)
    if depth is not None:
        text = _by_module(variants[0], shape, batch=batch, dtypes=dtypes, depth=depth, fmt=fmt)
        write_output(text, output)
        return
    records, keys = _totals(variants, shape, batch, dtypes, optimizers, train=train)
    if measured:
        from incprof.api import join_measured_memory
        from incprof.columns import MEASURED_MEMORY_KEYS

        # The CPU methods always; the CUDA column too, or its reason (no GPU here).
        join_measured_memory(records, train=train, device="cuda", progress=progress())
        keys += MEASURED_MEMORY_KEYS
    _write_totals(records, keys, fmt, output)


def _dtypes_and_optimizers(
    dtype_text: str, optimizer_text: str | None, *, train: bool
) -> tuple[list[str], list[str]]:
    """--dtype and --optimizer parsed; --optimizer only beside --train."""
    from incprof.analysis.memory import DTYPES
    from incprof.analysis.training import OPTIMIZERS
    from incprof.parse import parse_choices

    with as_option_error("--dtype"):
        dtypes = parse_choices(dtype_text, list(DTYPES))
    if optimizer_text is not None and not train:
        raise BadInput("--optimizer sets the training step's optimizer; give --train too")
    with as_option_error("--optimizer"):
        optimizers = parse_choices(optimizer_text or "sgd", list(OPTIMIZERS))
    return dtypes, optimizers


def _refuse_beside_depth(variants: tuple[str, ...], *, train: bool, measured: bool) -> None:
    """--depth breaks down one variant's eval forward, nothing else."""
    if len(variants) > 1:
        raise BadInput(
            f"--depth breaks down one VARIANT's modules; got {len(variants)} (one command each)"
        )
    if train or measured:
        raise BadInput("--depth breaks down the eval forward; leave out --train and --measured")


def _input_shape(input_text: tuple[str, ...], *, measured: bool, output: Path | None) -> Any:
    """--input parsed; --measured runs one float input, and checks --output before it."""
    from incprof.parse import Inputs, parse_inputs

    with as_option_error("--input"):
        shape = parse_inputs(input_text)
    if measured:
        if isinstance(shape, Inputs):  # the real pass runs one random float input
            raise BadInput(f"--measured runs one float input (e.g. 3x224x224); got {shape}")
        check_writable(output)  # before the real passes, not after
    return shape


def _by_module(
    variant: str, shape: Any, *, batch: int, dtypes: list[str], depth: int, fmt: str
) -> str:
    """--depth: one variant's modules, a table headed by each dtype's activation peak."""
    from incprof.api import memory_module_records
    from incprof.columns import MEMORY_MODULE_COLUMNS, bytes_text, in_units

    analyses, rows = memory_module_records(
        variant, input_shape=shape, batch=batch, dtypes=dtypes, depth=depth
    )
    if fmt not in ("table", "markdown"):
        return render(rows, fmt)
    header = "".join(
        f"{a.variant}  input {'x'.join(map(str, a.input_shape))}  batch {a.batch}  "
        f"{a.dtype}  activation peak {bytes_text(a.activation_peak_bytes)} at "
        f"{a.peak_module or 'root'} ({a.peak_operator})\n"
        for a in analyses
    )
    shown, columns = in_units(rows, MEMORY_MODULE_COLUMNS)
    return header + "\n" + render(shown, fmt, columns)


def _totals(
    variants: tuple[str, ...],
    shape: Any,
    batch: int,
    dtypes: list[str],
    optimizers: list[str],
    *,
    train: bool,
) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per variant and dtype (and optimizer, with --train), and its columns."""
    from incprof.api import memory_records, step_memory_records
    from incprof.columns import MEMORY_COLUMNS, STEP_MEMORY_COLUMNS

    if train:
        records = step_memory_records(
            variants,
            input_shape=shape,
            batch=batch,
            dtypes=dtypes,
            optimizers=optimizers,
            progress=progress(),
        )
        return records, list(STEP_MEMORY_COLUMNS)
    records = memory_records(
        variants, input_shape=shape, batch=batch, dtypes=dtypes, progress=progress()
    )
    return records, list(MEMORY_COLUMNS)


def _write_totals(
    records: list[dict[str, Any]], keys: list[str], fmt: str, output: Path | None
) -> None:
    """The records written; a training step that could not run is a row saying why, with
    a warning, and exit 2 only when none ran."""
    from incprof.columns import in_units

    skipped = {r["variant"]: r["status"] for r in records if r.get("status", "ok") != "ok"}
    ran = len(skipped) < len({r["variant"] for r in records})
    if ran:
        for variant, status in skipped.items():
            warn(f"{variant}: {status}")
    if fmt in ("table", "markdown"):
        shown, columns = in_units(records, keys)
        write_output(render(shown, fmt, columns), output)
    else:
        write_output(render(records, fmt), output)
    if not ran:
        variant, status = next(iter(skipped.items()))
        raise BadInput(f"no training step ran; {variant}: {status}")
