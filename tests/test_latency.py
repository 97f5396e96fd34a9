"""Latency on the CPU (the GPU path runs in benchmarks/bench_latency.py on a GPU box)."""

import json
import platform
import re
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis import latency
from incprof.analysis.latency import DeviceError, Timing, alternate, resolve_device, sweep
from incprof.cli import cli
from incprof.sources import resolve


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
    assert ok.device_name == latency.cpu_name() and ok.torch == torch.__version__ and ok.date
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


# --- a single sample, the minimum number of CPU samples ------------------------------------


def test_one_sample_has_no_spread():
    t = Timing.of([3.0])
    assert (t.median_ms, t.p10_ms, t.p90_ms, t.iqr_ms, t.repetitions) == (3.0, None, None, None, 1)
    assert t.single_sample and not Timing.of([3.0, 4.0]).single_sample


def test_cpu_time_takes_five_samples_of_a_call_longer_than_its_budget():
    # A 20 ms call against a 1 ms budget: blocked autorange alone stops after one block.
    calls = []

    def slow():
        calls.append(None)
        time.sleep(0.02)

    timing = latency.cpu_time(slow, min_run_time=0.001)
    assert timing.repetitions >= 5 and len(calls) >= timing.repetitions
    # Each sample is one 20 ms call (a sleep is never shorter than asked).
    assert 20 <= timing.p10_ms <= timing.median_ms <= timing.p90_ms


TINY_MACS = 4 * 16 * 16 * 27 + 4 * 2  # user_models:tiny_net at 3x16x16: conv, then linear


def _measure_tiny(**overrides):
    variant = resolve("user_models:tiny_net", (3, 16, 16))
    arguments = dict(
        macs=TINY_MACS,
        input_shape=(3, 16, 16),
        batch=2,
        dtype="fp32",
        mode="eager",
        channels_last=False,
        device="cpu",
        env=latency.environment("cpu"),
        cpu_min_run_time=0.01,
    )
    return latency.measure(variant, **{**arguments, **overrides})


def _timed_as(times_ms):
    """A CPU timer that runs the forward once and reports ``times_ms``."""

    def fake(fn, *, min_run_time=1.0):
        fn()
        return Timing.of(times_ms)

    return fake


def test_a_record_timed_once_says_so(monkeypatch):
    monkeypatch.setattr(latency, "cpu_time", _timed_as([2.0]))
    record = _measure_tiny()
    assert record.status == "ok" and record.median_ms == 2.0 and record.repetitions == 1
    assert record.single_sample
    assert (record.p10_ms, record.p90_ms, record.iqr_ms) == (None, None, None)
    monkeypatch.setattr(latency, "cpu_time", _timed_as([1.0, 2.0, 3.0]))
    assert not _measure_tiny().single_sample


# --- the share of the peak ---------------------------------------------------------------


def test_a_share_above_100_percent_is_left_empty_with_the_reason(monkeypatch):
    monkeypatch.setattr(latency, "cpu_time", _timed_as([2.0, 2.0, 2.0]))
    achieved = 2 * TINY_MACS * 2 / 2e-3 / 1e12  # 2 × MACs × batch 2 / 2 ms
    fits = _measure_tiny(peak=latency.Peak(4 * achieved))
    assert fits.tflops == pytest.approx(achieved)
    assert fits.peak_share_pct == pytest.approx(25.0) and fits.peak_note is None
    above = _measure_tiny(peak=latency.Peak(achieved / 2))
    assert above.peak_tflops == pytest.approx(achieved / 2) and above.peak_share_pct is None
    assert above.peak_note.startswith("no share: 200% of the fp32 peak measured")


def test_a_peak_that_was_not_measured_leaves_its_reason_in_the_records(monkeypatch):
    monkeypatch.setattr(latency, "cpu_time", _timed_as([2.0, 2.0]))
    monkeypatch.setattr(
        latency, "measure_peak_tflops", lambda dtype, *_, **__: latency.Peak(None, "no peak: why")
    )
    variant = resolve("user_models:tiny_net", (3, 16, 16))
    (record,) = sweep(
        [variant],
        macs={variant.name: TINY_MACS},
        input_shapes={variant.name: (3, 16, 16)},
        dtypes=["bf16"],
        device="cpu",
    )
    assert record.status == "ok" and record.tflops > 0
    assert (record.peak_tflops, record.peak_share_pct) == (None, None)
    assert record.peak_note == "no peak: why"


def _never_timed(fn, *, min_run_time=1.0):
    raise AssertionError("a probe kernel over the time limit was timed")


def test_a_probe_kernel_slower_than_the_limit_is_not_timed(monkeypatch):
    # With the limit at 0 s every first call is too slow: the probe stops there.
    monkeypatch.setattr(latency, "PEAK_CALL_LIMIT_S", 0.0)
    monkeypatch.setattr(latency, "cpu_time", _never_timed)
    peak = latency.measure_peak_tflops("bf16", None, device="cpu")
    assert peak.tflops is None
    assert re.fullmatch(
        r"no bf16 peak: one 1024² matmul took \d+\.\d\d s and one 256-channel 3×3 "
        r"convolution took \d+\.\d\d s \(limit 0 s\), so this CPU has no fast bf16 kernels "
        r"to measure one with",
        peak.note,
    )


class _Dispatched(TorchDispatchMode):
    """The ATen operators a call dispatches, with their tensor arguments' dtypes."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, tuple[torch.dtype, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        dtypes = tuple(a.dtype for a in args if isinstance(a, torch.Tensor))
        self.ops.append((func.overloadpacket.__name__, dtypes))
        return func(*args, **(kwargs or {}))


def test_the_cpu_bf16_probe_times_what_the_network_runs(monkeypatch):
    """The network is timed with fp32 weights under autocast; so must the peak be."""
    timed = []

    def record(fn, *, min_run_time=1.0):
        with _Dispatched() as mode:
            fn()
        timed.append(mode.ops)
        return Timing.of([1.0, 1.0])

    monkeypatch.setattr(latency, "cpu_time", record)
    latency.measure_peak_tflops("bf16", None, device="cpu")
    matmul, conv = timed
    cast = ("_to_copy", (torch.float32,))
    assert matmul == [cast, cast, ("mm", (torch.bfloat16, torch.bfloat16))]
    # A bias-free 3×3 convolution layer, as `incprof latency --dtype bf16` runs it.
    layer = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False).eval()
    forward = latency.forward_callable(layer, torch.randn(1, 4, 6, 6), "eager", "bf16", "cpu")
    with _Dispatched() as network:
        forward()
    assert conv == network.ops


# --- configurations that did not run -----------------------------------------------------


def _allocate_a_petabyte(model, x, mode, dtype, device):
    """A forward whose allocation the CPU allocator refuses at once (no memory is taken)."""
    return lambda: torch.empty(2**50, dtype=torch.uint8)


def test_a_cpu_allocation_failure_is_out_of_memory(monkeypatch):
    monkeypatch.setattr(latency, "forward_callable", _allocate_a_petabyte)
    with pytest.raises(RuntimeError, match="DefaultCPUAllocator: can't allocate memory"):
        _allocate_a_petabyte(None, None, "eager", "fp32", "cpu")()
    assert _measure_tiny().status == "out of memory"


def test_torch_out_of_memory_error_is_out_of_memory(monkeypatch):
    def out_of_memory(*_):
        def forward():
            raise torch.OutOfMemoryError("Tried to allocate 2.00 GiB")

        return forward

    monkeypatch.setattr(latency, "forward_callable", out_of_memory)
    assert _measure_tiny().status == "out of memory"


def _latency_cli(tmp_path, *options):
    target = tmp_path / "latency.json"
    command = ["latency", "user_models:tiny_net", "--input", "3x8x8", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*command, "--save", str(target), *options])
    return result, json.loads(target.read_text()) if target.exists() else None


def test_a_sweep_where_nothing_ran_writes_its_rows_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(latency, "cpu_time", _timed_as([1.0, 1.0]))
    monkeypatch.setattr(latency, "forward_callable", _allocate_a_petabyte)
    result, saved = _latency_cli(tmp_path, "--dtype", "fp16,fp32")
    assert result.exit_code == 2
    assert result.stderr == (
        "incprof: error: no configuration ran (2 tried); "
        "user_models:tiny_net batch 1 fp32 eager: out of memory\n"
    )
    assert [r["status"] for r in saved] == ["skipped: fp16 is a GPU configuration", "out of memory"]
    assert "out of memory" in result.stdout  # the table is still there


def test_skipped_rows_beside_one_that_ran_exit_0(tmp_path, monkeypatch):
    monkeypatch.setattr(latency, "cpu_time", _timed_as([1.0, 1.0]))
    result, saved = _latency_cli(tmp_path, "--dtype", "fp16,fp32")
    assert result.exit_code == 0 and result.stderr == ""
    assert [r["status"] for r in saved] == ["skipped: fp16 is a GPU configuration", "ok"]


def test_a_sweep_of_rows_that_do_not_apply_exits_2(tmp_path):
    result, saved = _latency_cli(tmp_path, "--dtype", "fp16", "--mode", "graph")
    assert result.exit_code == 2
    assert result.stderr.startswith("incprof: error: no configuration ran (1 tried); ")
    assert [r["status"] for r in saved] == ["skipped: fp16 is a GPU configuration"]


# --- the CPU's name ------------------------------------------------------------------------

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu vme

processor\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
"""


@pytest.mark.parametrize(("threads", "count"), [(1, "1 thread"), (2, "2 threads")])
def test_the_cpu_is_named_by_its_model_and_threads(tmp_path, monkeypatch, threads, count):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    assert latency.cpu_name(cpuinfo) == f"AMD EPYC 7B13 64-Core Processor ({count})"
    fallback = platform.processor() or platform.machine()
    assert latency.cpu_name(tmp_path / "absent") == f"{fallback} ({count})"


def test_this_cpu_is_named_in_the_environment():
    name = latency.environment("cpu")["device_name"]
    cpuinfo = Path("/proc/cpuinfo")
    found = (
        re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if cpuinfo.exists()
        else None
    )
    if found:
        assert name.startswith(found.group(1).strip() + " (")
    assert not name.startswith("cpu (")
