"""Latency on the CPU (the GPU path runs in benchmarks/bench_latency.py on a GPU box)."""

import json

import pytest
import torch
from click.testing import CliRunner

from incprof.analysis.latency import DeviceError, Timing, alternate, resolve_device, sweep
from incprof.cli import cli
from incprof.registry import resolve


def test_timing_summary_by_hand():
    # 1..11 ms: median 6; inclusive deciles 2 and 10; quartiles 3.5 and 8.5 -> IQR 5
    t = Timing.of([float(v) for v in range(11, 0, -1)])
    assert (t.median_ms, t.p10_ms, t.p90_ms, t.iqr_ms, t.repetitions) == (6, 2, 10, 5, 11)


def _drifting_clock(base_ms, slowdown_per_call):
    """A fake timer whose machine slows down linearly with every measurement it takes."""
    calls = []

    def time(fn):
        t = base_ms[fn] * (1 + slowdown_per_call * len(calls))
        calls.append(fn)
        return Timing.of([t])

    return time, calls


def test_alternate_cancels_a_linear_drift():
    def a():
        pass

    def b():
        pass

    # b is truly 1.25x as slow as a; the machine slows 5% per measurement.
    time, calls = _drifting_clock({a: 8.0, b: 10.0}, 0.05)
    _, _, ratio = alternate(time, a, b, pairs=3)
    assert ratio == pytest.approx(0.8, rel=1e-12)
    assert calls == [a, b, b, a] * 3
    # Timed one after the other, the same drift reads as a 4.8% gap (8 / (10 · 1.05)).
    time, _ = _drifting_clock({a: 8.0, b: 10.0}, 0.05)
    assert time(a).median_ms / time(b).median_ms == pytest.approx(0.8 / 1.05)


def test_alternate_needs_a_pair():
    with pytest.raises(ValueError, match="at least 1"):
        alternate(lambda fn: Timing.of([1.0]), print, print, pairs=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")
    result = CliRunner().invoke(cli, ["latency", "user_models:tiny_net", "--device", "cuda"])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == "incprof: error: --device cuda: no CUDA GPU is available on this machine"
    )


def test_cpu_sweep_records():
    variant = resolve("user_models:tiny_net", (3, 16, 16))
    macs = 4 * 256 * 27 + 4 * 2  # conv 4·16·16 outputs × 3·3·3, linear 4→2
    records = sweep(
        [variant],
        macs={variant.name: macs},
        input_shapes={variant.name: (3, 16, 16)},
        batches=[2],
        dtypes=["fp32", "fp16"],
        modes=["eager", "graph"],
        device="cpu",
        cpu_min_run_time=0.05,
    )
    by_key = {(r.dtype, r.mode): r for r in records}
    ok = by_key[("fp32", "eager")]
    assert ok.status == "ok" and ok.median_ms > 0
    assert ok.images_per_s == pytest.approx(2 / (ok.median_ms / 1e3))
    assert ok.tflops == pytest.approx(2 * macs * 2 / (ok.median_ms / 1e3) / 1e12)
    assert ok.p10_ms <= ok.median_ms <= ok.p90_ms
    # The CPU's fp32 peak is measured in the same sweep and is the share's denominator.
    assert ok.peak_tflops > 0
    assert ok.peak_share_pct == pytest.approx(100 * ok.tflops / ok.peak_tflops)
    assert by_key[("fp16", "eager")].peak_tflops is None
    assert ok.device_name.startswith("cpu") and ok.torch == torch.__version__ and ok.date
    assert by_key[("fp32", "graph")].status == "skipped: CUDA graphs need a GPU"
    assert by_key[("fp16", "eager")].status == "skipped: fp16 is a GPU configuration"


def test_cli_latency_saves_json_with_environment(tmp_path):
    target = tmp_path / "latency.json"
    result = CliRunner().invoke(
        cli,
        [
            "latency",
            "user_models:tiny_net",
            "--input",
            "3x8x8",
            "--device",
            "cpu",
            "--save",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = json.loads(target.read_text())
    for key in (
        "median_ms",
        "p10_ms",
        "p90_ms",
        "images_per_s",
        "tflops",
        "device_name",
        "torch",
        "date",
    ):
        assert key in record
    assert record["status"] == "ok"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--batch", "1,x"), "--batch takes positive integers"),
        (("--batch", "0"), "--batch takes positive integers"),
        (("--dtype", "fp8"), "--dtype takes a comma-separated list of fp32, tf32, bf16, fp16"),
        (("--mode", "jit"), "--mode takes a comma-separated list of eager, graph, compile"),
    ],
)
def test_malformed_options_exit_2(args, message):
    result = CliRunner().invoke(cli, ["latency", "user_models:tiny_net", "--device", "cpu", *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
