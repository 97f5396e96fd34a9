"""Analyzers: each returns a plain result object and never prints.

The analytic ones are functions of one :class:`~incprof.analysis.trace.Trace` and are
registered below by name: a new analyzer is one module with a ``Trace -> result`` function
and one line here. Its result's ``summary()`` (a flat dict, units in the keys) is what
``Profile.figures()``, ``incprof analyze`` and the report's analyzers page show, so the
line here is the only edit that makes it visible. The measured ones (``counters``,
``latency``) run the real model by design and sit beside the figure they check.
Registered by dotted path, so that importing ``incprof.analysis`` imports no torch (the
command line's ``--help`` stays fast).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from incprof.analysis.trace import Trace

ANALYZERS: dict[str, str] = {
    "cost": "incprof.analysis.analytic:cost",
    "receptive_field": "incprof.analysis.receptive_field:receptive_fields",
    "memory": "incprof.analysis.memory:memory",
    "backward": "incprof.analysis.training:backward",
    "predict": "incprof.analysis.predict:predict",
}
# Functions of a training step's trace (``trace_module(..., training=True)``).
STEP_ANALYZERS: dict[str, str] = {
    "step_memory": "incprof.analysis.training:step_memory",
}


def registered() -> tuple[str, ...]:
    """Every analyzer's name, eval ones first, in registration order."""
    return (*ANALYZERS, *STEP_ANALYZERS)


def analyzer(name: str) -> Callable[[Trace], Any]:
    """The ``Trace -> result`` function registered as ``name``."""
    known = {**ANALYZERS, **STEP_ANALYZERS}
    if name not in known:
        raise ValueError(f"unknown analyzer {name!r}; choose from {', '.join(known)}")
    module, function = known[name].split(":")
    return getattr(importlib.import_module(module), function)
