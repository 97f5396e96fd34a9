import os

# Two workers on two cores: OpenMP threads spinning while they wait take the other
# worker's core (the suite took 120 s so, 91 s without). Set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

# Lets tests name their helper models as "user_models:tiny_net", as users name theirs.
sys.path.insert(0, str(Path(__file__).parent))
# ... and import benchmarks/zoo_imports.py, the one shim for torchvision and timm.
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from scratch import CALIBRATE_ARGS, REPORT_ARGS, Run, once_per_run, run_in_scratch


@dataclass(frozen=True)
class ReportBuild:
    result: Run
    folder: Path


@dataclass(frozen=True)
class Calibrated:
    result: Run
    out: Path


class Exports:
    """Each `incprof export ...` command run once a session, into one scratch folder: the
    help's export examples and the examples that read their .onnx files share the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._runs: dict[tuple[str, ...], Result] = {}

    def run(self, args: list[str]) -> Result:
        if tuple(args) not in self._runs:
            self._runs[tuple(args)] = run_in_scratch(args, self.folder)
        return self._runs[tuple(args)]

    def file(self, args: list[str]) -> Path:
        """The .onnx file ``args`` (an export command) writes."""
        return self.folder / args[args.index("--onnx") + 1]


@pytest.fixture(scope="session")
def report_build(tmp_path_factory: pytest.TempPathFactory) -> ReportBuild:
    """`incprof report --out reports/` once a run, as from the repository root: a full
    build takes about 15 s, and the golden test and the help example both need one."""
    result, scratch = once_per_run(
        tmp_path_factory, "report", lambda folder: run_in_scratch(REPORT_ARGS, folder)
    )
    return ReportBuild(result, scratch / "reports")


@pytest.fixture(scope="session")
def quick_calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibrated:
    """`incprof calibrate --device cpu --quick --out cpu-profile.json` once a run (its
    timings take seconds; the calibration test and the help example both need one), with
    the bandwidth copy at its 64 MiB floor as a small cache gives."""
    from incprof.analysis import calibrate

    def run(folder: Path) -> Result:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(calibrate, "_last_level_cache_bytes", lambda: 16 * 2**20)
            return run_in_scratch(CALIBRATE_ARGS, folder)

    result, scratch = once_per_run(tmp_path_factory, "calibrate", run)
    return Calibrated(result, scratch / CALIBRATE_ARGS[-1])


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    return Exports(tmp_path_factory.mktemp("exports"))
