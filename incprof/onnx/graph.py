"""Reading an ONNX file: the model loaded, its one image input fixed at the size asked,
every shape inferred, and the facts a comparison with PyTorch needs (opset, producer,
the batch norms the exporter folded). :mod:`incprof.onnx.reader` traces the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from incprof.errors import InputError, error_line
from incprof.onnx import require

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
