"""Predicted latency: closed-form cases on tiny modules, the compile fusion rules, the
profile schema, and the fit recovering factors it was given."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
import torch
from torch import nn

from incprof.analysis import profiles
from incprof.analysis.fit import Sample, _Columns, fit, total_s
from incprof.analysis.predict import op_times, predict, work
from incprof.analysis.profiles import ProfileError, from_dict
from incprof.analysis.trace import trace_module, trace_variant
from incprof.registry import get

US = 1e-6


def _figure(value: float, kind: str = "datasheet") -> dict[str, Any]:
    return {"value": value, "kind": kind, "source": "test"}


def profile_dict(
    *,
    peak: float = 10.0,
    bandwidth: float = 1000.0,
    compute: float = 0.5,
    memory: float = 0.5,
    launch: float = 10.0,
    gap: float = 2.0,
    overlap: bool = True,
) -> dict[str, Any]:
    """A device of round numbers: 10 TFLOP/s fp32, 1000 GB/s, both at half efficiency."""
    return {
        "schema": profiles.SCHEMA,
        "name": "test-device",
        "title": "a device of round numbers",
        "host_overlap": overlap,
        "peak_tflops": {"fp32": _figure(peak)},
        "bandwidth_gbs": _figure(bandwidth),
        "launch_us": _figure(launch, "measured"),
        "gap_us": _figure(gap, "measured"),
        "compute_efficiency": {"default": _figure(compute, "fitted")},
        "memory_efficiency": {"default": _figure(memory, "fitted")},
    }


def device(**kwargs: Any) -> profiles.DeviceProfile:
    return from_dict(profile_dict(**kwargs), origin="test")


class Chain(nn.Module):
    """``n`` out-of-place ReLUs on a tiny tensor: each a kernel that costs next to nothing."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.n):
            x = torch.relu(x)
        return x


class CumSum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, 0)


def test_a_large_matmul_is_compute_bound_in_closed_form() -> None:
    # 1024 rows × (1024 → 1024): 2·1024³ FLOPs; fp32 bytes: input, weight, output.
    trace = trace_module(nn.Linear(1024, 1024, bias=False), (1024,), batch=1024)
    assert [op.name for op in trace.ops] == ["t", "mm"]
    flops, nbytes = 2 * 1024**3, 3 * 1024 * 1024 * 4
    compute, memory = flops / (0.5 * 10e12), nbytes / (0.5 * 1000e9)
    graph = predict(trace, device(), dtype="fp32", mode="graph")
    assert graph.time_ms == pytest.approx(1e3 * (compute + 2 * US))
    mm = graph.ops[1]
    assert (mm.bound, mm.work.flops, mm.work.bytes) == ("compute", flops, nbytes)
    assert mm.compute_s == pytest.approx(compute) and mm.memory_s == 0
    assert compute > 10 * memory
    # Eager on an overlapping device: the kernel starts after both launches (t, mm).
    eager = predict(trace, device(), dtype="fp32", mode="eager")
    assert eager.time_ms == pytest.approx(1e3 * (2 * 10 * US + compute + 2 * US))
    assert eager.summary()["bound"] == "compute"


def test_a_large_pointwise_op_is_memory_bound_in_closed_form() -> None:
    elements = 1 << 20
    trace = trace_module(nn.ReLU(), (elements,))
    prediction = predict(trace, device(), dtype="fp32", mode="graph")
    relu = prediction.ops[0]
    assert (relu.work.operator, relu.work.flops, relu.work.bytes) == ("relu", 0, 8 * elements)
    memory = 8 * elements / (0.5 * 1000e9)
    assert relu.bound == "memory" and relu.memory_s == pytest.approx(memory)
    assert prediction.time_ms == pytest.approx(1e3 * (memory + 2 * US))
    # bf16 is autocast: a ReLU is on none of its lists and runs in its input's dtype, which
    # (the network's input) stays fp32: the same bytes, the same time.
    bf16 = device().with_figures({"peak_tflops.bf16": profiles.Figure(20.0, "datasheet", "t")})
    (half,) = predict(trace, bf16, dtype="bf16", mode="graph").ops
    assert half.work.bytes == 8 * elements and half.memory_s == pytest.approx(memory)


@pytest.mark.parametrize("overlap", [True, False])
def test_an_eager_chain_of_cheap_ops_is_launch_bound(overlap: bool) -> None:
    n = 40
    trace = trace_module(Chain(n), (4,))
    assert len(trace.ops) == n
    kernel = 2 * 4 * 4 / (0.5 * 1000e9)  # 16 bytes read, 16 written
    prediction = predict(trace, device(overlap=overlap), dtype="fp32", mode="eager")
    # A GPU waits for each launch and hides all but the last kernel; a CPU runs each itself.
    expected = n * 10 * US + kernel + 2 * US if overlap else n * (10 * US + kernel + 2 * US)
    assert prediction.time_ms == pytest.approx(1e3 * expected)
    assert {t.bound for t in prediction.ops} == {"launch"}
    summary = prediction.summary()
    assert summary["bound"] == "launch" and summary["launch_pct"] > 95
    # A replayed graph pays no launch: n gaps and n tiny kernels.
    graph = predict(trace, device(overlap=overlap), dtype="fp32", mode="graph")
    assert graph.time_ms == pytest.approx(1e3 * n * (kernel + 2 * US))


def test_compile_folds_batch_norm_into_the_conv_and_fuses_the_relu() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU(True))
    trace = trace_module(model.eval(), (1, 6, 6))
    graph = {w.operator: w for w in work(trace, dtype="fp32", mode="graph") if w.kernel}
    assert set(graph) == {"convolution", "native_batch_norm", "relu_"}
    compiled = work(trace, dtype="fp32", mode="compile")
    kernels = [w for w in compiled if w.kernel]
    assert [w.operator for w in kernels] == ["convolution"]
    # Conv reads 36 + 18 floats and writes 32; the fused ReLU reads and writes those 32
    # again, and the intermediate leaves twice: the fused kernel moves the conv's bytes.
    assert kernels[0].bytes == graph["convolution"].bytes == (36 + 18 + 32) * 4
    conv = kernels[0].index
    assert {
        w.operator: w.fused_into for w in compiled if not w.kernel and w.fused_into is not None
    } == {
        "native_batch_norm": conv,
        "relu_": conv,
    }
    time = predict(trace, device(), dtype="fp32", mode="compile").time_ms
    assert time == pytest.approx(1e3 * ((36 + 18 + 32) * 4 / 0.5e12 + 2 * US))


def test_compile_fuses_an_out_of_place_pointwise_chain_and_its_bytes_leave_twice() -> None:
    trace = trace_module(Chain(3), (1000,))
    compiled = work(trace, dtype="fp32", mode="compile")
    assert [w.kernel for w in compiled] == [True, False, False]
    # One kernel reads the input and writes the last output: the two intermediates go.
    assert compiled[0].bytes == 2 * 4000


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("mode", ["eager", "graph", "compile"])
def test_the_closed_form_total_is_the_simulated_stream(mode: str, overlap: bool) -> None:
    profile = device(overlap=overlap)
    for batch in (1, 32):
        trace = trace_variant(get("inception_v3"), batch=batch)
        ops = work(trace, dtype="fp32", mode=mode)
        simulated = sum(t.time_s for t in op_times(ops, profile, dtype="fp32", mode=mode))
        closed = total_s(_Columns(ops), profile, dtype="fp32", mode=mode)
        assert closed == pytest.approx(simulated, rel=1e-9)


def test_module_rows_add_up_to_the_total_and_name_their_bound() -> None:
    trace = trace_variant(get("googlenet_tv"), batch=8)
    prediction = predict(trace, device(), dtype="fp32", mode="eager")
    rows = prediction.by_module(depth=1)
    assert sum(r["predicted_ms"] for r in rows) == pytest.approx(prediction.time_ms)
    for row in rows:
        parts = {
            "compute": row["compute_ms"],
            "memory": row["memory_ms"],
            "launch": row["launch_ms"],
        }
        # A module whose launches hid behind earlier kernels moved the end by nothing.
        assert row["bound"] == (max(parts, key=parts.get) if row["predicted_ms"] else "")
    operators = prediction.by_operator()
    assert operators["convolution"]["kernels"] == operators["convolution"]["calls"] == 57


def test_predictions_are_deterministic() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(True)).eval()
    first = predict(trace_module(model, (3, 32, 32), batch=4), device(), dtype="fp32")
    second = predict(
        trace_module(copy.deepcopy(model), (3, 32, 32), batch=4), device(), dtype="fp32"
    )
    assert first.time_ms == second.time_ms
    assert first.summary() == second.summary()


def test_an_operator_without_a_flop_formula_is_named_not_dropped() -> None:
    prediction = predict(trace_module(CumSum(), (1000,)), device(), dtype="fp32", mode="graph")
    assert prediction.unpriced == ("cumsum",)
    assert prediction.summary()["unpriced"] == "cumsum"
    assert prediction.ops[0].memory_s == pytest.approx(8000 / 0.5e12)


def test_a_profile_without_the_dtype_is_an_error_not_a_zero() -> None:
    trace = trace_module(nn.ReLU(), (8,))
    with pytest.raises(ProfileError, match=r"no bf16 peak; it has fp32"):
        predict(trace, device(), dtype="bf16")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("bandwidth_gbs"), r"bandwidth_gbs: expected \{value, kind, source\}"),
        (
            lambda d: d["peak_tflops"]["fp32"].update(value=0),
            r"peak_tflops.fp32.value 0 is outside physical sense: expected \[0.01, 100000\]",
        ),
        (lambda d: d["peak_tflops"]["fp32"].update(value="fast"), r"must be a number"),
        (lambda d: d["peak_tflops"].update(fp8=_figure(1.0)), r"unknown key 'fp8'"),
        (lambda d: d["launch_us"].update(kind="guessed"), r"launch_us.kind must be one of"),
        (lambda d: d["gap_us"].update(source=" "), r"gap_us.source must name"),
        (
            lambda d: d["memory_efficiency"].update(default=_figure(1.5)),
            r"memory_efficiency.default.value 1.5 is outside physical sense: expected \(0, 1\]",
        ),
        (lambda d: d.update(compute_efficiency={"conv": _figure(0.5)}), r"needs a 'default'"),
        (lambda d: d.update(schema="v0"), r"schema must be"),
        (lambda d: d.update(host_overlap="yes"), r"'host_overlap' must be true or false"),
    ],
)
def test_the_profile_schema_names_the_key_at_fault(edit: Any, message: str) -> None:
    data = profile_dict()
    edit(data)
    with pytest.raises(ProfileError, match=message):
        from_dict(data, origin="p.json")


def test_a_profile_file_round_trips_and_a_malformed_one_is_one_line(tmp_path: Any) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(profile_dict()))
    loaded = profiles.load(good)
    assert loaded.to_dict() == profile_dict()
    assert loaded.source == f"test-device ({good}; datasheet, measured, fitted figures)"
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": ')
    with pytest.raises(ProfileError, match=r"is not JSON: Expecting value at line 1") as caught:
        profiles.load(bad)
    assert "\n" not in str(caught.value)
    with pytest.raises(ProfileError, match=r"cannot read profile"):
        profiles.load(tmp_path / "missing.json")


def test_the_shipped_gpu_profiles_validate_with_every_dtype_from_a_datasheet() -> None:
    gpus = [n for n in profiles.builtin_names() if n != "cpu"]
    assert {"h100-sxm", "h100-pcie", "h200", "a100-sxm", "l4", "rtx-4090"} <= set(gpus)
    for name in gpus:
        profile = profiles.builtin(name)
        assert profile.host_overlap
        for dtype in ("fp32", "tf32", "bf16", "fp16"):
            assert profile.peak(dtype).kind == "datasheet"
        assert profile.bandwidth_gbs.kind == "datasheet"
    # Same chip, faster memory: the H200 differs from the H100 SXM in bandwidth only.
    h100, h200 = profiles.builtin("h100-sxm"), profiles.builtin("h200")
    assert {k: f.value for k, f in h100.peak_tflops.items()} == {
        k: f.value for k, f in h200.peak_tflops.items()
    }
    assert h200.bandwidth_gbs.value > h100.bandwidth_gbs.value


def test_an_unknown_device_suggests_the_close_names() -> None:
    with pytest.raises(
        ProfileError, match=r"unknown device 'h100'; did you mean h100-pcie, h100-sxm, h200\?"
    ):
        profiles.builtin("h100")


def test_the_fit_recovers_the_factors_that_made_the_timings() -> None:
    truth = device(compute=0.37, memory=0.61, launch=23.0, gap=4.5)
    cases = [
        (nn.Linear(256, 256, bias=False), (256,), 256),
        (nn.Linear(512, 512, bias=False), (512,), 2048),
        (nn.ReLU(), (1 << 18,), 1),
        (nn.ReLU(), (1 << 16,), 4),
        (Chain(30), (4,), 1),
        (Chain(5), (4,), 1),
    ]
    samples = []
    for model, shape, batch in cases:
        trace = trace_module(model, shape, batch=batch)
        for mode in ("eager", "graph"):
            ops = work(trace, dtype="fp32", mode=mode)
            measured = total_s(_Columns(ops), truth, dtype="fp32", mode=mode)
            samples.append(Sample(f"{type(model).__name__} {mode}", ops, "fp32", mode, measured))
    keys = ["compute_efficiency.default", "memory_efficiency.default", "launch_us", "gap_us"]
    result = fit(samples, device(), keys, source="synthetic timings")
    figures = result.profile.figures()
    for key, expected in zip(keys, (0.37, 0.61, 23.0, 4.5), strict=True):
        assert figures[key].value == pytest.approx(expected, rel=0.01), key
        assert (figures[key].kind, figures[key].source) == ("fitted", "synthetic timings")
    assert result.rms_log_error < 0.01
    assert math.isclose(figures["peak_tflops.fp32"].value, 10.0)  # not a free factor
