"""What users type, as values: input shapes, comma lists, batch sizes, sort keys.

Each parser raises :class:`~incprof.errors.InputError` saying what is wrong with the text,
without naming where it came from: the command line adds its option's name ("--input must
be positive integers ..."), a library caller its own words. Torch-free, so the command line
can check its options before loading anything heavy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incprof.errors import InputError

if TYPE_CHECKING:
    from incprof.registry import InputShape


# The largest dimension torch takes: sizes are signed 64-bit, but a dimension past 2**31
# is no real input (and torch's own error for one past 2**63 is an unpacking paragraph).
MAX_DIM = 2**31

# Dtype names an input spec takes, as torch names them: each alias to its canonical name.
DTYPES: dict[str, str] = {
    "float32": "float32",
    "float": "float32",
    "fp32": "float32",
    "float16": "float16",
    "half": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float64": "float64",
    "double": "float64",
    "fp64": "float64",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
    "complex64": "complex64",
}

_EXAMPLE = "e.g. 3x224x224, 128, 1x128:int64 or mask=1x128:bool"


@dataclass(frozen=True)
class TensorSpec:
    """One input tensor by shape and dtype only, no data.

    ``batched``: the batch is prepended when the tensor is made (a shape a user typed);
    False: ``shape`` is the whole shape (read off a real tensor, taken as is).
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    batched: bool = True

    def text(self) -> str:
        dims = "x".join(map(str, self.shape)) or "()"
        return dims if self.dtype == "float32" else f"{dims}:{self.dtype}"


@dataclass(frozen=True)
class Inputs:
    """A forward's arguments as specs: positional ``args`` and keyword ``kwargs``.

    Each is a :class:`TensorSpec`, a tuple, list or dict of them, or a plain value passed
    through as it is (``scale=2.0``). Holds no tensor, so keeping it keeps no data alive.
    """

    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def specs(self) -> list[TensorSpec]:
        """Every tensor spec, positional first, in order."""
        return [s for value in (*self.args, *(v for _, v in self.kwargs)) for s in _specs(value)]

    def first_shape(self) -> tuple[int, ...]:
        """The first tensor's shape as given (batch excluded where it is prepended)."""
        specs = self.specs()
        return specs[0].shape if specs else ()

    def __str__(self) -> str:
        parts = [_text(v) for v in self.args] + [f"{k}={_text(v)}" for k, v in self.kwargs]
        return ", ".join(parts)


def _specs(value: Any) -> list[TensorSpec]:
    if isinstance(value, TensorSpec):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, tuple | list):
        return [s for item in value for s in _specs(item)]
    return []


def _text(value: Any) -> str:
    if isinstance(value, TensorSpec):
        return value.text()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_text(v) for v in value) + ")"
    return repr(value)


def shape_text(shape: tuple[int, ...] | Inputs) -> str:
    """'3x299x299' for a shape, '1x128:int64, mask=1x128:bool' for several inputs."""
    return str(shape) if isinstance(shape, Inputs) else "x".join(map(str, shape))


def check_dims(dims: Sequence[int], text: str) -> tuple[int, ...]:
    """Positive dimensions no larger than :data:`MAX_DIM`, as a tuple."""
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InputError(f"must be positive integers joined by x, {_EXAMPLE}; got {text!r}")
        if d > MAX_DIM:
            raise InputError(f"has a dimension above 2**31 ({d}); got {text!r}")
    return tuple(dims)


def parse_dtype(name: str, text: str | None = None) -> str:
    """'int64', 'long' -> 'int64'; a name torch has no input dtype for is an error."""
    key = name.strip().lower().removeprefix("torch.")
    if key not in DTYPES:
        raise InputError(
            f"dtype {name!r} is not one of {', '.join(sorted(set(DTYPES.values())))}; "
            f"got {text or name!r}"
        )
    return DTYPES[key]


def parse_tensor_spec(text: str) -> TensorSpec:
    """'1x128:int64' -> TensorSpec((1, 128), 'int64'); '128' -> TensorSpec((128,))."""
    dims_text, colon, dtype_text = text.strip().partition(":")
    dtype = parse_dtype(dtype_text, text) if colon else "float32"
    parts = dims_text.lower().replace("×", "x").split("x")
    dims: list[Any] = []
    for part in parts:
        try:
            dims.append(int(part.strip()))
        except ValueError:
            dims.append(None)
    return TensorSpec(check_dims(dims, text), dtype)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_inputs(texts: str | Sequence[str] | None) -> InputShape | Inputs | None:
    """``--input`` values -> what the analyzers take: None (each variant's own input), a
    plain shape for one float input (any rank: '128', '3x16x112x112'), else
    :class:`Inputs` ('1x128:int64', two values for two positional inputs, 'mask=1x128:bool'
    for a keyword input). Every shape excludes the batch, which is prepended."""
    if texts is None or isinstance(texts, str):
        texts = [] if texts is None else [texts]
    args: list[TensorSpec] = []
    kwargs: dict[str, TensorSpec] = {}
    for text in texts:
        name, eq, spec_text = text.partition("=")
        if not eq:
            if kwargs:
                raise InputError(f"positional inputs come before keyword ones; got {text!r}")
            args.append(parse_tensor_spec(text))
            continue
        name = name.strip()
        if not _NAME.fullmatch(name):
            raise InputError(f"needs a Python name before '=', {_EXAMPLE}; got {text!r}")
        if name in kwargs:
            raise InputError(f"names keyword input {name!r} twice")
        kwargs[name] = parse_tensor_spec(spec_text)
    if not args and not kwargs:
        return None
    if len(args) == 1 and not kwargs and args[0].dtype == "float32":
        return args[0].shape  # type: ignore[return-value]
    return Inputs(tuple(args), tuple(kwargs.items()))


def parse_input_shape(texts: str | Sequence[str] | None) -> InputShape | None:
    """``--input`` where one float input of any rank is all a command can use (it runs
    the real model, or an analysis with one image): the same grammar, one float shape."""
    parsed = parse_inputs(texts)
    if isinstance(parsed, Inputs):
        raise InputError(f"takes one float input shape here, e.g. 3x224x224; got {str(parsed)!r}")
    return parsed


def parse_image_shape(texts: str | Sequence[str] | None) -> InputShape | None:
    """``--input`` where only an image makes sense (a receptive field is a span of
    pixels): one CxHxW float shape."""
    parsed = parse_input_shape(texts)
    if parsed is not None and len(parsed) != 3:
        raise InputError(
            f"takes an image shape CxHxW here, e.g. 3x299x299; got {shape_text(parsed)!r}"
        )
    return parsed


def parse_choices(text: str, allowed: Sequence[str]) -> list[str]:
    """'fp32,bf16' -> ['fp32', 'bf16'], each checked against ``allowed``."""
    values = [v.strip() for v in text.split(",")]
    if any(v not in allowed for v in values):
        raise InputError(f"takes a comma-separated list of {', '.join(allowed)}; got {text!r}")
    return values


# Every --batch error says so, whether its command takes one batch size or sweeps several.
BATCH_WORDING = "takes positive integers up to 2**31, e.g. 1,32,256"


def parse_batches(text: str) -> list[int]:
    """'1,32,256' -> [1, 32, 256]; an empty item ('1,,2') is a mistake, not a skip."""
    try:
        batches = [int(v) for v in str(text).split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1 or max(batches) > MAX_DIM:
        raise InputError(f"{BATCH_WORDING}; got {str(text)!r}")
    return batches


def parse_batch(text: str | int) -> int:
    """'32' -> 32: one batch size; a bad one is worded as :func:`parse_batches` words it."""
    batches = parse_batches(str(text))
    if len(batches) > 1:
        raise InputError(f"takes one batch size here, e.g. 32; got {str(text)!r}")
    return batches[0]


def parse_sort(text: str, keys: Sequence[str]) -> tuple[str, bool]:
    """'-macs' -> ('macs', descending); checked against ``keys`` before any computing."""
    descending = text.startswith("-")
    key = text[1:] if descending else text
    if not key:
        raise InputError(f"needs a column name, e.g. macs or -macs; got {text!r}")
    if key not in keys:
        raise InputError(f"{key!r} is not a column; choose one of {', '.join(keys)}")
    return key, descending
