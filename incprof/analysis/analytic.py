"""Analytic cost: MACs, other ops and parameters from shapes alone.

The model is built on the ``meta`` device and run once in eval mode under a dispatch
mode that prices every ATen operator with the closed-form formulas of
:mod:`incprof.analysis.formulas`. Nothing is computed on real data, so the cost of the
analysis does not grow with batch or resolution. Functional calls (``F.relu``,
``torch.cat``, ``x + y``) are seen like module calls, because they reach the same
dispatcher; each operator is charged to the innermost module running when it was issued.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from incprof.analysis.formulas import cost_of
from incprof.registry import InputShape, Variant

ROOT = "(root)"


@dataclass(frozen=True)
class OpRecord:
    """One operator call: who issued it, what it was, what it cost."""

    module: str
    operator: str
    category: str
    macs: int
    other_ops: int
    known: bool


@dataclass(frozen=True)
class ModuleInfo:
    """What the per-module table shows of a module that ran."""

    name: str
    type: str
    kernel: str
    output_shape: tuple[int, ...]


@dataclass(frozen=True)
class CostAnalysis:
    """The analytic cost of one forward pass (eval path)."""

    variant: str
    input_shape: InputShape
    batch: int
    output_shape: tuple[int, ...]
    params: int
    params_with_aux: int
    records: tuple[OpRecord, ...]
    modules: tuple[ModuleInfo, ...]
    # Parameters each module holds directly (recurse=False) that the eval forward used.
    used_params_by_module: dict[str, int] = field(repr=False)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.records)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def other_ops(self) -> int:
        return sum(r.other_ops for r in self.records)

    def unknown_ops(self) -> dict[str, int]:
        """Operators no formula knows, with how often each ran. Never counted as zero."""
        return dict(Counter(r.operator for r in self.records if not r.known))

    def by_operator(self) -> dict[str, dict[str, int]]:
        """Totals per ATen operator: ``{op: {"calls", "macs", "other_ops"}}``."""
        totals: dict[str, dict[str, int]] = defaultdict(
            lambda: {"calls": 0, "macs": 0, "other_ops": 0}
        )
        for r in self.records:
            row = totals[r.operator]
            row["calls"] += 1
            row["macs"] += r.macs
            row["other_ops"] += r.other_ops
        return dict(totals)

    def by_category(self) -> dict[str, dict[str, int]]:
        """Totals per category (conv, linear, batch_norm, pool, activation, …)."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: {"macs": 0, "other_ops": 0})
        for r in self.records:
            totals[r.category]["macs"] += r.macs
            totals[r.category]["other_ops"] += r.other_ops
        return dict(totals)

    def by_module(self, depth: int | None = None) -> list[dict[str, Any]]:
        """One row per module that ran, in call order, with its subtree's totals.

        ``depth`` keeps modules at most that many dots deep (1: top-level children);
        ``None`` keeps every module. Ops issued by the root's own forward get a row
        named ``(root)``.
        """
        total_macs = self.macs or 1
        rows = []
        for info in self.modules:
            level = info.name.count(".") + 1
            if depth is not None and level > depth:
                continue
            prefix = info.name + "."
            mine = [r for r in self.records if r.module == info.name or r.module.startswith(prefix)]
            macs = sum(r.macs for r in mine)
            unknown = Counter(r.operator for r in mine if not r.known)
            params = sum(
                n
                for m, n in self.used_params_by_module.items()
                if m == info.name or m.startswith(prefix)
            )
            rows.append(
                {
                    "module": info.name,
                    "type": info.type,
                    "kernel": info.kernel,
                    "output_shape": info.output_shape,
                    "params": params,
                    "macs": macs,
                    "other_ops": sum(r.other_ops for r in mine),
                    "macs_pct": 100.0 * macs / total_macs,
                    "unknown_ops": _counts_text(unknown),
                }
            )
        root = [r for r in self.records if r.module == ROOT]
        root_unknown = Counter(r.operator for r in root if not r.known)
        if root and (any(r.macs or r.other_ops for r in root) or root_unknown):
            rows.append(
                {
                    "module": ROOT,
                    "type": "functional",
                    "kernel": "",
                    "output_shape": self.output_shape,
                    "params": self.used_params_by_module.get(ROOT, 0),
                    "macs": sum(r.macs for r in root),
                    "other_ops": sum(r.other_ops for r in root),
                    "macs_pct": 100.0 * sum(r.macs for r in root) / total_macs,
                    "unknown_ops": _counts_text(root_unknown),
                }
            )
        return rows

    def summary(self) -> dict[str, Any]:
        """The flat record ``incprof compare`` shows for this variant."""
        unknown = self.unknown_ops()
        return {
            "variant": self.variant,
            "input_shape": "x".join(map(str, self.input_shape)),
            "params": self.params,
            "params_with_aux": self.params_with_aux,
            "macs": self.macs,
            "flops": self.flops,
            "other_ops": self.other_ops,
            "unknown_ops": _counts_text(unknown),
        }


def _counts_text(counts: Mapping[str, int]) -> str:
    """'hardswish×2, lstm×1': operators and how often each ran, by name."""
    return ", ".join(f"{k}×{v}" for k, v in sorted(counts.items()))


def tensor_leaves(value: Any) -> list[torch.Tensor]:
    """Every tensor in a model's output, in order: a tensor, or tensors nested in tuples,
    lists, dicts and dataclasses (detection and multi-head models return those)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.values()
    elif isinstance(value, tuple | list):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = (getattr(value, f.name) for f in dataclasses.fields(value))
    else:
        return []
    return [leaf for item in items for leaf in tensor_leaves(item)]


def first_tensor(value: Any) -> torch.Tensor | None:
    """The main output: the first tensor leaf, or None when there is none."""
    leaves = tensor_leaves(value)
    return leaves[0] if leaves else None


def _kernel_text(module: nn.Module) -> str:
    """'3x3/2' style kernel and stride for conv and pool layers; '' for the rest."""
    kernel = getattr(module, "kernel_size", None)
    if kernel is None:
        return ""
    stride = getattr(module, "stride", 1)

    def pair(v: Any) -> tuple[int, ...]:
        return tuple(v) if isinstance(v, tuple | list) else (v, v)

    text = "x".join(map(str, pair(kernel)))
    s = pair(stride if stride is not None else kernel)
    if any(v != 1 for v in s):
        text += "/" + ("x".join(map(str, s)) if s[0] != s[1] else str(s[0]))
    return text


def _batch_norm_shapes(args: Any, kwargs: dict[str, Any]) -> Any:
    # (output, saved mean, saved inverse std): eval mode saves nothing.
    x = args[0]
    return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))


# Operators whose meta kernel is a slow Python decomposition but whose shapes are plain:
# batch norm's output has its input's shape. Used on the meta device only.
_SHAPE_SHORTCUTS: dict[Any, Callable[[Any, dict[str, Any]], Any]] = {
    torch.ops.aten.native_batch_norm.default: _batch_norm_shapes,
    torch.ops.aten._native_batch_norm_legit_no_training.default: _batch_norm_shapes,
}


def run_op(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run one ATen call, taking a shape shortcut for meta tensors where one exists.

    Training-mode batch norm (``args[5]``) keeps torch's own kernel: it saves statistics.
    """
    shortcut = _SHAPE_SHORTCUTS.get(func)
    first = args[0] if args else None
    if (
        shortcut is not None
        and isinstance(first, torch.Tensor)
        and first.device.type == "meta"
        and not (func is torch.ops.aten.native_batch_norm.default and args[5])
    ):
        return shortcut(args, kwargs)
    return func(*args, **kwargs)


class _CostMode(TorchDispatchMode):
    """Prices each ATen call and notes which parameters the forward touched."""

    def __init__(self, param_owner: dict[int, tuple[str, int]], stack: list[str]) -> None:
        super().__init__()
        self.param_owner = param_owner
        self.stack = stack
        self.records: list[OpRecord] = []
        self.used: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = run_op(func, args, kwargs)
        for arg in args:
            if isinstance(arg, torch.Tensor) and id(arg) in self.param_owner:
                self.used.add(id(arg))
        cost = cost_of(func, args, kwargs, out)
        name = func.overloadpacket.__name__
        if cost is None:
            record = OpRecord(self.stack[-1], name, "unknown", 0, 0, known=False)
        else:
            record = OpRecord(self.stack[-1], name, cost.category, cost.macs, cost.other_ops, True)
        self.records.append(record)
        return out


@contextmanager
def module_tracking(
    model: nn.Module,
    stack: list[str],
    outputs: dict[str, tuple[int, ...]],
    on_output: Callable[[str, Any], None] | None = None,
) -> Iterator[None]:
    """Keep ``stack`` at the names of the modules running; note each one's output shape.

    ``outputs`` fills in the order the modules *start*, so parents precede children;
    ``on_output(name, output)`` sees every module's output as it is returned.
    """
    with ExitStack() as hooks:
        for name, module in model.named_modules():
            if not name:
                continue

            def pre(_m: nn.Module, _inputs: Any, name: str = name) -> None:
                stack.append(name)
                outputs.setdefault(name, ())

            def post(_m: nn.Module, _inputs: Any, output: Any, name: str = name) -> None:
                stack.pop()
                first = first_tensor(output)
                if first is not None and not outputs[name]:
                    outputs[name] = tuple(first.shape)
                if on_output is not None:
                    on_output(name, output)

            hooks.callback(module.register_forward_pre_hook(pre).remove)
            hooks.callback(module.register_forward_hook(post, always_call=True).remove)
        yield


def meta_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every parameter and buffer on the meta device, ties kept.

    ``model.to("meta")`` gives each module that holds a parameter a new one, so a weight
    two modules share (a decoder reusing its encoder's) would become two and be counted
    twice. Here each tensor is mapped once, through deepcopy's memo, and no data is copied.
    """
    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def meta_model(variant: Variant, overrides: dict[str, Any] | None = None) -> nn.Module:
    """Build a variant with its parameters on the meta device (no memory, no init cost)."""
    overrides = overrides or {}
    try:
        with torch.device("meta"):
            return variant.build(**overrides)
    except (NotImplementedError, RuntimeError):
        # Some user models initialise from real data; build on the CPU, then drop the data.
        return meta_copy(variant.build(**overrides))


def analyze_module(
    model: nn.Module,
    input_shape: InputShape,
    *,
    batch: int = 1,
    name: str = "model",
) -> CostAnalysis:
    """Analytic cost of ``model``'s eval forward on a ``batch × input_shape`` input."""
    if any(p.device.type != "meta" for p in model.parameters()):
        model = meta_copy(model)
    was_training = model.training
    model.eval()
    named = dict(model.named_modules())
    param_owner: dict[int, tuple[str, int]] = {}
    for module_name, module in named.items():
        for p in module.parameters(recurse=False):
            param_owner.setdefault(id(p), (module_name or ROOT, p.numel()))
    stack = [ROOT]
    outputs: dict[str, tuple[int, ...]] = {}
    mode = _CostMode(param_owner, stack)
    x = torch.empty((batch, *input_shape), device="meta")
    try:
        with torch.no_grad(), module_tracking(model, stack, outputs), mode:
            out = model(x)
    finally:
        model.train(was_training)
    first = first_tensor(out)
    if first is None:
        raise TypeError(f"the output holds no tensor (a {type(out).__name__})")
    used_by_module: dict[str, int] = defaultdict(int)
    for pid in mode.used:
        owner, numel = param_owner[pid]
        used_by_module[owner] += numel
    modules = tuple(
        ModuleInfo(n, type(named[n]).__name__, _kernel_text(named[n]), shape)
        for n, shape in outputs.items()
    )
    return CostAnalysis(
        variant=name,
        input_shape=tuple(input_shape),
        batch=batch,
        output_shape=tuple(first.shape),
        params=sum(used_by_module.values()),
        params_with_aux=sum(p.numel() for p in model.parameters()),
        records=tuple(mode.records),
        modules=modules,
        used_params_by_module=dict(used_by_module),
    )


def analyze(
    variant: Variant,
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    overrides: dict[str, Any] | None = None,
) -> CostAnalysis:
    """Analytic cost of a registered (or user) variant at its default or a given input."""
    shape = input_shape or variant.input_for(overrides)
    return analyze_module(meta_model(variant, overrides), shape, batch=batch, name=variant.name)
