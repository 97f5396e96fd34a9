import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

# Lets tests name their helper models as "user_models:tiny_net", as users name theirs.
sys.path.insert(0, str(Path(__file__).parent))
# ... and import benchmarks/zoo_imports.py, the one shim for torchvision and timm.
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from scratch import REPORT_ARGS, run_in_scratch


@dataclass(frozen=True)
class ReportBuild:
    result: Result
    folder: Path


@pytest.fixture(scope="session")
def report_build(tmp_path_factory: pytest.TempPathFactory) -> ReportBuild:
    """`incprof report --out reports/` once a session, as from the repository root: a full
    build takes about 15 s, and the golden test and the help example both need one."""
    scratch = tmp_path_factory.mktemp("report")
    return ReportBuild(run_in_scratch(REPORT_ARGS, scratch), scratch / "reports")
