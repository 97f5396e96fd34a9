"""Each counting tool's rules, per forward operator: what a figure under a convention adds up.

A published "1.5 billion multiply-adds" or "5.71 GFLOPS" is one number under one
convention: MACs or FLOPs, 224 or 299 pixels, aux heads in or out, batch norm, bias adds,
activations and pooling counted by one tool's rules and not another's, batch norm folded
into the conv, one forward or a training step. This module holds each tool's way of
counting one forward operator; :mod:`incprof.analysis.conventions.figures` adds them up
under every convention, from the meta-device trace alone.

Each tool's rules are modelled per operator from what the tool does (checked against the
real counters on a small net in ``tests/test_claims.py``):

* **torch FlopCounterMode**: 2 FLOPs per convolution and matmul MAC, bias and everything
  else uncounted.
* **fvcore** (``FlopCountAnalysis``): one "flop" per conv / linear MAC, bias excluded;
  batch norm 2 per element in eval (1 without affine), 5 in train mode (4); adaptive avg
  pool 1 per input element; nearest upsample 1 and bilinear 4 per output element; pooling,
  activations and element-wise adds skipped.
* **thop** (``profile``, 0.1.x): hooks on leaf modules of known types only, so functional
  calls are unseen; conv and linear MACs, bias excluded; batch norm 2 per element, doubled
  when affine; avg pool 1 per output element, adaptive avg pool (bin + 1) per output
  element; ReLU and max pool 0.
* **ptflops** (``get_model_complexity_info``, pytorch backend, 0.7.x defaults): module
  hooks plus patched ``F.relu`` / ``F.*pool*`` calls: conv and linear MACs *and* their
  bias adds; batch norm 1 per element, 2 when affine; activation modules 1 per element;
  pooling modules 1 per input element; and every patched functional call 1 per input
  element again, so an ``nn.ReLU`` or ``nn.MaxPool2d`` (which call ``F.relu`` /
  ``F.max_pool2d``) counts twice. A ``relu`` outside an activation module is taken to be
  ``F.relu`` (``torch.relu`` would go uncounted); ``x + y`` is not counted (only
  ``torch.add`` is patched).

Every figure is per image (batch 1); an aux-head figure comes from a train-mode forward
at batch 2 (batch norm in train mode needs two values per channel on the aux heads' 1×1
maps), divided by 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from incprof.analysis.formulas import cost_of
from incprof.analysis.trace import ROOT, TensorInfo, Trace


class Op(NamedTuple):
    """What a counting rule reads of one forward operator, per image."""

    category: str  # incprof's (conv, linear, batch_norm, pool, activation, …)
    operator: str  # ATen name without overload: convolution, relu_, _adaptive_avg_pool2d
    module_type: str  # class of the innermost module issuing it; "" at the root
    leaf: bool  # that module has no submodule that ran (hook counters see only leaves)
    macs: float
    other_ops: float  # incprof's count of everything else (bias adds, BN, pooling …)
    in_numel: float
    out_numel: float
    bias: bool  # a convolution or matmul that adds a bias
    affine: bool  # a norm with a weight
    training: bool  # batch norm on batch statistics (train mode)
    foldable: bool  # batch norm right after a convolution: folding removes it
    folds_into: bool  # a convolution a batch norm folds into: it gains a bias


def _numel(info: Any) -> int:
    return math.prod(info.shape) if isinstance(info, TensorInfo) else 0


def _is_conv(func: Any) -> bool:
    return func.overloadpacket.__name__ in ("convolution", "_convolution")


def forward_ops(trace: Trace) -> list[Op]:
    """Every forward operator of a trace as a rule reads it, per image."""
    forward = [op for op in trace.ops if op.phase == "forward"]
    names = [m.name for m in trace.modules]
    types = {m.name: m.type for m in reversed(trace.modules)}
    parents = {n.rsplit(".", 1)[0] for n in names if "." in n}
    by_index = {op.index: op for op in forward}
    folds: set[int] = set()
    for op in forward:
        if "batch_norm" in op.name:
            producer = op.args[0].producer
            if producer is not None and _is_conv(by_index[producer].func):
                folds.add(producer)
    batch = trace.batch
    ops = []
    for op in forward:
        priced = cost_of(op.func, op.args, op.kwargs, op.out)
        category = priced.category if priced else "unknown"
        is_bn = category == "batch_norm"
        bias_arg = op.args[2] if _is_conv(op.func) else op.args[0] if op.name == "addmm" else None
        x = op.args[0] if op.args and isinstance(op.args[0], TensorInfo) else None
        if op.name == "addmm":
            x = op.args[1]
        outputs = op.outputs
        ops.append(
            Op(
                category=category,
                operator=op.name,
                module_type=types.get(op.module, "") if op.module != ROOT else "",
                leaf=op.module != ROOT and op.module not in parents,
                macs=(priced.macs if priced else 0) / batch,
                other_ops=(priced.other_ops if priced else 0) / batch,
                in_numel=_numel(x) / batch,
                out_numel=(_numel(outputs[0]) if outputs else 0) / batch,
                bias=isinstance(bias_arg, TensorInfo),
                affine=_affine(op.name, op.args),
                training=is_bn and "no_training" not in op.name and bool(op.args[5]),
                foldable=is_bn and op.args[0].producer is not None and op.args[0].producer in folds,
                folds_into=op.index in folds,
            )
        )
    return ops


def _affine(name: str, args: Sequence[Any]) -> bool:
    """Whether a norm scales and shifts: batch norm's weight is its second argument,
    layer norm's third, group norm's second."""
    if "batch_norm" in name or name == "native_group_norm":
        return isinstance(args[1], TensorInfo)
    if name == "native_layer_norm":
        return isinstance(args[2], TensorInfo)
    return False


def _adaptive_avg(op: Op) -> bool:
    """An adaptive average pool, which torch lowers to ``mean`` when the output is 1×1."""
    return op.operator == "_adaptive_avg_pool2d" or (
        op.operator == "mean" and op.module_type in _ADAPTIVE_AVG_POOLS
    )


def _adaptive_bin(op: Op) -> float:
    """thop's kernel of an adaptive pool: input elements per output element (floored)."""
    return op.in_numel // op.out_numel if op.out_numel else 0


Count = Callable[[Op, bool], float]


def _mac_part(op: Op) -> float:
    return op.macs if op.category in ("conv", "linear") else 0


def _count_macs(op: Op, folded: bool) -> float:
    return _mac_part(op)


def _count_torch(op: Op, folded: bool) -> float:
    return 2 * _mac_part(op)


def _count_all(op: Op, folded: bool) -> float:
    if folded and op.foldable:
        return 0
    gained_bias = op.out_numel if folded and op.folds_into and not op.bias else 0
    return op.macs + op.other_ops + gained_bias


def _count_fvcore(op: Op, folded: bool) -> float:
    if op.category in ("conv", "linear"):
        return op.macs
    if op.category == "batch_norm":
        if folded and op.foldable:
            return 0
        per = (5 if op.affine else 4) if op.training else (2 if op.affine else 1)
        return per * op.in_numel
    if op.operator in ("native_layer_norm", "native_group_norm"):
        return (5 if op.affine else 4) * op.in_numel
    if _adaptive_avg(op):
        return op.in_numel
    if op.operator.startswith("upsample_nearest"):
        return op.out_numel
    if op.operator == "upsample_bilinear2d":
        return 4 * op.out_numel
    return 0


_CONV_MODULES = frozenset(f"{kind}{d}d" for kind in ("Conv", "ConvTranspose") for d in (1, 2, 3))
_THOP_NORMS = frozenset(
    {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm"}
    | {f"InstanceNorm{d}d" for d in (1, 2, 3)}
)
_AVG_POOLS = frozenset(f"AvgPool{d}d" for d in (1, 2, 3))
_ADAPTIVE_AVG_POOLS = frozenset(f"AdaptiveAvgPool{d}d" for d in (1, 2, 3))


def _count_thop(op: Op, folded: bool) -> float:
    if not op.leaf or (folded and op.foldable):
        return 0
    kind = op.module_type
    if kind in _CONV_MODULES and op.category == "conv":
        return op.macs
    if kind == "Linear" and op.category == "linear":
        return op.macs
    if kind in _THOP_NORMS and op.category in ("batch_norm", "norm"):
        return 2 * op.in_numel * (2 if op.affine else 1)
    if kind in ("LeakyReLU", "PReLU") and op.category == "activation":
        return op.out_numel
    if kind in _AVG_POOLS and op.category == "pool":
        return op.out_numel
    if kind in _ADAPTIVE_AVG_POOLS and op.category == "pool":
        return op.out_numel * (_adaptive_bin(op) + 1)
    return 0


_PTFLOPS_NORMS = _THOP_NORMS | {"GroupNorm"}
_PTFLOPS_ACTIVATIONS = frozenset({"ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6"})
_PTFLOPS_POOLS = frozenset(
    f"{kind}Pool{d}d" for kind in ("Max", "Avg", "AdaptiveMax", "AdaptiveAvg") for d in (1, 2, 3)
)
# What F.relu, F.gelu, F.elu, F.silu, F.prelu and the F.*pool* functions ptflops patches
# reach at the dispatcher.
_PTFLOPS_PATCHED = frozenset(
    {"relu", "relu_", "gelu", "elu", "elu_", "silu", "silu_", "_prelu_kernel"}
    | {"max_pool2d_with_indices", "max_pool2d", "avg_pool2d"}
    | {"_adaptive_avg_pool2d", "adaptive_max_pool2d"}
)


def _count_ptflops(op: Op, folded: bool) -> float:
    if folded and op.foldable:
        return 0
    kind = op.module_type
    count = 0.0
    if kind in _CONV_MODULES and op.category == "conv":
        count += op.macs + (op.out_numel if op.bias or (folded and op.folds_into) else 0)
    elif kind == "Linear" and op.category == "linear":
        count += op.macs + (op.out_numel if op.bias else 0)
    elif kind in _PTFLOPS_NORMS and op.category in ("batch_norm", "norm"):
        count += op.in_numel * (2 if op.affine else 1)
    elif kind in _PTFLOPS_ACTIVATIONS and op.category == "activation":
        count += op.out_numel
    elif kind in _PTFLOPS_POOLS and op.category == "pool":
        count += op.in_numel
    if op.operator in _PTFLOPS_PATCHED or _adaptive_avg(op):
        count += op.in_numel
    return count


class Rule(NamedTuple):
    """One way of counting a forward: whose default it is, what it counts, its unit."""

    key: str
    tool: str
    counts: str
    unit: str  # what the tool reports: "macs" (a MAC or an op is 1) or "flops"
    count: Count
    folding_matters: bool  # whether BN folding can change its figure


RULES: tuple[Rule, ...] = (
    Rule(
        "macs",
        "paper (multiply-adds); incprof macs; torchvision GFLOPS",
        "conv + linear multiply-accumulates, bias adds excluded",
        "macs",
        _count_macs,
        False,
    ),
    Rule(
        "torch",
        "torch FlopCounterMode",
        "2 FLOPs per conv / matmul MAC, nothing else",
        "flops",
        _count_torch,
        False,
    ),
    Rule(
        "fvcore",
        "fvcore; timm GMACs",
        "conv + linear MACs; batch norm 2/element (train mode 5); adaptive avg pool "
        "1/input element; skips pooling, activations, adds",
        "macs",
        _count_fvcore,
        True,
    ),
    Rule(
        "thop",
        "thop",
        "leaf-module hooks: conv + linear MACs; batch norm 4/element; avg pool 1/output "
        "element, adaptive (bin + 1)/output element; ReLU, max pool and functional ops 0",
        "macs",
        _count_thop,
        True,
    ),
    Rule(
        "ptflops",
        "ptflops",
        "conv + linear MACs and bias adds; batch norm 2/element; 1/element per ReLU and "
        "pooling module and again per F.relu / F.*pool call (nn.ReLU, nn.MaxPool2d: twice)",
        "macs",
        _count_ptflops,
        True,
    ),
    Rule(
        "all_ops",
        "incprof macs + other_ops",
        "conv + linear MACs and every other op once: bias adds, batch norm 2/element, "
        "activations, pooling window, element-wise adds",
        "macs",
        _count_all,
        True,
    ),
)
