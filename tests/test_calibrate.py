"""Calibration: the fit recovers known factors, the CPU's figures are measured, the command
writes a profile that loads, and a missing GPU is one line."""

import json
from functools import partial

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from incprof.analysis import calibrate as cal
from incprof.analysis import devices, profiles
from incprof.analysis.fit import Sample, _Columns, total_s
from incprof.analysis.latency import cpu_name
from incprof.analysis.predict import predict
from incprof.analysis.profiles import Figure, ProfileError
from incprof.analysis.trace import trace_module
from incprof.cli import cli

KNOWN = {
    "compute_efficiency.default": 0.37,
    "memory_efficiency.default": 0.61,
    "memory_efficiency.pool": 0.08,
    "launch_us": 3.3,
    "gap_us": 1.7,
}
START = {
    "compute_efficiency.default": 0.9,
    "memory_efficiency.default": 0.15,
    "memory_efficiency.pool": 0.5,
    "launch_us": 20.0,
    "gap_us": 0.2,
}


def _with(profile: profiles.DeviceProfile, values: dict[str, float]) -> profiles.DeviceProfile:
    return profile.with_figures({k: Figure(v, "assumed", "test") for k, v in values.items()})


def _cpu_like() -> profiles.DeviceProfile:
    """A host-bound device whose peak and bandwidth are round numbers (no measuring)."""
    fixed = {"peak_tflops.fp32": 0.5, "bandwidth_gbs": 20.0}
    return _with(profiles.builtin("cpu"), {**fixed, **START})


@pytest.mark.parametrize(
    ("start", "batches", "modes"),
    [
        (_cpu_like, (1, 8), ("eager",)),
        # A GPU overlaps host and device: graph replays are what separate gap from launch.
        # (as calibrate starts on a known GPU: its per-class efficiencies dropped)
        (
            lambda: _with(profiles.builtin("h100-sxm").keeping_efficiencies(cal.FIT_KEYS), START),
            (1, 32, 256),
            ("eager", "graph"),
        ),
    ],
    ids=["cpu", "h100-sxm"],
)
def test_fit_recovers_known_factors_from_synthetic_timings(start, batches, modes):
    begin = start()
    truth = _with(begin, KNOWN)
    timed = []
    for bench in cal.BENCHMARKS:
        for batch in batches:
            for mode in modes:
                ops = cal.benchmark_work(bench, batch=batch, dtype="fp32", mode=mode)
                if mode != "eager" and not any(op.kernel for op in ops):
                    continue
                seconds = total_s(_Columns(ops), truth, dtype="fp32", mode=mode)
                timed.append(
                    cal.Timed(bench.label, batch, Sample(bench.label, ops, "fp32", mode, seconds))
                )
    result = cal.fit_calibration(timed, begin, source="synthetic", name="t", title="t")
    figures = result.profile.figures()
    for key, value in KNOWN.items():
        assert figures[key].value == pytest.approx(value, rel=0.02), key
        assert figures[key].kind == "fitted"
        assert figures[key].source.startswith("synthetic; rms log error")
    assert result.rms_log_error < 0.01
    assert all(abs(row.error_pct) < 2 for row in result.rows)
    # What was not fitted stays as it was.
    assert figures["bandwidth_gbs"] == begin.bandwidth_gbs


def test_a_gap_measured_as_zero_starts_the_fit_at_its_bound():
    # On a loaded host a tiny ReLU can time no slower than a view: gap_us is measured 0,
    # and the fit (in log space) once failed on it with 'math domain error'.
    begin = _with(_cpu_like(), {"gap_us": 0.0})
    truth = _with(begin, KNOWN)
    timed = []
    for bench in cal.BENCHMARKS:
        ops = cal.benchmark_work(bench, batch=1, dtype="fp32", mode="eager")
        seconds = total_s(_Columns(ops), truth, dtype="fp32", mode="eager")
        timed.append(cal.Timed(bench.label, 1, Sample(bench.label, ops, "fp32", "eager", seconds)))
    result = cal.fit_calibration(timed, begin, source="synthetic", name="t", title="t")
    assert result.profile.figures()["gap_us"].value > 0


@pytest.fixture
def small_copy(monkeypatch):
    """The bandwidth copy at its floor (64 MiB) and short timings: the test's seconds."""
    monkeypatch.setattr(cal, "_last_level_cache_bytes", lambda: 16 * 2**20)


def test_measure_cpu_figures_are_positive_and_sourced(small_copy):
    figures = cal.measure_cpu_figures(min_run_time=0.02)
    assert {"peak_tflops.fp32", "bandwidth_gbs", "launch_us", "gap_us"} <= set(figures)
    assert set(figures) <= {
        "peak_tflops.fp32",
        "peak_tflops.bf16",
        "bandwidth_gbs",
        "launch_us",
        "gap_us",
    }
    for key, figure in figures.items():
        assert figure.kind == "measured"
        assert cpu_name() in figure.source
        assert figure.value > 0 or (key == "gap_us" and figure.value == 0)
    assert "64 MiB" in figures["bandwidth_gbs"].source


def test_last_level_cache_is_the_largest_listed(tmp_path):
    for index, size in enumerate(("48K", "2048K", "266240K")):
        (tmp_path / f"index{index}").mkdir()
        (tmp_path / f"index{index}" / "size").write_text(size + "\n")
    assert cal._last_level_cache_bytes(tmp_path) == 266240 * 1024
    assert cal._last_level_cache_bytes(tmp_path / "none") == cal._FALLBACK_LLC_BYTES


def test_resolve_cpu_measures_now_and_keeps_the_fitted_efficiencies(monkeypatch, small_copy):
    monkeypatch.setattr(
        cal, "measure_cpu_figures", partial(cal.measure_cpu_figures, min_run_time=0.02)
    )
    stored = profiles.builtin("cpu")
    profile = devices.resolve("cpu")
    assert profile.origin == "measured now on this CPU"
    assert profile.peak("fp32").kind == "measured" and "measured now" in profile.peak("fp32").source
    assert profile.compute_efficiency == stored.compute_efficiency
    with pytest.raises(ProfileError, match="no fp16 peak"):
        profile.peak("fp16")
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    assert predict(trace_module(conv, (64, 17, 17)), profile, dtype="fp32").time_ms > 0


def test_shipped_cpu_profile_says_what_is_fitted_and_what_is_measured_at_run_time():
    figures = profiles.builtin("cpu").figures()
    assert set(figures) >= {"peak_tflops.fp32", "bandwidth_gbs", "launch_us", "gap_us"}
    assert not {"peak_tflops.tf32", "peak_tflops.fp16"} & set(figures)
    for key, figure in figures.items():
        if key.startswith(cal.RUN_TIME_FIGURES):
            assert figure.kind == "measured" and "re-measured at run time" in figure.source
        else:
            assert figure.kind == "fitted" and "incprof calibrate (cpu" in figure.source


def test_calibrate_cpu_end_to_end_writes_a_profile_that_loads(quick_calibration):
    # The session's one quick calibration (conftest.py), which the help example also runs.
    result, out = quick_calibration.result, quick_calibration.out
    assert result.exit_code == 0, result.output
    profile = profiles.load(out)
    assert profile.name == "cpu-calibrated" and profile.origin == str(out)
    for key in cal.FIT_KEYS:
        assert profile.figures()[key].kind == "fitted"
        assert "micro-benchmarks" in profile.figures()[key].source
    assert profile.peak("fp32").kind == "measured"
    for bench in cal.BENCHMARKS:
        assert bench.label in result.stdout
    assert "rms log error" in result.stdout
    assert json.loads(out.read_text())["schema"] == profiles.SCHEMA


def test_calibrate_refuses_a_gpu_dtype_on_the_cpu_before_timing(monkeypatch):
    monkeypatch.setattr(cal, "measure_cpu_figures", lambda **_: pytest.fail("timed"))
    with pytest.raises(ProfileError, match="fp16 is a GPU configuration"):
        cal.calibrate("cpu", dtype="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is there")
def test_calibrate_cuda_without_a_gpu_is_one_line_exit_2(tmp_path):
    out = tmp_path / "gpu.json"
    result = CliRunner().invoke(cli, ["calibrate", "--device", "cuda", "--out", str(out)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line == "incprof: error: --device cuda: no CUDA GPU is available on this machine"
    assert result.stdout == "" and not out.exists()
