"""A data file never decides what code runs: a baseline naming ``module:callable`` imports
that module only when the user consents on the command line (``--import MODULE``)."""

import json
import sys

import pytest
from test_hardening import assert_one_line_error, invoke

from incprof.baseline import (
    BaselineError,
    analytic_baseline,
    check,
    latency_baselines_from_results,
    load_baseline,
)
from incprof.sources import allows_import, imported_module

MODULE = "incprof_consent_probe"
# Importing the probe leaves a mark: the test asserts the module's code never ran.
PROBE = """
import pathlib
pathlib.Path(__file__).with_name("imported.mark").write_text("ran")
from user_models import tiny_net
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    (tmp_path / f"{MODULE}.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "imported.mark"
    sys.modules.pop(MODULE, None)


def baseline_naming(tmp_path, name: str) -> str:
    data = analytic_baseline(["user_models:tiny_net"])
    data["entries"][0]["variant"] = name
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_a_baseline_naming_a_module_is_refused_without_importing_it(tmp_path, probe):
    path = baseline_naming(tmp_path, f"{MODULE}:tiny_net")
    result = invoke("check", path)
    assert_one_line_error(
        result,
        f"{path}: entry 1 names '{MODULE}:tiny_net', which would import the module "
        f"'{MODULE}'; incprof imports code named by a file only with your consent: "
        f"incprof check {path} --import {MODULE}",
    )
    assert not probe.exists() and MODULE not in sys.modules
    assert_one_line_error(invoke("check", path, "--update"), "--import")
    assert not probe.exists()


def test_consent_on_the_command_line_lets_it_run(tmp_path, probe):
    path = baseline_naming(tmp_path, f"{MODULE}:tiny_net")
    result = invoke("check", path, "--import", MODULE)
    assert result.exit_code == 0, result.output
    assert probe.exists()


def test_the_zen_of_python_is_not_printed_by_a_baseline(tmp_path):
    path = baseline_naming(tmp_path, "this:nothing")
    result = invoke("check", path)
    assert_one_line_error(result, "would import the module 'this'")
    assert "Beautiful is better than ugly" not in result.output


def test_a_package_consents_for_its_modules_only():
    assert allows_import("pkg.models", ["pkg"]) and allows_import("pkg", ["pkg"])
    assert not allows_import("pkgevil", ["pkg"]) and not allows_import("pkg", ["pkg.models"])
    assert imported_module("inception_v3") is None
    assert imported_module("net.onnx") is None
    assert imported_module("a.b:build") == "a.b"


def test_a_results_file_naming_a_module_is_not_resolved(tmp_path, probe):
    """Latency baselines from results match each row's input with its variant's default;
    a row naming a module must not import it to find out."""
    row = {
        "variant": f"{MODULE}:tiny_net",
        "input_shape": "3x224x224",
        "batch": 1,
        "dtype": "fp32",
        "mode": "eager",
        "layout": "contiguous",
        "status": "ok",
        "median_ms": 1.0,
        "device_name": "NVIDIA H100 80GB HBM3",
        "cuda": "12.8",
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps([row]))
    (made,) = latency_baselines_from_results([path]).values()
    assert made["entries"][0]["input_shape"] == "3x224x224"
    assert not probe.exists()


def test_an_empty_baseline_checks_nothing_and_is_bad_input(tmp_path):
    data = analytic_baseline(["user_models:tiny_net"])
    data["entries"] = []
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("check", str(path)), "holds no entries, so it checks nothing")


def test_an_unknown_variant_is_bad_input_with_close_names_not_a_regression(tmp_path):
    path = baseline_naming(tmp_path, "inception_v33")
    result = invoke("check", path)
    assert_one_line_error(
        result, f"{path}: entry 1: unknown variant 'inception_v33'; did you mean inception_v3"
    )
    with pytest.raises(BaselineError, match="did you mean inception_v3"):
        check(load_baseline(path))
