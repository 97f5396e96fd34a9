"""Exact output shapes for the few operators whose ``meta`` kernels are slow.

torch's meta kernels for batch norm, convolution, cat, pooling, mean and addmm are Python
decompositions (batch norm's takes about a millisecond a call, and ``mean``'s imports
``torch._dynamo``). For the common case — contiguous float inputs of the expected ranks —
their output shape is a closed form, computed here. Any other case, including every input
torch would reject, returns None so torch's own kernel runs: its result, or its error
message, is then the reference.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch

aten = torch.ops.aten
Shortcut = Callable[[Sequence[Any], dict[str, Any]], Any]


_META = torch.device("meta")  # an object, not a string torch parses on every call


def _empty(shape: Sequence[int], like: torch.Tensor, dtype: torch.dtype | None = None) -> Any:
    return torch.empty(tuple(shape), dtype=dtype or like.dtype, device=_META)


def _plain(*tensors: Any, contiguous: bool = True) -> bool:
    """Meta tensors, contiguous, of one floating dtype: the case every shortcut assumes."""
    first = tensors[0]
    if not isinstance(first, torch.Tensor) or not first.dtype.is_floating_point:
        return False
    dtype = first.dtype
    for t in tensors:
        if not isinstance(t, torch.Tensor) or not t.is_meta or t.dtype is not dtype:
            return False
        if contiguous and not t.is_contiguous():
            return False
    return True


def _pair(value: Any, default: Sequence[int] | None = None) -> tuple[int, int] | None:
    if isinstance(value, int):
        return (value, value)
    value = tuple(value) if value is not None else ()
    if not value:
        return tuple(default) if default is not None else None  # type: ignore[return-value]
    if len(value) == 1:
        return (value[0], value[0])
    return (value[0], value[1]) if len(value) == 2 else None


def _window_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length of a sliding window (torch's pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def _batch_norm(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """Batch norm: the output, and the statistics saved for the backward: none in eval
    (two empty tensors), the channels' mean and inverse std in training (float32 for a
    16-bit input, as the kernels accumulate)."""
    x = args[0]
    training = bool(args[5]) if len(args) > 5 else True
    if kwargs or not _plain(x) or x.dim() < 2:
        return None
    if not training:
        return _empty(x.shape, x), _empty((0,), x), _empty((0,), x)
    stats = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    channels = (x.shape[1],)
    return _empty(x.shape, x), _empty(channels, x, stats), _empty(channels, x, stats)


def _batch_norm_backward(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The gradients batch norm's backward is asked for (``output_mask``), None for the
    rest, as the CPU and CUDA kernels return them (torch's meta kernel always gives the
    input's gradient)."""
    grad, x, weight = args[0], args[1], args[2]
    if kwargs or len(args) < 10 or weight is None or not _plain(grad, x, weight):
        return None
    wants_input, wants_weight, wants_bias = args[9]
    channels = (x.shape[1],)
    return (
        _empty(x.shape, x) if wants_input else None,
        _empty(channels, weight) if wants_weight else None,
        _empty(channels, weight) if wants_bias else None,
    )


def _no_training_batch_norm(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if kwargs or not _plain(x):
        return None
    return _empty(x.shape, x), _empty((0,), x), _empty((0,), x)


def _convolution(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x, weight, bias, stride, padding, dilation, transposed, _, groups = args[:9]
    if transposed or kwargs or x.dim() != 4 or weight.dim() != 4:
        return None
    if not _plain(x, weight) or (bias is not None and not _plain(x, bias)):
        return None
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    if stride is None or padding is None or dilation is None or min(padding) < 0:
        return None
    n, c, h, w = x.shape
    out_channels, per_group, kh, kw = weight.shape
    if c != per_group * groups or out_channels % groups:
        return None
    if bias is not None and tuple(bias.shape) != (out_channels,):
        return None
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        return None
    return _empty((n, out_channels, oh, ow), x)


def _cat(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not tensors or not _plain(*tensors) or any(t.numel() == 0 for t in tensors):
        return None
    rank = tensors[0].dim()
    if rank == 0 or any(t.dim() != rank for t in tensors) or not -rank <= dim < rank:
        return None
    dim %= rank
    shape = list(tensors[0].shape)
    for t in tensors[1:]:
        if any(t.shape[a] != shape[a] for a in range(rank) if a != dim):
            return None
        shape[dim] += t.shape[dim]
    return _empty(shape, tensors[0])


def _mean(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    dims = args[1] if len(args) > 1 else None
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if kwargs.get("dtype") is not None or len(args) > 3 or not _plain(x) or not dims:
        return None
    rank = x.dim()
    if any(not -rank <= d < rank for d in dims):
        return None
    reduced = {d % rank for d in dims}
    if len(reduced) != len(dims):
        return None
    if keepdim:
        shape = [1 if a in reduced else n for a, n in enumerate(x.shape)]
    else:
        shape = [n for a, n in enumerate(x.shape) if a not in reduced]
    return _empty(shape, x)


def _row_major(t: torch.Tensor) -> bool:
    """Contiguous, or its strides, broadcast and unit dimensions left out, falling along
    its dimensions (a slice of a concatenation's gradient, an expanded mean): an
    elementwise op on such inputs writes a contiguous output, as TensorIterator lays it
    out. Other layouts go to torch's kernel."""
    if t.is_contiguous():
        return True
    strides = [s for s, n in zip(t.stride(), t.shape, strict=True) if s != 0 and n != 1]
    return all(a >= b for a, b in itertools.pairwise(strides))


def _by_number(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """A float tensor times or over a number (a mean's backward: the gradient over the
    count). torch's meta kernels for these are Python references that import
    torch._dynamo (~2 s) on first use, inside the traced pass."""
    if kwargs or len(args) != 2 or type(args[1]) not in (int, float):
        return None
    x = args[0]
    if not _plain(x, contiguous=False) or not _row_major(x):
        return None
    return _empty(x.shape, x)


def _unary(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """An activation that keeps its input's shape (out of place): a Python reference on
    meta that imports torch._dynamo on first use, like :func:`_by_number`."""
    if kwargs or len(args) != 1 or not _plain(args[0], contiguous=False):
        return None
    return _empty(args[0].shape, args[0]) if _row_major(args[0]) else None


def _pool(
    x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> list[int] | None:
    if not _plain(x) or x.dim() != 4:
        return None
    kernel = _pair(kernel)
    if kernel is None:
        return None
    stride, padding, dilation = _pair(stride, kernel), _pair(padding), _pair(dilation)
    if stride is None or padding is None or dilation is None:
        return None
    if any(p < 0 or 2 * p > k for p, k in zip(padding, kernel, strict=True)):
        return None
    spatial = [
        _window_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
        for a in (0, 1)
    ]
    if min(spatial) < 1 or min(stride) < 1:
        return None
    return [x.shape[0], x.shape[1], *spatial]


def _max_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if kwargs:
        return None
    x, kernel = args[0], args[1]
    stride = args[2] if len(args) > 2 else ()
    padding = args[3] if len(args) > 3 else 0
    dilation = args[4] if len(args) > 4 else 1
    ceil_mode = bool(args[5]) if len(args) > 5 else False
    shape = _pool(x, kernel, stride, padding, dilation, ceil_mode)
    if shape is None:
        return None
    return _empty(shape, x), _empty(shape, x, torch.int64)


def _avg_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if kwargs or (len(args) > 6 and args[6] is not None):
        return None
    x, kernel = args[0], args[1]
    stride = args[2] if len(args) > 2 else ()
    padding = args[3] if len(args) > 3 else 0
    ceil_mode = bool(args[4]) if len(args) > 4 else False
    shape = _pool(x, kernel, stride, padding, 1, ceil_mode)
    return None if shape is None else _empty(shape, x)


def _adaptive_avg_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], _pair(args[1])
    if kwargs or size is None or not _plain(x) or x.dim() != 4 or min(size) < 1:
        return None
    if min(x.shape[2:]) < 1:
        return None
    return _empty((x.shape[0], x.shape[1], *size), x)


def _addmm(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    bias, a, b = args[:3]
    # The product is written to a new contiguous matrix whatever the operands' layout
    # (``weight.t()`` is a transposed view).
    if kwargs or len(args) > 3 or not _plain(a, b, bias, contiguous=False):
        return None
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        return None
    if bias.dim() > 2 or (bias.dim() >= 1 and bias.shape[-1] not in (1, b.shape[1])):
        return None
    if bias.dim() == 2 and bias.shape[0] not in (1, a.shape[0]):
        return None
    return _empty((a.shape[0], b.shape[1]), a)


def _binary(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``x + y``, ``x * 0.2``: same-shape tensors, or a tensor and a Python number."""
    x, y = args[0], args[1]
    if len(args) > 2 or set(kwargs) - {"alpha"} or not _plain(x):
        return None
    if isinstance(y, torch.Tensor):
        if not _plain(x, y) or y.shape != x.shape:
            return None
    elif not isinstance(y, int | float) or isinstance(y, bool):
        return None
    return _empty(x.shape, x)


def _threshold_backward(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """ReLU's backward: the gradient where the input passed, one tensor of their shape."""
    grad, x = args[0], args[1]
    if kwargs or len(args) != 3 or not _plain(grad, x, contiguous=False):
        return None
    if grad.shape != x.shape or not (_row_major(grad) and _row_major(x)):
        return None
    return _empty(grad.shape, grad)


def _empty_on_meta(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``aten.empty`` asked for on meta (batch norm's reserve space in eval): the C++
    factory gives the same tensor without the Python overload call (10 µs a call)."""
    size = args[0]
    if len(args) != 1 or any(type(n) is not int or n < 0 for n in size):
        return None
    device = kwargs.get("device")  # a torch.device: ATen parsed it
    if not isinstance(device, torch.device) or device.type != "meta" or kwargs.get("pin_memory"):
        return None
    if kwargs.get("layout") not in (None, torch.strided):
        return None
    if kwargs.get("memory_format") not in (None, torch.contiguous_format):
        return None
    return torch.empty(tuple(size), dtype=kwargs.get("dtype"), device=_META)


def _in_place(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """An in-place activation returns its input: the tensor itself (autograd's version
    bump happens before the op reaches the recorder)."""
    if kwargs or len(args) != 1 or not _plain(args[0], contiguous=False):
        return None
    return args[0]


SHORTCUTS: dict[Any, Shortcut] = {
    aten.add.Tensor: _binary,
    aten.sub.Tensor: _binary,
    aten.mul.Tensor: _binary,
    aten.native_batch_norm.default: _batch_norm,
    aten.native_batch_norm_backward.default: _batch_norm_backward,
    aten.threshold_backward.default: _threshold_backward,
    aten._native_batch_norm_legit_no_training.default: _no_training_batch_norm,
    aten.convolution.default: _convolution,
    aten.cat.default: _cat,
    aten.div.Scalar: _by_number,
    aten.mul.Scalar: _by_number,
    aten.relu.default: _unary,
    aten.relu_.default: _in_place,
    aten.empty.memory_format: _empty_on_meta,
    aten.sigmoid.default: _unary,
    aten.tanh.default: _unary,
    aten.mean.dim: _mean,
    aten.max_pool2d_with_indices.default: _max_pool,
    aten.avg_pool2d.default: _avg_pool,
    aten._adaptive_avg_pool2d.default: _adaptive_avg_pool,
    aten.addmm.default: _addmm,
}


def shape_shortcut(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The output of ``func`` on meta tensors when a closed form is exact, else None."""
    shortcut = SHORTCUTS.get(func)
    if shortcut is None or not args:
        return None
    return shortcut(args, kwargs)
