"""The work a prediction prices: one row per ATen op of the trace that runs a kernel (its
category, FLOPs, bytes, GEMM shape), after the fusion rules of ``compile`` mode, and the
shape model's wave quantization of a GEMM's tiles (see :mod:`incprof.analysis.predict`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from incprof.analysis import autocast
from incprof.analysis.formulas import cost_of
from incprof.analysis.memory import footprint, is_view
from incprof.analysis.trace import OpCall, TensorInfo, Trace
from incprof.run_settings import MODES
from incprof.run_settings import PRECISIONS as DTYPES

aten = torch.ops.aten

# formulas.Cost.category -> the profile's efficiency category.
_CATEGORY = {
    "conv": "conv",
    "linear": "matmul",
    "batch_norm": "norm",
    "norm": "norm",
    "activation": "pointwise",
    "elementwise": "pointwise",
    "dropout": "pointwise",
    "softmax": "pointwise",
    "upsample": "pointwise",
    "pool": "pool",
    "data_movement": "copy",
}
# Ops that allocate and run nothing on the device.
_ALLOCATIONS = frozenset(
    {
        aten.empty.memory_format,
        aten.empty_like.default,
        aten.new_empty.default,
        aten.empty_strided.default,
    }
)
# Views the bytes analyzer counts as copies, which run no kernel on a device.
_FREE_VIEWS = frozenset({aten._unsafe_view.default, aten.alias.default})
_CONVOLUTIONS = frozenset({aten.convolution.default, aten._convolution.default})
# Output tiles (M, N) a GEMM library picks among, with the share of the large tile's MAC
# rate each keeps (smaller tiles reuse each operand less); K is padded to ``K_STEP``.
TILES = ((256, 128, 1.0), (128, 128, 1.0), (128, 64, 0.9), (64, 64, 0.75), (64, 32, 0.6))
K_STEP = {"tensor": 32, "simt": 8}
_EVAL_BATCH_NORM = frozenset(
    {aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default}
)


@dataclass(frozen=True)
class OpWork:
    """What one ATen op asks of the device, independent of any profile."""

    index: int
    module: str
    operator: str
    category: str  # a profile efficiency category (profiles.CATEGORIES)
    kernel: bool  # False: a view or an allocation, or fused away (compile)
    flops: int
    bytes: int
    fused_into: int | None = None  # compile: the op whose kernel absorbed this one
    gemm: tuple[int, int, int, int] | None = None  # (groups, M, N, K) of a conv or matmul


def gemm_shape(op: OpCall) -> tuple[int, int, int, int] | None:
    """The (groups, M, N, K) a conv or matmul runs as; None for any other op."""
    out = op.outputs[0].shape if op.outputs else ()
    tensors = op.inputs
    if op.func in _CONVOLUTIONS and len(tensors) >= 2 and len(out) >= 3:
        weight = tensors[1].shape
        groups = int(op.args[8]) if len(op.args) > 8 else 1
        pixels = math.prod(out[2:])
        return groups, out[0] * pixels, weight[0] // groups, math.prod(weight[1:])
    if op.func in (aten.mm.default, aten.bmm.default) and len(out) >= 2:
        return math.prod(out[:-2]) or 1, out[-2], out[-1], tensors[0].shape[-1]
    if op.func == aten.addmm.default and len(out) == 2 and len(tensors) >= 2:
        return 1, out[0], out[1], tensors[1].shape[-1]
    return None


def quantization(gemm: tuple[int, int, int, int], sm_count: int, cls: str) -> float:
    """How many times its useful MACs a GEMM's kernel pays for: whole waves of whole tiles
    over the SMs, K padded, at the best tile of ``TILES`` (≥ 1; 1/0.95 for a big square)."""
    groups, m, n, k = gemm
    useful = groups * m * n * k
    if not useful:
        return 1.0
    step = K_STEP[cls]
    padded_k = -(-k // step) * step
    best = math.inf
    for tile_m, tile_n, rate in TILES:
        tiles = groups * -(-m // tile_m) * -(-n // tile_n)
        waves = -(-tiles // sm_count)
        best = min(best, waves * sm_count * tile_m * tile_n * padded_k / rate)
    return best / useful


# The low dtype autocast runs convolutions and matmuls in, per analysis dtype.
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
CAST = "_to_copy"  # the operator name of autocast's cast kernels in the work rows


class _Dtypes:
    """The dtype a tensor is priced in: under autocast (bf16, fp16) the one
    :func:`incprof.analysis.autocast.flow` gives it; fp32 and TF32 keep every float fp32."""

    def __init__(self, trace: Trace, dtype: str) -> None:
        low = _AUTOCAST.get(dtype)
        self.flow = autocast.flow(trace, low) if low is not None else None

    def held(self, tensor: TensorInfo) -> torch.dtype:
        return self.flow.dtype(tensor) if self.flow else torch.float32

    def op_bytes(self, op: OpCall) -> int:
        """Bytes ``op`` moves: each distinct input once, read in the dtype the op runs in,
        and every output in the dtype it holds; a view moves nothing."""
        if is_view(op):
            return 0
        flow, seen, total = self.flow, set(), 0
        for t in op.inputs:
            if t.index not in seen:
                seen.add(t.index)
                total += footprint(t, flow.read_as(op, t) if flow else torch.float32)
        return total + sum(footprint(t, self.held(t)) for t in op.outputs)


def work(trace: Trace, *, dtype: str = "bf16", mode: str = "eager") -> tuple[OpWork, ...]:
    """Each op's category, FLOPs and bytes in ``dtype``, after ``mode``'s fusion rules; under
    autocast (bf16, fp16) each cast kernel autocast runs is a row of its own (category
    ``copy``, operator ``_to_copy``) just before the op it feeds, except in ``compile`` mode,
    where a cast fuses into a neighbouring kernel (its bytes stay in the op's own count)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    dtypes = _Dtypes(trace, dtype)
    rows = []
    for op in trace.ops:
        priced = cost_of(op.func, op.args, op.kwargs, op.out)
        category = _CATEGORY.get(priced.category, "other") if priced else "other"
        flops = 2 * priced.macs if priced else 0
        if is_view(op) or op.func in _ALLOCATIONS or op.func in _FREE_VIEWS:
            rows.append(OpWork(op.index, op.module, op.name, category, False, flops, 0))
            continue
        gemm = gemm_shape(op) if category in ("conv", "matmul") else None
        if gemm is not None and category == "conv" and gemm[0] > 1 and gemm[2] <= 2:
            category = "dwconv"  # one or two output channels per group: no GEMM runs it
        nbytes = dtypes.op_bytes(op)
        rows.append(OpWork(op.index, op.module, op.name, category, True, flops, nbytes, None, gemm))
    _flash_attention(trace, rows, dtypes)
    if mode == "compile":
        return _fuse(trace, rows, dtypes)
    return _with_casts(rows, dtypes.flow.casts if dtypes.flow else {})


def _with_casts(rows: Sequence[OpWork], casts: Mapping[int, tuple[int, ...]]) -> tuple[OpWork, ...]:
    """The rows with each kept op's cast kernels just before it (memory-bound copies)."""
    out: list[OpWork] = []
    for row in rows:
        if row.kernel:
            out += [
                OpWork(row.index, row.module, CAST, "copy", True, 0, nbytes)
                for nbytes in casts.get(row.index, ())
            ]
        out.append(row)
    return tuple(out)


def _flash_attention(trace: Trace, rows: list[OpWork], dtypes: _Dtypes) -> None:
    """``F.scaled_dot_product_attention`` traces on meta as its math decomposition (bmm,
    ``_safe_softmax``, bmm, with ``clone`` copies of the expanded K and V), which no device
    runs: PyTorch picks a fused (flash or memory-efficient) kernel, on the CPU too. So the
    softmax and those copies run no kernel, and the score matrix is neither written by the
    first bmm nor read by the second."""
    for op in trace.ops:
        if op.func is not aten._safe_softmax.default or not op.inputs:
            continue
        scores = footprint(op.inputs[0], dtypes.held(op.inputs[0]))
        _drop(rows, op.index)
        bmms = [_kernel_behind(trace, rows, op.inputs[0].producer)]
        out = op.outputs[0].storage if op.outputs else None
        for later in trace.ops[op.index + 1 : op.index + 8]:
            if later.func is aten.bmm.default and any(t.storage == out for t in later.inputs):
                bmms.append(later.index)
                break
        for index in bmms:
            if index is None or trace.ops[index].func is not aten.bmm.default:
                continue
            rows[index] = _less_bytes(rows[index], scores)
            for t in trace.ops[index].inputs:
                copy = _kernel_behind(trace, rows, t.producer)
                if copy is not None and trace.ops[copy].func is aten.clone.default:
                    _drop(rows, copy)


def _kernel_behind(trace: Trace, rows: Sequence[OpWork], index: int | None) -> int | None:
    """The kernel that wrote a value, looking through the views (no kernel) on the way."""
    while index is not None and not rows[index].kernel:
        inputs = trace.ops[index].inputs
        index = inputs[0].producer if inputs else None
    return index


def _drop(rows: list[OpWork], index: int) -> None:
    row = rows[index]
    rows[index] = OpWork(row.index, row.module, row.operator, row.category, False, row.flops, 0)


def _less_bytes(row: OpWork, saved: int) -> OpWork:
    return OpWork(
        row.index,
        row.module,
        row.operator,
        row.category,
        row.kernel,
        row.flops,
        max(row.bytes - saved, 0),
        row.fused_into,
        row.gemm,
    )


def _first_tensor(op: OpCall) -> TensorInfo | None:
    return next(iter(op.inputs), None)


def _fuse(trace: Trace, rows: list[OpWork], dtypes: _Dtypes) -> tuple[OpWork, ...]:
    """Apply the two compile rules of the module docstring, in trace order."""
    writer: dict[int, int] = {}  # storage -> the kernel (row index) that last wrote it
    last_kernel: int | None = None
    out = list(rows)
    for i, op in enumerate(trace.ops):
        row = out[i]
        if not row.kernel:
            continue
        first = _first_tensor(op)
        source = writer.get(first.storage) if first is not None else None
        folded = (
            op.func in _EVAL_BATCH_NORM
            and source is not None
            and trace.ops[source].func in (aten.convolution.default, aten._convolution.default)
        )
        fused = (
            row.category == "pointwise"
            and source is not None
            and source == last_kernel
            and first is not None
            and all(t.shape == first.shape for t in op.outputs[:1])
        )
        if folded or fused:
            target = _kernel_of(out, source)
            saved = 0 if folded else 2 * footprint(first, dtypes.held(first))
            absorbed = 0 if folded else row.bytes
            host = out[target]
            out[target] = OpWork(
                host.index,
                host.module,
                host.operator,
                host.category,
                True,
                host.flops,
                max(host.bytes + absorbed - saved, 0),
                None,
                host.gemm,
            )
            out[i] = OpWork(
                row.index, row.module, row.operator, row.category, False, row.flops, 0, target
            )
            for t in op.outputs:
                writer[t.storage] = source
            continue
        for t in op.outputs:
            writer[t.storage] = i
        last_kernel = i
    return tuple(out)


def _kernel_of(rows: Sequence[OpWork], index: int) -> int:
    while rows[index].fused_into is not None:
        index = rows[index].fused_into
    return index
