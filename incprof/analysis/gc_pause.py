"""The cyclic garbage collector held off while a pass allocates.

A traced pass makes tens of thousands of small objects that all live until it ends, so
CPython's collector, counting allocations, runs several times inside every pass and each
full collection walks every object of the process (torch alone brings ~170,000): on
Inception-v3 that was a quarter of a fresh analysis (py-spy, see
``benchmarks/bench_profiler.py``). Reference counting still frees every tensor the
moment it dies, which is what the memory figures read; only cycles wait for the
collector, which runs again once the pass is over.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside; the collector's state restored after (nesting is
    free: an inner pause leaves the outer one in force)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def without_gc(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` run under :func:`gc_paused`."""

    @functools.wraps(function)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        with gc_paused():
            return function(*args, **kwargs)

    return paused
