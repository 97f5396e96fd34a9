"""What every report page writes through: the output folder (each file whole, into what
is there), the results folders read, and how pages name a folder and report progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from incprof import api
from incprof.files import write_into
from incprof.report.drawing import Drawer, Plot

# The measured counters the counter-agreement page shows beside the analytic MACs.
REPORT_COUNTERS = ("torch", "fvcore", "thop")


class Writer:
    """Writes files under ``root`` (whole, into what is there) and remembers what it wrote."""

    def __init__(self, root: Path, drawer: Drawer | None = None) -> None:
        self.root = root
        self.drawer = drawer or Drawer()  # not entered: plots drawn here, as asked
        self.written: list[Path] = []

    def _write(self, relative: str, write: Callable[[Path], None]) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_into(path, write)
        self.written.append(path)
        return path

    def text(self, relative: str, text: str) -> Path:
        return self._write(
            relative, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n")
        )

    def plot(self, relative: str, plot: Plot, data: Any, **options: Any) -> Path:
        """``plot(data, path, **options)``, drawn in the drawer's second process."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.drawer.plot(path, plot, data, options)
        self.written.append(path)
        return path


# The repository this package sits in (a checkout, or the README's editable install):
# its measured results are the ones incprof comes with, found from any directory.
CHECKOUT = Path(__file__).resolve().parents[2]


SHIPPED_RESULTS = CHECKOUT / "benchmarks" / "results"


def results_folders(extra: Sequence[Path] = ()) -> list[Path]:
    """The measured results incprof comes with (when its checkout holds them), then
    ``extra`` (a user's own), each folder once."""
    folders = [SHIPPED_RESULTS, *extra] if SHIPPED_RESULTS.is_dir() else list(extra)
    unique: dict[Path, Path] = {}
    for folder in folders:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def result_files(folders: Path | Sequence[Path], pattern: str) -> list[Path]:
    """The files matching ``pattern`` in each folder (one folder, or several), in order."""
    folders = [folders] if isinstance(folders, Path) else folders
    return [p for folder in folders if folder.is_dir() for p in sorted(folder.glob(pattern))]


def shown(path: Path) -> str:
    """A folder as the pages name it: relative to the working directory, or else to the
    checkout, when inside it, so pages do not carry a machine's absolute paths."""
    for root in (Path.cwd(), CHECKOUT):
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def shown_all(folders: Path | Sequence[Path]) -> str:
    folders = [folders] if isinstance(folders, Path) else folders
    return ", ".join(shown(f) for f in folders) or "no results folder"


def step(progress: api.Progress | None, message: str) -> None:
    if progress:
        progress(message)
