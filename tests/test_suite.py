"""The suite itself: no two tests share a name. A second ``def`` of a name in one module
replaces the first, which pytest then never runs, silently; across modules, one name for two
tests makes ``-k NAME`` and a failure's name point at both."""

import ast
from collections import defaultdict
from pathlib import Path


def _definitions(folder: Path) -> dict[str, list[str]]:
    """Each test function name in ``folder``'s test modules -> where it is defined."""
    where = defaultdict(list)
    for module in sorted(folder.glob("test_*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if function and node.name.startswith("test_"):
                where[node.name].append(f"{module.name}:{node.lineno}")
    return where


def _shared(folder: Path) -> dict[str, list[str]]:
    return {name: places for name, places in _definitions(folder).items() if len(places) > 1}


def test_no_two_tests_share_a_name():
    shared = _shared(Path(__file__).parent)
    assert not shared, f"test names defined more than once (rename one of each): {shared}"


def test_shadowed_and_repeated_names_are_found(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_x():\n    pass\n\n\ndef test_x():\n    pass\n")
    (tmp_path / "test_b.py").write_text("def test_y():\n    pass\n\n\ndef helper():\n    pass\n")
    (tmp_path / "test_c.py").write_text("def test_y():\n    pass\n")
    (tmp_path / "helpers.py").write_text("def test_x():\n    pass\n")  # not a test module
    assert _shared(tmp_path) == {
        "test_x": ["test_a.py:1", "test_a.py:5"],
        "test_y": ["test_b.py:1", "test_c.py:1"],
    }
