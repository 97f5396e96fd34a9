"""Closed-form checks of every formula on tiny layers, counted by hand."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from incprof.analysis.analytic import analyze_module
from incprof.analysis.formulas import FORMULAS, adaptive_bins, formula


def cost(module: nn.Module, shape: tuple[int, ...]):
    return analyze_module(module, shape)


@pytest.mark.parametrize(
    ("conv", "shape", "expected_macs", "out_hw"),
    [
        # plain 3×3, padding 1: 16·8·8 positions... 8 out channels × 8×8 × (4·3·3)
        (nn.Conv2d(4, 8, 3, padding=1, bias=False), (4, 8, 8), 8 * 8 * 8 * 4 * 9, (8, 8)),
        # stride 2, no padding: out (9-3)//2+1 = 4
        (nn.Conv2d(4, 8, 3, stride=2, bias=False), (4, 9, 9), 8 * 4 * 4 * 4 * 9, (4, 4)),
        # groups 2: each output sums over 4/2 input channels
        (nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False), (4, 6, 6), 8 * 36 * 2 * 9, (6, 6)),
        # depthwise: one input channel per output
        (nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), (4, 6, 6), 4 * 36 * 1 * 9, (6, 6)),
        # dilation 2 on 3×3: effective 5×5, out 10-5+1 = 6, still 9 taps per output
        (nn.Conv2d(2, 3, 3, dilation=2, bias=False), (2, 10, 10), 3 * 6 * 6 * 2 * 9, (6, 6)),
        # asymmetric 1×7 with padding (0, 3): keeps 9×9
        (nn.Conv2d(2, 3, (1, 7), padding=(0, 3), bias=False), (2, 9, 9), 3 * 81 * 2 * 7, (9, 9)),
        # 7×1
        (nn.Conv2d(2, 3, (7, 1), padding=(3, 0), bias=False), (2, 9, 9), 3 * 81 * 2 * 7, (9, 9)),
    ],
)
def test_convolution_macs(conv, shape, expected_macs, out_hw):
    result = cost(conv, shape)
    assert result.macs == expected_macs
    assert result.output_shape[-2:] == out_hw
    assert result.other_ops == 0  # no bias


def test_conv_bias_is_other_ops_not_macs():
    result = cost(nn.Conv2d(2, 3, 1, bias=True), (2, 5, 5))
    assert result.macs == 3 * 25 * 2
    assert result.other_ops == 3 * 25  # one add per output element


def test_transposed_convolution_macs():
    # every input element scatters into C_out·k·k outputs: 2·4·4 inputs × 3·3·3
    result = cost(nn.ConvTranspose2d(2, 3, 3, stride=2, bias=False), (2, 4, 4))
    assert result.macs == 2 * 16 * 3 * 9


def test_linear_with_and_without_bias():
    assert cost(nn.Linear(10, 4), (1, 1, 10)).macs == 40
    assert cost(nn.Linear(10, 4), (1, 1, 10)).other_ops == 4
    assert cost(nn.Linear(10, 4, bias=False), (1, 1, 10)).other_ops == 0
    # batched over 3 rows: the leading dims multiply
    assert cost(nn.Linear(10, 4, bias=False), (1, 3, 10)).macs == 3 * 40


def test_batch_norm_is_two_ops_per_element():
    result = cost(nn.BatchNorm2d(3), (3, 4, 4))
    assert (result.macs, result.other_ops) == (0, 2 * 48)


def test_pools():
    # 3×3/2 max pool on 7×7: out 3×3, 9 window elements each, 2 channels
    assert cost(nn.MaxPool2d(3, 2), (2, 7, 7)).other_ops == 2 * 9 * 9
    # ceil_mode: out ceil((7-2)/2)+1 = 4 → 4×4
    assert cost(nn.MaxPool2d(2, 2, ceil_mode=True), (1, 7, 7)).other_ops == 16 * 4
    assert cost(nn.AvgPool2d(3, 1, 1), (2, 5, 5)).other_ops == 2 * 25 * 9
    # global average: every input element read once
    assert cost(nn.AdaptiveAvgPool2d(1), (3, 6, 6)).other_ops == 3 * 36


def test_adaptive_pool_bins_overlap():
    # 14 → 4: bins [0,4) [3,7) [7,11) [10,14): lengths 4+4+4+4
    assert adaptive_bins(14, 4) == 16
    # 5 → 3: [0,2) [1,4) [3,5): 2+3+2
    assert adaptive_bins(5, 3) == 7
    assert cost(nn.AdaptiveAvgPool2d(3), (1, 5, 5)).other_ops == 7 * 7


class Functional(nn.Module):
    def forward(self, x):
        a = F.relu(x)
        b = F.max_pool2d(x, 3, 1, 1)
        c = F.avg_pool2d(x, 3, 1, 1)
        y = torch.cat([a, b, c], 1)
        return torch.flatten(F.adaptive_avg_pool2d(y + y, 1), 1)


def test_functional_calls_are_counted():
    # x: 2×4×4 = 32 elements. relu 32; max pool 32·9; avg pool 32·9; cat 0;
    # add over 96 elements; global mean over 96
    result = cost(Functional(), (2, 4, 4))
    assert result.macs == 0
    assert result.other_ops == 32 + 32 * 9 + 32 * 9 + 96 + 96
    assert not result.unknown_ops()


def test_formula_registration_refuses_duplicates():
    op = next(iter(FORMULAS))
    with pytest.raises(ValueError, match="already registered"):
        formula(op)(lambda args, kwargs, out: None)
