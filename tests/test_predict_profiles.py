"""Device profiles read as hostile files: every figure range-checked against physical sense,
every string a file holds cut to a sane length, and the provenance every prediction shows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from test_predict import profile_dict
from torch import nn

from incprof.analysis import profiles
from incprof.analysis.predict import predict
from incprof.analysis.profiles import ProfileError, Validation, from_dict
from incprof.analysis.trace import trace_module
from incprof.cli import cli

# (figure, value, the range the message names): each just outside physical sense.
OUT_OF_RANGE = [
    (("peak_tflops", "fp32"), 1e-300, r"\[0.01, 100000\]"),
    (("peak_tflops", "fp32"), 100_001, r"\[0.01, 100000\]"),
    (("bandwidth_gbs",), 0.5, r"\[1, 100000\]"),
    (("bandwidth_gbs",), 1e308, r"\[1, 100000\]"),
    (("launch_us",), 1e308, r"\[0, 10000\]"),
    (("launch_us",), -1, r"\[0, 10000\]"),
    (("gap_us",), 10_000.5, r"\[0, 10000\]"),
    (("compute_efficiency", "default"), 0, r"\(0, 1\]"),
    (("memory_efficiency", "default"), 1.01, r"\(0, 1\]"),
]


def _set(data: dict[str, Any], path: tuple[str, ...], value: float) -> None:
    target = data
    for key in path:
        target = target[key]
    target["value"] = value


@pytest.mark.parametrize(("path", "value", "expected"), OUT_OF_RANGE)
def test_a_figure_outside_physical_sense_is_one_line(path, value, expected) -> None:
    data = profile_dict()
    _set(data, path, value)
    with pytest.raises(
        ProfileError, match=f"{'.'.join(path)}.value .* outside physical sense: expected {expected}"
    ) as caught:
        from_dict(data, origin="p.json")
    assert "\n" not in str(caught.value)


def test_the_edges_of_the_ranges_are_accepted() -> None:
    data = profile_dict(peak=0.01, bandwidth=100_000.0, launch=0.0, gap=10_000.0, compute=1.0)
    profile = from_dict(data, origin="p.json")
    assert (profile.peak("fp32").value, profile.launch_us.value) == (0.01, 0.0)


def test_absurd_figures_exit_2_from_the_cli_with_one_line(tmp_path) -> None:
    data = profile_dict()
    data["peak_tflops"]["fp32"]["value"] = 1e-300
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["predict", "fact_5x5_two_3x3", "--profile", str(path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "outside physical sense" in result.output


def test_strings_from_a_profile_file_are_clipped_when_shown(tmp_path) -> None:
    huge = "x" * 200_000  # far beyond any clip limit, cheap to write
    data = profile_dict()
    data.update(name=huge, title=huge, notes=[huge])
    data["bandwidth_gbs"]["source"] = huge
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(data))
    profile = profiles.load(path)
    assert len(profile.name) == profiles.NAME_CHARS and profile.name.endswith("…")
    assert len(profile.title) == profiles.TITLE_CHARS
    assert len(profile.bandwidth_gbs.source) == profiles.SOURCE_CHARS
    assert len(profile.notes[0]) == profiles.SOURCE_CHARS
    args = ["predict", "fact_5x5_two_3x3", "--profile", str(path), "--dtype", "fp32"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and len(result.output) < 5_000, result.output[:300]
    bad = profile_dict()
    bad["launch_us"]["value"] = huge
    with pytest.raises(ProfileError) as caught:
        from_dict(bad, origin="p.json")
    assert len(str(caught.value)) < 200


def test_efficiency_is_looked_up_by_dtype_class_then_category() -> None:
    data = profile_dict()
    fig = data["compute_efficiency"]["default"]
    data["compute_efficiency"].update(
        {"conv": dict(fig, value=0.3), "tensor.conv": dict(fig, value=0.8)}
    )
    profile = from_dict(data, origin="p.json")
    assert profile.compute_eff("conv", "bf16") == 0.8  # tensor cores
    assert profile.compute_eff("conv", "fp32") == 0.3  # strict fp32: the plain category
    assert profile.compute_eff("pool", "fp16") == 0.5  # default


def test_every_prediction_says_where_its_factors_come_from() -> None:
    data = profile_dict()
    data["peak_tflops"]["bf16"] = data["peak_tflops"]["fp32"]
    data["validation"] = [
        Validation("bf16", "validated", "test rows", "held-out", 10, 8.0, 20.0).record()
    ]
    profile = from_dict(data, origin="p.json")
    trace = trace_module(nn.ReLU(), (8,))
    validated = predict(trace, profile, dtype="bf16").summary()
    assert validated["validated"] is True and validated["error_median_pct"] == 8.0
    assert validated["parameters_from"].startswith("fitted on test rows")
    other = predict(trace, profile, dtype="fp32").summary()
    assert other["validated"] is False and other["error_median_pct"] is None
    assert other["parameters_from"].startswith("not validated")
    assert "fp32 not validated" in profile.source and "bf16 validated (median 8%" in profile.source


def test_every_shipped_gpu_profile_has_its_sm_count_and_provenance() -> None:
    for name in profiles.builtin_names():
        profile = profiles.builtin(name)
        if not profile.host_overlap:
            continue
        assert profile.sm_count is not None and profile.sm_count.kind == "datasheet", name
        for dtype in ("bf16", "fp16", "fp32", "tf32"):
            assert profile.provenance(dtype) is not None, (name, dtype)
        # No fp32 or TF32 GPU run exists here: those two are banded on public rows only.
        assert profile.provenance("fp32").status == "transferred", name
        assert profile.provenance("tf32").status == "transferred", name
