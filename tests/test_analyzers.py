"""The analyzer protocol: every registered analyzer's record through ``Profile.figures()``,
``incprof analyze`` and the report's analyzers page, and a new analyzer made visible in
all three by one registration line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from torch import nn

import incprof
from incprof import analysis
from incprof.api import analyzer_figures
from incprof.cli import cli
from incprof.errors import InputError
from incprof.report.markdown import analyzers_page

REGISTRATION = {"parameter_bytes": "param_bytes_analyzer:parameter_bytes"}


def _conv() -> nn.Module:
    # 1 -> 2 channels, 3x3, bias: 20 parameters (80 bytes in fp32); on a 6x6 input
    # 2 x 4 x 4 outputs of 9 MACs each: 288 MACs, and as many for the weight's gradient
    # (the input needs none).
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())


def test_figures_are_each_analyzers_record() -> None:
    figures = incprof.profile(_conv(), (1, 6, 6)).figures()
    assert list(figures) == list(analysis.registered())
    assert figures["cost"]["macs"] == 288
    assert figures["cost"]["params"] == 20
    assert (figures["backward"]["backward_macs"], figures["backward"]["train_macs"]) == (288, 576)
    field = figures["receptive_field"]
    assert (field["final_size"], field["final_stride"]) == (3, 1)
    assert figures["memory"]["parameter_bytes"] == 80
    assert figures["step_memory"]["gradient_bytes"] == 80


def test_an_analyzer_that_does_not_apply_is_skipped_with_its_reason() -> None:
    # A training step of a batch-norm net at batch 1 on a 1x1 map: torch refuses it.
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    figures = incprof.profile(model, (1, 3, 3)).figures(["cost", "step_memory"])
    assert figures["cost"]["macs"] == 2 * 9
    assert "Expected more than 1 value per channel" in figures["step_memory"]["skipped"]
    assert "\n" not in figures["step_memory"]["skipped"]


def test_unknown_analyzer_is_one_line() -> None:
    with pytest.raises(InputError, match="unknown analyzer 'nope'; choose from cost"):
        incprof.profile(_conv(), (1, 6, 6)).figures(["nope"])
    result = CliRunner().invoke(cli, ["analyze", "googlenet_tv", "--analyzer", "nope"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "unknown analyzer 'nope'" in result.output


def test_a_new_analyzer_is_visible_after_one_registration_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(analysis, "ANALYZERS", {**analysis.ANALYZERS, **REGISTRATION})
    # Profile
    figures = incprof.profile(_conv(), (1, 6, 6)).figures()
    assert figures["parameter_bytes"] == {"variant": "Sequential", "parameter_bytes": 80}
    # CLI: googlenet_tv holds 6,624,904 parameters, all fp32, aux heads included in the
    # module (13,004,888 with them: what the trace's parameters are).
    result = CliRunner().invoke(
        cli, ["analyze", "googlenet_tv", "--analyzer", "parameter_bytes", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows == [
        {"analyzer": "parameter_bytes", "figure": "parameter_bytes", "value": 4 * 13_004_888}
    ]
    # Report page: googlenet's 13,378,280 parameters (aux heads held), 4 bytes each.
    page = analyzers_page(analyzer_figures(["googlenet"]), batch=1)
    section = page.split("## `parameter_bytes`")[1]
    assert "parameter_bytes" in section and "53,513,120" in section
