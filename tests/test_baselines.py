"""Regression checks: the registry against the committed baseline, and ``incprof check``."""

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import incprof
from incprof.baseline import (
    ANALYTIC_METRICS,
    MEMORY_METRICS,
    BaselineError,
    analytic_baseline,
    check,
    latency_baselines_from_results,
    load_baseline,
    validate,
)
from incprof.cli import cli

BASELINES = Path(__file__).parents[1] / "benchmarks" / "baselines"
H100 = "NVIDIA H100 80GB HBM3"
# The small baseline names user_models:tiny_net: checking it imports tests/user_models.py.
CONSENT = ("--import", "user_models")


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_every_registered_entry_matches_the_committed_baseline():
    """An unintended change to any architecture fails here; an intended one is recorded
    with `python benchmarks/make_baselines.py` (and shows in the baseline's diff)."""
    baseline = load_baseline(BASELINES / "analytic.json")
    registered = [v.name for v in incprof.list_variants()]
    assert [e["variant"] for e in baseline.entries] == registered
    changed = [r.record() for r in check(baseline).rows if r.changed]
    assert not changed, "figures differ from benchmarks/baselines/analytic.json:\n" + "\n".join(
        map(str, changed)
    )


def test_committed_latency_baseline_is_valid_and_from_the_h100_results():
    baseline = load_baseline(BASELINES / "latency_h100-80gb-hbm3.json")
    assert baseline.kind == "latency" and baseline.device == H100
    assert len(baseline.entries) == 30
    assert {e["variant"] for e in baseline.entries} <= {v.name for v in incprof.list_variants()}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_latency_baseline_is_skipped_without_its_gpu():
    result = invoke("check", BASELINES / "latency_h100-80gb-hbm3.json", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 30
    assert {r["status"] for r in rows} == {"skipped"}
    assert {r["reason"] for r in rows} == {f"needs {H100}; this machine has no GPU"}


@pytest.fixture(scope="module")
def small_baseline() -> dict:
    return analytic_baseline(["user_models:tiny_net", "block_naive"])


@pytest.fixture
def baseline_file(tmp_path, small_baseline) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(small_baseline, indent=2) + "\n")
    return path


def tamper(path: Path, variant: str, metric: str, factor: float) -> int:
    data = json.loads(path.read_text())
    entry = next(e for e in data["entries"] if e["variant"] == variant)
    entry[metric] = round(entry[metric] * factor)
    path.write_text(json.dumps(data))
    return entry[metric]


def test_small_baseline_holds_the_exact_figures(small_baseline):
    tiny = small_baseline["entries"][0]
    # conv 3→4, 3×3, padding 1, on 224×224 (bias excluded), then linear 4→2
    assert tiny["macs"] == 4 * 224 * 224 * 27 + 4 * 2
    assert tiny["params"] == tiny["params_with_aux"] == (4 * 27 + 4) + (4 * 2 + 2)
    assert (tiny["rf_size"], tiny["rf_stride"]) == (3, 1)
    assert set(tiny) == {"variant", "input_shape", *ANALYTIC_METRICS}
    # fp32, batch 1. The conv's output (4·224·224 floats) and the ReLU's are both alive
    # while the ReLU runs; Sequential drops the conv's once the ReLU returns.
    feature_map = 4 * 224 * 224 * 4
    assert tiny["activation_peak_bytes_fp32"] == 2 * feature_map
    # Bytes moved: the conv reads input, weight and bias and writes its map; the ReLU reads
    # and writes a map; the pool reads it and writes 4 floats; flatten and the weight's
    # transpose are views; addmm reads bias, features and weight and writes 2 floats.
    conv = 3 * 224 * 224 * 4 + 4 * 27 * 4 + 4 * 4 + feature_map
    assert tiny["bytes_moved_fp32"] == conv + 2 * feature_map + (feature_map + 16) + (
        8 + 16 + 32 + 8
    )
    # Backward: no input gradient for the first conv (its input needs none), its weight
    # gradient (its forward MACs again); the linear layer's input and weight gradients.
    assert tiny["train_macs"] == 2 * (4 * 224 * 224 * 27) + 3 * (4 * 2)


def test_unchanged_baseline_exits_0_and_prints_only_the_summary(baseline_file):
    result = invoke("check", baseline_file, *CONSENT)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{baseline_file}: 2 entries, 18 ok\n"


def test_a_changed_figure_exits_1_with_a_readable_diff(baseline_file):
    now = analytic_baseline(["block_naive"])["entries"][0]["macs"]
    old = tamper(baseline_file, "block_naive", "macs", 1.25)
    result = invoke("check", baseline_file, *CONSENT)
    assert result.exit_code == 1
    header, _, row, _, summary = result.stdout.splitlines()
    assert summary == f"{baseline_file}: 2 entries, 17 ok, 1 regressed"
    assert header.split() == [
        "variant",
        "config",
        "metric",
        "baseline",
        "now",
        "change",
        "status",
        "reason",
    ]
    assert row.split()[:5] == ["block_naive", "256x28x28", "macs", f"{old:,}", f"{now:,}"]
    assert f"{now - old:+,} (-20.00%)" in row and "regressed" in row


def test_a_larger_activation_peak_or_more_traffic_regresses(baseline_file):
    tamper(baseline_file, "block_naive", "activation_peak_bytes_fp32", 0.5)
    tamper(baseline_file, "user_models:tiny_net", "bytes_moved_fp32", 0.99)
    result = invoke("check", baseline_file, *CONSENT, "--format", "json")
    assert result.exit_code == 1
    regressed = {
        (r["variant"], r["metric"]) for r in json.loads(result.stdout) if r["status"] != "ok"
    }
    assert regressed == {
        ("block_naive", "activation_peak_bytes_fp32"),
        ("user_models:tiny_net", "bytes_moved_fp32"),
    }
    # A 1% rise is within a 2% tolerance; doubling is not.
    result = invoke("check", baseline_file, *CONSENT, "--tolerance", "2", "--format", "json")
    assert result.exit_code == 1
    (row,) = [r for r in json.loads(result.stdout) if r["status"] != "ok"]
    assert row["metric"] == "activation_peak_bytes_fp32" and row["change_pct"] == 100.0


def test_a_baseline_from_before_the_memory_figures_still_checks(baseline_file):
    data = json.loads(baseline_file.read_text())
    for entry in data["entries"]:
        for metric in MEMORY_METRICS:
            del entry[metric]
    baseline_file.write_text(json.dumps(data))
    result = invoke("check", baseline_file, *CONSENT, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["metric"] for r in rows} == set(ANALYTIC_METRICS) - set(MEMORY_METRICS)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"ok"}
    # --update writes today's figures, the memory ones included.
    assert invoke("check", baseline_file, *CONSENT, "--update").exit_code == 0
    updated = load_baseline(baseline_file).entries
    assert all(set(MEMORY_METRICS) <= set(entry) for entry in updated)


def test_fewer_macs_is_a_regression_too(baseline_file):
    """An architecture that changed either way is what a reviewer must see."""
    tamper(baseline_file, "block_naive", "params", 1.01)
    assert invoke("check", baseline_file, *CONSENT).exit_code == 1


def test_tolerance_loosens_the_exact_figures(baseline_file):
    tamper(baseline_file, "block_naive", "macs", 1.01)  # now is 0.99 of the baseline
    assert invoke("check", baseline_file, *CONSENT, "--tolerance", "0.5").exit_code == 1
    result = invoke("check", baseline_file, *CONSENT, "--tolerance", "2", "--format", "json")
    assert result.exit_code == 0
    (row,) = [r for r in json.loads(result.stdout) if r["baseline"] != r["now"]]
    assert row["status"] == "ok" and row["reason"] == "within the 2% tolerance"
    assert row["change_pct"] == pytest.approx(100 * (1 / 1.01 - 1), abs=1e-3)


def test_a_variant_no_longer_registered_is_bad_input_with_close_names(baseline_file):
    """A name the registry does not know is a broken baseline (exit 2), not a regression."""
    data = json.loads(baseline_file.read_text())
    data["entries"][1]["variant"] = "block_naiv"
    baseline_file.write_text(json.dumps(data))
    result = invoke("check", baseline_file, *CONSENT, "--format", "json")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"incprof: error: {baseline_file}: entry 2: unknown variant 'block_naiv'; "
        "did you mean block_naive, block_bn_factorized, block_v3_fig7?"
    )


def test_without_update_nothing_is_written(baseline_file):
    tamper(baseline_file, "block_naive", "macs", 2)
    before, stat = baseline_file.read_bytes(), baseline_file.stat()
    assert invoke("check", baseline_file, *CONSENT).exit_code == 1
    assert baseline_file.read_bytes() == before
    assert baseline_file.stat().st_mtime_ns == stat.st_mtime_ns
    assert [p.name for p in baseline_file.parent.iterdir()] == ["baseline.json"]


def test_update_rewrites_the_baseline_whole(baseline_file, small_baseline):
    tamper(baseline_file, "block_naive", "macs", 2)
    result = invoke("check", baseline_file, *CONSENT, "--update")
    assert result.exit_code == 0, result.output
    assert json.loads(baseline_file.read_text()) == small_baseline
    assert [p.name for p in baseline_file.parent.iterdir()] == ["baseline.json"]
    assert invoke("check", baseline_file, *CONSENT).exit_code == 0


def test_update_that_cannot_write_leaves_the_old_file(baseline_file, monkeypatch):
    tamper(baseline_file, "block_naive", "macs", 2)
    before = baseline_file.read_bytes()

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    result = invoke("check", baseline_file, *CONSENT, "--update")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        f"incprof: error: cannot write {baseline_file}: No space left on device"
    )
    assert baseline_file.read_bytes() == before
    assert [p.name for p in baseline_file.parent.iterdir()] == ["baseline.json"]


def test_update_creates_a_missing_baseline_of_the_whole_registry(tmp_path):
    path = tmp_path / "new.json"
    result = invoke("check", path, "--update")
    assert result.exit_code == 0, result.output
    entries = load_baseline(path).entries
    assert [e["variant"] for e in entries] == [v.name for v in incprof.list_variants()]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_update_of_a_latency_baseline_needs_its_gpu(tmp_path):
    path = tmp_path / "latency.json"
    path.write_bytes((BASELINES / "latency_h100-80gb-hbm3.json").read_bytes())
    before = path.read_bytes()
    result = invoke("check", path, "--update")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"incprof: error: cannot update {path} here: needs {H100}; this machine has no GPU"
    )
    assert path.read_bytes() == before


ANALYTIC = {"schema": "incprof-baseline", "version": 1, "kind": "analytic"}
ENTRY = {
    "variant": "block_naive",
    "input_shape": "256x28x28",
    "params": 1,
    "params_with_aux": 1,
    "macs": 1,
    "other_ops": 1,
    "rf_size": 5,
    "rf_stride": 1,
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist (create it with 'incprof check"),
        ("{not json", "is not JSON: Expecting property name enclosed in double quotes at line 1"),
        (b"\xff\xfe\x00", "is not JSON"),
        ([1, 2], 'is not an incprof baseline (no "schema": "incprof-baseline")'),
        ({**ANALYTIC, "version": 2, "entries": []}, "is baseline version 2; this incprof reads 1"),
        ({**ANALYTIC, "kind": "speed", "entries": []}, "kind 'speed' is not one of analytic"),
        ({**ANALYTIC, "entries": {}}, '"entries" must be a list'),
        ({**ANALYTIC, "entries": [{**ENTRY, "macs": None}]}, "entry 1 'macs' must be a whole"),
        ({**ANALYTIC, "entries": [{**ENTRY, "train_macs": 1.5}]}, "'train_macs' must be a whole"),
        ({**ANALYTIC, "entries": [{"variant": "x"}]}, "entry 1 has no 'input_shape'"),
        ({**ANALYTIC, "entries": [{**ENTRY, "input_shape": "3x0x1"}]}, "must be CxHxW"),
        ({**ANALYTIC, "kind": "latency", "entries": []}, 'names its GPU in "device"'),
    ],
)
def test_a_bad_baseline_is_one_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / "baseline.json"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(json.dumps(content))
    result = invoke("check", path)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"incprof: error: {'baseline ' if content is None else ''}{path}")
    assert message.replace("reads 1", "reads version 1") in line


LATENCY = validate(
    {
        "schema": "incprof-baseline",
        "version": 1,
        "kind": "latency",
        "device": H100,
        "entries": [
            {"variant": v, "batch": 32, "dtype": "bf16", "mode": "graph", "layout": "contiguous"}
            | {"median_ms": 10.0}
            for v in ("googlenet_tv", "inception_v3", "inception_v4", "bn_inception")
        ],
    },
    "test",
)


def test_latency_compares_a_ratio_within_the_tolerance_on_the_same_gpu():
    measured = {
        "googlenet_tv": (10.4, "ok"),
        "inception_v3": (11.0, "ok"),
        "inception_v4": (8.0, "ok"),
        "bn_inception": (None, "out of memory"),
    }
    result = check(
        LATENCY, latency_tolerance_pct=5, gpu=H100, measure=lambda e: measured[e["variant"]]
    )
    rows = {r.variant: r for r in result.rows}
    assert rows["googlenet_tv"].status == "ok"
    assert rows["googlenet_tv"].change == "×1.040 (+4.0%)"
    assert rows["inception_v3"].status == "regressed"
    assert rows["inception_v4"].status == "improved"
    assert rows["bn_inception"].status == "regressed"
    assert rows["bn_inception"].reason == "no measurement: out of memory"
    assert rows["googlenet_tv"].config == "batch 32, bf16, graph, contiguous"
    assert result.regressed
    # an update records what was measured and keeps what could not be
    medians = [e["median_ms"] for e in result.updated["entries"]]
    assert medians == [10.4, 11.0, 8.0, 10.0]


def test_latency_on_another_gpu_is_skipped_and_not_measured():
    def never(entry):
        raise AssertionError("measured on the wrong GPU")

    result = check(LATENCY, gpu="NVIDIA H200", measure=never)
    assert {r.status for r in result.rows} == {"skipped"}
    assert result.rows[0].reason == f"needs {H100}; this machine has NVIDIA H200"
    assert not result.regressed and result.updated is None


def test_latency_baselines_from_parity_and_sweep_results(tmp_path):
    parity = {
        "environment": {"device_name": H100},
        "parity": [
            {
                "variant": "inception_v3",
                "batch": 1,
                "mode": "graph",
                "dtype": "bf16",
                "layout": "channels_last",
                "ours_ms": 2.0,
                "ours_status": "ok",
                "reference_ms": 2.1,
            },
            {
                "variant": "inception_v4",
                "batch": 256,
                "mode": "graph",
                "dtype": "bf16",
                "layout": "channels_last",
                "ours_ms": None,
                "ours_status": "out of memory",
            },
        ],
    }
    sweep_row = {
        "variant": "inception_v3",
        "input_shape": "3x299x299",
        "batch": 1,
        "dtype": "bf16",
        "mode": "graph",
        "layout": "channels_last",
        "status": "ok",
        "median_ms": 1.9,
        "device_name": H100,
    }
    cpu_row = {**sweep_row, "device_name": "cpu (x86_64, 8 threads)", "median_ms": 50.0}
    files = [tmp_path / "latency_parity.json", tmp_path / "latency_sweep.json"]
    files[0].write_text(json.dumps(parity))
    larger = {**sweep_row, "input_shape": "3x512x512", "median_ms": 5.0}
    sweep = {"environment": {"device_name": H100}, "sweep": [sweep_row, larger]}
    files[1].write_text(json.dumps(sweep))
    (tmp_path / "saved.json").write_text(json.dumps([cpu_row]))
    baselines = latency_baselines_from_results([*files, tmp_path / "saved.json"])
    assert list(baselines) == [H100]  # CPU rows and failed rows are no baseline
    config = {"variant": "inception_v3", "batch": 1, "dtype": "bf16", "mode": "graph"}
    config["layout"] = "channels_last"
    # 3x299x299 is inception_v3's default input: the configuration of the parity row, which
    # names none; the later file's figure wins. Another input is another configuration.
    assert baselines[H100]["entries"] == [
        {**config, "median_ms": 1.9},
        {**config, "input_shape": "3x512x512", "median_ms": 5.0},
    ]


def test_cpu_rows_named_by_the_processor_are_no_latency_baseline(tmp_path):
    """CPU results name the processor ('AMD EPYC 7B13 (2 threads)'), not 'cpu (…)': their
    environment's null CUDA version is what marks them, in saved rows and in results files."""
    cpu = {"device_name": "AMD EPYC 7B13 (2 threads)", "cuda": None}
    config = {"variant": "inception_v3", "batch": 1, "dtype": "fp32", "mode": "eager"}
    config["layout"] = "contiguous"
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps([{**config, **cpu, "status": "ok", "median_ms": 50.0}]))
    parity = tmp_path / "latency_parity.json"
    row = {**config, "ours_ms": 50.0, "ours_status": "ok", "reference_ms": 51.0}
    parity.write_text(json.dumps({"environment": cpu, "parity": [row]}))
    assert latency_baselines_from_results([saved, parity]) == {}


def test_a_bad_results_file_is_a_baseline_error(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('"just a string"')
    with pytest.raises(BaselineError, match="holds no latency records"):
        latency_baselines_from_results([path])
