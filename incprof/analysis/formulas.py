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

from collections.abc import Sequence
from typing import Any

import torch

# Importing each family registers its formulas, in this order (the table's order).
from incprof.analysis.formula_table import FORMULAS, Cost, Formula, _out_numel, formula
from incprof.analysis.formulas_matmul import conv_macs, matmul_macs
from incprof.analysis.formulas_pointwise import input_statistics_norm_ops
from incprof.analysis.formulas_window import (
    adaptive_bins,
    antialiased_taps,
    interpolation_ops,
    separable_ops,
)

__all__ = [
    "ACCUMULATING_PUTS",
    "CHECKS",
    "DATA_MOVEMENT",
    "FORMULAS",
    "GATHER_SCATTER",
    "SCANS",
    "Cost",
    "Formula",
    "adaptive_bins",
    "antialiased_taps",
    "conv_macs",
    "cost_of",
    "formula",
    "input_statistics_norm_ops",
    "interpolation_ops",
    "matmul_macs",
    "separable_ops",
]

aten = torch.ops.aten


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
