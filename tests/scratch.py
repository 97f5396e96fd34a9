"""Running a command as from the repository root, without writing into the checkout."""

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from incprof.cli import cli

ROOT = Path(__file__).resolve().parents[1]
# The help's example of `incprof report`: a full build, shared by the tests that need one.
REPORT_ARGS = ["report", "--out", "reports/"]


def run_in_scratch(args: list[str], scratch: Path) -> Result:
    """``incprof ARGS`` in ``scratch``, with the checkout's benchmarks/ linked into it: the
    command reads the committed results and baselines and writes only into ``scratch``."""
    if not (scratch / "benchmarks").exists():  # a second command in the same scratch
        (scratch / "benchmarks").symlink_to(ROOT / "benchmarks")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(scratch)
        return CliRunner().invoke(cli, args)
