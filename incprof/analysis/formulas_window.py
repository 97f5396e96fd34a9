"""Formulas of the windowed and resampling operators: pooling, reductions, upsampling
and ``col2im`` (``other_ops`` per window or tap, by the conventions of
:mod:`incprof.analysis.formulas`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from incprof.analysis.formula_table import Cost, _numel, _out_numel, _out_numel_shape, formula

aten = torch.ops.aten


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


@formula(aten.col2im.default)
def _col2im(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> Cost:
    """``F.fold``: 1 per value folded, the add into the output position (patches overlap)."""
    return Cost(0, args[0].numel(), "data_movement")
