"""Options several commands share, and the one place a library error about an option's
value is worded as that option's error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from incprof.cli.output import BadInput, progress
from incprof.errors import InputError
from incprof.run_settings import MODES, PRECISIONS

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format; json is a list of flat records.",
)


class FileName(click.Path):
    """click.Path that keeps an empty name empty, so that it can be refused."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "":
            self.fail("needs a file name, or - for standard output", param, ctx)
        return super().convert(value, param, ctx)


OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=FileName(dir_okay=False, allow_dash=True, path_type=Path),
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


@contextmanager
def as_option_error(option: str, error: type[InputError] = InputError) -> Iterator[None]:
    """Word the library's ``error`` about an option's value as that option's error: the
    library says what is wrong ("must be CxHxW ..."), the command line says where."""
    try:
        yield
    except error as exc:
        raise BadInput(f"{option} {exc}") from None


class _Batch(click.ParamType):
    """One batch size, its errors worded as every --batch error is (incprof.parse)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from incprof.parse import parse_batch

        with as_option_error(param.opts[0] if param is not None else "--batch"):
            return parse_batch(value)


BATCH = _Batch()


def split_commas(text: str) -> list[str]:
    """The non-empty items of a comma-separated option value."""
    return [part.strip() for part in text.split(",") if part.strip()]


PREDICT_DTYPE_OPTION = click.option(
    "--predict-dtype",
    type=click.Choice(PRECISIONS),
    default=None,
    help="dtype of the predicted columns: fp32, tf32, bf16, fp16 [default: bf16 on a GPU "
    "profile, fp32 on cpu].",
)
PREDICT_MODE_OPTION = click.option(
    "--predict-mode",
    type=click.Choice(MODES),
    default="eager",
    show_default=True,
    help="Mode of the predicted columns (eager: plain PyTorch, as a user runs it).",
)


def predict_option(what: str) -> Any:
    """``--predict DEVICE``, its help naming ``what`` it adds to the command's rows."""
    return click.option(
        "--predict",
        "predict_device",
        metavar="DEVICE",
        default=None,
        help=f"Add {what} predicted on DEVICE (a built-in profile such as h100-sxm, cpu "
        "measured now, or a profile FILE; see `incprof predict`).",
    )


def resolve_profile(spec: str) -> Any:
    """A device name or profile file; ``cpu`` is measured now, which takes a few seconds.
    A bad one is a ProfileError whose line names the device or file (and close names)."""
    from incprof.api import device_profile

    report = progress()
    if spec == "cpu" and report:
        report("measuring this CPU's peak, copy bandwidth and per-op launch cost")
    return device_profile(spec)
