"""Where users see predicted latency: `incprof predict`, and compare's and factorize's
--predict columns.

The figures are worked out by hand for fact_5x5_two_3x3 (two BasicConv2d: 3×3 conv 96→96,
no bias → BN → in-place ReLU, on a 96×35×35 input) on hand-written profiles whose one bound
dwarfs the others, so that the prediction has a closed form.
"""

import json

import pytest
from click.testing import CliRunner

from incprof.analysis.profiles import SCHEMA
from incprof.cli import cli
from incprof.columns import (
    FACTORIZE_PREDICTED_KEYS,
    PREDICT_COLUMNS,
    PREDICT_MODULE_COLUMNS,
    PREDICTED_KEYS,
    PREDICTED_NOTES,
)

TWO_3X3 = "fact_5x5_two_3x3"
MAP = 96 * 35 * 35 * 4  # one 96×35×35 fp32 activation
WEIGHT = 96 * 96 * 3 * 3 * 4  # one 3×3 conv's weight
BN = 4 * 96 * 4  # batch norm's weight, bias, running mean and var
CONV_FLOPS = 2 * 96 * 96 * 3 * 3 * 35 * 35  # 2 × MACs of one 3×3 conv
# Per block: conv reads its input and weight and writes a map, BN reads it and its four
# vectors and writes a map, the in-place ReLU reads and writes it once.
TWO_3X3_BYTES = 2 * (6 * MAP + WEIGHT + BN)


def figure(value: float, kind: str = "assumed") -> dict:
    return {"value": value, "kind": kind, "source": "written by hand for a test"}


def profile_file(
    tmp_path,
    *,
    peak: float = 1e5,
    bandwidth: float = 1e5,
    eta_c: float = 1.0,
    eta_m: float = 1.0,
    launch_us: float = 0.0,
    gap_us: float = 0.0,
    dtypes: tuple[str, ...] = ("fp32",),
    host_overlap: bool = False,
) -> str:
    """A valid profile file: peak in TFLOP/s, bandwidth in GB/s."""
    data = {
        "schema": SCHEMA,
        "name": "hand",
        "title": "a device written by hand",
        "host_overlap": host_overlap,
        "peak_tflops": {d: figure(peak, "datasheet") for d in dtypes},
        "bandwidth_gbs": figure(bandwidth, "datasheet"),
        "launch_us": figure(launch_us),
        "gap_us": figure(gap_us),
        "compute_efficiency": {"default": figure(eta_c, "fitted")},
        "memory_efficiency": {"default": figure(eta_m, "fitted")},
    }
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(data))
    return str(path)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def records_of(*args: str) -> list[dict]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compute_bound_prediction_is_flops_over_efficient_peak(tmp_path):
    # 0.01 TFLOP/s at η_c = 0.5 (the lowest peak a profile may hold), the highest bandwidth:
    # the two convs' FLOPs over 0.5e10 FLOP/s, and nothing else counts.
    path = profile_file(tmp_path, peak=0.01, eta_c=0.5, bandwidth=1e5)
    (record,) = records_of("predict", TWO_3X3, "--profile", path, "--mode", "graph")
    assert record["predicted_ms"] == pytest.approx(1e3 * 2 * CONV_FLOPS / 0.5e10, rel=1e-5)
    assert record["bound"] == "compute" and record["compute_pct"] == pytest.approx(100, abs=1e-3)
    assert (record["dtype"], record["mode"], record["batch"]) == ("fp32", "graph", 1)
    assert record["profile"] == f"hand ({path}; datasheet, fitted, assumed figures)"


def test_memory_bound_prediction_is_bytes_over_efficient_bandwidth(tmp_path):
    # 1 GB/s at η_m = 0.25, a peak far above: every byte the blocks move, at 0.25e9 B/s;
    # batch 2 moves twice the activations and the same weights.
    path = profile_file(tmp_path, peak=1e5, bandwidth=1.0, eta_m=0.25)
    one, two = records_of("predict", TWO_3X3, "--profile", path, "--batch", "1,2")
    assert one["predicted_ms"] == pytest.approx(1e3 * TWO_3X3_BYTES / 0.25e9, rel=1e-6)
    assert two["predicted_ms"] == pytest.approx(
        1e3 * 2 * (12 * MAP + WEIGHT + BN) / 0.25e9, rel=1e-6
    )
    assert one["bound"] == two["bound"] == "memory"


def test_launch_bound_eager_is_launch_cost_per_op(tmp_path):
    # A CPU-like profile (host runs the work) with 10 ms per op and near-instant kernels: the
    # time is ten times the op count in ms, and graph mode, without host cost, takes none.
    path = profile_file(tmp_path, peak=1e5, bandwidth=1e5, launch_us=10000.0)
    eager, graph = records_of("predict", TWO_3X3, "--profile", path, "--mode", "eager,graph")
    # Per block, four ATen ops: convolution, the `empty` eval batch norm allocates for its
    # statistics (launched, no kernel), batch norm, in-place ReLU.
    assert eager["predicted_ms"] == pytest.approx(80.0, rel=1e-6)
    assert eager["bound"] == "launch" and eager["kernels"] == 6
    assert graph["predicted_ms"] == pytest.approx(0.0, abs=1e-4)


def test_json_keys_and_depth_rows(tmp_path):
    path = profile_file(tmp_path, peak=0.01, bandwidth=1e5)
    (record,) = records_of("predict", TWO_3X3, "--profile", path)
    assert set(PREDICT_COLUMNS) <= set(record) and "profile" in record and "unpriced" in record
    rows = records_of("predict", TWO_3X3, "--profile", path, "--depth", "1", "--mode", "graph")
    assert list(rows[0]) == [*PREDICT_MODULE_COLUMNS, "profile"]
    total = rows[-1]
    assert total["module"] == "(total)"
    assert total["predicted_ms"] == pytest.approx(1e3 * 2 * CONV_FLOPS / 1e10, rel=1e-5)
    modules = [r for r in rows[:-1] if "." not in r["module"]]
    assert sum(r["predicted_ms"] for r in modules) == pytest.approx(total["predicted_ms"])
    assert all(r["profile"] == record["profile"] for r in rows)


def test_tables_name_the_profile_under_them(tmp_path):
    path = profile_file(tmp_path, peak=0.01, bandwidth=1e5)
    result = run("predict", TWO_3X3, "--profile", path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        f"profile: hand ({path}; datasheet, fitted, assumed figures)"
    )
    builtin = run("predict", TWO_3X3, "--format", "markdown")  # default: h100-sxm, bf16
    assert builtin.exit_code == 0, builtin.output
    assert "| bf16 " in builtin.output and "| h100-sxm " in builtin.output
    assert "profile: h100-sxm (built-in h100-sxm.json; datasheet" in builtin.output


def bad_profile(tmp_path, text: str) -> str:
    path = tmp_path / "bad.json"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "h100-sxn"], "unknown device 'h100-sxn'; did you mean h100-sxm"),
        (["--device", "a100"], "did you mean a100-sxm"),
        (
            ["--profile", "{"],
            "is not JSON: Expecting property name enclosed in double quotes at line 1",
        ),
        (["--profile", '{"schema": "x"}'], "schema must be 'incprof-device-profile/1'"),
        (["--dtype", "bf17"], "--dtype takes a comma-separated list of fp32, tf32, bf16, fp16"),
        (["--mode", "jit"], "--mode takes a comma-separated list of eager, graph, compile"),
        (["--batch", "0"], "--batch takes positive integers"),
        (["--device", "l4", "--profile", "{}"], "give one of them"),
    ],
)
def test_predict_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    if "--profile" in args:
        at = args.index("--profile") + 1
        args = [*args[:at], bad_profile(tmp_path, args[at]), *args[at + 1 :]]
    result = run("predict", TWO_3X3, *args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_profile_without_the_dtype_asked_for_is_one_line(tmp_path):
    # A GPU profile defaults to bf16, else fp16, else what it has; this one has only fp32.
    path = profile_file(tmp_path, dtypes=("fp32",), host_overlap=True)
    result = run("predict", TWO_3X3, "--profile", path, "--dtype", "fp16")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "has no fp16 peak; it has fp32" in result.output
    records = records_of("predict", TWO_3X3, "--profile", path)
    assert [r["dtype"] for r in records] == ["fp32"]


def test_compare_predict_columns(tmp_path):
    path = profile_file(tmp_path, peak=0.01, bandwidth=1e5)
    records = records_of("compare", TWO_3X3, "--predict", path, "--batch", "2")
    (record,) = records
    assert set(PREDICTED_KEYS) | set(PREDICTED_NOTES) <= set(record)
    assert record["predicted_ms"] == pytest.approx(1e3 * 2 * 2 * CONV_FLOPS / 1e10, rel=1e-5)
    assert record["predicted_config"] == "batch 2, fp32, eager"
    table = run("compare", TWO_3X3, "--predict", path)
    assert table.exit_code == 0, table.output
    header = table.output.splitlines()[0].split()
    assert "predicted_ms" in header and "predicted_profile" not in header
    assert table.output.splitlines()[-1].startswith(f"predicted on hand ({path};")


def test_compare_and_factorize_without_predict_have_no_predicted_columns():
    (record,) = records_of("compare", TWO_3X3)
    assert not any(key.startswith("predicted") for key in record)
    assert not any(key.startswith("predicted") for key in records_of("factorize", "fact_5x5")[0])


def test_factorize_predicted_saving_beside_the_mac_saving(tmp_path):
    # Compute-bound everywhere: the time saved is the MACs saved, 28% (18/25 of the cost).
    compute = profile_file(tmp_path, peak=0.01, bandwidth=1e5)
    records = records_of("factorize", "fact_5x5", "--predict", compute, "--predict-mode", "graph")
    by_variant = {r["variant"]: r for r in records}
    two = by_variant[TWO_3X3]
    assert set(FACTORIZE_PREDICTED_KEYS) <= set(two)
    assert by_variant["fact_5x5_conv5x5"]["predicted_saving_pct"] == 0
    assert two["predicted_saving_pct"] == pytest.approx(two["saving_pct"], abs=1e-3)
    assert two["predicted_saving_pct"] == pytest.approx(28.0, abs=1e-3)
    # Launch-bound: two blocks dispatch twice the ops of one, so the 28% becomes −100%.
    launch = profile_file(tmp_path, peak=1e5, bandwidth=1e5, launch_us=10000.0)
    records = records_of("factorize", "fact_5x5", "--predict", launch)
    two = next(r for r in records if r["variant"] == TWO_3X3)
    assert two["predicted_saving_pct"] == pytest.approx(-100.0)
    table = run("factorize", "fact_5x5", "--predict", launch, "--format", "markdown")
    header = [c.strip() for c in table.output.splitlines()[0].strip("|").split("|")]
    at = header.index("saving_pct")
    assert header[at + 1 : at + 4] == list(FACTORIZE_PREDICTED_KEYS)
    assert table.output.splitlines()[-1] == (
        f"predicted on hand ({launch}; datasheet, fitted, assumed figures), batch 1, fp32, eager"
    )


def test_predict_options_need_predict():
    for args in (
        ["compare", TWO_3X3, "--predict-dtype", "bf16"],
        ["factorize", "fact_5x5", "--predict-batch", "8"],
        ["compare", TWO_3X3, "--predict", "h100-sxn"],
    ):
        result = run(*args)
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
