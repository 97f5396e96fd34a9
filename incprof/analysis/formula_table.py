"""The table of operator formulas, and the decorator that fills it.

:mod:`incprof.analysis.formulas` states the conventions, holds the operators priced by
class and looks an operator up (:func:`~incprof.analysis.formulas.cost_of`); the
formulas themselves live by operator family in ``formulas_matmul``, ``formulas_pointwise``
and ``formulas_window``, each registered here by :func:`formula`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch


class Cost(NamedTuple):
    macs: int = 0
    other_ops: int = 0
    category: str = "other"


Formula = Callable[[Sequence[Any], dict[str, Any], Any], Cost]

FORMULAS: dict[Any, Formula] = {}


def formula(*ops: Any) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the formula of each operator in ``ops``; twice raises.

    An operator is an overload (``torch.ops.mylib.op.default``), a packet
    (``torch.ops.mylib.op``: all its overloads) or what ``torch.library.custom_op``
    returned. ``fn(args, kwargs, out)`` reads shapes (``x.shape``, ``x.numel()``) and
    returns a :class:`Cost`; this is how a user prices a custom operator.
    """
    overloads = [o for op in ops for o in _overloads(op)]

    def register(fn: Formula) -> Formula:
        for op in overloads:
            if op in FORMULAS:
                raise ValueError(f"a formula for {op} is already registered")
        for op in overloads:
            FORMULAS[op] = fn
        return fn

    return register


def _overloads(op: Any) -> list[Any]:
    """The ATen overloads ``op`` names (see :func:`formula`)."""
    op = getattr(op, "_opoverload", op)  # a torch.library.custom_op
    if isinstance(op, torch._ops.OpOverloadPacket):
        return [getattr(op, name) for name in op.overloads()]
    if isinstance(op, torch._ops.OpOverload):
        return [op]
    raise TypeError(f"not an operator overload: {op!r}")


def _numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _out_numel(out: Any) -> int:
    if isinstance(out, tuple | list):
        out = out[0]
    return out.numel()


def _out_numel_shape(out: Any) -> Sequence[int]:
    return (out[0] if isinstance(out, tuple | list) else out).shape
