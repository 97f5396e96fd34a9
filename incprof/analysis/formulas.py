"""Cost formulas: pure functions of an operator's shapes and hyperparameters.

Each formula takes the operator's arguments and its output (meta tensors are fine: only
shapes are read) and returns a :class:`Cost`. They are registered per ATen operator by
:func:`formula`, which refuses a second registration, so one operator has one convention.

Conventions (DESIGN.md): ``macs`` are the multiply-accumulates of convolutions and matrix
products, bias adds excluded. Everything else is ``other_ops``, one op per elementary
operation on an output element (per-row or per-group scalars, such as a norm's 1/std, are
not counted: they scale with rows, not elements):

========================  ==================================================================
bias add                  1 per output element
batch norm (eval)         2 per element (the folded per-channel scale and shift)
layer / group norm        5 per element (mean 1, variance 2, normalise 2) + 1 per γ, β present
instance / training BN    as layer / group norm: the statistics come from the input
activation                1 per element, whatever its formula (hardswish, PReLU, Mish …)
softmax, log_softmax      3 per element (exp, sum, divide or subtract the log of the sum)
add / sub / mul / div     1 per output element
exp, sqrt, pow, clamp …   1 per output element (unary math, clamp, compare, where)
max / avg pool            k_h · k_w per output element (one per window element)
adaptive avg pool         the bin's size per output element
mean, sum, max, min       1 per input element
vector norm               2 per input element (the element's power and its accumulation)
(bi/tri)linear upsample   3 · (1 + 2 + … + 2^(d-1)) per output element: 9 in 2-d
bicubic upsample          7 · (1 + 4) = 35 per output element
anti-aliased (``_aa``)    as above, the taps per axis widened by the downsampling factor
fold (``col2im``)         1 per value folded (overlapping patches add)
accumulating puts         1 per value put (``index_put`` with ``accumulate``, ``index_add``,
                          ``scatter_add``, ``scatter_reduce``); a plain put is a copy, 0
dropout (training)        3 per element (draw the mask, scale it, multiply); eval 0
nearest upsample          0 (a copy)
concat, views, pads       0 (data movement)
allocate, fill, split     0 (data movement)
========================  ==================================================================

Operators without a formula of their own are priced by class (:func:`cost_of`), so a
model nobody here wrote comes out priced, not unknown:

========================  ==================================================================
pointwise                 1 per output element: ``torch.Tag.pointwise`` on the overload (or
                          on the out-of-place twin of an in-place one): ``cos``, ``erf``,
                          ``addcmul``, ``bitwise_not``, ``masked_fill`` (a select, as
                          ``where``) …, the convention of add / mul / exp above
reduction                 1 per input element: ``torch.Tag.reduction`` (``var``, ``argmax``,
                          ``any`` …) and the scans of :data:`SCANS` (``cumsum`` …)
view                      0: ``is_view`` overloads and ``torch.Tag.inplace_view`` ones
                          (``unfold``, ``as_strided_``, ``transpose_``)
data movement             0: :data:`GATHER_SCATTER` (``index``, ``gather``, ``scatter``,
                          ``im2col``, reflection / replication padding,
                          ``embedding`` …): no arithmetic, their bytes counted as any op's
check                     0: ``_assert_async`` and the other runtime checks of :data:`CHECKS`
creation                  0: an overload with no tensor argument (``arange``, ``eye``,
                          ``full``, ``scalar_tensor``, ``randn`` …)
anything else             unknown: reported with the modules that ran it, never zero
========================  ==================================================================

A known operator that costs nothing and an unknown one are different answers: ``cost_of``
returns a zero :class:`Cost` for the first and None for the second.

Only operators that reach the dispatcher are registered: composite overloads such as
``upsample_bilinear2d.vec`` decompose into the ``.default`` ones before they are seen.
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
    """Register ``fn`` as the formula of each operator in ``ops``; twice raises.

    An operator is an overload (``torch.ops.mylib.op.default``), a packet
    (``torch.ops.mylib.op``: all its overloads) or what ``torch.library.custom_op``
    returned. ``fn(args, kwargs, out)`` reads shapes (``x.shape``, ``x.numel()``) and
    returns a :class:`Cost`; this is how a user prices a custom operator.
    """
    overloads = [o for op in ops for o in _overloads(op)]

    def register(fn: Formula) -> Formula:
        for op in overloads:
            if op in FORMULAS:
                raise ValueError(f"a formula for {op} is already registered")
        for op in overloads:
            FORMULAS[op] = fn
        return fn

    return register


def _overloads(op: Any) -> list[Any]:
    """The ATen overloads ``op`` names (see :func:`formula`)."""
    op = getattr(op, "_opoverload", op)  # a torch.library.custom_op
    if isinstance(op, torch._ops.OpOverloadPacket):
        return [getattr(op, name) for name in op.overloads()]
    if isinstance(op, torch._ops.OpOverload):
        return [op]
    raise TypeError(f"not an operator overload: {op!r}")


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


def _pool_window(kernel: Sequence[int], spatial_dims: int) -> int:
    return _numel(kernel) if len(kernel) > 1 else kernel[0] ** spatial_dims


@formula(
    aten.max_pool2d_with_indices.default,
    aten.avg_pool2d.default,
    aten.max_pool2d.default,
    aten.max_pool3d_with_indices.default,
    aten.avg_pool3d.default,
)
def _pool(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    spatial_dims = len(_out_numel_shape(out)) - 2
    return Cost(0, _out_numel(out) * _pool_window(args[1], spatial_dims), "pool")


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


@formula(
    aten.mean.dim,
    aten.mean.default,
    aten.sum.dim_IntList,
    aten.sum.default,
    aten.amax.default,
    aten.amin.default,
    aten.max.dim,
    aten.max.default,
    aten.min.dim,
    aten.min.default,
)
def _reduction(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """1 per input element: one add or compare each (a global pool when over H and W)."""
    return Cost(0, args[0].numel(), "pool")


def interpolation_ops(taps: int, spatial_dims: int) -> int:
    """Ops per output element of separable interpolation with ``taps`` inputs per axis.

    Interpolating the last axis first takes taps^(d−1) one-axis interpolations, the next
    axis taps^(d−2), down to one; each is a weighted sum of ``taps`` inputs (``taps``
    multiplies, ``taps`` − 1 adds). The weights depend on the row or column only, so they
    are per-row scalars. Bilinear: (2 + 1) · 3 = 9; bicubic: (4 + 1) · 7 = 35.
    """
    return separable_ops([taps] * spatial_dims)


def separable_ops(taps: Sequence[int]) -> int:
    """Ops per output element of separable interpolation with ``taps[i]`` inputs on axis i.

    The last axis is interpolated first, once for each combination of the taps of the
    axes before it; each one-axis interpolation of ``t`` inputs is ``2t − 1`` ops.
    """
    return sum(math.prod(taps[:axis]) * (2 * taps[axis] - 1) for axis in range(len(taps)))


@formula(
    aten.upsample_linear1d.default,
    aten.upsample_bilinear2d.default,
    aten.upsample_trilinear3d.default,
)
def _linear_upsample(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, out.numel() * interpolation_ops(2, out.dim() - 2), "upsample")


@formula(aten.upsample_bicubic2d.default)
def _bicubic_upsample(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return Cost(0, out.numel() * interpolation_ops(4, out.dim() - 2), "upsample")


def antialiased_taps(taps: int, in_size: int, out_size: int) -> int:
    """Inputs per output along one axis of an anti-aliased resize: the filter's ``taps``,
    widened by the downsampling factor (rounded up); upsampling keeps ``taps``."""
    return taps * max(1, -(-in_size // out_size))


def _antialiased(taps: int, args: Sequence[Any], out: Any) -> Cost:
    sizes = zip(args[0].shape[2:], out.shape[2:], strict=True)
    per_axis = [antialiased_taps(taps, i, o) for i, o in sizes]
    return Cost(0, out.numel() * separable_ops(per_axis), "upsample")


@formula(aten._upsample_bilinear2d_aa.default)
def _bilinear_aa(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return _antialiased(2, args, out)


@formula(aten._upsample_bicubic2d_aa.default)
def _bicubic_aa(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    return _antialiased(4, args, out)


# Operators that only move or relabel data, allocate, or fill with a constant: known, and free.
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
        aten.unsafe_split.Tensor,
        aten.unsafe_split_with_sizes.default,
        aten.unbind.int,
        aten.clone.default,
        aten.alias.default,
        aten.detach.default,
        aten.contiguous.default,
        aten._to_copy.default,
        aten.copy_.default,
        aten.constant_pad_nd.default,
        aten.repeat.default,
        aten.flip.default,
        aten.roll.default,
        aten.pixel_shuffle.default,
        aten.pixel_unshuffle.default,
        # nearest upsampling copies each input element to the outputs it covers
        aten.upsample_nearest1d.default,
        aten.upsample_nearest2d.default,
        aten.upsample_nearest3d.default,
        aten._upsample_nearest_exact1d.default,
        aten._upsample_nearest_exact2d.default,
        aten._upsample_nearest_exact3d.default,
        aten.empty.memory_format,
        aten.empty_like.default,
        aten.new_empty.default,
        aten.zeros.default,
        aten.zeros_like.default,
        aten.new_zeros.default,
        aten.ones.default,
        aten.ones_like.default,
        aten.new_ones.default,
        aten.full.default,
        aten.full_like.default,
        aten.new_full.default,
        aten.scalar_tensor.default,
        aten.fill_.Scalar,
        aten.zero_.default,
        aten.dropout.default,
        aten.lift_fresh.default,
    }
)


@formula(aten.col2im.default)
def _col2im(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """``F.fold``: 1 per value folded, the add into the output position (patches overlap)."""
    return Cost(0, args[0].numel(), "data_movement")


# Scans: 1 per input element, as a reduction (the running sum is one add per element).
SCANS = frozenset({"cumsum", "cumsum_", "cumprod", "cumprod_", "cummax", "cummin", "logcumsumexp"})

# Gather / scatter / indexing / padding / lookups, by operator name (every overload): no
# arithmetic, only bytes. ``index_put`` with ``accumulate`` adds, one op per value put.
GATHER_SCATTER = frozenset(
    {
        "index",
        "_unsafe_index",
        "index_select",
        "gather",
        "take",
        "masked_select",
        "masked_scatter",
        "masked_scatter_",
        "scatter",
        "scatter_",
        "index_copy",
        "index_copy_",
        "index_fill",
        "index_fill_",
        "im2col",
        "embedding",
        "reflection_pad1d",
        "reflection_pad2d",
        "reflection_pad3d",
        "replication_pad1d",
        "replication_pad2d",
        "replication_pad3d",
        "_pad_circular",
        "tril",
        "triu",
        "tril_",
        "triu_",
        "diag",
        "diag_embed",
        "narrow_copy",
        "_local_scalar_dense",
        "resize_",
        "set_",
    }
)
# Gathers that may add (``accumulate=True``; ``scatter_add`` always): 1 per value put.
ACCUMULATING_PUTS = frozenset(
    {
        "index_put",
        "index_put_",
        "_index_put_impl_",
        "_unsafe_index_put",
        "index_add",
        "index_add_",
        "scatter_add",
        "scatter_add_",
        "scatter_reduce",
        "scatter_reduce_",
    }
)


def cost_of(op: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost | None:
    """The cost of one operator call, or None when no formula or class knows the operator.

    Registered formulas and :data:`DATA_MOVEMENT` first, then the classes of the module
    docstring; an operator of none of them is unknown.
    """
    if op in FORMULAS:
        return FORMULAS[op](args, kwargs, out)
    if op in DATA_MOVEMENT:
        return Cost(0, 0, "data_movement")
    return _class_cost(op, args, kwargs, out)


# Runtime checks a forward may issue (``torch._assert_async``): known, and no arithmetic.
CHECKS = frozenset({"_assert_async", "_assert_scalar", "_assert_tensor_metadata"})


def _class_cost(op: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost | None:
    """ATen operators only: another namespace's (a user's ``mylib::op``) is unknown until
    a :func:`formula` prices it, whatever its name or tags say."""
    if getattr(op, "namespace", None) != "aten":
        return None
    name = op.overloadpacket.__name__
    if name in CHECKS:
        return Cost(0, 0, "check")
    if name in GATHER_SCATTER:
        return Cost(0, 0, "data_movement")
    if name in ACCUMULATING_PUTS:
        return Cost(0, _put_ops(name, args, kwargs), "data_movement")
    if name in SCANS or torch.Tag.reduction in op.tags:
        return Cost(0, args[0].numel(), "reduction")
    if _is_pointwise(op, name):
        return Cost(0, _out_numel(out), "elementwise")
    if op.is_view or torch.Tag.inplace_view in op.tags:
        return Cost(0, 0, "data_movement")
    if not any(_is_tensor_type(a.type) for a in op._schema.arguments):
        return Cost(0, 0, "creation")
    return None


def _put_ops(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> int:
    """1 per value put where the put adds (``accumulate``, ``index_add``, ``scatter_add``,
    ``scatter_reduce``); a plain put is a copy."""
    if name.startswith("index_put") or name.startswith(("_index_put", "_unsafe_index_put")):
        accumulate = args[3] if len(args) > 3 else kwargs.get("accumulate", False)
        return _source_numel(args[2]) if accumulate else 0
    source = args[3] if len(args) > 3 else kwargs.get("src", kwargs.get("source"))
    return _source_numel(source)


def _source_numel(value: Any) -> int:
    return value.numel() if hasattr(value, "numel") else 0


def _is_pointwise(op: Any, name: str) -> bool:
    """``torch.Tag.pointwise`` on the overload, or on the out-of-place twin of an in-place
    overload (``masked_fill_`` is tagged ``inplace`` only; ``masked_fill`` is pointwise)."""
    if torch.Tag.pointwise in op.tags:
        return True
    if torch.Tag.inplace not in op.tags or not name.endswith("_"):
        return False
    twin = getattr(getattr(aten, name[:-1], None), op._overloadname, None)
    return twin is not None and torch.Tag.pointwise in twin.tags


def _is_tensor_type(kind: Any) -> bool:
    """A schema argument that is or holds a tensor (``Tensor``, ``Tensor?``, ``Tensor[]``)."""
    return "Tensor" in str(kind)
