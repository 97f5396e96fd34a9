"""Formulas of the multiply-accumulate operators: convolutions and matrix products
(``macs``; a bias add is ``other_ops``, 1 per output element)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from incprof.analysis.formula_table import Cost, _numel, formula

aten = torch.ops.aten


def conv_macs(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    output_shape: Sequence[int],
    *,
    transposed: bool = False,
) -> int:
    """MACs of an N-d convolution; groups are implied by the weight's channel dimension.

    Forward: every output element sums C_in/groups · prod(kernel) products, and the
    weight's second dimension is exactly C_in/groups. Transposed: every *input* element
    scatters into C_out/groups · prod(kernel) outputs, the weight being (C_in, C_out/g, k…).
    """
    per_position = _numel(weight_shape[1:])
    if transposed:
        return _numel(input_shape) * per_position
    return _numel(output_shape) * per_position


@formula(aten.convolution.default, aten._convolution.default)
def _convolution(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    x, w, bias = args[0], args[1], args[2]
    transposed = bool(args[6])
    macs = conv_macs(x.shape, w.shape, out.shape, transposed=transposed)
    return Cost(macs, out.numel() if bias is not None else 0, "conv")


def matmul_macs(a_shape: Sequence[int], b_shape: Sequence[int]) -> int:
    """MACs of (…, m, k) @ (…, k, n): m · k · n per batch element."""
    batch = _numel(a_shape[:-2]) if len(a_shape) > 2 else 1
    return batch * a_shape[-2] * a_shape[-1] * b_shape[-1]


@formula(aten.mm.default, aten.bmm.default)
def _mm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(matmul_macs(args[0].shape, args[1].shape), 0, "linear")


@formula(aten.addmm.default)
def _addmm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(matmul_macs(args[1].shape, args[2].shape), out.numel(), "linear")
