"""Running a command as from the repository root, without writing into the checkout."""

import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from incprof.cli import cli

ROOT = Path(__file__).resolve().parents[1]
# The help's example of `incprof report`: a full build, shared by the tests that need one.
REPORT_ARGS = ["report", "--out", "reports/"]
# The help's example of a CPU calibration: timed once a session, shared the same way.
CALIBRATE_ARGS = ["calibrate", "--device", "cpu", "--quick", "--out", "cpu-profile.json"]


def run_in_scratch(args: list[str], scratch: Path) -> Result:
    """``incprof ARGS`` in ``scratch``, with the checkout's benchmarks/ linked into it: the
    command reads the committed results and baselines and writes only into ``scratch``."""
    if not (scratch / "benchmarks").exists():  # a second command in the same scratch
        (scratch / "benchmarks").symlink_to(ROOT / "benchmarks")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(scratch)
        return CliRunner().invoke(cli, args)


@dataclass(frozen=True)
class Run:
    """What a shared command left, as a click Result holds it (kept as JSON)."""

    exit_code: int
    output: str
    stdout: str
    stderr: str


def once_per_run(
    factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Result | Run]
) -> tuple[Run, Path]:
    """``make(folder)`` once for the whole test run, even under pytest -n: the first worker
    makes it under the run's shared temp folder while the others wait on a lock, then all
    read its result. (pytest-xdist's --dist loadgroup would do this, but does not group
    under pytest 9.)"""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of one run
    folder, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder.mkdir(exist_ok=True)
            result = make(folder)
            kept = [result.exit_code, result.output, result.stdout, result.stderr]
            done.write_text(json.dumps(kept))
    return Run(*json.loads(done.read_text())), folder
