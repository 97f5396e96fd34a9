"""Analytic cost: MACs, other ops and parameters from shapes alone.

A function of one :class:`~incprof.analysis.trace.Trace`: every ATen operator of the
meta-device forward is priced with the closed-form formulas of
:mod:`incprof.analysis.formulas`. Nothing is computed on real data, so the cost of the
analysis does not grow with batch or resolution. Functional calls (``F.relu``,
``torch.cat``, ``x + y``) are seen like module calls, because they reach the same
dispatcher; each operator is charged to the innermost module running when it was issued.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from incprof.analysis.formulas import cost_of
from incprof.analysis.rollup import shown_modules, subtrees
from incprof.analysis.trace import ROOT, Trace, trace_module, trace_variant
from incprof.analysis.trace_ir import slot_constructor
from incprof.registry import InputShape, Variant


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One operator call: who issued it, what it was, what it cost."""

    module: str
    operator: str
    category: str
    macs: int
    other_ops: int
    known: bool


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """What the per-module table shows of a module that ran."""

    name: str
    type: str
    kernel: str
    output_shape: tuple[int, ...]


# One of each per op and per module call of every analysis (see slot_constructor).
_make_record = slot_constructor(OpRecord)
_make_module_info = slot_constructor(ModuleInfo)


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
    # The inputs as given ('3x8x8, 16, mask=8:bool'); input_shape is the first one's.
    input_text: str = ""

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

    def unknown_op_modules(self) -> dict[str, tuple[str, ...]]:
        """Each unknown operator with the modules that ran it, in call order."""
        where: dict[str, dict[str, None]] = defaultdict(dict)
        for r in self.records:
            if not r.known:
                where[r.operator][r.module] = None
        return {op: tuple(modules) for op, modules in where.items()}

    def by_operator(self) -> dict[str, dict[str, Any]]:
        """Totals per ATen operator: ``{op: {"calls", "macs", "other_ops", "known"}}``.

        ``known`` tells an operator priced at zero (a view, a copy) from one no formula
        knows, whose zeros are not a price.
        """
        totals: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"calls": 0, "macs": 0, "other_ops": 0, "known": True}
        )
        for r in self.records:
            row = totals[r.operator]
            row["calls"] += 1
            row["macs"] += r.macs
            row["other_ops"] += r.other_ops
            row["known"] = row["known"] and r.known
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
        infos = {info.name: info for info in self.modules}
        shown = shown_modules(((m.name, m.type) for m in self.modules), depth)
        names = [name for name, _ in shown]
        records = subtrees(names, self.records, lambda r: r.module)
        params_of = subtrees(names, self.used_params_by_module.items(), lambda item: item[0])
        rows = []
        for name, _type in shown:
            info, mine = infos[name], records[name]
            macs = sum(r.macs for r in mine)
            unknown = Counter(r.operator for r in mine if not r.known)
            params = sum(n for _, n in params_of[name])
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
            "input_shape": self.input_text or "x".join(map(str, self.input_shape)),
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


@functools.cache  # a network has a handful of (kernel, stride) pairs and hundreds of layers
def _kernel_text(kernel: tuple[int, ...] | None, stride: tuple[int, ...] | None) -> str:
    """'3x3/2' style kernel and stride for conv and pool layers; '' for the rest."""
    if kernel is None or stride is None:
        return ""
    text = "x".join(map(str, kernel))
    if any(v != 1 for v in stride):
        text += "/" + (str(stride[0]) if len(set(stride)) == 1 else "x".join(map(str, stride)))
    return text


def cost(trace: Trace) -> CostAnalysis:
    """Price every op of a trace with the formulas of :mod:`incprof.analysis.formulas`."""
    records = []
    for op in trace.ops:
        priced = cost_of(op.func, op.args, op.kwargs, op.out)
        if priced is None:
            records.append(_make_record(op.module, op.name, "unknown", 0, 0, False))
            continue
        category, macs, other = priced.category, priced.macs, priced.other_ops
        records.append(_make_record(op.module, op.name, category, macs, other, True))
    if trace.output is None:
        raise TypeError(f"the output holds no tensor (a {trace.output_type})")
    used_by_module: dict[str, int] = defaultdict(int)
    for p in trace.parameters:
        if p.used:
            used_by_module[p.owner] += p.numel
    # One row per module, in the order modules first started, with its first output.
    modules: dict[str, ModuleInfo] = {}
    for call in trace.modules:
        shape = call.output.shape if call.output is not None else ()
        known = modules.get(call.name)
        if known is None or not known.output_shape:
            kernel = _kernel_text(call.kernel_size, call.stride)
            modules[call.name] = _make_module_info(call.name, call.type, kernel, shape)
    return CostAnalysis(
        variant=trace.name,
        input_shape=trace.input_shape,
        batch=trace.batch,
        output_shape=trace.output.shape,
        params=sum(used_by_module.values()),
        params_with_aux=sum(p.numel for p in trace.parameters),
        records=tuple(records),
        modules=tuple(modules.values()),
        used_params_by_module=dict(used_by_module),
        input_text=trace.input_text,
    )


def analyze_module(
    model: nn.Module,
    input_shape: InputShape,
    *,
    batch: int = 1,
    name: str = "model",
) -> CostAnalysis:
    """Analytic cost of ``model``'s eval forward on a ``batch × input_shape`` input."""
    return cost(trace_module(model, input_shape, batch=batch, name=name))


def analyze(
    variant: Variant,
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    overrides: dict[str, Any] | None = None,
) -> CostAnalysis:
    """Analytic cost of a registered (or user) variant at its default or a given input."""
    trace = trace_variant(variant, input_shape=input_shape, batch=batch, overrides=overrides)
    return cost(trace)
