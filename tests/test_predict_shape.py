"""The shape model of predict: GEMM shapes of convs and matmuls, tile and wave
quantization worked out by hand, the flash-attention rule, and the fit's stacked evaluation
equal to the per-sample closed form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_predict import _figure, profile_dict
from torch import nn

from incprof.analysis.fit import Sample, _Columns, stacks, total_s
from incprof.analysis.memory import op_bytes
from incprof.analysis.predict import gemm_shape, quantization, work
from incprof.analysis.profiles import from_dict
from incprof.analysis.trace import trace_module

aten = torch.ops.aten


def test_a_grouped_conv_is_one_gemm_per_group() -> None:
    conv = nn.Conv2d(8, 16, 3, padding=1, groups=2, bias=False)
    trace = trace_module(conv, (8, 10, 10), batch=2)
    (op,) = [o for o in trace.ops if o.func == aten.convolution.default]
    # M = batch × output pixels, N = 16/2 output channels, K = 8/2 × 3 × 3.
    assert gemm_shape(op) == (2, 2 * 10 * 10, 8, 4 * 9)


def test_a_depthwise_conv_is_priced_as_dwconv() -> None:
    trace = trace_module(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (8, 6, 6))
    *casts, row = [w for w in work(trace, dtype="fp16") if w.kernel]
    assert row.category == "dwconv" and row.gemm == (8, 36, 1, 9)
    # fp16 is autocast: the fp32 input (8·36 elements) and weight (8·9) are cast first,
    # each read at 4 bytes and written at 2.
    assert [(c.operator, c.bytes) for c in casts] == [
        ("_to_copy", 6 * 8 * 36),
        ("_to_copy", 6 * 72),
    ]


def test_a_linear_is_an_addmm_gemm() -> None:
    trace = trace_module(nn.Linear(32, 24), (32,), batch=5)
    (op,) = [o for o in trace.ops if o.func == aten.addmm.default]
    assert gemm_shape(op) == (1, 5, 24, 32)


@pytest.mark.parametrize(
    ("gemm", "sms", "expected"),
    [
        ((1, 256, 128, 64), 1, 1.0),  # one 256×128 tile, K a multiple of 32
        ((1, 256, 128, 64), 2, 1.0),  # two 128×128 tiles fill both SMs at full rate
        ((1, 256, 128, 33), 1, 64 / 33),  # K padded to 64
        # 64×64 at 0.75 leaves three SMs idle (4/0.75); two 64×32 tiles at 0.6 leave two (2/0.6)
        ((1, 64, 64, 32), 4, 2 / 0.6),
        ((1, 1, 1, 32), 1, 64 * 32 / 0.6),  # the smallest tile for one output
    ],
)
def test_quantization_by_hand(gemm, sms, expected) -> None:
    assert quantization(gemm, sms, "tensor") == pytest.approx(expected)


class Attention(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x, x * 2, x * 3)


def test_attention_runs_as_one_fused_kernel_not_its_math_decomposition() -> None:
    trace = trace_module(Attention(), (2, 16, 8))
    rows = work(trace, dtype="fp32")
    softmax = [o for o in trace.ops if o.func == aten._safe_softmax.default]
    assert softmax and not rows[softmax[0].index].kernel
    scores = 2 * 16 * 16 * 4  # (heads, queries, keys) fp32
    for op in trace.ops:
        if op.func == aten.bmm.default:
            assert rows[op.index].bytes == sum(op_bytes(op, torch.float32)) - scores
    assert not any(rows[o.index].kernel for o in trace.ops if o.func == aten.clone.default)


def test_the_stacked_fit_evaluation_equals_the_closed_form() -> None:
    data = profile_dict(peak=100.0, bandwidth=500.0, launch=5.0, gap=1.0)
    data["sm_count"] = _figure(4)
    data["peak_tflops"]["fp16"] = _figure(400.0)
    profile = from_dict(data, origin="test")
    nets = [
        (
            nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3, groups=16)),
            (3, 20, 20),
        ),
        (nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 10)), (64,)),
    ]
    samples = [
        Sample(str(i), work(trace_module(net, shape, batch=4), dtype="fp16"), "fp16", "eager", 1e-3)
        for i, (net, shape) in enumerate(nets)
    ]
    (stack,) = stacks(samples)
    expected = [total_s(_Columns(s.ops), profile, dtype="fp16", mode="eager") for s in samples]
    assert list(stack.totals(profile)) == pytest.approx(expected, rel=1e-12)
