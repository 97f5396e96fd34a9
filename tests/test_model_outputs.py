"""Models that return more than one tensor, or that read tensor values in their forward."""

import json

import pytest
from click.testing import CliRunner
from user_models import TWO_HEADS_MACS_PER_PIXEL

from incprof.cli import cli

HEADS = ["user_models:dict_heads", "user_models:tuple_heads", "user_models:dataclass_heads"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("spec", HEADS)
def test_show_and_compare_take_every_tensor_of_the_output(spec):
    result = invoke("compare", spec, "--input", "3x8x8", "--format", "json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["macs"] == TWO_HEADS_MACS_PER_PIXEL * 8 * 8
    assert record["rf_size"] == 1  # 1×1 convs only
    show = invoke("show", spec, "--input", "3x8x8", "--format", "json")
    assert show.exit_code == 0, show.output
    rows = {r["module"]: r for r in json.loads(show.stdout)}
    assert rows["scores"]["output_shape"] == [1, 1, 8, 8]


def test_latency_times_a_dict_output_on_the_cpu():
    result = invoke(
        "latency",
        "user_models:dict_heads",
        "--device",
        "cpu",
        "--input",
        "3x8x8",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["status"] == "ok" and record["median_ms"] > 0


@pytest.mark.parametrize("command", ["show", "compare", "rf"])
def test_data_dependent_forward_is_named_as_such_not_as_a_size(command):
    result = invoke(command, "user_models:gated", "--input", "3x8x8")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("incprof: error: user_models:gated reads tensor values in its forward")
    assert "'incprof latency' runs real tensors and can time it" in line
    assert "smallest" not in line and "cannot run on" not in line


def test_latency_measures_a_data_dependent_model():
    result = invoke(
        "latency", "user_models:gated", "--device", "cpu", "--input", "3x8x8", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["status"] == "ok" and record["median_ms"] > 0
    assert record["tflops"] is None  # no MACs without the analysis


@pytest.mark.parametrize("fmt", ["json", "csv", "table", "markdown"])
def test_show_carries_the_unknown_operators_in_every_format(fmt):
    result = invoke("show", "user_models:cumulative", "--input", "3x4x4", "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        rows = {r["module"]: r for r in json.loads(result.stdout)}
        # Issued by the model's own forward: the (root) row names it, the convs do not.
        assert rows["(root)"]["unknown_ops"] == "sort×1"
        assert rows["conv"]["unknown_ops"] == rows["head"]["unknown_ops"] == ""
    elif fmt == "csv":
        lines = result.stdout.splitlines()
        assert lines[0].split(",")[-1] == "unknown_ops"
        assert lines[-1].startswith("(root),") and lines[-1].endswith(",sort×1")
    else:
        assert "unknown operators (not counted): sort" in result.stdout
        assert "sort×1" in result.stdout.split("\n\n", 1)[1]
