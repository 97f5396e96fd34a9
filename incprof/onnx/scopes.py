"""Module rows of an ONNX graph: each node's module path, from torch's
``pkg.torch.onnx.name_scopes`` metadata or ``/``-scoped node names, and one
:class:`ModuleCall` per scope with its sliding window."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from incprof.analysis.trace import (
    ROOT,
    ModuleCall,
    OpCall,
)
from incprof.onnx.graph import _metadata

aten = torch.ops.aten


@dataclass(frozen=True)
class _Scope:
    """Where a node sits: its module path (outermost first) with each module's type."""

    modules: tuple[tuple[str, str], ...]

    @property
    def innermost(self) -> str:
        return self.modules[-1][0] if self.modules else ROOT


def _scopes(graph: Any) -> list[_Scope]:
    """Each node's module path, from torch's metadata, else from '/'-scoped node names,
    else one module per node (a graph that says nothing of its structure)."""
    scopes = []
    for node in graph.node:
        meta = _metadata(node)
        names = _literal(meta.get("pkg.torch.onnx.name_scopes"))
        classes = _literal(meta.get("pkg.torch.onnx.class_hierarchy"))
        if names and len(names) >= 2:
            types = classes if classes and len(classes) == len(names) else ["scope"] * len(names)
            path = [
                (n, str(t).rsplit(".", 1)[-1])
                for n, t in zip(names[1:-1], types[1:-1], strict=True)
            ]
            # torch's rewriter keeps the batch norm's scope on the conv it fused it into
            if node.op_type in ("Conv", "ConvTranspose") and path and "Norm" in path[-1][1]:
                path.pop()
            scopes.append(_Scope(tuple(path)))
        elif node.name.startswith("/"):
            parts = node.name.strip("/").split("/")[:-1]
            path = [(".".join(parts[: i + 1]), "scope") for i in range(len(parts))]
            scopes.append(_Scope(tuple(path)))
        else:
            scopes.append(_Scope(()))
    if any(s.modules for s in scopes):
        return scopes
    return [_Scope(((_node_module(node, i), node.op_type),)) for i, node in enumerate(graph.node)]


def _literal(text: str | None) -> list[Any] | None:
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, list) else None


def _node_module(node: Any, index: int) -> str:
    """A row name for a node of a graph without scopes (dots would read as nesting)."""
    return (node.name or f"{node.op_type}_{index}").replace(".", "_").replace("/", "_")


def _module_calls(scopes: list[_Scope], ops: Sequence[OpCall]) -> tuple[ModuleCall, ...]:
    """One call per module scope, in the order they start, parents before children."""
    spans: dict[str, list[Any]] = {}  # name → [type, first_op, end_op]
    by_module: dict[str, list[OpCall]] = {}
    for op in ops:
        by_module.setdefault(op.module, []).append(op)
    paths: dict[str, _Scope] = {}
    for scope in scopes:
        paths.setdefault(scope.innermost, scope)
        for name, kind in scope.modules:
            spans.setdefault(name, [kind, None, None])
    for op in ops:
        path = paths.get(op.module)
        for name, _ in path.modules if path else ():
            span = spans[name]
            span[1] = op.index if span[1] is None else min(span[1], op.index)
            span[2] = op.index + 1 if span[2] is None else max(span[2], op.index + 1)
    calls = []
    for name, (kind, first, end) in spans.items():
        if first is None:
            continue
        last = ops[end - 1]
        output = last.outputs[0] if last.outputs else None
        kernel, stride = _window(by_module.get(name, []))
        calls.append(ModuleCall(name, kind, kernel, stride, first, end, output))
    calls.sort(key=lambda c: (c.first_op, -c.end_op))
    return tuple(calls)


def _window(ops: Sequence[OpCall]) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """The kernel and stride of a module's one sliding-window op (conv or pool)."""
    windows = [op for op in ops if op.func in _WINDOW_OPS]
    if len(windows) != 1:
        return None, None
    op = windows[0]
    if op.func is aten.convolution.default:
        return tuple(op.args[1].shape[2:]), tuple(op.args[3])
    return tuple(op.args[1]), tuple(op.args[2])


_WINDOW_OPS = (
    aten.convolution.default,
    aten.max_pool2d_with_indices.default,
    aten.avg_pool2d.default,
)
