"""``incprof export``: a variant's eval graph as an ONNX file, checked in ONNX Runtime."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from incprof.cli.options import INPUT_OPTION, FileName, as_option_error
from incprof.cli.output import BadInput, check_writable, warn


@click.command("export")
@click.argument("variant")
@click.option(
    "--onnx",
    "onnx_path",
    required=True,
    type=FileName(dir_okay=False, allow_dash=True, path_type=Path),
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
    from incprof.onnx import is_onnx_path
    from incprof.onnx.export import export
    from incprof.parse import parse_inputs
    from incprof.sources import resolve

    with as_option_error("--input"):
        shape = parse_inputs(input_text)
    if is_onnx_path(variant):
        raise BadInput(f"{variant} is an ONNX file already; export takes a PyTorch model")
    check_writable(onnx_path)
    exported = export(
        resolve(variant, shape),
        input_shape=shape,
        opset=opset,
        dynamic_batch=dynamic_batch,
        check=check,
    )
    if exported.matches is False:
        warn(f"not written: {exported.summary()}")
        raise click.exceptions.Exit(1)
    _write_bytes(onnx_path, exported.data)
    warn(f"wrote {onnx_path}: {exported.summary()}")


def _write_bytes(path: Path, data: bytes) -> None:
    """The ONNX file written whole, or to standard output for '-'."""
    from incprof.files import STDOUT, write_bytes

    try:
        if str(path) == STDOUT:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            write_bytes(path, data)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
