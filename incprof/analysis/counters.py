"""Measured counters: torch's FlopCounterMode, fvcore, thop and ptflops, side by side.

Each adapter runs one third-party counter in isolation and normalises what it reports
to MACs, keeping the counter's own breakdown (per operator or per module type) so that
every gap to the analytic figure can be named by operator. A counter that is not
installed or that fails is a result with an ``error``; it never stops the others.

fvcore, thop and ptflops hook or trace a real forward pass, so they run on a CPU copy
with uninitialised weights (the values do not change what they count); thop and ptflops
attach buffers and attributes to the modules they see, which is one more reason to
hand them a copy.

``torch`` runs FlopCounterMode on the meta device, where torch never takes its fused CPU
paths; ``torch-cpu`` (opt-in) runs it over a real CPU forward, as a user would, and names
the fused operators it cannot price (nn.MultiheadAttention's fast path, oneDNN's LSTM).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis.analytic import CostAnalysis
from incprof.analysis.formulas import cost_of
from incprof.analysis.trace import ROOT, meta_model, module_tracking
from incprof.errors import error_line
from incprof.registry import InputShape, Variant

MAC_CATEGORIES = ("conv", "linear")


@dataclass(frozen=True)
class CounterResult:
    """One counter's figure for one model, in MACs, with the categories it came from."""

    counter: str
    macs: float | int | None
    # The counter's total split into incprof's categories (conv, linear, batch_norm, pool…).
    by_category: dict[str, float] = field(default_factory=dict)
    # What the counter said it skipped, or what its hooks cannot see.
    not_counted: tuple[str, ...] = ()
    # Operators that ran with no formula in the counter ("op (what it is) in module"), each
    # with the analytic MACs per category that went uncounted in the modules issuing it.
    unpriced: dict[str, dict[str, float]] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        # Counters report floats; a whole number of MACs is shown and saved as an integer.
        if isinstance(self.macs, float) and self.macs.is_integer():
            object.__setattr__(self, "macs", int(self.macs))


def _cpu_copy(variant: Variant, overrides: dict[str, Any] | None) -> nn.Module:
    """A CPU model with storage but no initialisation: cheap, and enough to count."""
    return meta_model(variant, overrides).to_empty(device="cpu").eval()


def _finite_cpu_copy(variant: Variant, overrides: dict[str, Any] | None) -> nn.Module:
    """A CPU copy whose floating-point weights and buffers all hold 0.01.

    Uninitialised memory may hold NaN or denormals, which a real forward computes on
    (slowly) and a user's model never holds; a positive constant also keeps BN's running
    variance valid.
    """
    model = _cpu_copy(variant, overrides)
    with torch.no_grad():
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            if tensor.is_floating_point():
                tensor.fill_(0.01)
    return model


def _torch_category(op_name: str) -> str:
    if "conv" in op_name:
        return "conv"
    if op_name in {"mm", "addmm", "bmm", "matmul", "baddbmm"}:
        return "linear"
    return op_name


def _torch_macs_by_category(flops_by_op: dict[Any, int]) -> dict[str, float]:
    """FlopCounterMode's FLOPs per operator, as MACs per incprof category."""
    by_category: dict[str, float] = defaultdict(float)
    for op, flops in flops_by_op.items():
        by_category[_torch_category(getattr(op, "__name__", str(op)))] += flops / 2
    return dict(by_category)


def count_torch(
    variant: Variant, shape: InputShape, overrides: dict[str, Any] | None
) -> CounterResult:
    """torch.utils.flop_counter.FlopCounterMode on the meta device (it reads shapes only)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = meta_model(variant, overrides).eval()
    x = torch.empty((1, *shape), device="meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    by_category = _torch_macs_by_category(counter.get_flop_counts().get("Global", {}))
    return CounterResult("torch", counter.get_total_flops() / 2, by_category)


# What the fused CPU operators FlopCounterMode cannot price are, for the explanation.
_FUSED_OPS = {
    "_native_multi_head_attention": "nn.MultiheadAttention's fast path",
    "_transformer_encoder_layer_fwd": "nn.TransformerEncoderLayer's fast path",
    "mkldnn_rnn_layer": "oneDNN's fused LSTM layer",
    "_scaled_dot_product_flash_attention_for_cpu": "F.scaled_dot_product_attention's CPU kernel",
}


class _UnpricedOps(TorchDispatchMode):
    """Notes, per innermost module, the operators FlopCounterMode has no formula for.

    Operators incprof's formulas know to do no multiply-accumulates (views, copies,
    activations) are left out: a missing formula for them costs no MAC.
    """

    def __init__(self, stack: list[str], priced: set[Any]) -> None:
        super().__init__()
        self.stack = stack
        self.priced = priced
        self.issued: dict[str, set[str]] = defaultdict(set)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.overloadpacket not in self.priced:
            cost = cost_of(func, args, kwargs, out)
            if cost is None or cost.macs:
                self.issued[self.stack[-1]].add(func.overloadpacket.__name__)
        return out


def _within(module: str, outer: str) -> bool:
    return outer == ROOT or module == outer or module.startswith(outer + ".")


def count_torch_cpu(
    variant: Variant, shape: InputShape, overrides: dict[str, Any] | None, analytic: CostAnalysis
) -> CounterResult:
    """FlopCounterMode over a real CPU forward (eval, no_grad): what a user gets on the CPU.

    There torch takes fused paths the meta device never takes, and FlopCounterMode has no
    formula for them. Each such operator the meta (analytic) pass did not issue is named
    with the analytic MACs of its module that the counter missed.
    """
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    model = _finite_cpu_copy(variant, overrides)
    x = torch.zeros((1, *shape))
    counter = FlopCounterMode(display=False)
    stack = [ROOT]
    unpriced = _UnpricedOps(stack, set(flop_registry))
    with torch.no_grad(), module_tracking(model.named_modules(), stack), counter, unpriced:
        model(x)
    counts = counter.get_flop_counts()
    meta_ops = {r.operator for r in analytic.records}
    issued = {m: ops - meta_ops for m, ops in unpriced.issued.items() if ops - meta_ops}
    # A module inside another issuing one is charged with the outer one, not twice.
    outermost = [m for m in issued if not any(o != m and _within(m, o) for o in issued)]
    root_name = type(model).__name__
    missed: dict[str, dict[str, float]] = {}
    for outer in outermost:
        ops = sorted(set().union(*(ops for m, ops in issued.items() if _within(m, outer))))
        labels = [f"{op} ({_FUSED_OPS[op]})" if op in _FUSED_OPS else op for op in ops]
        ours: dict[str, float] = defaultdict(float)
        for record in analytic.records:
            if record.macs and _within(record.module, outer):
                ours[record.category] += record.macs
        key = root_name if outer == ROOT else f"{root_name}.{outer}"
        counted = _torch_macs_by_category(counts.get(key, {}))
        missed[f"{', '.join(labels)} in {outer}"] = {
            cat: macs - counted.get(cat, 0.0) for cat, macs in ours.items()
        }
    by_category = _torch_macs_by_category(counts.get("Global", {}))
    return CounterResult("torch-cpu", counter.get_total_flops() / 2, by_category, unpriced=missed)


_FVCORE_CATEGORY = {
    "conv": "conv",
    "_convolution": "conv",
    "linear": "linear",
    "addmm": "linear",
    "matmul": "linear",
    "mm": "linear",
    "bmm": "linear",
    "einsum": "linear",
    "batch_norm": "batch_norm",
    "adaptive_avg_pool2d": "pool",
}


def count_fvcore(
    variant: Variant, shape: InputShape, overrides: dict[str, Any] | None
) -> CounterResult:
    """fvcore's FlopCountAnalysis (a JIT trace); one fvcore "flop" is one multiply-add."""
    from fvcore.nn import FlopCountAnalysis

    model = _cpu_copy(variant, overrides)
    x = torch.zeros((1, *shape))
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    with torch.no_grad():
        total = analysis.total()
    by_category: dict[str, float] = defaultdict(float)
    for op, macs in analysis.by_operator().items():
        by_category[_FVCORE_CATEGORY.get(op, op)] += macs
    skipped = tuple(sorted(op.removeprefix("aten::") for op in analysis.unsupported_ops()))
    return CounterResult("fvcore", float(total), dict(by_category), skipped)


def _module_category(module: nn.Module) -> str:
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batch_norm"
    if isinstance(module, nn.modules.pooling._AvgPoolNd | nn.modules.pooling._AdaptiveAvgPoolNd):
        return "pool"
    return type(module).__name__


def _hook_blind_spots(
    analytic: CostAnalysis, model: nn.Module, hooked: set[type]
) -> tuple[str, ...]:
    """Operators a module-hook counter cannot see: issued by no leaf module it hooks."""
    named = dict(model.named_modules())
    blind = set()
    for record in analytic.records:
        module = named.get(record.module)
        leaf_seen = module is not None and not list(module.children()) and type(module) in hooked
        if not leaf_seen and record.category not in ("data_movement", "unknown"):
            blind.add(f"{record.operator} ({record.category})")
    return tuple(sorted(blind))


def count_thop(
    variant: Variant, shape: InputShape, overrides: dict[str, Any] | None, analytic: CostAnalysis
) -> CounterResult:
    """thop's profile (forward hooks on leaf modules of the types it knows)."""
    from thop import profile
    from thop.profile import register_hooks

    model = _cpu_copy(variant, overrides)
    x = torch.zeros((1, *shape))
    with contextlib.redirect_stdout(io.StringIO()):
        total, _params, layers = profile(model, inputs=(x,), verbose=False, ret_layer_info=True)
    by_category: dict[str, float] = defaultdict(float)

    def walk(prefix: str, info: dict[str, tuple[float, float, dict]]) -> None:
        for child, (ops, _p, sub) in info.items():
            name = f"{prefix}.{child}" if prefix else child
            if sub:
                walk(name, sub)
            elif ops:
                by_category[_module_category(model.get_submodule(name))] += ops

    walk("", layers)
    blind = _hook_blind_spots(analytic, model, set(register_hooks))
    return CounterResult("thop", float(total), dict(by_category), blind)


def count_ptflops(
    variant: Variant, shape: InputShape, overrides: dict[str, Any] | None, analytic: CostAnalysis
) -> CounterResult:
    """ptflops' get_model_complexity_info with its module-hook ("pytorch") backend."""
    from ptflops import get_model_complexity_info
    from ptflops.pytorch_ops import MODULES_MAPPING

    model = _cpu_copy(variant, overrides)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        macs, _params = get_model_complexity_info(
            model, tuple(shape), as_strings=False, print_per_layer_stat=False, backend="pytorch"
        )
    if macs is None:
        return CounterResult("ptflops", None, error="ptflops returned no figure")
    blind = _hook_blind_spots(analytic, model, set(MODULES_MAPPING))
    return CounterResult("ptflops", float(macs), {}, blind)


Runner = Callable[[Variant, InputShape, "dict[str, Any] | None", CostAnalysis], CounterResult]


@dataclass(frozen=True)
class Counter:
    """A measured counter: how to run it, and whether it runs when none are named."""

    name: str
    run: Runner
    default: bool = True


# Every counter a user can name, in column order; a new counter is one line here.
COUNTER_TABLE: dict[str, Counter] = {
    c.name: c
    for c in (
        Counter("torch", lambda v, shape, o, _a: count_torch(v, shape, o)),
        Counter("fvcore", lambda v, shape, o, _a: count_fvcore(v, shape, o)),
        Counter("thop", count_thop),
        Counter("ptflops", count_ptflops),
        # Opt-in: a real CPU forward, slower.
        Counter("torch-cpu", count_torch_cpu, default=False),
    )
}
# The counters run when none are named, and every counter a user can name.
COUNTERS = tuple(name for name, c in COUNTER_TABLE.items() if c.default)
ALL_COUNTERS = tuple(COUNTER_TABLE)


def run_counter(
    name: str,
    variant: Variant,
    shape: InputShape,
    analytic: CostAnalysis,
    overrides: dict[str, Any] | None = None,
) -> CounterResult:
    """Run one counter, turning any failure into a result that says why."""
    counter = COUNTER_TABLE.get(name)
    if counter is None:
        raise ValueError(
            f"unknown counter {name!r}; choose from analytic, {', '.join(ALL_COUNTERS)}"
        )
    try:
        with warnings.catch_warnings():
            # Third-party deprecation noise (jit, distutils) is not the user's concern.
            warnings.simplefilter("ignore")
            return counter.run(variant, shape, overrides, analytic)
    except ImportError:
        return CounterResult(name, None, error=f"{name} is not installed")
    except Exception as exc:  # a third-party counter failing is a cell, not a crash
        return CounterResult(name, None, error=f"{name} failed: {error_line(exc)}")


# Why a counter puts a category that is not a MAC into its total.
_REASONS: dict[tuple[str, str], str] = {
    ("fvcore", "batch_norm"): "fvcore counts BN (2 per element, eval, affine)",
    ("fvcore", "pool"): "fvcore counts adaptive avg pool (1 per input element)",
    ("thop", "batch_norm"): "thop counts BN (4 per element when affine)",
    ("thop", "pool"): "thop counts avg pool modules (1 per output element; adaptive: bin + 1)",
}


def delta_pct(macs: float | None, analytic_macs: int) -> float | None:
    """Percent difference from the analytic MACs (None when there is no figure)."""
    if macs is None or analytic_macs == 0:
        return None
    return 100.0 * (macs - analytic_macs) / analytic_macs


def explain(result: CounterResult, analytic: CostAnalysis) -> str:
    """Name the operators behind the gap between a counter and the analytic MACs."""
    if result.error:
        return result.error
    base = analytic.macs or 1
    categories = analytic.by_category()
    parts: list[str] = []
    if result.by_category or result.unpriced:
        for cat in MAC_CATEGORIES:
            ours = categories.get(cat, {}).get("macs", 0)
            # MACs hidden in an unpriced operator are named with it below, not here.
            hidden = sum(missed.get(cat, 0.0) for missed in result.unpriced.values())
            delta = result.by_category.get(cat, 0.0) + hidden - ours
            if delta:
                parts.append(f"{100 * delta / base:+.3f}% {cat} MACs differ from the formula")
        for label, missed in result.unpriced.items():
            uncounted = 100 * sum(missed.values()) / base
            parts.append(f"{-uncounted:+.3f}% {label}: no formula in FlopCounterMode")
        for cat, value in sorted(result.by_category.items(), key=lambda kv: -kv[1]):
            if cat in MAC_CATEGORIES or not value:
                continue
            reason = _REASONS.get((result.counter, cat), f"{result.counter} counts {cat}")
            parts.append(f"{100 * value / base:+.3f}% {cat}: {reason}")
        residual = (result.macs or 0) - sum(result.by_category.values())
        if abs(residual) >= 1:
            parts.append(f"{100 * residual / base:+.3f}% not attributed by {result.counter}")
    elif result.macs is not None and result.macs != analytic.macs:
        parts.append(
            f"{delta_pct(result.macs, analytic.macs):+.3f}% in total; {result.counter} gives no"
            " per-operator split (it adds BN, activations, pooling and bias adds to its MACs)"
        )
    if not parts:
        parts.append("exact: conv + linear multiply-accumulates, bias excluded")
    if result.not_counted:
        label = "skipped" if result.counter == "fvcore" else "not visible to its hooks"
        parts.append(f"{label}: {', '.join(result.not_counted)}")
    return "; ".join(parts)
