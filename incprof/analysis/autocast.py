"""The dtype every tensor of a trace holds under CUDA autocast, and the casts autocast runs.

``--dtype bf16``/``fp16`` means what PyTorch runs under ``torch.autocast``: the model's
weights and its input stay fp32; convolutions and matmuls run in the low dtype (their fp32
arguments, weights and biases included, are cast first: one copy kernel each); the ops on
autocast's fp32 list (layer and group norm, softmax, exp, pow …) run in fp32 (their
low-precision arguments are cast up first); every other op runs in the promoted dtype of its
tensor arguments (a half activation times an fp32 layer-scale parameter is fp32), except
that an in-place op or a view keeps its base's dtype and batch norm its input's (cuDNN takes
fp32 statistics beside half data). So a transformer's residual stream, fp32 once the fp32
position embedding is added, moves twice the bytes a half-everywhere count gives, and every
linear layer reads it through a cast: pricing all tensors at 2 bytes undercounts exactly the
networks whose layer norms and residual adds dominate, and a fit on those then prices every
other network's memory-bound kernels too slow (why the rtx-3090 held-out-family fit sat at
its efficiency caps).

The lists are those of ``torch/csrc/autograd/autocast_mode.cpp`` (CUDA), matched on the ATen
names a meta trace records (``linear`` arrives as ``addmm``, ``layer_norm`` as
``native_layer_norm``). Autocast's cache of cast weights within one forward is kept: a
parameter cast once is not cast again. A tensor the model itself converts (``x.float()``) is
a no-op in an fp32 trace and is not seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from incprof.analysis.memory import footprint
from incprof.analysis.trace import OpCall, TensorInfo, Trace

# Autocast's lower-precision list (ATen names as traced).
LOW = frozenset(
    {
        "convolution",
        "_convolution",
        "conv_tbc",
        "addmm",
        "addmv",
        "addr",
        "addbmm",
        "baddbmm",
        "bmm",
        "mm",
        "mv",
        "matmul",
        "linear",
        "prelu",
        "_prelu_kernel",
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
    }
)
# Autocast's fp32 list (out-of-place ops only: an in-place op cannot change its dtype).
FP32 = frozenset(
    {
        "acos",
        "asin",
        "cosh",
        "erfinv",
        "exp",
        "expm1",
        "log",
        "log10",
        "log2",
        "log1p",
        "reciprocal",
        "rsqrt",
        "sinh",
        "tan",
        "pow",
        "softplus",
        "layer_norm",
        "native_layer_norm",
        "group_norm",
        "native_group_norm",
        "norm",
        "linalg_vector_norm",
        "frobenius_norm",
        "cosine_similarity",
        "softmax",
        "_softmax",
        "log_softmax",
        "_log_softmax",
        "cumprod",
        "cumsum",
        "dist",
        "pdist",
        "cdist",
        "renorm",
        "logsumexp",
    }
)
# Ops whose output keeps the dtype of their first input, whatever the others hold.
SAME_AS_INPUT = frozenset(
    {"native_batch_norm", "_native_batch_norm_legit_no_training", "cudnn_batch_norm"}
)


@dataclass(frozen=True)
class Flow:
    """Each tensor value's dtype (by ``TensorInfo.index``); per op index on autocast's
    lists, the dtype it runs in and the bytes of each cast kernel autocast runs before it
    (read in the old dtype, written in the new)."""

    dtypes: Mapping[int, torch.dtype]
    runs: Mapping[int, torch.dtype]
    casts: Mapping[int, tuple[int, ...]]

    def dtype(self, tensor: TensorInfo) -> torch.dtype:
        """The dtype ``tensor`` holds (an input or a weight: fp32, as traced)."""
        return self.dtypes.get(tensor.index, tensor.dtype)

    def read_as(self, op: OpCall, tensor: TensorInfo) -> torch.dtype:
        """The dtype ``op`` reads ``tensor`` in: after its cast, for an op on the lists."""
        return self.runs.get(op.index, self.dtype(tensor))


def flow(trace: Trace, low: torch.dtype) -> Flow:
    """Walk the trace in order under autocast to ``low`` (fp16 or bf16)."""
    dtypes: dict[int, torch.dtype] = {}
    runs: dict[int, torch.dtype] = {}
    casts: dict[int, tuple[int, ...]] = {}
    cached: set[tuple[int, torch.dtype]] = set()  # parameters' storages already cast
    leaves = {s.index for s in trace.storages if s.role in ("parameter", "buffer")}
    for op in trace.ops:
        floats = [t for t in op.inputs if t.dtype.is_floating_point]
        target = _policy(op)
        if target is not None:
            run = runs[op.index] = low if target == "low" else torch.float32
            casts[op.index] = _casts(floats, run, dtypes, cached, leaves)
            out = run
        else:
            out = _result_dtype(op, floats, dtypes)
        for t in op.outputs:
            if t.dtype.is_floating_point:
                dtypes[t.index] = out
    return Flow(dtypes, runs, casts)


def _policy(op: OpCall) -> str | None:
    name = op.name
    if name in LOW:
        return "low"
    return "fp32" if name in FP32 and not _in_place(op) else None


def _in_place(op: OpCall) -> bool:
    """A view or an in-place op: its first output lives on its first input's storage."""
    outs, ins = op.outputs, op.inputs
    return bool(outs and ins and outs[0].storage == ins[0].storage)


def _casts(
    floats: list[TensorInfo],
    run: torch.dtype,
    dtypes: dict[int, torch.dtype],
    cached: set[tuple[int, torch.dtype]],
    leaves: set[int],
) -> tuple[int, ...]:
    """The cast kernels that bring ``floats`` to ``run``: one per distinct tensor value not
    already in it (a parameter once per forward: autocast caches its cast)."""
    out, seen = [], set()
    for t in floats:
        held = dtypes.get(t.index, t.dtype)
        if held == run or t.index in seen:
            continue
        seen.add(t.index)
        leaf = t.storage in leaves  # a parameter or buffer, or a view (``t``) of one
        if leaf and (t.storage, run) in cached:
            continue
        if leaf:
            cached.add((t.storage, run))
        out.append(footprint(t, held) + footprint(t, run))
    return tuple(out)


def _result_dtype(
    op: OpCall, floats: list[TensorInfo], dtypes: Mapping[int, torch.dtype]
) -> torch.dtype:
    """Outside autocast's lists: the base's dtype for a view or an in-place op, the input's
    for batch norm, else type promotion (a 0-dim tensor does not widen a dimensioned one)."""
    held = [dtypes.get(t.index, t.dtype) for t in floats]
    if held and (_in_place(op) or op.name in SAME_AS_INPUT):
        return held[0]
    shaped = [d for t, d in zip(floats, held, strict=True) if t.ndim] or held
    return max(shaped, key=lambda d: d.itemsize) if shaped else torch.float32
