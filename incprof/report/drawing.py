"""Plots drawn in a second process while the pages are computed.

Drawing the report's plots (matplotlib's layout and rasterizing) took as long as
computing every page, and neither waits on the other: each plot is a function of
:mod:`incprof.report.plots` on plain records, so it can be sent to a fresh interpreter
("spawn": nothing of this process's state is shared) and drawn there while this process
goes on. Where no second process can start, each plot is drawn here when asked for.
Each file is still written whole (see :func:`incprof.files.write_into`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Plot = Callable[..., None]  # plot(data, path, **options), a function of report.plots


def draw(path: str | Path, plot: Plot, data: Any, options: Mapping[str, Any]) -> None:
    """Draw one plot into ``path``, whole."""
    from incprof.files import write_into

    write_into(path, lambda tmp: plot(data, tmp, **options))


class Drawer:
    """Draws plots in one second process, in the order asked; :meth:`wait` until all are
    written (a plot that failed raises there). Leaving it stops what is left."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.pending: list[Any] = []

    def __enter__(self) -> Drawer:
        import multiprocessing

        try:
            self.pool = multiprocessing.get_context("spawn").Pool(1)
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
