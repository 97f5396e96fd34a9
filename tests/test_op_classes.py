"""Operators priced by class, "known and free" kept apart from "unknown", a user's custom
operator priced with one decorator, and Conv1d / Conv3d models in closed form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_nets import Lambda
from torch import nn

from incprof.analysis.analytic import analyze_module
from incprof.analysis.formulas import FORMULAS, Cost, formula
from incprof.analysis.memory import traffic
from incprof.analysis.trace import trace_module

aten = torch.ops.aten


def ops_of(fn, shape):
    """(other ops, by-operator table) of ``fn`` on a batch-1 input, no operator unknown."""
    result = analyze_module(Lambda(fn), shape)
    assert result.unknown_ops() == {}, result.unknown_ops()
    assert result.macs == 0
    return result.other_ops, result.by_operator()


# (2, 3, 4) input: 24 elements.
@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        # pointwise (torch.Tag.pointwise): 1 per output element
        (torch.cos, 24),
        (torch.special.erf, 24),
        (lambda x: torch.addcmul(x, x, x), 24),
        (lambda x: torch.bitwise_not(x > 0), 24 + 24),  # the compare, then the not
        (lambda x: x.clone().masked_fill_(x > 0, 0.0), 24 + 24),  # in-place: its twin's tag
        # reductions (torch.Tag.reduction) and scans: 1 per input element
        (lambda x: x.var(dim=-1), 24),
        (lambda x: x.cumsum(-1), 24),
        (lambda x: x.argmax(-1), 24),
        (lambda x: torch.floor_divide(x, 2.0), 24),  # pointwise, though not tagged so
        (lambda x: torch._assert_async(x.sum() > -1) or x, 24 + 1),  # check free: sum, compare
        # softmax variants: 3 per element
        (lambda x: aten._safe_softmax(x, -1), 3 * 24),
        # views, in-place views, data movement, creation: known, 0 (only the adds count)
        (lambda x: x.unfold(-1, 2, 2), 0),
        (lambda x: x.clone().transpose_(1, 2), 0),
        (lambda x: x.clone().as_strided_((24,), (1,)), 0),
        (lambda x: x[:, torch.arange(2, device=x.device) * 2], 2),  # the index's multiply
        (
            lambda x: torch.gather(
                x, 2, torch.zeros((1, 2, 3, 1), dtype=torch.long, device=x.device)
            ),
            0,
        ),
        (lambda x: F.pad(x[0], (1, 1), mode="reflect"), 0),
        (lambda x: F.pad(x[0], (1, 1), mode="replicate"), 0),
        (lambda x: x + torch.arange(4, device=x.device) + torch.eye(4, device=x.device)[0], 48),
    ],
)
def test_operator_classes_are_priced(fn, expected):
    other_ops, table = ops_of(fn, (2, 3, 4))
    assert other_ops == expected
    assert all(row["known"] for row in table.values())


def test_im2col_moves_data_and_col2im_adds_what_it_folds():
    # F.unfold / F.fold on 1×2×4×4, 2×2 patches, stride 2: im2col only copies; col2im adds
    # each of its 1×8×4 = 32 values into place.
    other_ops, table = ops_of(
        lambda x: F.fold(F.unfold(x, 2, stride=2), (4, 4), 2, stride=2), (2, 4, 4)
    )
    assert table["im2col"]["other_ops"] == 0 and table["col2im"]["other_ops"] == 32
    assert other_ops == 32


def test_accumulating_put_counts_its_adds():
    # index_put_ with accumulate: 2 rows of 4 values added; without: a copy.
    def put(accumulate):
        def fn(x):
            rows = torch.arange(2, device=x.device)
            return x[0, 0].clone().index_put_((rows,), x[0, 0, :2], accumulate=accumulate)

        return fn

    assert ops_of(put(True), (2, 3, 4))[0] == 8
    assert ops_of(put(False), (2, 3, 4))[0] == 0


def test_antialiased_bicubic_widens_its_taps():
    # 1×1×8×8 → 4×4: downsampling by 2 widens bicubic's 4 taps to 8 on each axis; separable:
    # one 8-tap pass (15 ops) on the last axis per tap of the other (8), then one (15).
    resize = Lambda(lambda x: F.interpolate(x, size=(4, 4), mode="bicubic", antialias=True))
    result = analyze_module(resize, (1, 8, 8))
    assert result.unknown_ops() == {}
    assert result.other_ops == 16 * (8 * 15 + 15)


def test_max_pool3d_prices_its_window():
    # 1×2×4×4×4, 2×2×2 windows: 2·2·2·2 = 16 outputs, 8 compares each.
    result = analyze_module(nn.MaxPool3d(2), (2, 4, 4, 4))
    assert result.unknown_ops() == {} and result.other_ops == 16 * 8


@torch.library.custom_op("incprof_tests::scaled", mutates_args=())
def scaled(x: torch.Tensor, factor: float) -> torch.Tensor:
    return x * factor


@scaled.register_fake
def _(x: torch.Tensor, factor: float) -> torch.Tensor:
    return torch.empty_like(x)


class Twice(torch.autograd.Function):
    """A Python autograd Function whose forward runs the custom operator."""

    @staticmethod
    def forward(ctx, x):
        return scaled(x, 2.0)

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad


class CustomNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 1, bias=False)
        self.head = Lambda(lambda x: scaled(x, 0.5))
        self.tail = Lambda(Twice.apply)

    def forward(self, x):
        return self.tail(self.head(self.stem(x)).view(1, -1))


def test_custom_operator_is_unknown_with_its_modules_until_priced():
    result = analyze_module(CustomNet(), (2, 3, 3))
    assert result.unknown_ops() == {"scaled": 2}
    assert result.unknown_op_modules() == {"scaled": ("head", "tail")}
    table = result.by_operator()
    assert table["scaled"]["known"] is False and table["view"]["known"] is True
    rows = {r["module"]: r for r in result.by_module()}
    assert rows["head"]["unknown_ops"] == "scaled×1" and rows["stem"]["unknown_ops"] == ""
    assert result.macs == 4 * 2 * 9  # the 1×1 conv: 36 outputs × 2 inputs

    @formula(scaled)  # a custom_op object, as torch.library returned it
    def _scaled(args, kwargs, out):
        return Cost(0, out.numel(), "elementwise")

    try:
        priced = analyze_module(CustomNet(), (2, 3, 3))
        assert priced.unknown_ops() == {} and priced.other_ops == 2 * 36
        with pytest.raises(ValueError, match="already registered"):
            formula(torch.ops.incprof_tests.scaled)(_scaled)  # the packet: same overload
    finally:
        del FORMULAS[torch.ops.incprof_tests.scaled.default]


@torch.library.custom_op("incprof_tests::cos", mutates_args=(), tags=(torch.Tag.pointwise,))
def user_cos(x: torch.Tensor) -> torch.Tensor:
    return x.cos()


@user_cos.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def test_operator_classes_price_aten_only():
    # A user's "cos", tagged pointwise even, is not torch's: unknown until a formula prices it.
    result = analyze_module(Lambda(user_cos), (2, 3))
    assert result.unknown_ops() == {"cos": 1}
    with pytest.raises(TypeError, match="not an operator overload"):
        formula("incprof_tests::cos")


def test_conv1d_model_in_closed_form():
    # (4, 32) → Conv1d(4, 8, 3, stride 2): 15 outputs × 8 channels × 4·3 products;
    # then Conv1d(8, 8, 1): 15 × 8 × 8. Kernel text of a one-element stride: "3/2".
    model = nn.Sequential(nn.Conv1d(4, 8, 3, stride=2, bias=False), nn.Conv1d(8, 8, 1))
    result = analyze_module(model, (4, 32))
    assert result.macs == 15 * 8 * 4 * 3 + 15 * 8 * 8
    assert result.params == 8 * 4 * 3 + 8 * 8 + 8
    rows = {r["module"]: r for r in result.by_module()}
    assert rows["0"]["kernel"] == "3/2" and rows["1"]["kernel"] == "1"


def test_conv3d_model_in_closed_form():
    # (3, 4, 8, 8) → Conv3d(3, 6, (1, 3, 3), stride (1, 2, 2), padding (0, 1, 1)):
    # 4×4×4 outputs × 6 channels × 3·9 products; kernel "1x3x3/1x2x2".
    conv = nn.Conv3d(3, 6, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
    result = analyze_module(nn.Sequential(conv), (3, 4, 8, 8))
    assert result.macs == 4 * 4 * 4 * 6 * 3 * 9
    assert result.by_module()[0]["kernel"] == "1x3x3/1x2x2"


def test_in_place_views_move_no_bytes():
    # clone reads and writes 24 floats; transpose_ and as_strided_ only relabel them.
    fn = Lambda(lambda x: x.clone().transpose_(1, 2).as_strided_((24,), (1,)))
    rows = {r.operator: r for r in traffic(trace_module(fn, (2, 3, 4)))}
    assert rows["clone"].bytes_moved == 2 * 24 * 4
    assert rows["transpose_"].bytes_moved == rows["as_strided_"].bytes_moved == 0
