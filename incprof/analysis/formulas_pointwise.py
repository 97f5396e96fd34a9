"""Formulas of the per-element operators: norms, activations, softmax, element-wise
arithmetic and dropout (``other_ops``, by the conventions of :mod:`incprof.analysis.formulas`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from incprof.analysis.formula_table import Cost, _out_numel, formula

aten = torch.ops.aten


def input_statistics_norm_ops(numel: int, weight: Any, bias: Any) -> int:
    """Ops of a norm whose mean and variance are computed from the input it normalises.

    Per element: the mean 1 (accumulate), the variance 2 (square and accumulate, as
    E[x²] − mean²), normalising 2 (subtract the mean, scale by 1/std), and 1 for each of the
    affine scale γ and shift β present. Eval batch norm folds normalise and affine into one
    constant scale and shift (2); here the statistics change with every input, so each step
    is an operation of its own.
    """
    return numel * (5 + (weight is not None) + (bias is not None))


@formula(aten._native_batch_norm_legit_no_training.default)
def _batch_norm_eval(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, 2 * args[0].numel(), "batch_norm")


@formula(
    aten._native_batch_norm_legit.default,
    aten.native_batch_norm.default,
    aten._native_batch_norm_legit_functional.default,
)
def _batch_norm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """Running statistics (eval): 2 per element. Batch statistics (``training``, which
    instance norm also passes in eval) are computed from the input, priced like layer norm."""
    x, weight, bias, training = args[0], args[1], args[2], args[5]
    if training:
        return Cost(0, input_statistics_norm_ops(x.numel(), weight, bias), "batch_norm")
    return Cost(0, 2 * x.numel(), "batch_norm")


@formula(aten.native_layer_norm.default)
def _layer_norm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    x, weight, bias = args[0], args[2], args[3]
    return Cost(0, input_statistics_norm_ops(x.numel(), weight, bias), "norm")


@formula(aten.native_group_norm.default)
def _group_norm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    x, weight, bias = args[0], args[1], args[2]
    return Cost(0, input_statistics_norm_ops(x.numel(), weight, bias), "norm")


@formula(aten.linalg_vector_norm.default)
def _vector_norm(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """2 per input element: its power (|x|^p) and its accumulation; the root is per row."""
    return Cost(0, 2 * args[0].numel(), "norm")


@formula(
    aten.relu.default,
    aten.relu_.default,
    aten.hardtanh.default,
    aten.hardtanh_.default,
    aten.leaky_relu.default,
    aten.leaky_relu_.default,
    aten._prelu_kernel.default,
    aten.sigmoid.default,
    aten.sigmoid_.default,
    aten.tanh.default,
    aten.tanh_.default,
    aten.gelu.default,
    aten.silu.default,
    aten.silu_.default,
    aten.hardswish.default,
    aten.hardswish_.default,
    aten.hardsigmoid.default,
    aten.hardsigmoid_.default,
    aten.elu.default,
    aten.elu_.default,
    aten.celu.default,
    aten.celu_.default,
    aten.mish.default,
    aten.mish_.default,
    aten.softplus.default,
)
def _activation(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """1 per element, however the function is built: hardswish's clamp, multiply and divide
    priced apart would make it dearer than the SiLU it approximates. SELU reaches ``elu``."""
    return Cost(0, _out_numel(out), "activation")


@formula(aten._softmax.default, aten._log_softmax.default, aten._safe_softmax.default)
def _softmax(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """3 per element: exp, its share of the sum, the divide (log-softmax: the subtraction
    of the log of the sum). The row maximum kernels subtract for stability is not counted;
    ``_safe_softmax`` (attention's masked rows set to 0) is priced as softmax."""
    return Cost(0, 3 * _out_numel(out), "softmax")


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
    aten.add_.Scalar,
    aten.mul.Scalar,
    aten.div_.Scalar,
    aten.rsub.Scalar,
    aten.neg.default,
    aten.abs.default,
    aten.exp.default,
    aten.sqrt.default,
    aten.rsqrt.default,
    aten.pow.Tensor_Scalar,
    aten.pow.Tensor_Tensor,
    aten.clamp.default,
    aten.clamp_.default,
    aten.clamp_min.default,
    aten.clamp_min_.default,
    aten.eq.Scalar,
    aten.eq.Tensor,
    aten.ne.Scalar,
    aten.ne.Tensor,
    aten.lt.Scalar,
    aten.lt.Tensor,
    aten.le.Scalar,
    aten.le.Tensor,
    aten.gt.Scalar,
    aten.gt.Tensor,
    aten.ge.Scalar,
    aten.ge.Tensor,
    aten.where.self,
    aten.floor_divide.default,  # pointwise, but not tagged so
)
def _elementwise(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, _out_numel(out), "elementwise")


@formula(aten.bernoulli_.float)
def _random_mask(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """1 per element: one random draw (training dropout's mask, stochastic depth)."""
    return Cost(0, _out_numel(out), "dropout")


@formula(aten.native_dropout.default)
def _native_dropout(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """Training: 3 per element, as the eager path prices it (draw the mask, scale it by
    1/(1 − p), multiply). ``train=False`` is a copy; ATen reads ``None`` as training."""
    train = args[2] if len(args) > 2 else kwargs.get("train")
    if train is False:
        return Cost(0, 0, "data_movement")
    return Cost(0, 3 * args[0].numel(), "dropout")
