"""Autocast's dtype flow in the predicted work: which tensors are half, which stay fp32, and
the cast kernels autocast runs, each checked against the bytes counted by hand."""

from __future__ import annotations

import torch
from torch import nn

from incprof.analysis.predict import work
from incprof.analysis.predict_work import CAST
from incprof.analysis.trace import trace_module


def _kernels(module: nn.Module, shape: tuple[int, ...], dtype: str, batch: int = 1):
    return [w for w in work(trace_module(module, shape, batch=batch), dtype=dtype) if w.kernel]


def test_a_linear_casts_its_fp32_input_weight_and_bias_and_writes_half() -> None:
    # 5 × 32 fp32 input, 24 × 32 weight, 24 bias: each cast (4 bytes read, 2 written), then
    # the addmm reads the three at 2 bytes and writes 5 × 24 at 2.
    rows = _kernels(nn.Linear(32, 24), (32,), "fp16", batch=5)
    casts = sorted(w.bytes for w in rows if w.operator == CAST)
    assert casts == sorted([6 * 5 * 32, 6 * 24 * 32, 6 * 24])
    (addmm,) = [w for w in rows if w.operator == "addmm"]
    assert addmm.bytes == 2 * (24 + 5 * 32 + 24 * 32) + 2 * 5 * 24
    assert rows[-1] is addmm  # the casts run before it


def test_strict_fp32_and_tf32_run_no_casts() -> None:
    for dtype in ("fp32", "tf32"):
        rows = _kernels(nn.Linear(32, 24), (32,), dtype, batch=5)
        assert [w.operator for w in rows] == ["addmm"]
        assert rows[0].bytes == 4 * (24 + 5 * 32 + 24 * 32) + 4 * 5 * 24


class LinearNormRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.norm = nn.Linear(8, 16, bias=False), nn.LayerNorm(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.fc(x)))


def test_a_layer_norm_runs_in_fp32_after_a_cast_up_and_what_follows_stays_fp32() -> None:
    rows = _kernels(LinearNormRelu(), (8,), "bf16", batch=4)
    ops = [w.operator for w in rows]
    # input and weight cast down, mm; the half output cast up, the norm; the ReLU.
    assert ops == [CAST, CAST, "mm", CAST, "native_layer_norm", "relu"]
    assert rows[3].bytes == (2 + 4) * 4 * 16
    assert rows[-1].bytes == 2 * 4 * 4 * 16  # fp32 in, fp32 out


class ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.scale = nn.Parameter(torch.ones(8, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return y * self.scale  # a half tensor times an fp32 parameter: fp32


def test_batch_norm_keeps_half_data_and_an_fp32_parameter_promotes() -> None:
    rows = _kernels(ConvBnRelu().eval(), (3, 6, 6), "fp16", batch=2)
    elements = 2 * 8 * 6 * 6
    relu = next(w for w in rows if w.operator.startswith("relu"))
    assert relu.bytes == 2 * 2 * elements  # half in, half out
    mul = next(w for w in rows if w.operator == "mul")
    assert mul.bytes == 2 * elements + 4 * 8 + 4 * elements


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


def test_a_weight_is_cast_once_per_forward() -> None:
    # autocast caches the cast of a parameter: the fp32 input and the weight once each.
    rows = _kernels(Twice(), (16,), "fp16", batch=3)
    assert [w.operator for w in rows] == [CAST, CAST, "mm", "mm"]
