"""Which counting conventions reproduce a published cost figure, and what is left over.

A published "1.5 billion multiply-adds" or "5.71 GFLOPS" is one number under one
convention: MACs or FLOPs, 224 or 299 pixels, aux heads in or out, batch norm, bias adds,
activations and pooling counted by one tool's rules and not another's, batch norm folded
into the conv, one forward or a training step. This module enumerates those conventions
for one network and computes its figure under each, from the meta-device trace alone, so
that a claim can be checked against all of them at once.

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
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from incprof.analysis.formulas import cost_of
from incprof.analysis.trace import ROOT, TensorInfo, Trace
from incprof.errors import InputError

UNITS = ("macs", "flops", "params")
CLAIM_UNITS = (*UNITS, "auto")
# The input sizes the Inception papers and model zoos quote figures at.
PAPER_SIZES = ((3, 224, 224), (3, 299, 299))
DEFAULT_TOLERANCE_PCT = 5.0
# The batch an aux-head (train-mode) trace runs at; figures are divided by it.
AUX_BATCH = 2

FORWARD = "forward"
TRAINING_STEP = "training step"


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


@dataclass(frozen=True)
class Convention:
    """One way of reading a network's cost: the figure a claim might have been."""

    rule: str  # a RULES key, or params_* for parameter counts
    tool: str  # whose default this is
    counts: str
    unit: str  # macs, flops or params
    input_shape: tuple[int, ...] | None  # None: parameters, whatever the input
    aux_heads: bool
    phase: str  # forward, or training step
    bn_folded: bool
    doubled: bool  # a MAC count reported as FLOPs (× 2)

    def label(self) -> str:
        """'fvcore ×2, 3x299x299, aux in, BN folded': the convention in one line."""
        parts = [self.rule + (" ×2" if self.doubled else "")]
        if self.input_shape:
            parts.append("x".join(map(str, self.input_shape)))
        parts.append("aux in" if self.aux_heads else "aux out")
        if self.phase != FORWARD:
            parts.append(self.phase)
        if self.bn_folded:
            parts.append("BN folded")
        return ", ".join(parts)


@dataclass(frozen=True)
class Figure:
    """A network's figure under one convention, and what it is made of by category."""

    convention: Convention
    value: float
    by_category: dict[str, float] = field(default_factory=dict)


def _forward_figures(
    ops: Sequence[Op], shape: tuple[int, ...], aux: bool, training_forward: bool
) -> list[Figure]:
    figures = []
    foldable = any(op.foldable for op in ops)
    for rule in RULES:
        for folded in (False, True) if rule.folding_matters and foldable else (False,):
            by_category: dict[str, float] = defaultdict(float)
            for op in ops:
                counted = rule.count(op, folded)
                if counted:
                    by_category[op.category] += counted
            total = sum(by_category.values())
            doubles = (False, True) if rule.unit == "macs" else (False,)
            for doubled in doubles:
                tool = rule.tool
                counts = rule.counts
                if training_forward:
                    counts += "; train-mode forward (batch statistics, dropout) running aux heads"
                if doubled:
                    tool += " ×2 (MACs reported as FLOPs)"
                convention = Convention(
                    rule=rule.key,
                    tool=tool,
                    counts=counts,
                    unit="flops" if doubled else rule.unit,
                    input_shape=shape,
                    aux_heads=aux,
                    phase=FORWARD,
                    bn_folded=folded,
                    doubled=doubled,
                )
                factor = 2 if doubled else 1
                figures.append(
                    Figure(
                        convention,
                        factor * total,
                        {k: factor * v for k, v in by_category.items()},
                    )
                )
    return figures


def _step_figures(
    shape: tuple[int, ...], aux: bool, train_macs: float, by_category: dict[str, float]
) -> list[Figure]:
    """A training step's MACs (forward + backward) and FlopCounterMode's FLOPs for it."""
    counts = "forward + backward conv / matmul MACs (input and weight gradients)"
    return [
        Figure(
            Convention(
                rule=rule,
                tool=tool,
                counts=counts,
                unit=unit,
                input_shape=shape,
                aux_heads=aux,
                phase=TRAINING_STEP,
                bn_folded=False,
                doubled=False,
            ),
            factor * train_macs,
            {k: factor * v for k, v in by_category.items()},
        )
        for rule, tool, unit, factor in (
            ("macs", "incprof train_macs", "macs", 1),
            ("torch", "torch FlopCounterMode over forward + backward", "flops", 2),
        )
    ]


def cost_figures(
    eval_trace: Trace,
    train_macs: float,
    backward_by_category: dict[str, float],
    aux_trace: Trace | None = None,
) -> list[Figure]:
    """Every MAC and FLOP convention at one input: each rule on the eval forward (aux
    out), each on the train-mode forward (aux in) when ``aux_trace`` is given, and the
    training step both ways (``train_macs`` and its split, from
    :func:`incprof.analysis.training.backward`). Aux heads' backward costs twice their
    forward MACs (their input descends from trained layers)."""
    shape = tuple(eval_trace.input_shape)
    eval_ops = forward_ops(eval_trace)
    figures = _forward_figures(eval_ops, shape, False, False)
    figures += _step_figures(shape, False, train_macs, backward_by_category)
    if aux_trace is not None:
        aux_ops = forward_ops(aux_trace)
        figures += _forward_figures(aux_ops, shape, True, True)
        aux_macs = _mac_by_category(aux_ops)
        eval_macs = _mac_by_category(eval_ops)
        step = dict(backward_by_category)
        for cat, macs in aux_macs.items():
            step[cat] = step.get(cat, 0) + 3 * (macs - eval_macs.get(cat, 0))
        figures += _step_figures(shape, True, sum(step.values()), step)
    return figures


def _mac_by_category(ops: Iterable[Op]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for op in ops:
        totals[op.category] += _mac_part(op)
    return {k: v for k, v in totals.items() if v}


def _param_category(module_type: str) -> str:
    if "Conv" in module_type:
        return "conv"
    if "BatchNorm" in module_type:
        return "batch_norm"
    if module_type == "Linear":
        return "linear"
    return module_type or "other"


def _bn_parameters(ops_trace: Trace) -> tuple[dict[str, float], dict[str, float]]:
    """Per foldable batch norm (by its weight's name): the parameter change folding makes
    (−γ, −β, + a conv bias where the conv had none); and per batch norm its running
    statistics' elements."""
    fold: dict[str, float] = {}
    stats: dict[str, float] = {}
    forward = [op for op in ops_trace.ops if op.phase == "forward"]
    by_index = {op.index: op for op in forward}
    for op in forward:
        if "batch_norm" not in op.name:
            continue
        weight, bias, mean, var = op.args[1:5]
        key = next(
            (t.name for t in (weight, bias, mean, var) if isinstance(t, TensorInfo)),
            str(op.index),
        )
        stats[key] = sum(_numel(t) for t in (mean, var))
        producer = op.args[0].producer
        if producer is None or not _is_conv(by_index[producer].func):
            continue
        channels = op.args[0].shape[1]
        conv_bias = isinstance(by_index[producer].args[2], TensorInfo)
        fold[key] = -(_numel(weight) + _numel(bias)) + (0 if conv_bias else channels)
    return fold, stats


def param_figures(eval_trace: Trace, aux_trace: Trace | None = None) -> list[Figure]:
    """Every parameter convention: those the eval forward uses (aux out), every one the
    model holds (``model.parameters()``: aux in), each as built, with batch norm folded
    into its conv, and with batch norm's running statistics counted as well (Keras counts
    them in its "Total params")."""
    types = {m.name: m.type for m in eval_trace.modules}
    base: dict[bool, dict[str, float]] = {False: defaultdict(float), True: defaultdict(float)}
    weights: dict[bool, dict[str, float]] = {False: defaultdict(float), True: defaultdict(float)}
    for p in eval_trace.parameters:
        category = _param_category(types.get(p.owner, "")) if p.used else "aux heads"
        held = [True, False] if p.used else [True]
        for aux in held:
            base[aux][category] += p.numel
            if len(p.value.shape) >= 2:  # a conv's or linear layer's weight, not a vector
                weights[aux][category] += p.numel
    figures = []
    traces = {False: eval_trace, True: aux_trace}
    for aux in (False, True):
        trace = traces[aux]
        if trace is None:
            continue
        fold, stats = _bn_parameters(trace)
        for folded, with_stats, tool, counts in (
            (
                False,
                False,
                "sum(model.parameters()); torchvision num_params; thop, ptflops, fvcore"
                if aux
                else "incprof params; timm Params (M)",
                "parameters as built" if aux else "parameters the eval forward uses",
            ),
            (False, True, "Keras Total params", "parameters + batch-norm running mean, variance"),
            (True, False, "BN folded (ONNX, TensorRT export)", "batch norm folded into its conv"),
            (
                None,
                False,
                "paper parameter tables (weights only)",
                "conv and linear weights only: biases and batch norm excluded",
            ),
        ):
            by_category = dict(base[aux] if folded is not None else weights[aux])
            if folded:
                by_category["batch_norm folded"] = sum(fold.values())
            if with_stats:
                by_category["batch_norm running stats"] = sum(stats.values())
            figures.append(
                Figure(
                    Convention(
                        rule=_param_rule(folded, with_stats),
                        tool=tool,
                        counts=counts,
                        unit="params",
                        input_shape=None,
                        aux_heads=aux,
                        phase=FORWARD,
                        bn_folded=bool(folded),
                        doubled=False,
                    ),
                    sum(by_category.values()),
                    by_category,
                )
            )
    return figures


def _param_rule(folded: bool | None, with_stats: bool) -> str:
    if folded is None:
        return "params_weights"
    if folded:
        return "params_folded"
    return "params_with_stats" if with_stats else "params"


# --- checking a claim: pure functions of the figures ----------------------------------

_SUFFIXES = {"k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}
_VALUE = re.compile(r"([0-9][0-9_,]*\.?[0-9]*(?:e[+-]?[0-9]+)?)\s*([kmgbt]?)", re.IGNORECASE)


def parse_value(text: str) -> float:
    """'1.5e9', '1.5G', '5B', '6,624,904', '13.6M' -> a positive number."""
    match = _VALUE.fullmatch(text.strip())
    if match is None:
        raise InputError(
            f"VALUE must be a positive number such as 1.5e9, 1.5G, 5B or 6.6M; got {text!r}"
        )
    number, suffix = match.groups()
    value = float(number.replace(",", "").replace("_", "")) * _SUFFIXES.get(suffix.lower(), 1)
    if not value > 0:
        raise InputError(f"VALUE must be positive; got {text!r}")
    return value


def check_tolerance(tolerance_pct: float) -> float:
    if not 0 <= tolerance_pct <= 100:
        raise InputError(f"must be a percentage from 0 to 100; got {tolerance_pct:g}")
    return tolerance_pct


def check_unit(unit: str) -> str:
    if unit not in CLAIM_UNITS:
        raise InputError(f"unknown unit {unit!r}; choose from {', '.join(CLAIM_UNITS)}")
    return unit


HOLDS = "holds"
HOLDS_IN_OTHER_UNIT = "holds only in another unit"
DOES_NOT_HOLD = "does not hold"


@dataclass(frozen=True)
class Tried:
    """One convention tried against a claim."""

    figure: Figure
    deviation_pct: float  # how far the convention's figure is above (+) the claim
    unit_as_claimed: bool
    holds: bool


@dataclass(frozen=True)
class ClaimCheck:
    """A claim against every convention tried, closest first."""

    variant: str
    value: float
    unit: str
    tolerance_pct: float
    at_most: bool
    tried: tuple[Tried, ...]

    @property
    def verdict(self) -> str:
        if any(t.holds and t.unit_as_claimed for t in self.tried):
            return HOLDS
        if any(t.holds for t in self.tried):
            return HOLDS_IN_OTHER_UNIT
        return DOES_NOT_HOLD

    @property
    def holding(self) -> list[Tried]:
        return [t for t in self.tried if t.holds]

    @property
    def nearest(self) -> Tried | None:
        """The closest convention in the claimed unit (any unit if none is)."""
        same = [t for t in self.tried if t.unit_as_claimed]
        return (same or list(self.tried) or [None])[0]

    def summary(self) -> str:
        """One line: the verdict and the convention behind it, or the nearest miss."""
        bound = "at most " if self.at_most else ""
        head = f"{self.variant}: {bound}{_number(self.value)} {self.unit}"
        if self.verdict == HOLDS:
            best = next(t for t in self.tried if t.holds and t.unit_as_claimed)
            conv = best.figure.convention
            return (
                f"{head} holds under {conv.label()} ({conv.tool}): "
                f"{_number(best.figure.value)}, {best.deviation_pct:+.2f}%"
            )
        if self.verdict == HOLDS_IN_OTHER_UNIT:
            best = self.holding[0]
            conv = best.figure.convention
            return (
                f"{head} holds only as {conv.unit}, not {self.unit}: {conv.label()} "
                f"({conv.tool}) gives {_number(best.figure.value)}, {best.deviation_pct:+.2f}%"
            )
        near = self.nearest
        if near is None:
            return f"{head}: no convention could be computed"
        conv = near.figure.convention
        return (
            f"{head} does not hold within {self.tolerance_pct:g}%: nearest {conv.label()} "
            f"({conv.tool}) gives {_number(near.figure.value)} {conv.unit}, "
            f"{near.deviation_pct:+.2f}%; remainder {_number(self.value - near.figure.value)}"
        )

    def records(self, variant: str | None = None) -> list[dict[str, Any]]:
        """One flat record per convention tried, closest first."""
        return [
            {
                "variant": variant or self.variant,
                "claim_value": self.value,
                "claim_unit": self.unit,
                "tolerance_pct": self.tolerance_pct,
                "rule": t.figure.convention.rule,
                "tool": t.figure.convention.tool,
                "unit": t.figure.convention.unit,
                "unit_as_claimed": t.unit_as_claimed,
                "input_shape": "x".join(map(str, t.figure.convention.input_shape or ())) or None,
                "aux_heads": t.figure.convention.aux_heads,
                "phase": t.figure.convention.phase,
                "bn_folded": t.figure.convention.bn_folded,
                "figure": t.figure.value,
                "deviation_pct": t.deviation_pct,
                "holds": t.holds,
                "counts": t.figure.convention.counts,
            }
            for t in self.tried
        ]

    def reference(self, tried: Tried) -> Figure | None:
        """What incprof counts at all under ``tried``'s input, aux heads and phase: every
        op (``all_ops``; × 2 for a FLOP figure) or every parameter the model holds."""
        conv = tried.figure.convention
        if conv.unit == "params":
            held = [t.figure for t in self.tried if t.figure.convention.rule == "params"]
            return max(held, key=lambda f: f.convention.aux_heads, default=None)
        if conv.phase != FORWARD:
            return tried.figure
        wanted = ("all_ops", conv.input_shape, conv.aux_heads, FORWARD)
        for other in self.tried:
            c = other.figure.convention
            key = (c.rule, c.input_shape, c.aux_heads, c.phase)
            if key == wanted and not c.bn_folded and c.doubled == (conv.unit == "flops"):
                return other.figure
        return None

    def remainder(self) -> list[dict[str, Any]]:
        """The nearest convention by category: what it counts of each beside everything
        incprof counts there (every op, or every parameter), and the remainder, so that
        the categories that could close the gap can be read off."""
        near = self.nearest
        if near is None:
            return []
        reference = self.reference(near)
        everything = reference.by_category if reference else {}
        counted = near.figure.by_category
        # largest first; ties by name, so that a report is the same on every run
        categories = sorted(
            set(counted) | set(everything),
            key=lambda c: (-abs(everything.get(c, counted.get(c, 0))), c),
        )
        rows = [
            {
                "category": cat,
                "counted": counted.get(cat, 0),
                "all": everything.get(cat),
                "not_counted": everything[cat] - counted.get(cat, 0) if cat in everything else None,
            }
            for cat in categories
        ]
        rows.append(
            {
                "category": "remainder (claim − figure)",
                "counted": self.value - near.figure.value,
                "all": None,
                "not_counted": None,
            }
        )
        return rows


def _number(value: float) -> str:
    """'1.583e+09' style for big figures, whole numbers with separators below a million."""
    if abs(value) >= 1e6:
        return f"{value:.4g}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def check_claim(
    variant: str,
    figures: Sequence[Figure],
    value: float,
    *,
    unit: str = "auto",
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    at_most: bool = False,
) -> ClaimCheck:
    """Set a claim against figures. A MAC or FLOP claim is tried against every MAC and
    FLOP convention (a FLOP figure matching a MAC claim says the claim's MACs are FLOPs);
    a parameter claim against the parameter conventions; ``auto`` against all. ``at_most``
    (a bound: "less than 25 million") holds for every figure not above it."""
    check_unit(unit)
    check_tolerance(tolerance_pct)
    tried = []
    for figure in figures:
        fig_unit = figure.convention.unit
        if unit == "params" and fig_unit != "params":
            continue
        if unit in ("macs", "flops") and fig_unit == "params":
            continue
        deviation = 100 * (figure.value - value) / value
        holds = figure.value <= value if at_most else abs(deviation) <= tolerance_pct + 1e-9
        tried.append(Tried(figure, deviation, unit in ("auto", fig_unit), holds))
    tried.sort(key=lambda t: (abs(t.deviation_pct), not t.unit_as_claimed))
    return ClaimCheck(variant, value, unit, tolerance_pct, at_most, tuple(tried))
