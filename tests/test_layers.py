"""The layering is one way: analyzers know nothing of the command line, the reports or the
checks above them, and only the command line words an error as an option ("--input ...").
Each table's columns are listed once (incprof.columns) and name keys its records hold."""

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from incprof.analysis.latency import LatencyRecord
from incprof.baseline import CheckRow
from incprof.cli import cli
from incprof.columns import (
    CHECK_COLUMNS,
    COUNTER_COLUMNS,
    FACTORIZE_COLUMNS,
    LATENCY_CAVEATS,
    LATENCY_COLUMNS,
    LIST_COLUMNS,
)

PACKAGE = Path(__file__).parents[1] / "incprof"
ABOVE_THE_ANALYZERS = ("incprof.api", "incprof.cli", "incprof.report", "incprof.baseline")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "analysis").glob("*.py")), ids=lambda p: p.name)
def test_analyzers_import_nothing_above_them(path):
    above = {
        name
        for name in _imports(path)
        if any(name == top or name.startswith(f"{top}.") for top in ABOVE_THE_ANALYZERS)
    }
    assert not above, f"{path.name} imports {sorted(above)}"


def _option_words(raise_node: ast.Raise) -> list[str]:
    texts = [
        node.value
        for node in ast.walk(raise_node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    return [text for text in texts if re.search(r"(^|[\s'\"(])--[a-z]", text)]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "cli.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_command_line_words_errors_as_options(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    worded = [
        (node.lineno, text)
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        for text in _option_words(node)
    ]
    assert not worded, f"{path.name} raises errors that name options: {worded}"


def _json(*args: str) -> list[dict]:
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_and_factorize_columns_are_keys_of_their_records():
    (entry, *_) = _json("list")
    assert set(LIST_COLUMNS) <= set(entry)
    records = _json("factorize", "fact_5x5")
    assert set(FACTORIZE_COLUMNS) <= set(records[0])


def test_counter_columns_are_every_key_of_a_counter_record():
    records = _json("counters", "user_models:tiny_net", "--counters", "torch")
    assert [list(r) for r in records] == [list(COUNTER_COLUMNS)] * 2


def test_latency_columns_are_fields_of_a_latency_record():
    fields = [f.name for f in dataclasses.fields(LatencyRecord)]
    assert set(LATENCY_COLUMNS) | set(LATENCY_CAVEATS) <= set(fields)


def test_check_columns_are_a_check_rows_keys_and_its_worded_change():
    row = CheckRow("v", "3x8x8", "macs", 100, 110, "regressed", "changed")
    assert set(CHECK_COLUMNS) == {*row.record(), "change"} - {"change_pct"}
    assert row.change == "+10 (+10.00%)"
