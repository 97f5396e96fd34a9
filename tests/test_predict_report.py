"""The report's "Predicted vs measured" page, built from a small validation file written
here (the schema benchmarks/bench_predict.py writes) and from none."""

import json

import pytest

from incprof.analysis.profiles import builtin
from incprof.report.measured_pages import ROOFLINE, predict_page, roofline_of
from incprof.report.writer import Writer

NETWORK = "googlenet"  # the fastest main network to trace


def validation() -> dict:
    """Two networks on two platforms, errors −10% and +20%: medians and worst by hand."""
    rows = [
        {
            "platform": platform,
            "fit": "leave-one-network-out",
            "variant": variant,
            "batch": 32,
            "mode": "graph",
            "dtype": "bf16",
            "measured_ms": measured,
            "predicted_ms": measured * (1 + error / 100),
            "error_pct": error,
        }
        for platform in ("h100", "cpu")
        for variant, measured, error in (("googlenet_tv", 2.0, -10.0), ("inception_v3", 5.0, 20.0))
    ]
    return {
        "environment": {"cpu": "Test CPU", "torch": "2.x"},
        "method": "python benchmarks/bench_predict.py --test",
        "fits": [
            {
                "platform": "h100",
                "name": "4-factor",
                "keys": ["compute_efficiency.default", "launch_us"],
                "shipped": True,
                "figures": {"compute_efficiency.default": 0.18123, "launch_us": 37.6},
            }
        ],
        "rows": rows,
        "summary": [
            {
                "platform": "h100",
                "fit": "leave-one-network-out",
                "batch": 32,
                "mode": "graph",
                "n": 2,
                "median_abs_error_pct": 15.0,
                "worst_abs_error_pct": 20.0,
            }
        ],
        "ranking": [
            {
                "platform": "h100",
                "fit": "leave-one-network-out",
                "batch": 32,
                "mode": "graph",
                "measured_order": ["googlenet_tv", "inception_v3"],
                "predicted_order": ["googlenet_tv", "inception_v3"],
                "match": True,
            }
        ],
        "goals": [
            {"goal": "median at batch 256, H100", "target": "≤ 15%", "reached": "11%", "met": True}
        ],
    }


def build(tmp_path, results: dict | None) -> tuple[str, Writer]:
    folder = tmp_path / "results"
    folder.mkdir(exist_ok=True)
    if results is not None:
        (folder / "predict_test-cpu.json").write_text(json.dumps(results))
    out = Writer(tmp_path / "out")
    return predict_page(out, folder, [NETWORK]), out


def test_page_renders_the_validation_tables_and_plots(tmp_path):
    page, out = build(tmp_path, validation())
    assert page.startswith("# Predicted vs measured\n")
    assert "### `predict_test-cpu.json`" in page
    assert "Method: python benchmarks/bench_predict.py --test" in page
    assert "| median at batch 256, H100 | ≤ 15%    | 11%       | yes   |" in page
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in page.splitlines()]
    assert ["h100", "leave-one-network-out", "32", "graph", "2", "15", "20"] in rows
    assert [
        "cpu",
        "leave-one-network-out",
        "inception_v3",
        "32",
        "graph",
        "bf16",
        "5",
        "6",
        "20",
    ] in rows
    assert "| googlenet_tv, inception_v3 | googlenet_tv, inception_v3 |" in page
    assert "compute_efficiency.default = 0.1812; launch_us = 37.6" in page
    assert "![predicted against measured latency](plots/predict_test-cpu_scatter.png)" in page
    assert f"![{NETWORK}: ops on the roofline](plots/roofline_{NETWORK}.png)" in page
    assert "Profile: h100-sxm (built-in h100-sxm.json;" in page
    written = sorted(p.relative_to(out.root).as_posix() for p in out.written)
    assert written == ["plots/predict_test-cpu_scatter.png", f"plots/roofline_{NETWORK}.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in out.written)


def test_rows_left_out_and_precision_ratios_are_shown_where_a_file_has_them(tmp_path):
    results = validation()
    why = "9.0 ms < 2 × batch 1's 8.0 ms"
    results["left_out"] = [
        {"gpu": "v100", "network": "resnet50", "dtype": "fp16", "batch": 64, "why": why}
    ]
    results["ratios"] = [
        {
            "gpu": "v100",
            "network": "resnet50",
            "batch": 128,
            "ratio": "fp32/amp",
            "measured": 2.5,
            "predicted": 2.75,
            "error_pct": 10.0,
        }
    ]
    page, _ = build(tmp_path, results)
    assert "#### Rows left out" in page and "#### Precision ratios" in page
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in page.splitlines()]
    assert ["v100", "resnet50", "fp16", "64", why] in rows
    assert ["v100", "resnet50", "128", "fp32/amp", "2.5", "2.75", "10"] in rows
    (tmp_path / "none").mkdir()
    assert "#### Rows left out" not in build(tmp_path / "none", validation())[0]


def test_page_without_validation_says_none_is_committed(tmp_path):
    page, out = build(tmp_path, None)
    assert "No validation results (`predict_*.json`) are committed in" in page
    assert "#### Goals" not in page and len(out.written) == 1  # the roofline still drawn


def test_page_and_plots_are_byte_stable(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, out = build(tmp_path / "a", validation())
    second, again = build(tmp_path / "b", validation())
    assert first.replace(str(tmp_path / "a"), "") == second.replace(str(tmp_path / "b"), "")
    assert [p.read_bytes() for p in out.written] == [p.read_bytes() for p in again.written]


def test_roofline_points_sit_on_the_model_roof():
    # A kernel's time is max(q·F / (η_c·P), B / (η_m·W)) with q ≥ 1 its GEMM's tile and wave
    # quantization, so F / time = min(η_c·P / q, F/B · η_m·W): every point lies on or under
    # its roof, memory-bound ones on the slope.
    roofline = roofline_of(NETWORK)
    profile = builtin(ROOFLINE["profile"])
    dtype = ROOFLINE["dtype"]
    peak = profile.peak(dtype).value * 1e12
    bandwidth = profile.bandwidth_gbs.value * 1e9
    assert roofline["points"]
    on_slope = 0
    for point in roofline["points"]:
        flat = profile.compute_eff(point["category"], dtype) * peak
        slope = point["intensity"] * profile.memory_eff(point["category"], dtype) * bandwidth
        assert point["flops_per_s"] <= min(flat, slope) * (1 + 1e-9)
        on_slope += point["flops_per_s"] == pytest.approx(slope, rel=1e-9)
    assert on_slope
    assert roofline["datasheet"]["peak"] == peak and roofline["datasheet"]["bandwidth"] == bandwidth
    # googlenet's convolutions and its one linear layer: every op with FLOPs is a point.
    assert {p["category"] for p in roofline["points"]} == {"conv", "matmul"}


def test_a_validation_file_without_rows_is_one_line(tmp_path):
    from incprof.errors import InputError

    with pytest.raises(InputError, match="holds no validation rows"):
        build(tmp_path, {"environment": {}})
