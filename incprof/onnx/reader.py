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

The parts: :mod:`incprof.onnx.graph` reads the file and infers its shapes,
:mod:`incprof.onnx.lowering` lowers each node, :mod:`incprof.onnx.scopes` finds the module
rows, :mod:`incprof.onnx.builder` collects tensors, storages and ops; this module walks the
graph and assembles the :class:`Trace`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from incprof.analysis.trace import (
    ParameterInfo,
    Role,
    TensorInfo,
    Trace,
)
from incprof.errors import InputError, RegistryError
from incprof.onnx import require
from incprof.onnx.builder import _Builder, _storages
from incprof.onnx.graph import _DTYPES, OnnxFile, load
from incprof.onnx.lowering import (
    _ALIASES,
    _STATISTICS_INPUTS,
    _WEIGHT_INPUTS,
    LOWERINGS,
    _Node,
    _unlowered,
)
from incprof.onnx.scopes import _module_calls, _Scope, _scopes
from incprof.registry import Variant


def _value_types(graph: Any) -> dict[str, tuple[tuple[int, ...] | None, torch.dtype | None]]:
    """Every value's shape (None: unknown) and dtype, as shape inference left them."""
    types: dict[str, tuple[tuple[int, ...] | None, torch.dtype | None]] = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        known = tensor.HasField("shape") and all(d is not None for d in dims)
        types[value.name] = (tuple(dims) if known else None, _DTYPES.get(tensor.elem_type))
    return types


@dataclass
class _Walk:
    """One pass over a graph's nodes: the values defined so far, the initializers and
    Constant outputs not yet read as tensors, small integer data (axes, pads, shapes) and
    each parameter's value index → the module that first used it."""

    file: OnnxFile
    types: dict[str, tuple[tuple[int, ...] | None, torch.dtype | None]]
    to_array: Callable[[Any], Any]
    builder: _Builder = field(default_factory=_Builder)
    values: dict[str, TensorInfo] = field(default_factory=dict)
    stored: dict[str, Any] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    owners: dict[int, str] = field(default_factory=dict)

    def keep(self, value: str, tensor: Any) -> None:
        """An initializer or a Constant's value, its data kept when it is small."""
        self.stored[value] = tensor
        if math.prod(tensor.dims) <= 64:
            self.constants[value] = self.to_array(tensor)

    def stored_value(self, value: str, op_type: str, slot: int, module: str) -> TensorInfo:
        """A stored value as a tensor: a parameter, a buffer (BN statistics) or a constant."""
        init = self.stored[value]
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
        info = self.builder.tensor(shape, dtype, None, role, name=value)
        self.values[value] = info
        if role == "parameter":
            self.owners[info.index] = module
        return info

    def visit(self, node: Any, module: str) -> None:
        """One node: an alias, a Constant or shape arithmetic records nothing; any other
        is lowered and its calls recorded."""
        if node.op_type in _ALIASES:
            if node.input[0] in self.values or node.input[0] in self.stored:
                self.values[node.output[0]] = self.values.get(node.input[0]) or self.stored_value(
                    node.input[0], node.op_type, 0, module
                )
            return
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            tensor = _constant_tensor(node)
            if tensor is not None:
                tensor.name = node.output[0]
                self.keep(node.output[0], tensor)
            return
        if _shape_arithmetic(node, self.types):
            return
        inputs = self.inputs(node, module)
        attrs = {a.name: _attribute(a) for a in node.attribute}
        lowered = _Node(node, inputs, attrs, self.outputs(node), self.constants)
        if node.domain in ("", "ai.onnx") and node.op_type in LOWERINGS:
            calls = LOWERINGS[node.op_type](lowered)
        else:
            calls = [_unlowered(lowered)]
        made: dict[int, TensorInfo] = {}
        for call in calls:
            produced = self.builder.call(call, module, made)
        named = [v for v in node.output if v]
        for value, info in zip(named, produced, strict=False):
            self.values[value] = info

    def inputs(self, node: Any, module: str) -> list[TensorInfo | None]:
        """A node's inputs as tensors; None where omitted or a size computed by skipped
        shape arithmetic."""
        inputs: list[TensorInfo | None] = []
        for slot, value in enumerate(node.input):
            if not value:
                inputs.append(None)
            elif value in self.values:
                inputs.append(self.values[value])
            elif value in self.stored:
                inputs.append(self.stored_value(value, node.op_type, slot, module))
            elif _integer(self.types.get(value)):
                inputs.append(None)
            else:
                raise InputError(
                    f"{self.file.path}: node {node.name or node.op_type!r} reads {value!r}, "
                    "which no node or initializer defines"
                )
        return inputs

    def outputs(self, node: Any) -> list[tuple[tuple[int, ...], torch.dtype]]:
        """The shape and dtype ONNX inferred for each of a node's outputs."""
        outs = []
        for value in node.output:
            if not value:
                continue
            shape, dtype = self.types.get(value, (None, None))
            if shape is None or dtype is None:
                known = "" if node.op_type in LOWERINGS else " (an op type it does not know)"
                raise InputError(
                    f"{self.file.path}: ONNX shape inference gives no shape for {value!r}, "
                    f"output of {node.op_type} node {node.name!r}{known}; declare it in the "
                    "graph's value_info"
                )
            outs.append((shape, dtype))
        return outs


def trace_onnx(file: OnnxFile, *, name: str | None = None) -> Trace:
    """The trace of an ONNX file as read by :func:`load`: one op per lowered ATen call."""
    graph = file.model.graph
    scopes = _scopes(graph)
    walk = _Walk(file, _value_types(graph), require("onnx.numpy_helper").to_array)
    source = walk.builder.tensor((file.batch, *file.input_shape), torch.float32, None, "input")
    walk.values[file.input_name] = source
    for init in graph.initializer:
        walk.keep(init.name, init)
    for node, scope in zip(graph.node, scopes, strict=True):
        walk.visit(node, scope.innermost)
    outputs = tuple(walk.values.get(o.name) for o in graph.output)
    if not any(outputs):
        raise InputError(f"{file.path}: no graph output is computed from the input")
    return _assemble(file, name, walk, scopes, outputs)


def _assemble(
    file: OnnxFile,
    name: str | None,
    walk: _Walk,
    scopes: list[_Scope],
    outputs: tuple[TensorInfo | None, ...],
) -> Trace:
    """The trace of a finished walk: its ops, module calls, parameters and storages."""
    builder = walk.builder
    return Trace(
        name=name or file.path,
        input_shape=file.input_shape,
        batch=file.batch,
        input=walk.values[file.input_name],
        ops=tuple(builder.ops),
        modules=_module_calls(scopes, builder.ops),
        parameters=tuple(
            ParameterInfo(t.name, walk.owners[t.index], t.numel(), t, used=True)
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
