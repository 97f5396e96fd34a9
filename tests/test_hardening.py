"""Bad input across every command: one clear line and exit 2 (or a row that says why),
never a traceback, never a half-written file."""

import json
import os

import pytest
import torch
from click.testing import CliRunner

import incprof.analysis.counters
from incprof.baseline import analytic_baseline
from incprof.cli import cli

# One cheap invocation per command that analyses a variant; "{v}" is the variant.
ANALYSING = {
    "show": ["show", "{v}"],
    "rf": ["rf", "{v}"],
    "compare": ["compare", "{v}"],
    "counters": ["counters", "{v}", "--counters", "torch"],
    "latency": ["latency", "{v}", "--device", "cpu"],
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("incprof: error: ")
    assert message in line, line


def command(name: str, variant: str, *extra: str) -> list[str]:
    return [a.replace("{v}", variant) for a in ANALYSING[name]] + list(extra)


@pytest.mark.parametrize("name", ANALYSING)
def test_unknown_variant_suggests_close_names(name):
    result = invoke(*command(name, "inception_v33"))
    assert_one_line_error(result, "unknown variant 'inception_v33'; did you mean inception_v3")


@pytest.mark.parametrize("name", ANALYSING)
def test_too_small_input_for_a_user_model_names_the_smallest_that_runs(name):
    result = invoke(*command(name, "user_models:strided_net", "--input", "3x5x5"))
    assert_one_line_error(result, "user_models:strided_net cannot run on a 3x5x5 input (")
    assert result.output.strip().endswith("the smallest square input that runs is 3x7x7")


@pytest.mark.parametrize("name", ANALYSING)
@pytest.mark.parametrize("text", ["3x0x224", "3xax224", ""])
def test_malformed_input_shape(name, text):
    result = invoke(*command(name, "user_models:tiny_net", "--input", text))
    assert_one_line_error(result, "--input must be positive integers joined by x, e.g. 3x224x224")
    assert result.output.strip().endswith(f"got {text!r}")


@pytest.mark.parametrize("name", ANALYSING)
@pytest.mark.parametrize("text", ["3x224", "224"])
def test_an_input_of_another_rank_is_tried_and_refused_in_one_line(name, text):
    result = invoke(*command(name, "user_models:tiny_net", "--input", text))
    if name == "rf":  # a receptive field is a span of pixels: only an image has one
        assert_one_line_error(
            result, f"--input takes an image shape CxHxW here, e.g. 3x299x299; got '{text}'"
        )
    else:
        assert_one_line_error(result, f"user_models:tiny_net cannot run on a {text} input (")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["compare", "googlenet_tv", "--batch", "0"],
            "--batch takes positive integers up to 2**31, e.g. 1,32,256; got '0'",
        ),
        (
            ["compare", "googlenet_tv", "--batch", "x"],
            "--batch takes positive integers up to 2**31, e.g. 1,32,256; got 'x'",
        ),
        (["latency", "googlenet_tv", "--batch", "1,-2"], "--batch takes positive integers"),
        (["latency", "googlenet_tv", "--dtype", "fp32,int8"], "--dtype takes a comma-separated"),
        (["check", "x.json", "--tolerance", "-1"], "Invalid value for '--tolerance'"),
        (
            ["check", "x.json", "--latency-tolerance", "a"],
            "Invalid value for '--latency-tolerance'",
        ),
        (["show", "googlenet_tv", "--depth", "0"], "Invalid value for '--depth'"),
        (["list", "--format", "xml"], "Invalid value for '--format': 'xml' is not one of"),
        (["factorize", "--channels", "0"], "Invalid value for '--channels'"),
        (["show"], "Missing argument 'VARIANT'. (see 'cli show --help')"),
        (["profile"], "No such command 'profile'. (see 'cli --help')"),
        (["--verison"], "No such option '--verison'"),
        (["latency", "user_models:tiny_net", "--batch", "1,,2"], "--batch takes positive"),
        (["latency", "user_models:tiny_net", "--dtype", "fp32,,bf16"], "--dtype takes a comma"),
        (["compare", "googlenet", "--sort", ""], "--sort needs a column name"),
        (
            ["compare", "googlenet", "--sort", "-"],
            "--sort needs a column name, e.g. macs or -macs; got '-'",
        ),
        (
            ["compare", "googlenet", "--sort", "-nope"],
            "--sort 'nope' is not a column; choose one of variant,",
        ),
        (["check", "x.json", "--variants", "googlenet"], "--variants names what --update writes"),
    ],
)
def test_malformed_options_are_one_line(args, message):
    assert_one_line_error(invoke(*args), message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_compare_latency_on_a_missing_gpu():
    result = invoke("compare", "user_models:tiny_net", "--latency", "--device", "cuda")
    assert_one_line_error(result, "--device cuda: no CUDA GPU is available on this machine")


UNWRITABLE = "/nonexistent-dir/out.json"


@pytest.mark.parametrize(
    "args",
    [
        ["show", "user_models:tiny_net", "--output", UNWRITABLE],
        ["rf", "user_models:tiny_net", "--output", UNWRITABLE],
        ["compare", "user_models:tiny_net", "--output", UNWRITABLE],
        ["counters", "user_models:tiny_net", "--counters", "torch", "--output", UNWRITABLE],
        ["factorize", "fact_5x5", "--output", UNWRITABLE],
        ["check", "{baseline}", "--import", "user_models", "--output", UNWRITABLE],
        ["latency", "user_models:tiny_net", "--device", "cpu", "--output", UNWRITABLE],
    ],
    ids=lambda args: args[0],
)
def test_an_output_path_that_cannot_be_written(args, tmp_path, monkeypatch):
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(analytic_baseline(["user_models:tiny_net"])))
    monkeypatch.setattr("incprof.analysis.latency.cpu_time", _instant)
    result = invoke(*(a.replace("{baseline}", str(baseline)) for a in args))
    assert_one_line_error(result, f"cannot write {UNWRITABLE}: No such file or directory")


def _instant(fn, *, min_run_time=1.0):
    """CPU timing without the second it takes: the figure is not what these tests are about."""
    from incprof.analysis.latency import Timing

    return Timing.of([1.0])


def _never(fn, *, min_run_time=1.0):
    raise AssertionError("measured before refusing the output path")


@pytest.mark.parametrize("option", ["--save", "--output"])
def test_latency_refuses_an_unwritable_path_before_measuring(option, monkeypatch):
    monkeypatch.setattr("incprof.analysis.latency.cpu_time", _never)
    result = invoke("latency", "user_models:tiny_net", "--device", "cpu", option, UNWRITABLE)
    assert_one_line_error(result, f"cannot write {UNWRITABLE}: No such file or directory")


def test_an_output_path_that_is_a_folder(tmp_path):
    result = invoke("list", "--output", str(tmp_path))
    assert_one_line_error(result, f"Invalid value for '--output' / '-o': File '{tmp_path}' is a")


def test_report_into_a_folder_that_cannot_be_made():
    pytest.importorskip("incprof.report.build")  # wired in cli.py before it was written
    result = invoke("report", "--out", "/proc/forbidden/reports")
    assert_one_line_error(result, "cannot write the reports under /proc/forbidden/reports")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:net", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
        ("exits_on_import:net", "cannot import 'exits_on_import': SystemExit: 2"),
        ("user_models:nope", "'user_models' has no attribute 'nope'"),
        ("user_models:NOT_CALLABLE", "'user_models:NOT_CALLABLE' is not callable"),
        ("user_models:raises", "user_models:raises raised ValueError: broken on purpose"),
        ("user_models:not_a_module", "user_models:not_a_module returned int, not an nn.Module"),
        ("user_models", "unknown variant 'user_models'"),
        ("user_models:", "'user_models:' is not of the form package.module:callable"),
    ],
)
def test_a_user_spec_that_gives_no_module(spec, message):
    assert_one_line_error(invoke("show", spec), message)


@pytest.mark.parametrize("name", ANALYSING)
def test_a_user_model_whose_forward_raises(name):
    result = invoke(*command(name, "user_models:bad_forward"))
    assert_one_line_error(
        result,
        "user_models:bad_forward failed on a 3x224x224 input: "
        "TypeError: forward() is broken on purpose",
    )


def _broken_counter(*args, **kwargs):
    raise ZeroDivisionError("the counter divided by zero")


def test_a_counter_that_throws_is_a_row_that_says_why(monkeypatch):
    monkeypatch.setattr(incprof.analysis.counters, "count_fvcore", _broken_counter)
    result = invoke(
        "counters", "user_models:tiny_net", "--counters", "torch,fvcore", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    rows = {r["counter"]: r for r in json.loads(result.output)}
    assert rows["torch"]["macs"] == rows["analytic"]["macs"]
    assert rows["fvcore"]["macs"] is None
    assert rows["fvcore"]["explanation"].startswith(
        "fvcore failed: ZeroDivisionError: the counter divided by zero"
    )


def test_compare_says_why_a_counter_cell_is_blank(monkeypatch):
    monkeypatch.setattr(incprof.analysis.counters, "count_fvcore", _broken_counter)
    result = invoke("compare", "user_models:tiny_net", "--counters", "torch,fvcore")
    assert result.exit_code == 0, result.output
    header, _, row = result.output.splitlines()
    assert header.split()[-1] == "counter_errors"
    assert row.endswith("fvcore failed: ZeroDivisionError: the counter divided by zero")


def test_saved_results_with_missing_fields(tmp_path):
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps([{"variant": "googlenet_tv", "batch": 1, "status": "ok"}]))
    result = invoke("compare", "googlenet_tv", "--results", str(saved), "--format", "json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["latency_ms"] is None
    assert record["latency_config"] == "unknown device, batch 1"


def test_a_failing_command_leaves_no_file(tmp_path):
    target = tmp_path / "out.json"
    result = invoke("show", "user_models:strided_net", "--input", "3x5x5", "--output", str(target))
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old\n")

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    result = invoke("list", "--format", "json", "--output", str(target))
    assert_one_line_error(result, f"cannot write {target}: No space left on device")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_written_files_get_the_usual_permissions(tmp_path):
    target = tmp_path / "out.json"
    assert invoke("list", "--format", "json", "--output", str(target)).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


# Issue 17's rough edges: each of these passed silently, or failed late, before.

H100_PARITY = "benchmarks/results/latency_parity_h100-80gb-hbm3.json"


def test_compare_reads_a_parity_results_file():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = invoke(
        "compare",
        "googlenet_tv",
        "--batch",
        "32",
        "--results",
        os.path.join(root, H100_PARITY),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    with open(os.path.join(root, H100_PARITY)) as handle:
        saved = json.load(handle)
    rows = [
        r
        for r in saved["parity"]
        if r["variant"] == "googlenet_tv" and r["batch"] == 32 and r["ours_status"] == "ok"
    ]
    # No fp32 row there: the first ok row at batch 32 is the one shown, and it says which.
    assert record["latency_ms"] == rows[0]["ours_ms"]
    assert record["images_per_s"] == pytest.approx(32e3 / rows[0]["ours_ms"])
    assert record["latency_config"].startswith("NVIDIA H100 80GB HBM3, batch 32, ")


def test_compare_results_at_a_batch_the_file_lacks_is_exit_2(tmp_path):
    saved = tmp_path / "saved.json"
    row = {"variant": "user_models:tiny_net", "batch": 1, "status": "ok", "median_ms": 2.0}
    saved.write_text(json.dumps([row]))
    result = invoke("compare", "user_models:tiny_net", "--results", str(saved), "--batch", "3")
    assert_one_line_error(
        result, f"{saved} has no latency results at batch 3 (it has batch 1); choose one"
    )


def test_compare_says_which_variants_the_results_leave_blank(tmp_path):
    saved = tmp_path / "saved.json"
    row = {"variant": "user_models:tiny_net", "batch": 1, "status": "ok", "median_ms": 2.0}
    saved.write_text(json.dumps([row]))
    args = [
        "compare",
        "user_models:tiny_net",
        "user_models:strided_net",
        "--input",
        "3x16x16",
        "--results",
        str(saved),
        "--format",
        "json",
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    tiny, strided = json.loads(result.stdout)
    # tiny_net's row names no input: it was measured at its default, 3x224x224, not 16x16.
    assert tiny["latency_ms"] is None and strided["latency_ms"] is None
    assert result.stderr == ""
    assert tiny["latency_note"] == f"{saved} has no ok result at batch 1 and this input"
    table = invoke(*args[:-2])
    assert table.stdout.endswith(
        f"notes:\n  {saved} has no ok result at batch 1 and this input for "
        "user_models:tiny_net, user_models:strided_net: its latency columns are blank\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "googlenet_tv", "inception_v3", "inception_v4", "--sort", "nope"],
        ["compare", "googlenet_tv", "inception_v3", "inception_v4", "--baseline", "inception_v33"],
    ],
)
def test_bad_sort_or_baseline_fails_before_computing(args, monkeypatch):
    import incprof.api.records

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("computed before the options were checked")

    monkeypatch.setattr(incprof.api.records, "analyze_variant", must_not_run)
    assert invoke(*args).exit_code == 2


def test_every_compare_key_is_declared_for_sort():
    from incprof.api import compare_records
    from incprof.columns import compare_keys

    (record,) = compare_records(["user_models:tiny_net"], counters=["torch"])
    assert set(record) == set(compare_keys(["torch"]))


def test_close_names_suggest_the_registered_name_not_an_alias():
    result = invoke("show", "bninceptoin")
    assert_one_line_error(result, "did you mean bn_inception")
    assert "bninception" not in result.output


def test_published_accuracy_is_not_shown_at_another_input():
    result = invoke("compare", "googlenet", "--input", "3x64x64", "--format", "json")
    (record,) = json.loads(result.stdout)
    assert record["top1"] is None and record["top5"] is None
    assert record["accuracy_source"] == "published at 3x224x224, not this input"
    (default,) = json.loads(invoke("compare", "googlenet", "--format", "json").stdout)
    assert default["top5"] == 89.93


def test_ctrl_c_exits_130(monkeypatch):
    import incprof.api

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(incprof.api, "list_records", interrupted)
    result = invoke("list")
    assert result.exit_code == 130
    assert result.output.strip() == "incprof: interrupted"


def test_help_and_version_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from incprof.cli import main; sys.argv = ['incprof', '--version'];\n"
        "try: main()\nexcept SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    for command in ("--help", "compare --help", "latency --help"):
        code_help = code.replace("'--version'", ", ".join(repr(a) for a in command.split()))
        child = subprocess.run([sys.executable, "-c", code_help], capture_output=True, text=True)
        assert child.returncode == 0, child.stderr


def test_report_with_a_missing_results_folder_is_exit_2(tmp_path):
    result = invoke("report", "--out", str(tmp_path / "r"), "--results", "/nonexistent")
    assert_one_line_error(result, "--results /nonexistent: no such folder")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("shipped", [False, True])
def test_report_says_what_the_latency_page_will_lack(tmp_path, monkeypatch, shipped):
    """Outside the repository the measurements incprof comes with are read; only where
    there are none (a wheel without its checkout) does the latency page lack them."""
    import incprof.report.build
    import incprof.report.writer

    monkeypatch.setattr(incprof.report.build, "build_reports", lambda *a, **k: [])
    if not shipped:
        monkeypatch.setattr(incprof.report.writer, "SHIPPED_RESULTS", tmp_path / "none")
    monkeypatch.chdir(tmp_path)  # outside the repository: no benchmarks/results here
    result = invoke("report", "--out", "r")
    assert result.exit_code == 0
    lacks = "the latency page will have no measurements and no plots"
    assert (lacks in result.stderr) is not shipped
    if not shipped:
        assert "no latency*.json in the results read (give yours with --results)" in result.stderr
