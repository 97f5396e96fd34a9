"""An ONNX file as a :class:`~incprof.analysis.trace.Trace`, so every analyzer reads it.

ONNX shape inference gives every value's shape; each node is then lowered to the ATen
call PyTorch would make for it (``Conv`` → ``convolution`` with its strides, pads,
dilations and groups; ``Gemm`` → ``t`` + ``addmm``; ``BatchNormalization`` → eval batch
norm …), with the tensors as :class:`TensorInfo` and no data anywhere. The closed-form
formulas that price a PyTorch trace then price the ONNX graph, under the same conventions:
one convention in one place, and an exported network's MACs equal its PyTorch analysis.

What the lowering does not know is kept as what it is: a node whose op type has no
lowering becomes an op named by its ONNX op type, which no formula prices, so the cost,
memory and prediction tables list it with its count, never as zero. Integer shape
arithmetic (``Shape`` → ``Gather`` → ``Concat`` feeding a ``Reshape``) is what PyTorch
does in Python: it issues no op here either.

Module rows come from the exporter's scopes: torch's ``pkg.torch.onnx.name_scopes``
metadata (the dynamo exporter) or node names like ``/Mixed_5b/branch1x1/conv/Conv`` (the
TorchScript exporter); a graph with neither gets one row per node.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from incprof.analysis.trace import (
    ROOT,
    ModuleCall,
    OpCall,
    ParameterInfo,
    Role,
    StorageInfo,
    TensorInfo,
    Trace,
)
from incprof.errors import InputError, RegistryError, error_line
from incprof.onnx import require
from incprof.registry import Variant

aten = torch.ops.aten

# ONNX TensorProto element types → torch dtypes (the ones image models carry).
_DTYPES = {
    1: torch.float32,
    2: torch.uint8,
    3: torch.int8,
    5: torch.int16,
    6: torch.int32,
    7: torch.int64,
    9: torch.bool,
    10: torch.float16,
    11: torch.float64,
    16: torch.bfloat16,
}


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
class OnnxFile:
    """An ONNX file as read: the model with shapes inferred at one input, and its facts."""

    path: str
    model: Any  # onnx.ModelProto
    input_name: str
    input_shape: tuple[int, int, int]
    batch: int
    producer: str
    opset: int
    folded: tuple[tuple[str, int], ...] = field(default=())  # (conv node, channels) fused BN

    def note(self) -> str:
        """What a reader must know when comparing this graph with its PyTorch module."""
        if not self.folded:
            return ""
        channels = sum(c for _, c in self.folded)
        return (
            f"the exporter folded batch norm into {len(self.folded)} convs ({channels} "
            "channels): BN's scale and shift (2 params per channel) are gone and a conv "
            "without a bias of its own gained one (1 per channel), so params are "
            f"{channels} to {2 * channels} fewer than the module's; BN's ops became bias adds"
        )


def load(path: str | Path, input_shape: tuple[int, int, int] | None = None, batch: int = 1):
    """Read ``path`` and infer every shape at ``batch × input_shape``; one-line errors."""
    onnx = require()
    file = Path(path)
    if not file.exists():
        raise InputError(f"{path}: no such file")
    if not file.is_file():
        raise InputError(f"{path}: not a file")
    try:
        model = onnx.load(str(file))
    except Exception as exc:  # protobuf's DecodeError, external data missing …
        raise InputError(f"{path} is not a readable ONNX model ({error_line(exc)})") from None
    graph = model.graph
    if not graph.node or not model.opset_import:
        raise InputError(f"{path} is not an ONNX model: it holds no graph")
    name, dims = _image_input(path, graph)
    shape = _fixed_input(path, dims, input_shape, batch)
    del graph.input[:]  # replaced below by the input at its now fixed size
    fixed = onnx.helper.make_tensor_value_info(name, dims[0], [batch, *shape])
    graph.input.extend([fixed])
    try:
        model = onnx.shape_inference.infer_shapes(
            model, check_type=True, strict_mode=True, data_prop=True
        )
    except Exception as exc:
        raise InputError(
            f"{path}: ONNX shape inference failed at {'x'.join(map(str, shape))} "
            f"({error_line(exc)[:200]})"
        ) from None
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    return OnnxFile(
        str(path),
        model,
        name,
        shape,
        batch,
        producer or "unknown",
        opset,
        _folded(model.graph),
    )


def _image_input(path: str | Path, graph: Any) -> tuple[str, list[Any]]:
    """The graph's one image input (N, C, H, W): its name, element type and dims."""
    initialized = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initialized]
    if len(inputs) != 1:
        names = ", ".join(v.name for v in inputs) or "none"
        raise InputError(f"{path} has {len(inputs)} inputs ({names}); incprof reads one image")
    value = inputs[0]
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) != 4:
        raise InputError(
            f"{path}: input {value.name!r} has {len(dims)} dimensions; incprof reads an "
            "N×C×H×W image"
        )
    return value.name, [tensor.elem_type, *dims]


def _fixed_input(
    path: str | Path,
    dims: list[Any],
    asked: tuple[int, int, int] | None,
    batch: int,
) -> tuple[int, int, int]:
    """The (C, H, W) to analyse: the file's own where fixed, ``asked`` where symbolic."""
    n, *chw = dims[1:]
    if n is not None and n != batch:
        raise InputError(
            f"{path} was exported for a batch of {n}, not {batch}: export it again with "
            "a dynamic batch"
        )
    if asked is None:
        if any(d is None for d in chw):
            shown = "x".join(str(d) if d is not None else "?" for d in chw)
            raise InputError(
                f"{path} has a dynamic input size ({shown}): give its input size (CxHxW) "
                "to analyse it"
            )
        return (chw[0], chw[1], chw[2])
    for axis, have, want in zip("CHW", chw, asked, strict=True):
        if have is not None and have != want:
            fixed = "x".join(str(d) if d is not None else "?" for d in chw)
            raise InputError(
                f"{path} takes a {fixed} input ({axis} is fixed), not "
                f"{'x'.join(map(str, asked))}: export it again at that size"
            )
    return asked


def _folded(graph: Any) -> tuple[tuple[str, int], ...]:
    """Conv nodes into which torch's exporter fused a batch norm, with their channels."""
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    folded = []
    for node in graph.node:
        rules = _metadata(node).get("pkg.onnxscript.rewriter.rule_name", "")
        if node.op_type == "Conv" and "FuseBatchNormIntoConv" in rules:
            weight = shapes.get(node.input[1], (0,))
            folded.append((node.name, weight[0]))
    return tuple(folded)


def _metadata(node: Any) -> dict[str, str]:
    return {p.key: p.value for p in node.metadata_props}


# ---------------------------------------------------------------------------------------
# Lowering: each ONNX node to the ATen call(s) PyTorch makes for it.


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


# ---------------------------------------------------------------------------------------
# The trace: nodes in graph order (ONNX requires it topologically sorted).


@dataclass(frozen=True)
class _Scope:
    """Where a node sits: its module path (outermost first) with each module's type."""

    modules: tuple[tuple[str, str], ...]

    @property
    def innermost(self) -> str:
        return self.modules[-1][0] if self.modules else ROOT


def _scopes(graph: Any) -> list[_Scope]:
    """Each node's module path, from torch's metadata, else from '/'-scoped node names,
    else one module per node (a graph that says nothing of its structure)."""
    scopes = []
    for node in graph.node:
        meta = _metadata(node)
        names = _literal(meta.get("pkg.torch.onnx.name_scopes"))
        classes = _literal(meta.get("pkg.torch.onnx.class_hierarchy"))
        if names and len(names) >= 2:
            types = classes if classes and len(classes) == len(names) else ["scope"] * len(names)
            path = [
                (n, str(t).rsplit(".", 1)[-1])
                for n, t in zip(names[1:-1], types[1:-1], strict=True)
            ]
            # torch's rewriter keeps the batch norm's scope on the conv it fused it into
            if node.op_type in ("Conv", "ConvTranspose") and path and "Norm" in path[-1][1]:
                path.pop()
            scopes.append(_Scope(tuple(path)))
        elif node.name.startswith("/"):
            parts = node.name.strip("/").split("/")[:-1]
            path = [(".".join(parts[: i + 1]), "scope") for i in range(len(parts))]
            scopes.append(_Scope(tuple(path)))
        else:
            scopes.append(_Scope(()))
    if any(s.modules for s in scopes):
        return scopes
    return [_Scope(((_node_module(node, i), node.op_type),)) for i, node in enumerate(graph.node)]


def _literal(text: str | None) -> list[Any] | None:
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, list) else None


def _node_module(node: Any, index: int) -> str:
    """A row name for a node of a graph without scopes (dots would read as nesting)."""
    return (node.name or f"{node.op_type}_{index}").replace(".", "_").replace("/", "_")


def _contiguous(shape: Sequence[int]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def _view_strides(call: Call, source: TensorInfo, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A view's strides over its source: permuted, broadcast (0) or contiguous."""
    if call.func is aten.t.default:
        return source.strides[::-1]
    if call.func is aten.permute.default:
        return tuple(source.strides[p] for p in call.args[1])
    if call.func is aten.expand.default:
        lead = len(shape) - len(source.shape)
        return tuple(
            0 if i < lead or source.shape[i - lead] != size else source.strides[i - lead]
            for i, size in enumerate(shape)
        )
    return _contiguous(shape)


class _Builder:
    """Collects tensors, storages and ops as :func:`trace_module` does for a real pass."""

    def __init__(self) -> None:
        self.tensors: list[TensorInfo] = []
        self.storages: list[list[Any]] = []  # [nbytes, dtype, role, producer]
        self.ops: list[OpCall] = []

    def tensor(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype,
        producer: int | None,
        role: Role,
        name: str = "",
        view_of: TensorInfo | None = None,
        strides: tuple[int, ...] | None = None,
    ) -> TensorInfo:
        if view_of is None:
            storage = len(self.storages)
            self.storages.append([math.prod(shape) * dtype.itemsize, dtype, role, producer])
        else:
            storage = view_of.storage
        info = TensorInfo(
            len(self.tensors),
            tuple(shape),
            dtype,
            strides or _contiguous(shape),
            storage,
            0,
            producer,
            role,
            name,
        )
        self.tensors.append(info)
        return info

    def call(self, call: Call, module: str, made: dict[int, TensorInfo]) -> list[TensorInfo]:
        """Record one lowered call; ``made`` maps earlier calls of the node to outputs."""

        def resolve(arg: Any) -> Any:
            if isinstance(arg, Call):
                return made[id(arg)]
            if isinstance(arg, tuple):
                return tuple(resolve(a) for a in arg)
            return arg

        args = tuple(resolve(a) for a in call.args)
        index = len(self.ops)
        source = args[0] if call.view else None
        outs = [
            self.tensor(
                shape,
                dtype,
                index,
                "activation",
                view_of=source,
                strides=_view_strides(call, source, shape) if source is not None else None,
            )
            for shape, dtype in call.out
        ]
        out: Any = outs[0] if len(outs) == 1 else tuple(outs)
        self.ops.append(OpCall(index, module, call.func, args, _NO_KWARGS, out))
        made[id(call)] = outs[0]
        return outs


_NO_KWARGS = MappingProxyType({})


def _value_types(graph: Any) -> dict[str, tuple[tuple[int, ...] | None, torch.dtype | None]]:
    """Every value's shape (None: unknown) and dtype, as shape inference left them."""
    types: dict[str, tuple[tuple[int, ...] | None, torch.dtype | None]] = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        known = tensor.HasField("shape") and all(d is not None for d in dims)
        types[value.name] = (tuple(dims) if known else None, _DTYPES.get(tensor.elem_type))
    return types


def trace_onnx(file: OnnxFile, *, name: str | None = None) -> Trace:
    """The trace of an ONNX file as read by :func:`load`: one op per lowered ATen call."""
    numpy_helper = require("onnx.numpy_helper")
    graph = file.model.graph
    types = _value_types(graph)
    scopes = _scopes(graph)
    builder = _Builder()
    source = builder.tensor((file.batch, *file.input_shape), torch.float32, None, "input")
    values: dict[str, TensorInfo] = {file.input_name: source}
    stored = {i.name: i for i in graph.initializer}  # initializers, and Constant outputs
    constants: dict[str, Any] = {}  # small integer data: axes, pads, shapes
    for init in graph.initializer:
        if math.prod(init.dims) <= 64:
            constants[init.name] = numpy_helper.to_array(init)
    owners: dict[int, str] = {}  # a parameter's value index → the module that first used it
    consumed_by: dict[str, list[int]] = {}

    def stored_value(value: str, op_type: str, slot: int, module: str) -> TensorInfo:
        init = stored[value]
        dtype = _DTYPES.get(init.data_type, torch.float32)
        shape = tuple(init.dims)
        if dtype.is_floating_point and slot in _STATISTICS_INPUTS.get(op_type, ()):
            role: Role = "buffer"
        elif dtype.is_floating_point and (
            slot in _WEIGHT_INPUTS.get(op_type, ()) or math.prod(shape) > 1
        ):
            role = "parameter"
        else:
            role = "constant"
        info = builder.tensor(shape, dtype, None, role, name=value)
        values[value] = info
        if role == "parameter":
            owners[info.index] = module
        return info

    for position, (node, scope) in enumerate(zip(graph.node, scopes, strict=True)):
        module = scope.innermost
        if node.op_type in _ALIASES:
            if node.input[0] in values or node.input[0] in stored:
                values[node.output[0]] = values.get(node.input[0]) or stored_value(
                    node.input[0], node.op_type, 0, module
                )
            continue
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            tensor = _constant_tensor(node)
            if tensor is not None:
                tensor.name = node.output[0]
                stored[node.output[0]] = tensor
                if math.prod(tensor.dims) <= 64:
                    constants[node.output[0]] = numpy_helper.to_array(tensor)
            continue
        if _shape_arithmetic(node, types):
            continue
        inputs: list[TensorInfo | None] = []
        for slot, value in enumerate(node.input):
            if not value:
                inputs.append(None)
            elif value in values:
                inputs.append(values[value])
            elif value in stored:
                inputs.append(stored_value(value, node.op_type, slot, module))
            elif _integer(types.get(value)):
                inputs.append(None)  # a shape computed by skipped shape arithmetic
            else:
                raise InputError(
                    f"{file.path}: node {node.name or node.op_type!r} reads {value!r}, "
                    "which no node or initializer defines"
                )
            consumed_by.setdefault(value, []).append(position)
        outs = []
        for value in node.output:
            if not value:
                continue
            shape, dtype = types.get(value, (None, None))
            if shape is None or dtype is None:
                known = "" if node.op_type in LOWERINGS else " (an op type it does not know)"
                raise InputError(
                    f"{file.path}: ONNX shape inference gives no shape for {value!r}, output "
                    f"of {node.op_type} node {node.name!r}{known}; declare it in the graph's "
                    "value_info"
                )
            outs.append((shape, dtype))
        attrs = {a.name: _attribute(a) for a in node.attribute}
        lowered = _Node(node, inputs, attrs, outs, constants)
        if node.domain in ("", "ai.onnx") and node.op_type in LOWERINGS:
            calls = LOWERINGS[node.op_type](lowered)
        else:
            calls = [_unlowered(lowered)]
        made: dict[int, TensorInfo] = {}
        for call in calls:
            produced = builder.call(call, module, made)
        named = [v for v in node.output if v]
        for value, info in zip(named, produced, strict=False):
            values[value] = info

    outputs = tuple(values.get(o.name) for o in graph.output)
    if not any(outputs):
        raise InputError(f"{file.path}: no graph output is computed from the input")
    return Trace(
        name=name or file.path,
        input_shape=file.input_shape,
        batch=file.batch,
        input=source,
        ops=tuple(builder.ops),
        modules=_module_calls(scopes, builder.ops),
        parameters=tuple(
            ParameterInfo(t.name, owners[t.index], t.numel(), t, used=True)
            for t in builder.tensors
            if t.role == "parameter"
        ),
        outputs=outputs,
        output_type="Tensor" if len(outputs) == 1 else "tuple",
        end_points=tuple(dict.fromkeys(s.modules[0][0] for s in scopes if s.modules)),
        storages=_storages(builder, outputs),
    )


def _constant_tensor(node: Any) -> Any:
    """A Constant node's value as a TensorProto (``value`` or the scalar/list forms)."""
    helper = require("onnx.helper")
    for attr in node.attribute:
        if attr.name == "value":
            return attr.t
        if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
            data = helper.get_attribute_value(attr)
            dims = [] if attr.name.endswith(("float", "int")) else [len(data)]
            kind = 1 if "float" in attr.name else 7
            return helper.make_tensor(node.output[0], kind, dims, data if dims else [data])
    return None


def _attribute(attr: Any) -> Any:
    helper = require("onnx.helper")
    value = helper.get_attribute_value(attr)
    return value.decode() if isinstance(value, bytes) else value


def _integer(kind: tuple[Any, Any] | None) -> bool:
    return kind is not None and kind[1] is not None and not kind[1].is_floating_point


def _shape_arithmetic(node: Any, types: dict[str, Any]) -> bool:
    """A node that computes sizes (integer vectors): Python ints in PyTorch, no op."""
    if node.op_type == "Shape":
        return True
    for value in node.output:
        if not value:
            continue
        shape, dtype = types.get(value, (None, None))
        if dtype is None or dtype.is_floating_point or shape is None or len(shape) > 1:
            return False
    return bool(node.output)


def _module_calls(scopes: list[_Scope], ops: Sequence[OpCall]) -> tuple[ModuleCall, ...]:
    """One call per module scope, in the order they start, parents before children."""
    spans: dict[str, list[Any]] = {}  # name → [type, first_op, end_op]
    by_module: dict[str, list[OpCall]] = {}
    for op in ops:
        by_module.setdefault(op.module, []).append(op)
    paths: dict[str, _Scope] = {}
    for scope in scopes:
        paths.setdefault(scope.innermost, scope)
        for name, kind in scope.modules:
            spans.setdefault(name, [kind, None, None])
    for op in ops:
        path = paths.get(op.module)
        for name, _ in path.modules if path else ():
            span = spans[name]
            span[1] = op.index if span[1] is None else min(span[1], op.index)
            span[2] = op.index + 1 if span[2] is None else max(span[2], op.index + 1)
    calls = []
    for name, (kind, first, end) in spans.items():
        if first is None:
            continue
        last = ops[end - 1]
        output = last.outputs[0] if last.outputs else None
        kernel, stride = _window(by_module.get(name, []))
        calls.append(ModuleCall(name, kind, kernel, stride, first, end, output))
    calls.sort(key=lambda c: (c.first_op, -c.end_op))
    return tuple(calls)


def _window(ops: Sequence[OpCall]) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """The kernel and stride of a module's one sliding-window op (conv or pool)."""
    windows = [op for op in ops if op.func in _WINDOW_OPS]
    if len(windows) != 1:
        return None, None
    op = windows[0]
    if op.func is aten.convolution.default:
        return tuple(op.args[1].shape[2:]), tuple(op.args[3])
    return tuple(op.args[1]), tuple(op.args[2])


_WINDOW_OPS = (
    aten.convolution.default,
    aten.max_pool2d_with_indices.default,
    aten.avg_pool2d.default,
)


def _storages(builder: _Builder, outputs: Sequence[TensorInfo | None]) -> tuple[StorageInfo, ...]:
    """Each storage with its lifetime: an activation is freed after its last reader (what
    PyTorch's eager pass does when the last reference drops); the outputs stay."""
    last_read: dict[int, int] = {}
    for op in builder.ops:
        for t in op.inputs:
            last_read[t.storage] = op.index
    kept = {t.storage for t in outputs if t is not None}
    storages = []
    for index, (nbytes, dtype, role, producer) in enumerate(builder.storages):
        freed = None
        if role == "activation" and index not in kept:
            freed = last_read.get(index, producer) + 1
        storages.append(StorageInfo(index, nbytes, dtype, role, producer, freed))
    return tuple(storages)


def onnx_variant(path: str, input_shape: tuple[int, int, int] | None = None) -> Variant:
    """An ONNX file as a variant every analyzing command takes: read (and checked) now,
    traced from its graph at whatever input and batch an analyzer asks for."""
    first = load(path, input_shape)

    def trace_source(shape: tuple[int, int, int], batch: int, training: bool) -> Trace:
        if training:
            raise InputError(
                f"{path} is an inference graph: a training step needs the PyTorch module"
            )
        same = tuple(shape) == first.input_shape and batch == first.batch
        return trace_onnx(first if same else load(path, tuple(shape), batch), name=path)

    def builder(**_: Any) -> Any:
        raise RegistryError(
            f"{path} is an ONNX graph, not a PyTorch module: counters, latency and measured "
            "memory run the module (export from it instead)"
        )

    return Variant(
        name=path,
        family="onnx",
        tag="user",
        builder=builder,
        input_shape=first.input_shape,
        reproduces=f"ONNX file ({first.producer}, opset {first.opset})",
        differences=first.note(),
        trace_source=trace_source,
    )
