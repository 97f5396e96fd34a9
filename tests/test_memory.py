"""Bytes moved and the activation peak, derived by hand on tiny networks (float32: 4 bytes
an element), scaled exactly with batch and dtype on a registered network, and the trace's
lifetimes checked against a real CPU run."""

from __future__ import annotations

import weakref
from typing import Any

import pytest
import torch
from tiny_nets import FlattenLinear, Residual, TwoBranches, conv_relu_chain, frozen_chain
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis.memory import memory
from incprof.analysis.trace import ROOT, Trace, tensor_leaves, trace_module, trace_variant
from incprof.registry import get


def op_rows(trace: Trace) -> list[tuple[str, str, int, int]]:
    """(operator, module, bytes read, bytes written) of every op, fp32."""
    return [(r.operator, r.module, r.bytes_read, r.bytes_written) for r in memory(trace).traffic]


@pytest.mark.parametrize("inplace", [True, False])
def test_hand_conv_relu_chain_bytes_and_peak(inplace: bool) -> None:
    trace = trace_module(conv_relu_chain(inplace).eval(), (1, 6, 6))
    relu = "relu_" if inplace else "relu"
    # x 1×6×6 = 36 el = 144 B. conv0: w 2·1·3·3 = 18 el = 72 B, b 2 el = 8 B, out 2×4×4 =
    # 32 el = 128 B. ReLU reads and writes its 128 B (in place: the same storage, once).
    # conv2: reads 128 + w 3·2·3·3 = 54 el = 216 B + b 12 B = 356; out 3×2×2 = 12 el = 48 B.
    assert op_rows(trace) == [
        ("convolution", "0", 144 + 72 + 8, 128),
        (relu, "1", 128, 128),
        ("convolution", "2", 128 + 216 + 12, 48),
    ]
    result = memory(trace)
    assert (result.bytes_read, result.bytes_written) == (224 + 128 + 356, 128 + 128 + 48)
    assert result.bytes_moved == 1012
    # MACs: 32 outputs × 1·9 + 12 outputs × 2·9 = 288 + 216 = 504; FLOPs 1008.
    assert result.flops == 1008
    assert result.arithmetic_intensity == 1008 / 1012
    assert (result.input_bytes, result.parameter_bytes, result.buffer_bytes) == (144, 308, 0)
    if inplace:
        # One storage for conv0 and the ReLU, alive until Sequential rebinds after conv2:
        # 128, 128, then 128 + 48 at conv2.
        assert result.timeline.live == (128, 128, 176)
        assert (result.activation_peak_bytes, result.peak_module) == (176, "2")
        assert result.peak_operator == "convolution"
    else:
        # conv0's output lives until the ReLU returns (Sequential drops it), so during the
        # ReLU both 128-byte maps are alive; at conv2 only the ReLU's and conv2's.
        assert result.timeline.live == (128, 256, 176)
        assert (result.activation_peak_bytes, result.peak_module) == (256, "1")
        assert [(t.nbytes, t.module) for t in result.timeline.at_peak] == [
            (128, "0"),
            (128, "1"),
        ]
    # bf16: every storage is floating, so every byte figure halves, the FLOPs do not.
    half = memory(trace, dtype="bf16")
    assert half.bytes_moved == 1012 // 2
    assert half.activation_peak_bytes == result.activation_peak_bytes // 2
    assert half.flops == 1008


def test_hand_two_branches_joined_by_cat() -> None:
    trace = trace_module(TwoBranches().eval(), (2, 4, 4))
    # x 2×4×4 = 32 el = 128 B. a (1×1, 2→3): w 6 el = 24 B, b 12 B, out 3×4×4 = 192 B.
    # b (3×3 pad 1, 2→1): w 18 el = 72 B, b 4 B, out 1×4×4 = 64 B. cat: 192 + 64 -> 256 B.
    assert op_rows(trace) == [
        ("convolution", "a", 128 + 24 + 12, 192),
        ("convolution", "b", 128 + 72 + 4, 64),
        ("cat", ROOT, 192 + 64, 256),
    ]
    result = memory(trace)
    assert (result.bytes_read, result.bytes_written, result.bytes_moved) == (624, 512, 1136)
    # MACs: a 48 outputs × 2 = 96, b 16 outputs × 2·9 = 288: 384, FLOPs 768.
    assert result.flops == 768
    assert result.arithmetic_intensity == 768 / 1136
    # Both branch outputs stay alive until cat has written its copy: 192, +64, +256.
    assert result.timeline.live == (192, 256, 512)
    assert (result.activation_peak_bytes, result.peak_module, result.peak_operator) == (
        512,
        ROOT,
        "cat",
    )
    assert [(t.nbytes, t.module) for t in result.timeline.at_peak] == [
        (256, ROOT),
        (192, "a"),
        (64, "b"),
    ]


def test_hand_residual_add() -> None:
    trace = trace_module(Residual().eval(), (1, 4, 4))
    # x 16 el = 64 B. stem: w 2·1·9 = 18 el = 72 B, b 8 B, out y 2×4×4 = 32 el = 128 B.
    # f: reads y 128 + w 2·2·9 = 36 el = 144 B + b 8 B, out 128 B. add: y and f(y), 128 out.
    assert op_rows(trace) == [
        ("convolution", "stem", 64 + 72 + 8, 128),
        ("convolution", "f", 128 + 144 + 8, 128),
        ("add", ROOT, 128 + 128, 128),
    ]
    result = memory(trace)
    assert (result.bytes_read, result.bytes_written) == (144 + 280 + 256, 128 * 3)
    # MACs: stem 32 outputs × 9 = 288, f 32 × 18 = 576: 864, FLOPs 1728.
    assert result.flops == 1728
    assert result.arithmetic_intensity == 1728 / 1064
    # y stays alive through f for the add: 128, 256, then y + f(y) + the sum = 384.
    assert result.timeline.live == (128, 256, 384)
    assert (result.activation_peak_bytes, result.peak_module) == (384, ROOT)


def test_hand_flatten_view_then_linear() -> None:
    trace = trace_module(FlattenLinear().eval(), (1, 4, 4))
    # x 64 B; conv: w 72 B, b 8 B, out 2×2×2 = 8 el = 32 B. flatten is a view and fc's
    # weight transpose too: no bytes. addmm reads b 5 el = 20 B, the 32 B map, w 40 el =
    # 160 B, and writes 5 el = 20 B.
    assert op_rows(trace) == [
        ("convolution", "conv", 64 + 72 + 8, 32),
        ("view", ROOT, 0, 0),
        ("t", "fc", 0, 0),
        ("addmm", "fc", 20 + 32 + 160, 20),
    ]
    result = memory(trace)
    assert (result.bytes_read, result.bytes_written, result.bytes_moved) == (356, 52, 408)
    # MACs: conv 8 outputs × 9 = 72, fc 8·5 = 40: 112, FLOPs 224.
    assert result.arithmetic_intensity == 224 / 408
    # The view shares the conv's storage: 32 B while it runs, then + 20 B at addmm.
    assert result.timeline.live == (32, 32, 32, 52)
    assert (result.activation_peak_bytes, result.peak_module, result.peak_operator) == (
        52,
        "fc",
        "addmm",
    )
    by_operator = result.by_operator()
    assert by_operator["view"]["bytes_moved"] == 0 and by_operator["t"]["bytes_moved"] == 0
    assert by_operator["addmm"] == {
        "calls": 1,
        "bytes_read": 212,
        "bytes_written": 20,
        "bytes_moved": 232,
        "flops": 80,
        "arithmetic_intensity": 80 / 232,
    }


# inception_v3's max pools write int64 indices (eval, the "cuda" convention): maxpool1
# 64×73×73, maxpool2 192×35×35, Mixed_6a 288×17×17, Mixed_7a 768×8×8 elements, 8 B each.
MAXPOOL1_INDEX_BYTES = 64 * 73 * 73 * 8
INDEX_BYTES = MAXPOOL1_INDEX_BYTES + (192 * 35 * 35 + 288 * 17 * 17 + 768 * 8 * 8) * 8


def weight_traffic(trace: Trace) -> int:
    """Bytes of parameters and buffers the eval forward reads: each once, whatever the
    batch (what bytes moved adds to its per-image part)."""
    kept = {s.index for s in trace.storages if s.role in ("parameter", "buffer")}
    return sum(
        s.nbytes
        for s in trace.storages
        if s.index in kept and any(t.storage == s.index for op in trace.ops for t in op.inputs)
    )


def test_scaling_with_batch_and_dtype_is_exact() -> None:
    variant = get("inception_v3")
    one, two, eight = (trace_variant(variant, batch=b) for b in (1, 2, 8))
    fp32 = {b: memory(t) for b, t in ((1, one), (2, two), (8, eight))}
    bf16 = {b: memory(t, dtype="bf16") for b, t in ((1, one), (8, eight))}
    weights = weight_traffic(one)
    per_image = fp32[1].bytes_moved - weights
    assert fp32[2].bytes_moved == 2 * per_image + weights
    assert fp32[8].bytes_moved == 8 * per_image + weights
    # Activations scale with the batch, the model does not.
    assert fp32[8].activation_peak_bytes == 8 * fp32[1].activation_peak_bytes
    assert fp32[8].input_bytes == 8 * fp32[1].input_bytes == 8 * 3 * 299 * 299 * 4
    assert fp32[8].parameter_bytes == fp32[1].parameter_bytes
    # bf16: floating data halves; the int64 indices and num_batches_tracked counters do not.
    counters = 8 * sum(isinstance(m, nn.BatchNorm2d) for m in variant.build().modules())
    for batch in (1, 8):
        full, half = fp32[batch], bf16[batch]
        indices = batch * INDEX_BYTES
        assert half.bytes_moved == (full.bytes_moved - indices) // 2 + indices
        assert half.parameter_bytes * 2 == full.parameter_bytes
        assert half.buffer_bytes == (full.buffer_bytes - counters) // 2 + counters
        assert half.input_bytes * 2 == full.input_bytes
        # fp32's peak (Conv2d_2b_3x3) holds no integers, but in bf16 the peak moves to
        # maxpool1, whose int64 indices do not halve: (live there - indices) / 2 + indices.
        assert full.peak_module == "Conv2d_2b_3x3.bn"
        assert half.peak_module == "maxpool1"
        at = half.timeline.peak_op
        pool_indices = batch * MAXPOOL1_INDEX_BYTES
        expected = (full.timeline.live[at] - pool_indices) // 2 + pool_indices
        assert half.activation_peak_bytes == expected > full.activation_peak_bytes // 2


def test_huge_batch_gives_exact_integers() -> None:
    variant = get("inception_v3")
    one = memory(trace_variant(variant))
    batch = 10**8  # bytes moved beyond 2**53, where a float would round
    huge = memory(trace_variant(variant, batch=batch))
    weights = weight_traffic(trace_variant(variant))
    for figure in (huge.bytes_moved, huge.activation_peak_bytes, huge.input_bytes):
        assert type(figure) is int
    assert huge.bytes_moved == batch * (one.bytes_moved - weights) + weights > 2**53
    assert huge.activation_peak_bytes == batch * one.activation_peak_bytes
    assert huge.input_bytes == batch * 3 * 299 * 299 * 4


class CpuFrees(TorchDispatchMode):
    """On real CPU tensors: each storage an op allocates, and how many ops had run when
    its weak reference fired (the storage was freed)."""

    def __init__(self, existing: set[int]) -> None:
        super().__init__()
        self.existing = existing  # storages from before the pass: weights, the input
        self.names: list[str] = []
        self.alive: dict[int, tuple[int, int]] = {}  # live storage -> (producer, position)
        self.freed: dict[tuple[int, int], int | None] = {}
        self.refs: list[weakref.ref[Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        index = len(self.names)
        self.names.append(func.overloadpacket.__name__)
        for position, tensor in enumerate(tensor_leaves(out)):
            storage = tensor.untyped_storage()
            if storage._cdata not in self.alive and storage._cdata not in self.existing:
                key = (index, position)
                self.alive[storage._cdata] = key
                self.freed[key] = None
                self.refs.append(weakref.ref(storage, self._on_free(storage._cdata, key)))
        return out

    def _on_free(self, address: int, key: tuple[int, int]) -> Any:
        def freed(_ref: Any) -> None:
            self.alive.pop(address, None)
            self.freed[key] = len(self.names)

        return freed


def cpu_lifetimes(
    model: nn.Module, shape: tuple[int, ...], training: bool
) -> tuple[list[str], dict[tuple[int, int], int | None]]:
    """Run ``model`` on a real CPU input as the trace does (an eval forward without grad,
    or a train forward, the sum of its output, and the backward): the ops' names, and
    (producer op, output position) -> ops run when that storage was freed (None: alive
    at the end, as the output is)."""
    x = torch.randn((1, *shape))
    tensors = [x, *model.parameters(), *model.buffers()]
    frees = CpuFrees({t.untyped_storage()._cdata for t in tensors})
    model.train(training)
    with frees:
        if training:
            out = model(x)
            loss = out.sum()
            loss.backward()
            del loss  # as the trace's step drops its stand-in loss
        else:
            with torch.no_grad():
                out = model(x)
        snapshot = dict(frees.freed)  # before ``out`` and ``loss`` go
    return frees.names, snapshot


def traced_lifetimes(trace: Trace, names: list[str]) -> dict[tuple[int, int], int | None]:
    """The same figures from the trace, its op indices counted as in the CPU run ``names``.

    Autograd makes ``detach`` calls (views: they allocate nothing) where it saves a
    tensor and where it unpacks one; the trace's saved-tensor hooks move those of a saved
    output from the forward to the backward, so ``detach`` calls on either side are
    skipped when the two sequences differ.
    """
    at = []  # at[i]: the index the trace's op i has in the CPU run
    cpu = 0
    for op in trace.ops:
        while cpu < len(names) and names[cpu] != op.name and names[cpu] == "detach":
            cpu += 1
        at.append(cpu)
        if cpu < len(names) and names[cpu] == op.name:
            cpu += 1
        else:
            assert op.name == "detach", f"op {op.index} {op.name}: the CPU ran {names[cpu:]}"
    assert names[cpu:] == ["detach"] * (len(names) - cpu)
    at.append(len(names))  # freed after the last op
    lifetimes = {}
    for s in trace.storages:
        if s.producer is not None:
            outputs = trace.ops[s.producer].outputs
            position = next(i for i, t in enumerate(outputs) if t.storage == s.index)
            freed = at[s.freed_before] if s.freed_before is not None else None
            lifetimes[(at[s.producer], position)] = freed
    return lifetimes


LIFETIME_NETS = {
    "chain_inplace": (lambda: conv_relu_chain(True), (1, 6, 6)),
    "chain": (lambda: conv_relu_chain(False), (1, 6, 6)),
    "frozen_chain": (frozen_chain, (1, 6, 6)),
    "two_branches": (TwoBranches, (2, 4, 4)),
    "residual": (Residual, (1, 4, 4)),
    "flatten_linear": (FlattenLinear, (1, 4, 4)),
}


@pytest.mark.parametrize("training", [False, True], ids=["eval", "step"])
@pytest.mark.parametrize("net", sorted(LIFETIME_NETS))
def test_meta_lifetimes_match_a_real_cpu_run(net: str, training: bool) -> None:
    build, shape = LIFETIME_NETS[net]
    model = build()
    trace = trace_module(model, shape, training=training)
    names, freed = cpu_lifetimes(model, shape, training)
    assert traced_lifetimes(trace, names) == freed
