"""Export an entry to ONNX, and check the file against the PyTorch model it came from.

torch's exporter (``torch.onnx.export(..., dynamo=True)``) writes the eval graph, aux
heads off, after its optimizer has folded batch norm into the convolutions. Weights are
random but not degenerate: every bias, batch norm scale, shift and running statistic gets
a seeded random value, so the exporter cannot drop a bias for being zero (a freshly
initialised model has zero biases and identity batch norms, which would hide a wrong
fold from the check), and the numerical check below compares something.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from incprof.analysis.inputs import as_inputs, make_inputs
from incprof.analysis.trace import first_tensor
from incprof.errors import InputError, error_line
from incprof.onnx import require
from incprof.parse import Inputs, shape_text
from incprof.registry import InputShape, Variant

# Outputs of ONNX Runtime and of PyTorch agree to this, relative to the output's range:
# fp32 kernels sum in different orders, and errors grow with depth (≈1e-6 on the blocks,
# ≈1e-5 on Inception-ResNet-v2).
TOLERANCE = 1e-4
SEED = 0


@dataclass(frozen=True)
class Export:
    """What was written and how well ONNX Runtime reproduces the PyTorch outputs."""

    variant: str
    data: bytes  # the serialized ModelProto
    input_shape: InputShape | Inputs
    opset: int
    dynamic_batch: bool
    nodes: int
    max_abs_diff: float | None  # None: not checked
    scale: float  # the largest |output| of PyTorch, which the tolerance is relative to

    @property
    def matches(self) -> bool | None:
        if self.max_abs_diff is None:
            return None
        return self.max_abs_diff <= TOLERANCE * max(self.scale, 1.0)

    @property
    def tolerance(self) -> float:
        return TOLERANCE * max(self.scale, 1.0)

    def summary(self) -> str:
        """One line for the user: what was exported and whether ONNX Runtime agrees."""
        batch = "dynamic batch" if self.dynamic_batch else "batch 1"
        text = (
            f"{self.variant}: {shape_text(self.input_shape)}, {batch}, opset "
            f"{self.opset}, {self.nodes} nodes, {len(self.data) / 2**20:.1f} MiB"
        )
        if self.max_abs_diff is None:
            return text + "; not checked"
        verdict = "matches" if self.matches else "DIFFERS FROM"
        return (
            f"{text}; ONNX Runtime {verdict} PyTorch on a random input (max |diff| "
            f"{self.max_abs_diff:.1e}, tolerance {self.tolerance:.1e} = {TOLERANCE:g} × "
            "max(1, max |output|))"
        )


def randomize(model: nn.Module, seed: int = SEED) -> nn.Module:
    """Seeded random biases and batch norm statistics (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(t: torch.Tensor, low: float, high: float) -> None:
        t.copy_(torch.rand(t.shape, generator=generator) * (high - low) + low)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                if module.weight is not None:
                    uniform(module.weight, 0.5, 1.5)
                    uniform(module.bias, -0.1, 0.1)
                if module.running_mean is not None:
                    uniform(module.running_mean, -0.1, 0.1)
                    uniform(module.running_var, 0.5, 1.5)
            elif isinstance(getattr(module, "bias", None), nn.Parameter):
                uniform(module.bias, -0.1, 0.1)
    return model


def export(
    variant: Variant,
    *,
    input_shape: InputShape | Inputs | None = None,
    opset: int | None = None,
    dynamic_batch: bool = False,
    check: bool = True,
) -> Export:
    """``variant``'s eval graph as ONNX; with ``check``, run in ONNX Runtime on a random
    input beside PyTorch (see :attr:`Export.matches`)."""
    require(why="export")
    require("onnxscript", why="torch's ONNX exporter")
    shape = input_shape or variant.input_for()
    spec = as_inputs(shape)
    if dynamic_batch and (len(spec.specs()) != 1 or spec.kwargs):
        raise InputError(f"a dynamic batch takes one positional input; {variant.name} has {spec}")
    model = randomize(variant.build()).eval()
    batch = 2 if dynamic_batch else 1  # torch.export specialises a size-1 dimension
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        args, kwargs = make_inputs(spec, batch, "cpu")
    dynamic = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    with _quiet():
        try:
            program = torch.onnx.export(
                model, args, kwargs=kwargs, dynamo=True, opset_version=opset, dynamic_shapes=dynamic
            )
        except Exception as exc:
            raise InputError(f"{variant.name}: torch's exporter failed: {_reason(exc)}") from None
    proto = program.model_proto
    data = proto.SerializeToString()
    if len(data) >= 2**31:
        raise InputError(f"{variant.name} exceeds ONNX's 2 GB limit for one file")
    diff = scale = None
    if check:
        with torch.no_grad():
            expected = _first(model(*args, **kwargs)).numpy()
        leaves = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        got = _run(data, [t.numpy() for t in leaves])
        if got.shape != expected.shape:
            raise InputError(
                f"{variant.name}: the exported graph returns {got.shape}, PyTorch {expected.shape}"
            )
        diff = float(abs(got - expected).max())
        scale = float(abs(expected).max())
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    return Export(
        variant.name,
        data,
        shape,
        opset_used,
        dynamic_batch,
        len(proto.graph.node),
        diff,
        scale if scale is not None else 0.0,
    )


def _run(data: bytes, feeds: list[Any]) -> Any:
    """The first output of the graph in ONNX Runtime on the CPU, fed the forward's tensors
    in order (the exporter keeps them as the graph's inputs, plain values folded in)."""
    ort = require("onnxruntime", why="checking the export")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, feeds, strict=True)))[0]


def _first(out: Any) -> torch.Tensor:
    tensor = first_tensor(out)
    if tensor is None:
        raise InputError("the model's output holds no tensor")
    return tensor


def _reason(exc: BaseException) -> str:
    """The exporter's errors run to pages; the first line that says something (its
    exception summary, where it gives one)."""
    text = str(exc)
    _, _, summary = text.partition("## Exception summary")
    for line in (summary or text).splitlines():
        if line.strip() and not line.startswith(("[torch.onnx]", "#")):
            return f"{type(exc).__name__}: {line.strip()[:200]}"
    return error_line(exc)


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress to stdout (where ``--onnx -`` may stream the file)
    and warns per op; keep both off the user's streams."""
    sink = io.StringIO()
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch.export")]
    levels = [log.level for log in loggers]
    try:
        for log in loggers:
            log.setLevel(logging.ERROR)
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
