"""bench_public: the public fp32/TF32 rows, the V100's profile, the precision ratios, and
the shipped profiles carrying what the committed run found."""

from __future__ import annotations

import json
from pathlib import Path

import bench_public as bp
import pytest

from incprof.analysis import profiles
from incprof.analysis.profiles import ProfileError

RESULTS = Path(__file__).parents[1] / "benchmarks" / "results" / "predict_public.json"


def test_every_public_row_is_cited_and_timed_as_batch_over_throughput() -> None:
    rows = bp.read_rows()
    assert {r["source"] for r in rows} == set(bp.SOURCES)
    assert {r["dtype"] for r in rows} == {"fp32", "tf32", "fp16"}
    resnet = next(r for r in rows if r["network"] == "resnet50" and r["batch"] == 256)
    assert resnet["measured_ms"] == pytest.approx(1e3 * 256 / 1261)  # 1261 img/s, FP32
    # Volta has no TF32: its fp32 rows are strict fp32; the A100's are TF32.
    assert {r["dtype"] for r in rows if r["gpu"] == "v100-sxm2"} == {"fp32", "fp16"}
    assert {r["dtype"] for r in rows if r["gpu"] == "a100-sxm"} == {"tf32", "fp16"}


def test_rows_on_the_host_floor_are_left_out_with_the_reason() -> None:
    def row(batch, ms, dtype="fp32"):
        return {"gpu": "g", "network": "n", "dtype": dtype, "batch": batch, "measured_ms": ms}

    rows = [row(1, 10.0), row(64, 19.9), row(128, 20.0), row(1, 5.0, "fp16"), row(64, 40.0, "fp16")]
    kept, left = bp.above_the_floor(rows)
    assert [(r["batch"], r["dtype"]) for r in kept] == [(128, "fp32"), (64, "fp16")]
    assert left == [
        {
            "gpu": "g",
            "network": "n",
            "dtype": "fp32",
            "batch": 64,
            "why": "19.9 ms < 2 × batch 1's 10.0 ms",
        }
    ]
    with pytest.raises(ValueError, match="no batch-1 row"):
        bp.above_the_floor([row(64, 40.0, "tf32")])


def test_an_uncited_row_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "rows.csv"
    lines = bp.DATA.read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([lines[0], lines[1].replace("dle-resnet50", "a-blog")]) + "\n")
    with pytest.raises(ValueError, match="names no source"):
        bp.read_rows(bad)


def test_the_v100_profile_is_its_datasheet_under_the_3090s_factors() -> None:
    v100, rtx = bp.v100_profile(), profiles.builtin(bp.FACTORS_FROM)
    assert {d: f.value for d, f in v100.peak_tflops.items()} == {"fp32": 15.7, "fp16": 125.0}
    assert v100.bandwidth_gbs.value == 900.0 and v100.sm_count.value == 80
    assert v100.compute_efficiency == rtx.compute_efficiency
    assert v100.memory_efficiency == rtx.memory_efficiency
    with pytest.raises(ProfileError, match="has no tf32 peak"):
        v100.peak("tf32")


def test_precision_ratios_pair_each_row_with_its_amp_row() -> None:
    def rec(dtype, measured, predicted, network="n"):
        return {
            "platform": "g",
            "variant": network,
            "batch": 64,
            "dtype": dtype,
            "measured_ms": measured,
            "predicted_ms": predicted,
        }

    records = [rec("fp32", 30.0, 24.0), rec("fp16", 10.0, 10.0), rec("fp32", 5.0, 5.0, "alone")]
    (ratio,) = bp.ratio_checks(records)  # the row without an AMP twin is left out
    assert ratio["ratio"] == "fp32/amp"
    assert (ratio["measured"], ratio["predicted"], ratio["error_pct"]) == (3.0, 2.4, -20.0)


def test_the_shipped_gpu_profiles_carry_the_committed_public_check() -> None:
    public = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert set(public["sources"]) == set(bp.SOURCES)
    assert all(
        r["role"] == "fitted"
        for r in public["rows"]
        if r["variant"] in bp.FIT_NETWORKS and r["platform"] == "v100-sxm2" and r["dtype"] == "fp32"
    )
    for name in profiles.builtin_names():
        profile = profiles.builtin(name)
        if not profile.host_overlap:
            continue
        simt = profile.compute_efficiency["simt.conv"]
        assert (simt.value, simt.kind) == (public["simt_conv"]["value"], "fitted"), name
        for dtype in ("fp32", "tf32"):
            entry, band = profile.provenance(dtype), public["bands"][dtype]
            assert entry is not None and entry.status == "transferred", (name, dtype)
            assert entry.rows == band["n"], (name, dtype)
            assert entry.median_abs_error_pct == band["median_abs_error_pct"], (name, dtype)
        assert "fp32 transferred, not validated (median" in profile.source, name
