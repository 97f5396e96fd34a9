"""Plots drawn in a second process while the pages are computed.

Drawing the report's plots (matplotlib's layout and rasterizing) took as long as
computing every page, and neither waits on the other: each plot is a function of
:mod:`incprof.report.plots` on plain records, so it can be sent to a fresh interpreter
("spawn": nothing of this process's state is shared) and drawn there while this process
goes on. Where no second process can start, each plot is drawn here when asked for.
Each file is still written whole (see :func:`incprof.files.write_into`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Plot = Callable[..., None]  # plot(data, path, **options), a function of report.plots


def draw(path: str | Path, plot: Plot, data: Any, options: Mapping[str, Any]) -> None:
    """Draw one plot into ``path``, whole."""
    from incprof.files import write_into

    write_into(path, lambda tmp: plot(data, tmp, **options))


def second_process() -> Any:
    """A pool of one worker in a fresh interpreter ("spawn": none of this process's
    state), its OpenMP threads set to sleep while they wait (``OMP_WAIT_POLICY`` is read
    when its torch loads; a value the user set is kept). Three processes of torch whose
    threads spin on a 2-core host took ``incprof report`` from 13 s to 17–19 s."""
    import multiprocessing

    previous = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return multiprocessing.get_context("spawn").Pool(1)  # the worker starts here
    finally:
        if previous is None:
            del os.environ["OMP_WAIT_POLICY"]


class Drawer:
    """Draws plots in one second process, in the order asked; :meth:`wait` until all are
    written (a plot that failed raises there). Leaving it stops what is left."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.pending: list[Any] = []

    def __enter__(self) -> Drawer:
        try:
            self.pool = second_process()
        except (OSError, RuntimeError):
            self.pool = None
        return self

    def plot(self, path: Path, plot: Plot, data: Any, options: Mapping[str, Any]) -> None:
        if self.pool is None:
            draw(path, plot, data, options)
        else:
            self.pending.append(self.pool.apply_async(draw, (path, plot, data, dict(options))))

    def wait(self) -> None:
        for result in self.pending:
            result.get()
        self.pending.clear()

    def __exit__(self, *_exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
