"""Measured counters: torch's FlopCounterMode, fvcore, thop and ptflops, side by side.

Each adapter runs one third-party counter in isolation and normalises what it reports
to MACs, keeping the counter's own breakdown (per operator or per module type) so that
every gap to the analytic figure can be named by operator. A counter that is not
installed or that fails is a result with an ``error``; it never stops the others.

fvcore, thop and ptflops hook or trace a real forward pass, so they run on a CPU copy
with uninitialised weights (the values do not change what they count); thop and ptflops
attach buffers and attributes to the modules they see, which is one more reason to
hand them a copy.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from incprof.analysis.analytic import CostAnalysis, meta_model
from incprof.registry import InputShape, Variant, error_line

COUNTERS = ("torch", "fvcore", "thop", "ptflops")
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
    error: str | None = None

    def __post_init__(self) -> None:
        # Counters report floats; a whole number of MACs is shown and saved as an integer.
        if isinstance(self.macs, float) and self.macs.is_integer():
            object.__setattr__(self, "macs", int(self.macs))


def _cpu_copy(variant: Variant, overrides: dict[str, Any] | None) -> nn.Module:
    """A CPU model with storage but no initialisation: cheap, and enough to count."""
    return meta_model(variant, overrides).to_empty(device="cpu").eval()


def _torch_category(op_name: str) -> str:
    if "conv" in op_name:
        return "conv"
    if op_name in {"mm", "addmm", "bmm", "matmul", "baddbmm"}:
        return "linear"
    return op_name


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
    by_category: dict[str, float] = defaultdict(float)
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        by_category[_torch_category(getattr(op, "__name__", str(op)))] += flops / 2
    return CounterResult("torch", counter.get_total_flops() / 2, dict(by_category))


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


def run_counter(
    name: str,
    variant: Variant,
    shape: InputShape,
    analytic: CostAnalysis,
    overrides: dict[str, Any] | None = None,
) -> CounterResult:
    """Run one counter, turning any failure into a result that says why."""
    runners: dict[str, Callable[[], CounterResult]] = {
        "torch": lambda: count_torch(variant, shape, overrides),
        "fvcore": lambda: count_fvcore(variant, shape, overrides),
        "thop": lambda: count_thop(variant, shape, overrides, analytic),
        "ptflops": lambda: count_ptflops(variant, shape, overrides, analytic),
    }
    if name not in runners:
        raise ValueError(f"unknown counter {name!r}; choose from analytic, {', '.join(COUNTERS)}")
    try:
        with warnings.catch_warnings():
            # Third-party deprecation noise (jit, distutils) is not the user's concern.
            warnings.simplefilter("ignore")
            return runners[name]()
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
    if result.by_category:
        for cat in MAC_CATEGORIES:
            ours = categories.get(cat, {}).get("macs", 0)
            delta = result.by_category.get(cat, 0.0) - ours
            if delta:
                parts.append(f"{100 * delta / base:+.3f}% {cat} MACs differ from the formula")
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
