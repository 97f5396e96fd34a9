"""Every command's JSON on the registry, against the committed output in tests/golden/.

The contract scripts and users read (DESIGN.md): a change to any figure, key or order
fails here and is made on purpose, by rewriting the files with
``INCPROF_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_cli.py`` and committing the
diff. The package's layout can move under this test; what it prints cannot.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from incprof.cli import cli

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "list",
    "show inception_v3 --depth 1",
    "analyze googlenet_tv",
    "compare",
    "memory googlenet inception_v3",
    "memory inception_v3 --train --batch 2",
    "predict inception_v3 --device h100-sxm --batch 1,256 --mode eager,graph",
    "rf inception_v3",
    "factorize",
    "claim googlenet_tv 1.5G",
    "check benchmarks/baselines/analytic.json",
)


def _slug(command: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", command.lower()).strip("_")[:60]


@pytest.mark.parametrize("command", COMMANDS, ids=_slug)
def test_json_output_is_the_committed_one(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the baseline path as the README gives it
    result = CliRunner().invoke(cli, [*command.split(), "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    path = GOLDEN / f"{_slug(command)}.json"
    if os.environ.get("INCPROF_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert out == json.loads(path.read_text(encoding="utf-8")), f"{command}: see {path}"
