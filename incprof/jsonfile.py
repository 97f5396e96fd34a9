"""The one reader of the JSON files incprof is given: baselines, results, device profiles.

Every file a user names may be hostile, so each way it can fail is one line
(:class:`~incprof.errors.InputError`), never a traceback: too big (a cap before reading),
nested deeper than any real file (checked by a flat scan before the parser, whose
recursion would otherwise end in ``RecursionError``), not UTF-8, not JSON, or holding
``NaN``/``Infinity`` (which JSON does not allow and no measurement is). What a file's
strings say is shown cut to a sane length (:func:`clip`): a 50 MB name is not echoed.

Torch-free: reading a file must not cost the command line torch's start-up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from incprof.errors import InputError

MAX_BYTES = 32 * 2**20  # the largest results file here is ~0.2 MB
MAX_DEPTH = 32  # the deepest real file (a results dict of rows of dicts) is 4
SHOWN_CHARS = 60

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def read_json(path: str | Path, *, what: str = "") -> Any:
    """JSON from the file at ``path``; ``what`` names it in errors ("profile", "baseline")."""
    name = f"{what} {path}".strip()
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"{name} is over {MAX_BYTES // 2**20} MiB: not a file incprof writes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not JSON: not UTF-8 text") from None
    return loads(text, name)


def loads(text: str, name: str) -> Any:
    """Parse ``text`` (from ``name``) with the same limits as :func:`read_json`."""
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise InputError(f"{name} is nested over {MAX_DEPTH} levels deep: not a file incprof reads")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to parse
        raise InputError(f"{name} is not JSON incprof reads: {clip(str(exc))}") from None


def nesting_depth(text: str) -> int:
    """How deep ``[``/``{`` nest outside strings; stops counting once past the limit."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        if bracket.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def _no_constant(word: str) -> Any:
    raise ValueError(f"{word} is not a number JSON allows")


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut), on one line."""
    line = " ".join(text.split()) if ("\n" in text or "\r" in text) else text
    return line if len(line) <= limit else line[: limit - 1] + "…"
