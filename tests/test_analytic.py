"""The analytic analyzer on small hand-countable models."""

import torch
import torch.nn.functional as F
from torch import nn

from incprof.analysis.analytic import analyze_module
from incprof.analysis.trace import ROOT


class WithAux(nn.Module):
    """A stem, a head, and an aux head that runs only in training."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)  # 108 params
        self.fc = nn.Linear(4, 2)  # 10 params
        self.aux = nn.Linear(4 * 8 * 8, 2)  # 514 params

    def forward(self, x):
        x = F.relu(self.stem(x))
        logits = self.fc(x.mean((2, 3)))
        if self.training:
            return logits, self.aux(x.flatten(1))
        return logits


def test_aux_heads_count_only_in_params_with_aux():
    result = analyze_module(WithAux(), (3, 8, 8))
    assert result.params == 108 + 10
    assert result.params_with_aux == 108 + 10 + 514
    assert result.macs == 4 * 64 * 27 + 8


def test_training_mode_is_restored():
    model = WithAux().train()
    analyze_module(model, (3, 8, 8))
    assert model.training


def test_shared_parameters_count_once():
    conv = nn.Conv2d(2, 2, 1, bias=False)
    model = nn.Sequential(conv, conv)
    result = analyze_module(model, (2, 3, 3))
    assert result.params == result.params_with_aux == 4
    assert result.macs == 2 * (2 * 9 * 2)


def test_batch_scales_macs_linearly():
    one = analyze_module(WithAux(), (3, 8, 8), batch=1)
    eight = analyze_module(WithAux(), (3, 8, 8), batch=8)
    assert eight.macs == 8 * one.macs
    assert eight.params == one.params


def test_real_model_is_not_touched():
    model = WithAux()
    analyze_module(model, (3, 8, 8))
    assert model.stem.weight.device.type == "cpu"


class Unknown(nn.Module):
    """An FFT: no formula and no operator class prices it (``erf`` is pointwise now)."""

    def forward(self, x):
        return torch.fft.rfft(x).abs() + 1


def test_unknown_operator_is_reported_not_zeroed_silently():
    result = analyze_module(Unknown(), (1, 2, 2))
    assert result.unknown_ops() == {"_fft_r2c": 1}
    assert "_fft_r2c" in result.summary()["unknown_ops"]


def test_by_module_rows_and_root_functional_ops():
    result = analyze_module(WithAux(), (3, 8, 8))
    rows = {r["module"]: r for r in result.by_module(depth=1)}
    assert list(rows) == ["stem", "fc", ROOT]
    assert rows["stem"]["macs"] == 4 * 64 * 27
    assert rows["stem"]["output_shape"] == (1, 4, 8, 8)
    assert rows["stem"]["kernel"] == "3x3"
    assert rows["fc"]["params"] == 10
    # relu (256) and the mean (256) are issued by the root's forward
    assert rows[ROOT]["other_ops"] == 256 + 256
    assert abs(sum(r["macs_pct"] for r in rows.values()) - 100) < 1e-9


def test_nested_modules_roll_up():
    inner = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.Conv2d(1, 1, 1, bias=False))
    model = nn.Sequential(inner)
    rows = {r["module"]: r for r in analyze_module(model, (1, 5, 5)).by_module()}
    assert rows["0"]["macs"] == rows["0.0"]["macs"] + rows["0.1"]["macs"] == 9 * 9 + 9
    assert rows["0.0"]["kernel"] == "3x3"
