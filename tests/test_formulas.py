"""Closed-form checks of every formula on tiny layers, counted by hand."""

import operator

import pytest
import torch
import torch.nn.functional as F
from tiny_nets import Lambda
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


# The tests below run on a 1×4×3×5 input: 60 elements, 4 channels, 12 rows of 5.
SHAPE = (4, 3, 5)
N = 60


def priced(module: nn.Module, shape: tuple[int, ...] = SHAPE):
    """The analysis of ``module``, after checking that no operator went unpriced."""
    result = cost(module, shape)
    assert not result.unknown_ops(), result.unknown_ops()
    assert result.macs == 0
    return result


@pytest.mark.parametrize(
    "module",
    [
        nn.Hardswish(),
        nn.Hardsigmoid(),
        nn.ELU(),
        nn.SELU(),
        nn.CELU(),
        nn.Mish(),
        nn.Softplus(),
        nn.PReLU(),
        nn.PReLU(4),
    ],
    ids=lambda m: repr(m),
)
def test_activations_are_one_op_per_element(module):
    assert priced(module).other_ops == N


@pytest.mark.parametrize(
    ("out_of_place", "in_place"),
    [
        (nn.Sigmoid(), Lambda(torch.sigmoid_)),
        (nn.Tanh(), Lambda(lambda x: x.tanh_())),
        (nn.Hardswish(), nn.Hardswish(inplace=True)),
        (nn.Hardsigmoid(), nn.Hardsigmoid(inplace=True)),
        (nn.ELU(), nn.ELU(inplace=True)),
        (nn.CELU(), nn.CELU(inplace=True)),
        (nn.Mish(), nn.Mish(inplace=True)),
        (Lambda(lambda x: x.clamp(0, 1)), Lambda(lambda x: x.clamp_(0, 1))),
        (Lambda(lambda x: x.clamp_min(0)), Lambda(lambda x: x.clamp_min_(0))),
    ],
    ids=[
        "sigmoid",
        "tanh",
        "hardswish",
        "hardsigmoid",
        "elu",
        "celu",
        "mish",
        "clamp",
        "clamp_min",
    ],
)
def test_in_place_forms_price_like_out_of_place(out_of_place, in_place):
    assert priced(out_of_place).other_ops == priced(in_place).other_ops == N


@pytest.mark.parametrize(
    ("module", "per_element"),
    [
        # statistics 3 (mean 1, variance 2) + normalise 2 + scale γ 1 + shift β 1
        (nn.GroupNorm(2, 4), 7),
        (nn.GroupNorm(2, 4, affine=False), 5),
        (nn.LayerNorm([3, 5]), 7),
        (nn.LayerNorm(5, bias=False), 6),
        (nn.LayerNorm(5, elementwise_affine=False), 5),
        # instance norm takes its statistics from the input even in eval
        (nn.InstanceNorm2d(4), 5),
        (nn.InstanceNorm2d(4, affine=True), 7),
        # batch norm with batch statistics (training) computes them too
        (Lambda(lambda x: F.batch_norm(x, None, None, training=True)), 5),
    ],
    ids=lambda m: repr(m) if isinstance(m, nn.Module) else str(m),
)
def test_norms_with_input_statistics(module, per_element):
    assert priced(module).other_ops == per_element * N


def test_rms_norm_decomposes_into_priced_operators():
    # x · rsqrt(mean(x², last dim) + eps) · w over 12 rows of 5: square 60, mean 60,
    # + eps on the 12 row means, rsqrt of 12, two multiplies of 60
    assert priced(nn.RMSNorm(5)).other_ops == 4 * N + 2 * 12


@pytest.mark.parametrize("module", [nn.Softmax(1), nn.LogSoftmax(-1), nn.Softmax2d()], ids=repr)
def test_softmax_is_exp_sum_divide_per_element(module):
    assert priced(module).other_ops == 3 * N


@pytest.mark.parametrize(
    ("module", "shape", "expected"),
    [
        # 2×3×4 → 2×6×8 = 96 outputs; two 2-tap sums along the width and one along the
        # height, each w0·a + w1·b (2 multiplies, 1 add)
        (nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4), 96 * (2 + 1) * 3),
        (
            Lambda(lambda x: F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=True)),
            (2, 3, 4),
            2 * 5 * 7 * (2 + 1) * 3,
        ),
        # 1-d: one 2-tap sum per output; 2×6 → 2×12
        (nn.Upsample(scale_factor=2, mode="linear"), (2, 6), 24 * 3),
        # 3-d: 4 + 2 + 1 two-tap sums; 1×2×2×3 → 1×4×4×6 = 96 outputs
        (nn.Upsample(scale_factor=2, mode="trilinear"), (1, 2, 2, 3), 96 * (4 + 2 + 1) * 3),
        # bicubic: four 4-tap sums along the width, one along the height, 4 mul + 3 add each
        (nn.Upsample(scale_factor=2, mode="bicubic"), (2, 3, 4), 96 * (4 + 1) * 7),
    ],
    ids=["bilinear", "bilinear-size-align-corners", "linear", "trilinear", "bicubic"],
)
def test_interpolating_upsample(module, shape, expected):
    assert priced(module, shape).other_ops == expected


COMPARISONS = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (torch.exp, N),
        (torch.sqrt, N),
        (torch.rsqrt, N),
        (torch.neg, N),
        (torch.abs, N),
        (lambda x: x.pow(2), N),
        (lambda x: x**x, N),
        (lambda x: 1 - x, N),
        # comparison 60 + select 60; the scalar 0 is a constant
        (lambda x: torch.where(x > 0, x, 0.0), 2 * N),
        # the six comparisons, against a scalar and against a tensor
        (
            lambda x: torch.stack(
                [compare(x, other) for compare in COMPARISONS for other in (0, x)]
            ),
            12 * N,
        ),
        # reductions: one add or compare per input element
        (lambda x: x.amax((2, 3)), N),
        (lambda x: x.amin(1), N),
        (lambda x: x.max(1).values, N),
        (lambda x: x.min(1).values, N),
        (lambda x: x.max(), N),
        (lambda x: x.min(), N),
        (lambda x: x.sum(), N),
        (lambda x: x.mean(), N),
        # 2-norm over channels 2 per input element, clamp of the 15 norms, divide 60
        (lambda x: F.normalize(x, dim=1), 2 * N + 15 + N),
    ],
    ids=[
        "exp",
        "sqrt",
        "rsqrt",
        "neg",
        "abs",
        "pow-scalar",
        "pow-tensor",
        "rsub",
        "where",
        "comparisons",
        "amax",
        "amin",
        "max-dim",
        "min-dim",
        "max",
        "min",
        "sum",
        "mean",
        "normalize",
    ],
)
def test_elementwise_and_reductions(fn, expected):
    assert priced(Lambda(fn)).other_ops == expected


def test_training_dropout_draws_scales_and_multiplies():
    # the random mask 60, its scaling by 1/(1-p) 60, the multiply 60
    assert priced(Lambda(lambda x: F.dropout(x, 0.5, training=True))).other_ops == 3 * N
    assert priced(Lambda(lambda x: torch.native_dropout(x, 0.5, True)[0])).other_ops == 3 * N
    # train=None means training to ATen
    assert priced(Lambda(lambda x: torch.native_dropout(x, 0.5, None)[0])).other_ops == 3 * N
    assert priced(Lambda(lambda x: torch.native_dropout(x, 0.5, False)[0])).other_ops == 0


def test_lstm_step_is_fully_priced():
    # LSTM(5, 3), one step over a batch of 4 rows (input 1×4×5). Per row:
    # gates = W_ih x + b_ih + W_hh h + b_hh: (5 + 3)·4·3 MACs, 2 bias adds + 1 sum on 12 gates;
    # 4 activations on 12; c = f⊙c + i⊙g: 3·3; h = o⊙tanh(c): 2·3
    result = cost(nn.LSTM(5, 3), (4, 5))
    assert not result.unknown_ops(), result.unknown_ops()
    assert result.macs == 4 * (5 + 3) * 12
    assert result.other_ops == 4 * (3 * 12 + 12 + 3 * 3 + 2 * 3)


ZERO_COST = {
    "zeros": lambda x: torch.zeros(3, device=x.device),
    "ones": lambda x: torch.ones(3, device=x.device),
    "full": lambda x: torch.full((3,), 2.0, device=x.device),
    "new_zeros": lambda x: x.new_zeros(3),
    "new_ones": lambda x: x.new_ones(3),
    "new_full": lambda x: x.new_full((3,), 2.0),
    "ones_like": torch.ones_like,
    "full_like": lambda x: torch.full_like(x, 2.0),
    "fill_": lambda x: x.fill_(2.0),
    "zero_": lambda x: x.zero_(),
    "unbind": lambda x: torch.unbind(x, 1)[0],
    "unsafe_split": lambda x: torch.unsafe_chunk(x, 2, 1)[0],
    "unsafe_split_with_sizes": lambda x: torch.unsafe_split_with_sizes(x, [1, 3], 1)[1],
    "upsample_nearest": nn.Upsample(scale_factor=2),
    "upsample_nearest_exact": nn.Upsample(scale_factor=2, mode="nearest-exact"),
    "upsample_nearest_1d": lambda x: F.interpolate(x.flatten(2), scale_factor=2),
    "upsample_nearest_3d": lambda x: F.interpolate(x.unsqueeze(2), scale_factor=2),
    "upsample_nearest_exact_1d": lambda x: F.interpolate(
        x.flatten(2), scale_factor=2, mode="nearest-exact"
    ),
    "upsample_nearest_exact_3d": lambda x: F.interpolate(
        x.unsqueeze(2), scale_factor=2, mode="nearest-exact"
    ),
    "pixel_shuffle_unshuffle": lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2),
    "repeat": lambda x: x.repeat(1, 2, 1, 1),
    "flip": lambda x: x.flip(-1),
    "roll": lambda x: x.roll(1, -1),
}


@pytest.mark.parametrize("fn", ZERO_COST.values(), ids=ZERO_COST.keys())
def test_allocating_filling_and_moving_ops_are_known_and_free(fn):
    module = fn if isinstance(fn, nn.Module) else Lambda(fn)
    assert priced(module).other_ops == 0
