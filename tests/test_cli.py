"""The command line: contract of the records, formats, and one-line errors with exit 2."""

import json

import pytest
from click.testing import CliRunner

from incprof import __version__
from incprof.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_has_examples_and_version():
    result = run("--help")
    assert result.exit_code == 0 and "Examples:" in result.output
    assert run("--version").output.strip().endswith(__version__)


def test_list_json_records():
    records = json.loads(run("list", "--format", "json").output)
    assert {"variant", "family", "tag", "input_shape", "reproduces"} <= set(records[0])
    tags = {r["tag"] for r in json.loads(run("list", "--tag", "block", "--format", "json").output)}
    assert tags == {"block"}


def test_compare_json_contract():
    result = run("compare", "googlenet_tv", "--format", "json", "--counters", "analytic,torch")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    for key in (
        "variant",
        "input_shape",
        "params",
        "params_with_aux",
        "macs",
        "flops",
        "other_ops",
    ):
        assert key in record
    assert record["input_shape"] == "3x224x224"
    assert record["flops"] == 2 * record["macs"] == 2 * record["macs_torch"]
    assert isinstance(record["macs"], int)


def test_compare_csv_and_markdown():
    csv_text = run("compare", "googlenet_tv", "--format", "csv").output
    assert csv_text.splitlines()[0].startswith("variant,input_shape,params")
    markdown = run("compare", "googlenet_tv", "--format", "markdown").output
    assert markdown.splitlines()[1].startswith("|")


def test_compare_notes_alignment_in_a_field_and_under_the_table_never_on_stderr():
    result = run("compare", "bn_inception", "googlenet_tv", "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    records = {r["variant"]: r for r in json.loads(result.stdout)}
    assert {v: r["rf_aligned"] for v, r in records.items()} == {
        "bn_inception": False,
        "googlenet_tv": True,
    }
    # bn_inception's two misaligned concats (inception_3c, inception_4e), in its own field
    note = records["bn_inception"]["alignment_note"]
    assert note.startswith("concat in inception_3c: centres (6, 6) and (14, 14) differ")
    assert "; concat in inception_4e" in note
    assert records["googlenet_tv"]["alignment_note"] == ""
    table = run("compare", "bn_inception", "googlenet_tv")
    assert table.stderr == ""
    assert table.stdout.endswith(f"\nnotes:\n  bn_inception: not aligned: {note}\n")
    assert "alignment_note" not in table.stdout
    header = run("compare", "googlenet_tv").stdout.splitlines()[0].split()
    assert header[header.index("rf_stride") + 1] == "rf_aligned"


def test_empty_columns_leave_the_table_but_stay_in_json_and_csv():
    """A user's model has no published accuracy: no blank top1/top5 columns in a table."""
    table = run("compare", "user_models:tiny_net").stdout.splitlines()[0].split()
    markdown = run("compare", "user_models:tiny_net", "--format", "markdown").stdout
    for column in ("top1", "top5", "accuracy_source", "unknown_ops"):
        assert column not in table and f" {column} " not in markdown.splitlines()[0]
    (record,) = json.loads(run("compare", "user_models:tiny_net", "--format", "json").stdout)
    assert record["top1"] is None and record["accuracy_source"] == ""
    csv_header = run("compare", "user_models:tiny_net", "--format", "csv").stdout.splitlines()[0]
    assert "top1,top5,accuracy_source" in csv_header
    assert "top1" in run("compare", "inception_v3").stdout.splitlines()[0]


def test_rf_notes_misalignment_under_the_table_and_in_the_final_row():
    result = run("rf", "bn_inception", "--format", "json")
    assert result.stderr == ""
    rows = {r["endpoint"]: r for r in json.loads(result.stdout)}
    assert rows["inception_3b"]["aligned"] is True and rows["inception_3c"]["aligned"] is False
    assert rows["final_feature_map"]["aligned"] is False
    assert rows["final_feature_map"]["note"].count("not aligned: concat in") == 2
    table = run("rf", "bn_inception")
    assert table.stderr == ""
    assert table.stdout.endswith(
        "\nnotes:\n  not aligned: concat in inception_3c: centres (6, 6) and (14, 14) differ\n"
        "  not aligned: concat in inception_4e: centres (6, 6) and (22, 22) differ\n"
    )


def test_transposed_conv_leaves_the_field_empty_with_the_reason():
    # Issue 17: the walk said 9 / 4 here; the gradient shows 5 px whose starts step 2, 0,
    # 2, ... (tests/test_receptive_field.py): no single stride, so no number anywhere.
    rf = run("rf", "user_models:transposed_net", "--input", "3x16x16", "--format", "json")
    assert rf.exit_code == 0 and rf.stderr == ""
    rows = {r["endpoint"]: r for r in json.loads(rf.stdout)}
    assert (rows["0"]["size"], rows["0"]["stride"], rows["0"]["padding"]) == (3, 2, 1)
    for endpoint in ("1", "final_feature_map"):
        row = rows[endpoint]
        assert (row["size"], row["stride"], row["padding"]) == (None, None, None)
        assert row["note"] == "transposed conv, stride 2×2, in 1: field varies with position"
    table = run("rf", "user_models:transposed_net", "--input", "3x16x16").stdout
    row_1 = next(line for line in table.splitlines() if line.startswith("1 "))
    assert row_1.split()[1:3] == ["yes", "transposed"]  # no size, stride or padding cells

    compare = run("compare", "user_models:transposed_net", "--input", "3x16x16", "--format", "json")
    assert compare.exit_code == 0
    (record,) = json.loads(compare.stdout)
    assert record["rf_size"] is None and record["rf_stride"] is None
    assert record["rf_note"] == rows["1"]["note"] and record["rf_aligned"] is True
    header = run("compare", "user_models:transposed_net", "--input", "3x16x16").stdout.split()
    assert header[header.index("rf_aligned") + 1] == "rf_note"


def test_show_user_model_with_input():
    result = run("show", "user_models:tiny_net", "--input", "3x8x8", "--format", "json")
    rows = {r["module"]: r for r in json.loads(result.output)}
    assert rows["0"]["macs"] == 4 * 64 * 27  # 4 outputs channels × 8·8 × 3·3·3


def test_counters_records():
    result = run(
        "counters", "user_models:tiny_net", "--counters", "torch,fvcore", "--format", "json"
    )
    records = json.loads(result.output)
    assert [r["counter"] for r in records] == ["analytic", "torch", "fvcore"]
    assert set(records[0]) == {"variant", "counter", "macs", "delta_vs_analytic_pct", "explanation"}
    assert records[1]["delta_vs_analytic_pct"] == 0


def test_torch_cpu_counter_in_counters_and_compare():
    args = ("user_models:attention_net", "--input", "3x64x64", "--format", "json")
    records = json.loads(run("counters", *args, "--counters", "torch-cpu").output)
    assert [(r["counter"], r["macs"]) for r in records] == [
        ("analytic", 2_359_936),
        ("torch-cpu", 787_072),  # the patch embedding and the head: no attention
    ]
    assert "_native_multi_head_attention" in records[1]["explanation"]
    (record,) = json.loads(run("compare", *args, "--counters", "analytic,torch-cpu").output)
    assert record["macs_torch_cpu"] == 787_072 and "macs_torch-cpu" not in record
    assert "torch-cpu" in run("counters", "--help").output
    assert "torch-cpu" in run("compare", "--help").output


def test_output_file_is_written_whole(tmp_path):
    target = tmp_path / "out.json"
    assert run("list", "--format", "json", "--output", str(target)).exit_code == 0
    assert json.loads(target.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "googlenet_tvv"), "unknown variant 'googlenet_tvv'; did you mean googlenet_tv"),
        (("compare", "googlenet_tv", "--input", "3x224"), "googlenet_tv cannot run on a 3x224"),
        (("compare", "googlenet_tv", "--input", "3x8x8"), "googlenet_tv cannot run on a 3x8x8"),
        (("compare", "googlenet_tv", "--counters", "flopz"), "unknown counter 'flopz'"),
        (("counters", "googlenet_tv", "--counters", "flopz"), "ptflops, torch-cpu"),
        (("show", "user_models:not_a_module"), "returned int, not an nn.Module"),
        (("list", "--output", "/nonexistent-dir/x.json"), "cannot write /nonexistent-dir/x.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_compare_baseline_ratios_and_sort():
    result = run(
        "compare",
        "googlenet",
        "googlenet_tv",
        "--baseline",
        "googlenet",
        "--sort",
        "-macs",
        "--format",
        "json",
    )
    records = json.loads(result.output)
    assert [r["variant"] for r in records] == ["googlenet", "googlenet_tv"]  # more MACs first
    by_name = {r["variant"]: r for r in records}
    assert by_name["googlenet"]["macs_vs_baseline"] == 1.0
    tv = by_name["googlenet_tv"]
    assert tv["macs_vs_baseline"] == tv["macs"] / by_name["googlenet"]["macs"]
    assert tv["top1"] == 69.778 and "torchvision" in tv["accuracy_source"]


def test_compare_reads_saved_latency_results(tmp_path):
    saved = tmp_path / "lat.json"
    rows = [
        {
            "variant": "googlenet_tv",
            "batch": 1,
            "dtype": "bf16",
            "mode": "graph",
            "status": "ok",
            "median_ms": 1.0,
            "device_name": "GPU X",
        },
        {
            "variant": "googlenet_tv",
            "batch": 1,
            "dtype": "fp32",
            "mode": "eager",
            "status": "ok",
            "median_ms": 2.5,
            "p10_ms": 2.4,
            "p90_ms": 2.6,
            "images_per_s": 400.0,
            "device_name": "GPU X",
            "layout": "contiguous",
        },
    ]
    saved.write_text(json.dumps({"environment": {}, "sweep": rows}))
    (record,) = json.loads(
        run("compare", "googlenet_tv", "--results", str(saved), "--format", "json").output
    )
    assert record["latency_ms"] == 2.5  # fp32 eager preferred
    assert record["latency_config"].startswith("GPU X, batch 1, fp32, eager")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--baseline", "googlenet", "--sort", "nope"), "--sort 'nope' is not a column"),
        (("--results", "/nonexistent.json"), "cannot read /nonexistent.json"),
    ],
)
def test_compare_option_errors(args, message):
    result = CliRunner().invoke(cli, ["compare", "googlenet_tv", *args])
    assert result.exit_code == 2 and message in result.output


def test_factorize_study_records():
    records = json.loads(run("factorize", "fact_5x5", "grid_reduction", "--format", "json").output)
    by_variant = {(r["variant"], round(r["paper_saving_pct"] or 0)): r for r in records}
    two_3x3 = by_variant[("fact_5x5_two_3x3", 28)]
    # (9 + 9)/25 of the 5×5's conv MACs at equal widths: 28% saved, as the paper says
    assert two_3x3["saving_pct"] == pytest.approx(28.0) and two_3x3["agrees"] is True
    assert two_3x3["rf_size"] == "5x5" and two_3x3["rf_aligned"] is True
    # pooling first at d = 35 with a valid 3×3/2 pool: 1 − (17/35)² saved, not the quarter's 75%
    pool_first = by_variant[("grid_pool_then_conv", 75)]
    assert pool_first["saving_pct"] == pytest.approx(100 * (1 - 17**2 / 35**2))
    assert pool_first["agrees"] is False and "assumption" in pool_first["note"]


def test_factorize_overrides_and_errors():
    (base, alt) = json.loads(
        run("factorize", "asym_7", "--channels", "64", "--grid", "12", "--format", "json").output
    )
    assert base["input_shape"] == alt["output_shape"] == "64x12x12"
    result = CliRunner().invoke(cli, ["factorize", "nope"])
    assert result.exit_code == 2 and "unknown factorization family 'nope'" in result.output


@pytest.mark.parametrize("name", ["inception_resnet_v2", "inception_v3"])
def test_too_small_input_for_a_network_names_the_smallest_that_runs(name):
    # Keras' applications documentation: InceptionV3 and InceptionResNetV2 need width and
    # height of at least 75.
    result = CliRunner().invoke(cli, ["show", name, "--input", "3x40x40"])
    assert result.exit_code == 2
    assert result.output.strip().endswith("the smallest square input that runs is 3x75x75")
