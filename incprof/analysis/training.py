"""A training step: backward MACs in closed form, and the memory a step holds.

**Backward MACs** are a function of the eval-forward trace (aux heads excluded, as in
``macs``): a convolution or matrix product costs its forward MACs once for the gradient
of its input, if that input needs one (it descends from a trainable parameter: the first
layer's does not), and once for the gradient of its weight, if the weight is trainable.
Bias, batch-norm and activation gradients are not MACs, as in the forward.
``train_macs`` = forward + backward MACs, which is what ``FlopCounterMode`` counts over a
forward and backward, divided by 2.

**Step memory** is a function of a *training* trace (forward in train mode, as torch runs
it: aux heads included where the model runs them, then the backward of the sum of its
outputs): the bytes autograd saves for the backward (unique activation storages), the
peak of live activations and gradients over forward + backward, and beside them the
parameters, their gradients and the optimizer's state, each named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from incprof.analysis.formulas import cost_of
from incprof.analysis.memory import LiveTensor, dtype_of, in_dtype, input_bytes, timeline
from incprof.analysis.trace import Trace

aten = torch.ops.aten

# Operators with MACs, and the argument positions of their two differentiable operands.
_MAC_OPERANDS: Mapping[Any, tuple[int, int]] = {
    aten.convolution.default: (0, 1),
    aten._convolution.default: (0, 1),
    aten.mm.default: (0, 1),
    aten.bmm.default: (0, 1),
    aten.addmm.default: (1, 2),
}

# What each optimizer keeps per parameter that gets a gradient, in the parameter's dtype,
# and per-parameter scalars (Adam's ``step``: a 0-d float32 tensor).
OPTIMIZERS: Mapping[str, tuple[int, int, str]] = {
    "sgd": (1, 0, "SGD with momentum: one momentum buffer per parameter"),
    "adam": (2, 4, "Adam: exp_avg and exp_avg_sq per parameter, and a float32 step"),
}


@dataclass(frozen=True)
class BackwardCost:
    """Backward MACs of an eval-forward trace, per op that has any."""

    variant: str
    forward_macs: int
    per_op: tuple[tuple[int, str, str, int], ...]  # (op index, module, operator, MACs)

    @property
    def backward_macs(self) -> int:
        return sum(macs for *_, macs in self.per_op)

    @property
    def train_macs(self) -> int:
        return self.forward_macs + self.backward_macs

    def summary(self) -> dict[str, Any]:
        """The flat record: forward, backward and training-step MACs."""
        return {
            "variant": self.variant,
            "forward_macs": self.forward_macs,
            "backward_macs": self.backward_macs,
            "train_macs": self.train_macs,
        }


def needs_grad(trace: Trace) -> set[int]:
    """Indices of the tensor values that descend from a trainable parameter."""
    needs = {p.value.index for p in trace.parameters if p.trainable}
    for op in trace.ops:
        if op.phase == "forward" and any(t.index in needs for t in op.inputs):
            needs.update(t.index for t in op.outputs if t.dtype.is_floating_point)
    return needs


def backward(trace: Trace) -> BackwardCost:
    """Backward MACs of each convolution and matrix product of an eval trace."""
    needs = needs_grad(trace)
    forward = 0
    per_op = []
    for op in trace.ops:
        priced = cost_of(op.func, op.args, op.kwargs, op.out)
        if priced is None or not priced.macs:
            continue
        forward += priced.macs
        operands = _MAC_OPERANDS.get(op.func)
        if operands is None:
            raise ValueError(f"no backward formula for {op.name}, which has MACs")
        grads = sum(1 for i in operands if op.args[i].index in needs)
        if grads:
            per_op.append((op.index, op.module, op.name, grads * priced.macs))
    return BackwardCost(trace.name, forward, tuple(per_op))


@dataclass(frozen=True)
class StepMemory:
    """What one training step holds, by kind, in one dtype."""

    variant: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    optimizer: str
    input_bytes: int
    parameter_bytes: int
    buffer_bytes: int
    gradient_bytes: int  # one per parameter that gets a gradient, its size
    optimizer_state_bytes: int
    saved_bytes: int  # activations autograd keeps for the backward (unique storages)
    forward_peak_bytes: int  # live activations, largest during the forward
    step_peak_bytes: int  # live activations and gradients, largest over forward + backward
    peak_phase: str
    peak_module: str
    peak_operator: str
    at_peak: tuple[LiveTensor, ...]
    live: tuple[int, ...]
    phases: tuple[str, ...]
    # The inputs as given ('3x8x8, 16, mask=8:bool'); input_shape is the first one's.
    input_text: str = ""

    @property
    def total_peak_bytes(self) -> int:
        """Everything at the step's worst moment: the model, its optimizer state, the
        input and the live activations and gradients."""
        return (
            self.parameter_bytes
            + self.buffer_bytes
            + self.optimizer_state_bytes
            + self.input_bytes
            + self.step_peak_bytes
        )

    def by_kind(self) -> list[dict[str, Any]]:
        """The table of a step's memory by kind, each with what it holds."""
        rows = [
            ("parameters", self.parameter_bytes, "every parameter the model holds"),
            ("buffers", self.buffer_bytes, "batch-norm running statistics and counters"),
            ("input", self.input_bytes, "the batch"),
            ("gradients", self.gradient_bytes, "one per parameter that gets a gradient"),
            ("optimizer state", self.optimizer_state_bytes, OPTIMIZERS[self.optimizer][2]),
            (
                "saved for backward",
                self.saved_bytes,
                "activations autograd keeps from the forward (unique storages)",
            ),
            ("forward peak", self.forward_peak_bytes, "live activations, worst op of the forward"),
            (
                "step peak",
                self.step_peak_bytes,
                "live activations and gradients, worst op of forward + backward"
                f" ({self.peak_phase}, {self.peak_module or 'root'}: {self.peak_operator})",
            ),
            (
                "total at the step peak",
                self.total_peak_bytes,
                "parameters + buffers + optimizer state + input + step peak",
            ),
        ]
        return [{"kind": kind, "bytes": nbytes, "holds": holds} for kind, nbytes, holds in rows]

    def summary(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "input_shape": self.input_text or "x".join(map(str, self.input_shape)),
            "batch": self.batch,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "parameter_bytes": self.parameter_bytes,
            "buffer_bytes": self.buffer_bytes,
            "input_bytes": self.input_bytes,
            "gradient_bytes": self.gradient_bytes,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "saved_bytes": self.saved_bytes,
            "forward_peak_bytes": self.forward_peak_bytes,
            "step_peak_bytes": self.step_peak_bytes,
            "step_peak_phase": self.peak_phase,
            "step_peak_module": self.peak_module,
            "step_peak_operator": self.peak_operator,
            "total_peak_bytes": self.total_peak_bytes,
        }


def optimizer_state_bytes(trace: Trace, optimizer: str, dtype: torch.dtype) -> int:
    """The optimizer's state after its first step: per parameter that gets a gradient."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
    copies, scalar_bytes, _ = OPTIMIZERS[optimizer]
    stepped = [p for p in trace.parameters if p.used and p.trainable]
    return sum(
        copies * in_dtype(p.value.nbytes, p.value.dtype, dtype) + scalar_bytes for p in stepped
    )


def step_memory(trace: Trace, *, optimizer: str = "sgd", dtype: str = "fp32") -> StepMemory:
    """What a training step holds, from a training trace (``trace.training``)."""
    if not trace.training:
        raise ValueError("step memory needs a training trace (trace_module(training=True))")
    torch_dtype = dtype_of(dtype)
    state = optimizer_state_bytes(trace, optimizer, torch_dtype)
    live = timeline(trace, dtype=torch_dtype)
    forward_end = next((op.index for op in trace.ops if op.phase == "backward"), len(trace.ops))
    forward_live = live.live[:forward_end]
    saved = {t.storage for t in trace.saved}
    storages = trace.storages
    peak_op = trace.ops[live.peak_op] if live.peak_op is not None else None
    return StepMemory(
        variant=trace.name,
        input_shape=tuple(trace.input_shape),
        batch=trace.batch,
        dtype=dtype,
        optimizer=optimizer,
        input_bytes=input_bytes(trace, torch_dtype),
        parameter_bytes=sum(
            in_dtype(s.nbytes, s.dtype, torch_dtype) for s in storages if s.role == "parameter"
        ),
        buffer_bytes=sum(
            in_dtype(s.nbytes, s.dtype, torch_dtype) for s in storages if s.role == "buffer"
        ),
        gradient_bytes=sum(
            in_dtype(p.value.nbytes, p.value.dtype, torch_dtype)
            for p in trace.parameters
            if p.used and p.trainable
        ),
        optimizer_state_bytes=state,
        saved_bytes=sum(
            in_dtype(storages[i].nbytes, storages[i].dtype, torch_dtype)
            for i in saved
            if storages[i].role == "activation"
        ),
        forward_peak_bytes=max(forward_live, default=0),
        step_peak_bytes=live.peak_bytes,
        peak_phase=peak_op.phase if peak_op else "",
        peak_module=peak_op.module if peak_op else "",
        peak_operator=peak_op.name if peak_op else "",
        at_peak=live.at_peak,
        live=live.live,
        phases=tuple(op.phase for op in trace.ops),
        input_text=trace.input_text,
    )
