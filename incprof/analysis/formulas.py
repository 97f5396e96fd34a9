"""Cost formulas: pure functions of an operator's shapes and hyperparameters.

Each formula takes the operator's arguments and its output (meta tensors are fine: only
shapes are read) and returns a :class:`Cost`. They are registered per ATen operator by
:func:`formula`, which refuses a second registration, so one operator has one convention.

Conventions (DESIGN.md): ``macs`` are the multiply-accumulates of convolutions and matrix
products, bias adds excluded. Everything else is ``other_ops``, one op per elementary
operation on an output element:

=====================  =====================================================
bias add               1 per output element
batch norm (eval)      2 per element (the folded per-channel scale and shift)
activation             1 per element
add / sub / mul / div  1 per output element
max / avg pool         k_h · k_w per output element (one per window element)
adaptive avg pool      the bin's size per output element
mean                   1 per input element
concat, views, pads    0 (data movement)
=====================  =====================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

aten = torch.ops.aten


class Cost(NamedTuple):
    macs: int = 0
    other_ops: int = 0
    category: str = "other"


Formula = Callable[[Sequence[Any], dict[str, Any], Any], Cost]

FORMULAS: dict[Any, Formula] = {}


def formula(*ops: Any) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the formula of each ATen overload in ``ops``; twice raises."""

    def register(fn: Formula) -> Formula:
        for op in ops:
            if op in FORMULAS:
                raise ValueError(f"a formula for {op} is already registered")
            FORMULAS[op] = fn
        return fn

    return register


def _numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _out_numel(out: Any) -> int:
    if isinstance(out, tuple | list):
        out = out[0]
    return out.numel()


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


@formula(
    aten._native_batch_norm_legit_no_training.default,
    aten._native_batch_norm_legit.default,
    aten.native_batch_norm.default,
    aten._native_batch_norm_legit_functional.default,
)
def _batch_norm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, 2 * args[0].numel(), "batch_norm")


@formula(
    aten.relu.default,
    aten.relu_.default,
    aten.hardtanh.default,
    aten.hardtanh_.default,
    aten.leaky_relu.default,
    aten.leaky_relu_.default,
    aten.sigmoid.default,
    aten.tanh.default,
    aten.gelu.default,
    aten.silu.default,
    aten.silu_.default,
)
def _activation(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, _out_numel(out), "activation")


@formula(
    aten.add.Tensor,
    aten.add_.Tensor,
    aten.sub.Tensor,
    aten.sub_.Tensor,
    aten.mul.Tensor,
    aten.mul_.Tensor,
    aten.div.Tensor,
    aten.div_.Tensor,
    aten.add.Scalar,
    aten.mul.Scalar,
)
def _elementwise(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, _out_numel(out), "elementwise")


def _pool_window(kernel: Sequence[int]) -> int:
    return _numel(kernel) if len(kernel) > 1 else kernel[0] ** 2


@formula(aten.max_pool2d_with_indices.default, aten.avg_pool2d.default, aten.max_pool2d.default)
def _pool2d(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, _out_numel(out) * _pool_window(args[1]), "pool")


def adaptive_bins(in_size: int, out_size: int) -> int:
    """Total length of the bins adaptive pooling uses along one axis (bins may overlap)."""
    return sum(
        -(-(i + 1) * in_size // out_size) - (i * in_size // out_size) for i in range(out_size)
    )


@formula(aten._adaptive_avg_pool2d.default, aten.adaptive_max_pool2d.default)
def _adaptive_pool2d(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    x = args[0]
    out_h, out_w = _out_numel_shape(out)[-2:]
    channels = _numel(x.shape[:-2])
    window = adaptive_bins(x.shape[-2], out_h) * adaptive_bins(x.shape[-1], out_w)
    return Cost(0, channels * window, "pool")


def _out_numel_shape(out: Any) -> Sequence[int]:
    return (out[0] if isinstance(out, tuple | list) else out).shape


@formula(aten.mean.dim, aten.sum.dim_IntList)
def _reduction(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, args[0].numel(), "pool")


# Operators that only move or relabel data: known, and free.
DATA_MOVEMENT = frozenset(
    {
        aten.cat.default,
        aten.stack.default,
        aten.view.default,
        aten._unsafe_view.default,
        aten.reshape.default,
        aten.t.default,
        aten.transpose.int,
        aten.permute.default,
        aten.expand.default,
        aten.squeeze.dim,
        aten.squeeze.dims,
        aten.unsqueeze.default,
        aten.flatten.using_ints,
        aten.slice.Tensor,
        aten.select.int,
        aten.split.Tensor,
        aten.split_with_sizes.default,
        aten.clone.default,
        aten.alias.default,
        aten.detach.default,
        aten.contiguous.default,
        aten._to_copy.default,
        aten.copy_.default,
        aten.constant_pad_nd.default,
        aten.empty.memory_format,
        aten.empty_like.default,
        aten.zeros_like.default,
        aten.new_empty.default,
        aten.dropout.default,
        aten.native_dropout.default,
        aten.lift_fresh.default,
    }
)


def cost_of(op: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost | None:
    """The cost of one operator call, or None when no formula knows the operator."""
    if op in FORMULAS:
        return FORMULAS[op](args, kwargs, out)
    if op in DATA_MOVEMENT:
        return Cost(0, 0, "data_movement")
    return None
