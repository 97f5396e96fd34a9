"""Lowering: each ONNX node to the ATen call(s) PyTorch makes for it, registered per op
type by :func:`lowering`; a node no lowering covers becomes an :class:`OnnxOpType` op
that no formula prices (see :mod:`incprof.onnx.reader`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from incprof.analysis.trace import (
    TensorInfo,
)

aten = torch.ops.aten


@dataclass(frozen=True)
class OnnxOpType:
    """An ONNX op type with no lowering: recorded by its name, priced by no formula."""

    op_type: str

    @property
    def overloadpacket(self) -> OnnxOpType:
        return self

    @property
    def __name__(self) -> str:  # what OpCall.name reads of an ATen overload
        return self.op_type


@dataclass(frozen=True)
class Call:
    """One ATen call a node lowers to: its op, arguments and output shapes (dtypes)."""

    func: Any
    args: tuple[Any, ...]
    out: tuple[tuple[tuple[int, ...], torch.dtype], ...]  # one per output
    view: bool = False  # the output aliases args[0]'s storage


Lowering = Callable[["_Node"], list[Call]]
LOWERINGS: dict[str, Lowering] = {}


def lowering(*op_types: str) -> Callable[[Lowering], Lowering]:
    """Register ``fn`` as the lowering of each ONNX op type; twice raises."""

    def register(fn: Lowering) -> Lowering:
        for op_type in op_types:
            if op_type in LOWERINGS:
                raise ValueError(f"a lowering for {op_type} is already registered")
            LOWERINGS[op_type] = fn
        return fn

    return register


@dataclass
class _Node:
    """A node being lowered: its inputs as TensorInfo (None: omitted), attributes, the
    shapes ONNX inferred for its outputs, and the builder to make helper tensors with."""

    proto: Any
    inputs: list[TensorInfo | None]
    attrs: dict[str, Any]
    out: list[tuple[tuple[int, ...], torch.dtype]]
    constants: dict[str, Any]  # value name → its data, for small integer inputs (axes …)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def data(self, index: int) -> Any:
        """The data of a constant input (axes, pads, shapes), or None."""
        if index >= len(self.proto.input) or not self.proto.input[index]:
            return None
        return self.constants.get(self.proto.input[index])


def _spatial_pads(
    node: _Node,
    x: TensorInfo,
    kernel: Sequence[int],
    dilation: Sequence[int],
    stride: Sequence[int],
) -> list[int]:
    """Begin pads then end pads per spatial axis, ``auto_pad`` resolved as ONNX says."""
    spatial = x.shape[2:]
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        return list(node.attr("pads", [0] * 2 * len(spatial)))
    if auto == "VALID":
        return [0] * 2 * len(spatial)
    begins, ends = [], []
    for size, k, d, s in zip(spatial, kernel, dilation, stride, strict=True):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(large if auto == "SAME_LOWER" else small)
        ends.append(small if auto == "SAME_LOWER" else large)
    return begins + ends


def _padded(
    node: _Node, x: TensorInfo, pads: list[int], value: float
) -> tuple[list[Call], Any, list[int]]:
    """Asymmetric pads become a ``constant_pad_nd`` before the op, as PyTorch would write
    it; symmetric ones stay the op's own padding. Returns (calls, input, padding)."""
    half = len(pads) // 2
    begin, end = pads[:half], pads[half:]
    if begin == end:
        return [], x, begin
    torch_pad = [p for b, e in zip(reversed(begin), reversed(end), strict=True) for p in (b, e)]
    shape = (*x.shape[:2], *(s + b + e for s, b, e in zip(x.shape[2:], begin, end, strict=True)))
    pad = Call(aten.constant_pad_nd.default, (x, torch_pad, value), ((shape, x.dtype),))
    return [pad], pad, [0] * half


@lowering("Conv", "ConvTranspose")
def _conv(node: _Node) -> list[Call]:
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 else None
    spatial = len(x.shape) - 2
    kernel = list(node.attr("kernel_shape", w.shape[2:]))
    stride = list(node.attr("strides", [1] * spatial))
    dilation = list(node.attr("dilations", [1] * spatial))
    transposed = node.proto.op_type == "ConvTranspose"
    output_padding = list(node.attr("output_padding", [0] * spatial))
    if transposed:
        pads = list(node.attr("pads", [0] * 2 * spatial))
        if pads[:spatial] != pads[spatial:]:
            return [_unlowered(node, "asymmetric ConvTranspose pads")]
        calls, source, padding = [], x, pads[:spatial]
    else:
        calls, source, padding = _padded(
            node, x, _spatial_pads(node, x, kernel, dilation, stride), 0.0
        )
    args = (
        source,
        w,
        bias,
        stride,
        padding,
        dilation,
        transposed,
        output_padding,
        node.attr("group", 1),
    )
    return [*calls, Call(aten.convolution.default, args, tuple(node.out))]


@lowering("MaxPool", "AveragePool")
def _pool(node: _Node) -> list[Call]:
    x = node.inputs[0]
    spatial = len(x.shape) - 2
    if spatial != 2:
        return [_unlowered(node, f"{spatial}-d pooling")]
    kernel = list(node.attr("kernel_shape"))
    stride = list(node.attr("strides", [1] * spatial))
    dilation = list(node.attr("dilations", [1] * spatial))
    ceil = bool(node.attr("ceil_mode", 0))
    is_max = node.proto.op_type == "MaxPool"
    pads = _spatial_pads(node, x, kernel, dilation, stride)
    calls, source, padding = _padded(node, x, pads, -math.inf if is_max else 0.0)
    out = node.out[0]
    if is_max:
        indices = (out[0], torch.int64)
        args = (source, kernel, stride, padding, dilation, ceil)
        return [*calls, Call(aten.max_pool2d_with_indices.default, args, (out, indices))]
    if dilation != [1] * spatial:
        return [_unlowered(node, "dilated average pooling")]
    include = bool(node.attr("count_include_pad", 0))
    args = (source, kernel, stride, padding, ceil, include, None)
    return [*calls, Call(aten.avg_pool2d.default, args, (out,))]


@lowering("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node: _Node) -> list[Call]:
    x = node.inputs[0]
    axes = list(range(2, len(x.shape)))
    func = aten.mean.dim if node.proto.op_type == "GlobalAveragePool" else aten.amax.default
    return [Call(func, (x, axes, True), tuple(node.out))]


_REDUCTIONS = {
    "ReduceMean": aten.mean.dim,
    "ReduceSum": aten.sum.dim_IntList,
    "ReduceMax": aten.amax.default,
    "ReduceMin": aten.amin.default,
}


@lowering(*_REDUCTIONS)
def _reduce(node: _Node) -> list[Call]:
    x = node.inputs[0]
    axes = node.attr("axes")
    if axes is None and len(node.proto.input) > 1:
        axes = node.data(1)
        if axes is None:
            return [_unlowered(node, "axes computed at run time")]
    axes = list(range(len(x.shape))) if axes is None or len(axes) == 0 else list(axes)
    axes = [a % len(x.shape) for a in axes]
    keep = bool(node.attr("keepdims", 1))
    return [Call(_REDUCTIONS[node.proto.op_type], (x, axes, keep), tuple(node.out))]


@lowering("Gemm")
def _gemm(node: _Node) -> list[Call]:
    a, b = node.inputs[0], node.inputs[1]
    c = node.inputs[2] if len(node.inputs) > 2 else None
    calls: list[Call] = []
    if node.attr("transA", 0):
        calls.append(Call(aten.t.default, (a,), ((a.shape[::-1], a.dtype),), view=True))
        a = calls[-1]
    if node.attr("transB", 0):
        calls.append(Call(aten.t.default, (b,), ((b.shape[::-1], b.dtype),), view=True))
        b = calls[-1]
    if c is None:
        return [*calls, Call(aten.mm.default, (a, b), tuple(node.out))]
    args = (c, a, b, node.attr("beta", 1.0), node.attr("alpha", 1.0))
    return [*calls, Call(aten.addmm.default, args, tuple(node.out))]


@lowering("MatMul")
def _matmul(node: _Node) -> list[Call]:
    a, b = node.inputs[0], node.inputs[1]
    out_shape, dtype = node.out[0]
    if len(a.shape) < 2 or len(b.shape) < 2:
        return [_unlowered(node, "a matmul with a vector")]
    if len(a.shape) == 2 and len(b.shape) == 2:
        return [Call(aten.mm.default, (a, b), tuple(node.out))]
    if len(b.shape) == 2:  # a linear layer on a batch of rows: view, mm, view (as torch)
        rows = math.prod(a.shape[:-1])
        flat = Call(
            aten.view.default, (a, [rows, a.shape[-1]]), (((rows, a.shape[-1]), a.dtype),), True
        )
        mm = Call(aten.mm.default, (flat, b), (((rows, b.shape[-1]), dtype),))
        return [flat, mm, Call(aten.view.default, (mm, list(out_shape)), tuple(node.out), True)]
    batch = math.prod(out_shape[:-2])
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    left = Call(aten.view.default, (a, [batch, m, k]), (((batch, m, k), a.dtype),), True)
    right = Call(aten.expand.default, (b, [batch, k, n]), (((batch, k, n), b.dtype),), True)
    bmm = Call(aten.bmm.default, (left, right), (((batch, m, n), dtype),))
    return [
        left,
        right,
        bmm,
        Call(aten.view.default, (bmm, list(out_shape)), tuple(node.out), True),
    ]


@lowering("BatchNormalization")
def _batch_norm(node: _Node) -> list[Call]:
    x, scale, shift, mean, var = node.inputs[:5]
    if node.attr("training_mode", 0):
        return [_unlowered(node, "batch norm in training mode")]
    stats = ((0,), x.dtype)
    args = (
        x,
        scale,
        shift,
        mean,
        var,
        False,
        node.attr("momentum", 0.9),
        node.attr("epsilon", 1e-5),
    )
    return [Call(aten.native_batch_norm.default, args, (node.out[0], stats, stats))]


_UNARY = {
    "Relu": aten.relu.default,
    "Sigmoid": aten.sigmoid.default,
    "Tanh": aten.tanh.default,
    "HardSigmoid": aten.hardsigmoid.default,
    "HardSwish": aten.hardswish.default,
    "Elu": aten.elu.default,
    "Gelu": aten.gelu.default,
    "Softplus": aten.softplus.default,
    "Mish": aten.mish.default,
    "Neg": aten.neg.default,
    "Abs": aten.abs.default,
    "Exp": aten.exp.default,
    "Sqrt": aten.sqrt.default,
}


@lowering(*_UNARY)
def _unary(node: _Node) -> list[Call]:
    return [Call(_UNARY[node.proto.op_type], (node.inputs[0],), tuple(node.out))]


@lowering("LeakyRelu")
def _leaky_relu(node: _Node) -> list[Call]:
    args = (node.inputs[0], node.attr("alpha", 0.01))
    return [Call(aten.leaky_relu.default, args, tuple(node.out))]


@lowering("Clip")
def _clip(node: _Node) -> list[Call]:
    low, high = node.data(1), node.data(2)
    low = node.attr("min", -math.inf) if low is None else float(low)
    high = node.attr("max", math.inf) if high is None else float(high)
    return [Call(aten.hardtanh.default, (node.inputs[0], low, high), tuple(node.out))]


@lowering("Softmax", "LogSoftmax")
def _softmax(node: _Node) -> list[Call]:
    x = node.inputs[0]
    func = aten._softmax.default if node.proto.op_type == "Softmax" else aten._log_softmax.default
    return [Call(func, (x, node.attr("axis", -1) % len(x.shape), False), tuple(node.out))]


_BINARY = {
    "Add": aten.add.Tensor,
    "Sub": aten.sub.Tensor,
    "Mul": aten.mul.Tensor,
    "Div": aten.div.Tensor,
}


@lowering(*_BINARY)
def _binary(node: _Node) -> list[Call]:
    return [Call(_BINARY[node.proto.op_type], tuple(node.inputs[:2]), tuple(node.out))]


@lowering("Concat")
def _concat(node: _Node) -> list[Call]:
    parts = tuple(node.inputs)
    axis = node.attr("axis") % len(node.out[0][0])
    return [Call(aten.cat.default, (parts, axis), tuple(node.out))]


@lowering("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def _reshape(node: _Node) -> list[Call]:
    shape = list(node.out[0][0])
    return [Call(aten.view.default, (node.inputs[0], shape), tuple(node.out), view=True)]


@lowering("Transpose")
def _transpose(node: _Node) -> list[Call]:
    x = node.inputs[0]
    perm = list(node.attr("perm", list(reversed(range(len(x.shape))))))
    return [Call(aten.permute.default, (x, perm), tuple(node.out), view=True)]


@lowering("Pad")
def _pad(node: _Node) -> list[Call]:
    x = node.inputs[0]
    mode = node.attr("mode", "constant")
    pads = node.attr("pads") if node.data(1) is None else [int(p) for p in node.data(1)]
    if mode != "constant" or pads is None or node.data(3) is not None:
        return [_unlowered(node, f"{mode} padding" if mode != "constant" else "pads at run time")]
    half = len(pads) // 2
    torch_pad = [
        p for b, e in zip(reversed(pads[:half]), reversed(pads[half:]), strict=True) for p in (b, e)
    ]
    value = node.data(2)
    args = (x, torch_pad, 0.0 if value is None else float(value))
    return [Call(aten.constant_pad_nd.default, args, tuple(node.out))]


@lowering("Cast")
def _cast(node: _Node) -> list[Call]:
    return [Call(aten._to_copy.default, (node.inputs[0],), tuple(node.out))]


def _unlowered(node: _Node, why: str = "") -> Call:
    """A node no lowering covers, as an op no formula prices: named by its op type (and
    domain, or the form of a known op type it takes), so the tables list it as unknown."""
    proto = node.proto
    name = (
        f"{proto.domain}.{proto.op_type}" if proto.domain not in ("", "ai.onnx") else proto.op_type
    )
    return Call(OnnxOpType(f"{name}[{why}]" if why else name), tuple(node.inputs), tuple(node.out))


# Nodes that only rename their input: no op, in ONNX Runtime or in PyTorch's eval.
_ALIASES = frozenset({"Identity", "Dropout"})
# Inputs that hold a layer's learned weights, per op type (else: a parameter if > 1 value).
_WEIGHT_INPUTS = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "Gemm": (0, 1, 2),
    "MatMul": (0, 1),
    "BatchNormalization": (1, 2),
    "PRelu": (1,),
    "InstanceNormalization": (1, 2),
    "LayerNormalization": (1, 2),
}
_STATISTICS_INPUTS = {"BatchNormalization": (3, 4)}
