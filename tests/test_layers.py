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


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "analysis").rglob("*.py")),
    ids=lambda p: str(p.relative_to(PACKAGE / "analysis")),
)
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
    sorted(p for p in PACKAGE.rglob("*.py") if PACKAGE / "cli" not in p.parents),
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


# The package's layers, lowest first (see DESIGN.md): foundation (errors, files, JSON, the
# input grammar, the table of registered names, pure row formatting) → models (the
# Inception family's modules) → core (the traced pass, its meta kernels, the operator
# formulas) → sources (resolving a name, a user's module, a zoo model or an ``.onnx``
# file) → analyzers (everything a trace is priced with, measured beside, predicted by) →
# api (the records and the one result, ``incprof.Profile``; baselines, studies) → report
# (rendering) → cli. Every import counts, those inside functions and under
# ``TYPE_CHECKING`` too, read from the source.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "foundation",
        (
            "incprof.errors",
            "incprof.jsonfile",
            "incprof.files",
            "incprof.parse",
            "incprof.registry",
            "incprof.columns",
            "incprof.results",  # results and baseline JSON: one reader, one writer, slugs
            "incprof.run_settings",
            "incprof.report.tables",  # stdlib only: any layer may render rows with it
        ),
    ),
    ("models", ("incprof.models",)),
    (
        "core",
        (
            "incprof.analysis.gc_pause",
            "incprof.analysis.rollup",
            "incprof.analysis.inputs",
            "incprof.analysis.meta_kernels",
            "incprof.analysis.trace",
            "incprof.analysis.trace_ir",
            "incprof.analysis.recorder",
            "incprof.analysis.meta_build",
            "incprof.analysis.formulas",
            "incprof.analysis.formula_table",  # the table and decorator the families fill
            "incprof.analysis.formulas_matmul",
            "incprof.analysis.formulas_pointwise",
            "incprof.analysis.formulas_window",
        ),
    ),
    ("sources", ("incprof.onnx", "incprof.sources")),
    ("analyzers", ("incprof.analysis",)),
    (
        "api",
        (
            "incprof.api",
            "incprof.profiling",
            "incprof.profile_text",
            "incprof.baseline",
            "incprof.testing",
            "incprof.studies",
        ),
    ),
    ("report", ("incprof.report",)),
    ("cli", ("incprof.cli", "incprof.__main__", "incprof")),
)


def _package_modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's incprof imports, as module names: ``from pkg import sub`` is an
    import of ``pkg.sub`` where that is a module, else of ``pkg``."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else base)
        edges[name] = {
            t for t in map(known, (t for t in targets if t.startswith("incprof"))) if t
        } - {name}
    return edges


def _layer(module: str) -> int:
    """The layer of the longest prefix that names ``module``."""
    best, length = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = rank, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


EDGES = _import_graph(_package_modules())


def test_every_module_is_in_a_layer() -> None:
    for module in EDGES:
        _layer(module)


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{a} ({LAYERS[_layer(a)][0]}) imports {b} ({LAYERS[_layer(b)][0]})"
        for a in sorted(EDGES)
        for b in sorted(EDGES[a])
        if _layer(b) > _layer(a)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    assert _cycles(EDGES) == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    """The checks themselves: a made-up cycle is found, a made-up upward import too."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _layer("incprof.cli") > _layer("incprof.analysis.trace") > _layer("incprof.parse")
    # The function-level import that made registry → onnx.reader → trace → registry.
    assert "incprof.registry" in EDGES["incprof.analysis.trace"]
    assert "incprof.analysis.trace" in EDGES["incprof.onnx.reader"]
