"""Measured counters beside the analytic figure, with every gap named by operator."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from incprof.analysis.analytic import analyze
from incprof.analysis.counters import delta_pct, explain, run_counter
from incprof.registry import Variant


class Toy(nn.Module):
    """conv(bias) → BN → F.relu → F.max_pool → grouped 1×3 conv → +avg_pool → GAP → fc."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, (1, 3), padding=(0, 1), groups=2, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.c1(x)))
        y = self.c2(F.max_pool2d(x, 2))
        y = y + F.avg_pool2d(y, 3, 1, 1)
        return self.fc(torch.flatten(self.pool(y), 1))


TOY = Variant("toy", "test", "network", Toy, (3, 16, 16), "a test model")
# conv1: 8·16·16 outputs × 3·3·3; conv2: 8·8·8 outputs × (8/2)·1·3; fc: 8·5
TOY_MACS = 8 * 256 * 27 + 8 * 64 * 12 + 40
BN_ELEMENTS = 8 * 16 * 16


@pytest.fixture(scope="module")
def analytic():
    return analyze(TOY)


def test_analytic_toy(analytic):
    assert analytic.macs == TOY_MACS


def test_torch_counter_agrees_exactly(analytic):
    result = run_counter("torch", TOY, TOY.input_shape, analytic)
    assert result.macs == TOY_MACS
    assert explain(result, analytic).startswith("exact")


def test_fvcore_gap_is_bn_and_global_pool(analytic):
    result = run_counter("fvcore", TOY, TOY.input_shape, analytic)
    # fvcore: conv + linear MACs, plus BN at 2 per element, plus adaptive pool's 8·8·8 inputs
    assert result.macs == TOY_MACS + 2 * BN_ELEMENTS + 8 * 64
    text = explain(result, analytic)
    assert "batch_norm" in text and "pool" in text
    assert "max_pool2d" in text  # fvcore says it skipped it


def test_thop_gap_is_bn_and_pool_modules(analytic):
    result = run_counter("thop", TOY, TOY.input_shape, analytic)
    # thop: BN 4 per element (affine); adaptive pool (64/1 + 1) per output element (8)
    assert result.macs == TOY_MACS + 4 * BN_ELEMENTS + 8 * 65
    text = explain(result, analytic)
    assert "batch_norm" in text
    assert "avg_pool2d (pool)" in text and "relu (activation)" in text  # functional: unseen
    assert delta_pct(result.macs, analytic.macs) == pytest.approx(
        100 * (4 * BN_ELEMENTS + 8 * 65) / TOY_MACS
    )


def test_failing_counter_is_a_cell_not_a_crash(analytic):
    broken = Variant("broken", "test", "network", lambda: nn.Conv2d(5, 1, 1), (3, 4, 4), "x")
    result = run_counter("fvcore", broken, broken.input_shape, analytic)
    assert result.macs is None
    assert result.error.startswith("fvcore failed: RuntimeError")
    assert explain(result, analytic) == result.error


def test_unknown_counter_name_raises(analytic):
    with pytest.raises(ValueError, match="unknown counter"):
        run_counter("nope", TOY, TOY.input_shape, analytic)
