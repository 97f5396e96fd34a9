"""What users type, as values: input shapes, comma lists, batch sizes, sort keys.

Each parser raises :class:`~incprof.errors.InputError` saying what is wrong with the text,
without naming where it came from: the command line adds its option's name
("--input must be CxHxW ..."), a library caller its own words. Torch-free, so the command
line can check its options before loading anything heavy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from incprof.errors import InputError

if TYPE_CHECKING:
    from incprof.registry import InputShape


def parse_input_shape(text: str | None) -> InputShape | None:
    """'3x299x299' -> (3, 299, 299); None stays None (each variant's own input)."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"must be CxHxW with positive integers, e.g. 3x299x299; got {text!r}")
    return shape  # type: ignore[return-value]


def parse_choices(text: str, allowed: Sequence[str]) -> list[str]:
    """'fp32,bf16' -> ['fp32', 'bf16'], each checked against ``allowed``."""
    values = [v.strip() for v in text.split(",")]
    if any(v not in allowed for v in values):
        raise InputError(f"takes a comma-separated list of {', '.join(allowed)}; got {text!r}")
    return values


def parse_batches(text: str) -> list[int]:
    """'1,32,256' -> [1, 32, 256]; an empty item ('1,,2') is a mistake, not a skip."""
    try:
        batches = [int(v) for v in text.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise InputError(f"takes positive integers, e.g. 1,32,256; got {text!r}")
    return batches


def parse_sort(text: str, keys: Sequence[str]) -> tuple[str, bool]:
    """'-macs' -> ('macs', descending); checked against ``keys`` before any computing."""
    descending = text.startswith("-")
    key = text[1:] if descending else text
    if not key:
        raise InputError(f"needs a column name, e.g. macs or -macs; got {text!r}")
    if key not in keys:
        raise InputError(f"{key!r} is not a column; choose one of {', '.join(keys)}")
    return key, descending
