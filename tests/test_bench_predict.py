"""bench_predict's pure helpers: errors, summaries, rankings and goals on made-up rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from incprof.analysis.profiles import Figure

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_predict.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_predict", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_predict"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench_predict"]


def rows(bench, fit, measured, predicted, *, batch=256, mode="graph", platform="h100"):
    return [
        bench.row(platform, fit, name, batch, mode, "bf16", m, p)
        for name, m, p in zip(("a", "b", "c"), measured, predicted, strict=True)
    ]


def test_error_is_signed_percent_of_measured(bench):
    assert bench.error_pct(12.0, 10.0) == pytest.approx(20.0)
    assert bench.error_pct(5.0, 10.0) == pytest.approx(-50.0)


def test_summary_median_and_worst_per_mode_and_over_modes(bench):
    graph = rows(bench, bench.LOO, [10, 10, 10], [11, 8, 10])  # +10%, -20%, 0%
    eager = rows(bench, bench.LOO, [10, 10, 10], [14, 10, 10], mode="eager")  # +40%, 0, 0
    summary = {(s["mode"]): s for s in bench.summarize(graph + eager)}
    assert summary["graph"]["median_abs_error_pct"] == pytest.approx(10.0)
    assert summary["graph"]["worst_abs_error_pct"] == pytest.approx(20.0)
    assert summary["eager"]["median_abs_error_pct"] == pytest.approx(0.0)
    # Over both modes: |errors| 10, 20, 0, 40, 0, 0 -> median 5, worst 40.
    assert summary["all"]["n"] == 6
    assert summary["all"]["median_abs_error_pct"] == pytest.approx(5.0)
    assert summary["all"]["worst_abs_error_pct"] == pytest.approx(40.0)


def test_ranking_uses_the_largest_batch_and_catches_a_swap(bench):
    small = rows(bench, bench.LOO, [1, 2, 3], [3, 2, 1], batch=1)  # reversed, but not ranked
    large = rows(bench, bench.LOO, [10, 20, 30], [10, 31, 30])  # b and c swap
    (ranking,) = bench.rankings(small + large)
    assert ranking["batch"] == 256
    assert ranking["measured_order"] == ["a", "b", "c"]
    assert ranking["predicted_order"] == ["a", "c", "b"]
    assert ranking["match"] is False


def test_goals_state_the_figure_and_whether_it_is_met(bench):
    h100 = rows(bench, bench.LOO, [10, 10, 10], [11, 12, 10])  # median |error| 10% <= 15%
    h100 += rows(bench, bench.LOO, [10, 10, 10], [13, 13, 13], batch=32)  # 30% > 25%
    cpu = rows(bench, bench.LOO, [10, 20, 30], [10, 20, 30], batch=8, platform="cpu")
    all_rows = h100 + cpu
    found = {g["goal"]: g for g in bench.goals(bench.summarize(all_rows), bench.rankings(all_rows))}
    b256 = found["H100 bf16 median |error| at batch 256 (leave-one-network-out)"]
    assert (b256["reached"], b256["target"], b256["met"]) == ("10.0%", "≤ 15%", True)
    assert found["H100 bf16 median |error| at batch 32 (leave-one-network-out)"]["met"] is False
    assert found["CPU fp32 eager median |error| at batch 8 (leave-one-network-out)"]["met"]
    ranking = found[
        "CPU fp32 eager ranking of the five networks at batch 8 (leave-one-network-out)"
    ]
    assert ranking["met"] and ranking["reached"] == "graph: matches"


def test_probes_give_each_figure_its_median(bench):
    probes = [
        {"bandwidth_gbs": Figure(v, "measured", "copy"), "launch_us": Figure(w, "measured", "op")}
        for v, w in ((16.0, 9.0), (53.0, 1.0), (50.0, 2.0))
    ]
    median = bench.median_figures(probes)
    assert median["bandwidth_gbs"].value == 50.0
    assert median["launch_us"].value == 2.0
    assert median["launch_us"].kind == "measured"
    assert "median of 3 probes" in median["launch_us"].source


def test_a_fit_starts_from_fixed_values_whatever_the_file_holds(bench):
    """A profile already holding a fitted per-category efficiency (a rewritten file) must
    not leak it into a fit that does not free it: the same rows give the same profile."""
    fitted = bench.builtin("h100-sxm").with_figures(
        {
            "memory_efficiency.conv": Figure(0.29, "fitted", "an earlier run"),
            "compute_efficiency.default": Figure(0.17, "fitted", "an earlier run"),
        }
    )
    start = bench.starting(fitted, bench.BASE_KEYS, bench.START)
    figures = start.figures()
    assert "memory_efficiency.conv" not in figures
    assert figures["compute_efficiency.default"].value == bench.START["compute_efficiency"]
    assert figures["launch_us"].value == bench.START["launch_us"]
    assert figures["peak_tflops.bf16"] == fitted.figures()["peak_tflops.bf16"]


def test_timm_validation_helpers_by_hand() -> None:
    import timm_predict as tp

    # Spearman of a monotone pair is 1, of a reversed one −1; errors in percent of measured.
    assert tp.spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert tp.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    summary = tp.errors_summary([(110.0, 100.0), (80.0, 100.0), (100.0, 100.0)])
    assert summary["median_abs_error_pct"] == pytest.approx(10.0)
    assert summary["worst_abs_error_pct"] == pytest.approx(20.0)
    # The families split is fixed by the seed, and each half is used once.
    rows = [
        (tp.Row("x", m, 224, 8, 1.0), None)
        for m in ("resnet50", "vit_base_patch16_224", "convnext_tiny", "efficientnet_b0")
    ]
    fit_half, test_half, chosen = tp.split_families(rows)
    assert (fit_half, test_half, chosen) == tp.split_families(rows)
    assert len(fit_half) + len(test_half) == 4 and len(chosen) == 2


def test_every_datasheet_row_is_a_valid_profile_with_its_dense_figures() -> None:
    import timm_predict as tp

    for name, sheet in tp.DATASHEETS.items():
        profile = tp.datasheet_profile(name)
        assert profile.sm_count.value == sheet["sm"]
        peaks = {d: profile.peak(d).value for d in ("fp32", "tf32", "bf16", "fp16")}
        assert (
            peaks["bf16"] == peaks["fp16"] and peaks["tf32"] <= peaks["bf16"] / 2 * 1.02
        )  # L40S: 183 beside 362.05
    # GeForce: fp16 with fp32 accumulate is half the fp16-accumulate rate (the whitepapers'
    # 142 and 330.3 TFLOPS dense), so TF32 equals fp32 there.
    assert tp.DATASHEETS["rtx-3090"]["peaks"]["fp16"] == 71.0
    assert tp.DATASHEETS["rtx-4090"]["peaks"]["fp16"] == 165.2
