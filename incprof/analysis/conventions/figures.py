"""A network's figure under every counting convention: each rule of
:mod:`incprof.analysis.conventions.rules` on the eval and the train-mode forward, the
training step, and every parameter convention (as built, BN folded, with running
statistics, weights only)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from incprof.analysis.conventions.rules import RULES, Op, _is_conv, _mac_part, _numel, forward_ops
from incprof.analysis.trace import TensorInfo, Trace

UNITS = ("macs", "flops", "params")
CLAIM_UNITS = (*UNITS, "auto")
# The input sizes the Inception papers and model zoos quote figures at.
PAPER_SIZES = ((3, 224, 224), (3, 299, 299))
DEFAULT_TOLERANCE_PCT = 5.0
# The batch an aux-head (train-mode) trace runs at; figures are divided by it.
AUX_BATCH = 2

FORWARD = "forward"
TRAINING_STEP = "training step"


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
    base, weights = _parameter_totals(eval_trace)
    figures = []
    traces = {False: eval_trace, True: aux_trace}
    for aux in (False, True):
        trace = traces[aux]
        if trace is None:
            continue
        fold, stats = _bn_parameters(trace)
        for folded, with_stats, tool, counts in _param_readings(aux):
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


def _parameter_totals(
    eval_trace: Trace,
) -> tuple[dict[bool, dict[str, float]], dict[bool, dict[str, float]]]:
    """Parameters by category, aux heads out (False) and in (True): all of them, and the
    weights only (a conv's or linear layer's, not a vector)."""
    types = {m.name: m.type for m in eval_trace.modules}
    base: dict[bool, dict[str, float]] = {False: defaultdict(float), True: defaultdict(float)}
    weights: dict[bool, dict[str, float]] = {False: defaultdict(float), True: defaultdict(float)}
    for p in eval_trace.parameters:
        category = _param_category(types.get(p.owner, "")) if p.used else "aux heads"
        held = [True, False] if p.used else [True]
        for aux in held:
            base[aux][category] += p.numel
            if len(p.value.shape) >= 2:
                weights[aux][category] += p.numel
    return base, weights


def _param_readings(aux: bool) -> tuple[tuple[bool | None, bool, str, str], ...]:
    """Each parameter convention as (BN folded — None: weights only, with running
    statistics, whose default, what it counts)."""
    return (
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
    )


def _param_rule(folded: bool | None, with_stats: bool) -> str:
    if folded is None:
        return "params_weights"
    if folded:
        return "params_folded"
    return "params_with_stats" if with_stats else "params"
