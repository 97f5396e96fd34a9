"""Block diagrams: one Inception module's traced dataflow as a Mermaid flowchart.

Built from the trace, never drawn by hand: each *layer* of the block (the largest module
under it that holds exactly one conv, pooling or linear op, so a conv → BN → ReLU unit is
one node; or such an op the block's own forward issues, like torchvision's
``F.avg_pool2d``) is a node, and so is each *join* (a concat or an add of two
activations). Everything else (ReLU, BN, views, padding, the scale of a residual branch)
is folded into the edges, which follow :attr:`TensorInfo.producer` through those ops. An
edge into a join carries the share of the block's MACs that only that input's branch
spends: the naive block's 3% / 41% / 56% / 0% is read off its concat.

:func:`block_graph` computes a :class:`BlockGraph` (plain data, so tests compare its
edges with an independent derivation); :func:`mermaid` only formats one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from incprof.analysis.analytic import CostAnalysis
from incprof.analysis.trace import ROOT, OpCall, TensorInfo, Trace

NodeKind = Literal["input", "layer", "join"]

# Cost categories of the ops that make a node of their own: everything else is an edge.
LAYER_CATEGORIES = frozenset({"conv", "pool", "linear"})
# Ops that merge branches, when they take two activations or more.
JOIN_OPS = {"cat": "concat", "stack": "stack", "add": "add", "add_": "add", "sub": "sub"}
# Ops that scale a value by a constant on its way (a residual branch's 0.17).
SCALE_OPS = frozenset({"mul", "mul_", "div", "div_"})
# How each layer op reads in a node's label.
OP_TEXT = {
    "convolution": "conv",
    "_convolution": "conv",
    "max_pool2d_with_indices": "max pool",
    "max_pool2d": "max pool",
    "avg_pool2d": "avg pool",
    "_adaptive_avg_pool2d": "adaptive avg pool",
    "adaptive_max_pool2d": "adaptive max pool",
    "mean": "mean",
    "addmm": "fc",
    "mm": "matmul",
    "bmm": "matmul",
}
# Human units for MACs in labels, largest first.
UNITS = (("G", 10**9), ("M", 10**6), ("K", 10**3))


@dataclass(frozen=True)
class Node:
    """One box: the block's input, a layer, or a join."""

    id: str  # a Mermaid id: n0 (the input), n1, n2 … in the order the ops ran
    kind: NodeKind
    name: str  # a layer module's name under the block; an op's name; "input"
    module: str | None  # a layer module's full name; None for functional ops and joins
    op: str  # "conv", "max pool", "concat", "add" …
    kernel: str  # "3x3/2", "1x7"; "" where there is none
    shape: tuple[int, ...]  # output shape without the batch: C, H, W
    macs: int


@dataclass(frozen=True)
class Edge:
    """Dataflow from one node to another through ops that are not nodes."""

    source: str
    target: str
    scale: float | None = None  # a constant the value is multiplied by on the way
    share_pct: float | None = None  # into a join: the branch's share of the block's MACs
    shortcut: bool = False  # the block's input straight into a join


@dataclass(frozen=True)
class BlockGraph:
    """One module's layers and joins, and the dataflow between them."""

    root: str  # the module drawn ("" for the whole model)
    type: str  # its class name (the variant's name for a whole model)
    macs: int  # of the whole block, the ops no node holds included
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    @property
    def joins(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "join")

    def edge_set(self) -> set[tuple[str, str]]:
        """The edges as (source name, target name) pairs."""
        names = {n.id: n.name for n in self.nodes}
        return {(names[e.source], names[e.target]) for e in self.edges}


class _Span(NamedTuple):
    """The ops of one module call: ``first`` to ``end`` − 1."""

    first: int
    end: int


def _span(trace: Trace, root: str) -> tuple[_Span, str]:
    """The ops of ``root``'s first call (all forward ops for ``""``) and its type."""
    if not root:
        end = sum(1 for op in trace.ops if op.phase == "forward")
        return _Span(0, end), trace.name
    for call in trace.modules:
        if call.name == root:
            return _Span(call.first_op, call.end_op), call.type
    raise KeyError(f"{trace.name} ran no module called {root!r}")


def _under(name: str, root: str) -> bool:
    return name != ROOT and (not root or name.startswith(root + "."))


def _prefixes(name: str, root: str) -> list[str]:
    """The modules from just under ``root`` down to ``name``, outermost first."""
    parts = name.split(".")
    skip = root.count(".") + 1 if root else 0
    return [".".join(parts[: i + 1]) for i in range(skip, len(parts))]


def _layers(ops: Sequence[OpCall], root: str, categories: Sequence[str]) -> dict[int, str | None]:
    """For each conv, pool or linear op: the layer module holding it (the outermost module
    under ``root`` with no other such op), or None where it is a node of its own."""
    heavy = [op for op, category in zip(ops, categories, strict=True) if category]
    counts: dict[str, int] = {}
    for op in heavy:
        if _under(op.module, root):
            for prefix in _prefixes(op.module, root):
                counts[prefix] = counts.get(prefix, 0) + 1
    layers: dict[int, str | None] = {}
    for op in heavy:
        candidates = _prefixes(op.module, root) if _under(op.module, root) else []
        layers[op.index] = next((p for p in candidates if counts[p] == 1), None)
    return layers


def _pair(value: Any, n: int) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, list | tuple) else (value,)
    return values * n if len(values) == 1 else values


def kernel_text(kernel: Sequence[int], stride: Sequence[int]) -> str:
    """'3x3/2', '1x7', '3x3/2x1': kernel, then the stride where it is not 1."""
    text = "x".join(map(str, kernel))
    if any(s != 1 for s in stride):
        text += "/" + (str(stride[0]) if len(set(stride)) == 1 else "x".join(map(str, stride)))
    return text


def _bound(op: OpCall) -> dict[str, Any]:
    """The op's arguments by schema name, defaults filled in."""
    arguments = op.func._schema.arguments
    values = {a.name: a.default_value for a in arguments if a.has_default_value()}
    values.update(zip((a.name for a in arguments), op.args, strict=False))
    values.update(op.kwargs)
    return values


def _kernel(op: OpCall) -> str:
    """A conv's or pool's window and stride, from its arguments."""
    if op.name in ("convolution", "_convolution"):
        args = _bound(op)
        window = args["weight"].shape[2:]
        return kernel_text(window, _pair(args["stride"], len(window)))
    if op.name in ("max_pool2d_with_indices", "max_pool2d", "avg_pool2d"):
        args = _bound(op)
        window = _pair(args["kernel_size"], 2)
        return kernel_text(window, _pair(args["stride"], 2) if args["stride"] else window)
    if op.name in ("_adaptive_avg_pool2d", "adaptive_max_pool2d"):
        size = _pair(_bound(op)["output_size"], 2)
        return "global" if all(s == 1 for s in size) else "to " + "x".join(map(str, size))
    return ""


def _scale(op: OpCall) -> float | None:
    """The constant a mul (or div) applies, when one operand is a plain number."""
    if op.name not in SCALE_OPS:
        return None
    numbers = [a for a in op.args if isinstance(a, int | float) and not isinstance(a, bool)]
    if len(numbers) != 1:
        return None
    return 1 / numbers[0] if op.name.startswith("div") else float(numbers[0])


def _activations(op: OpCall) -> list[TensorInfo]:
    return [t for t in op.inputs if t.role in ("activation", "input")]


def _shape(value: TensorInfo | None) -> tuple[int, ...]:
    return tuple(value.shape[1:]) if value is not None else ()


class _Builder:
    """Walks one module call's ops once: nodes in the order they ran, then edges."""

    def __init__(self, trace: Trace, costs: CostAnalysis, root: str) -> None:
        self.trace = trace
        self.root = root
        self.span, self.type = _span(trace, root)
        self.ops = trace.ops[self.span.first : self.span.end]
        records = costs.records[self.span.first : self.span.end]
        self.macs = [r.macs for r in records]
        categories = [r.category if r.category in LAYER_CATEGORIES else "" for r in records]
        self.layer_of = _layers(self.ops, root, categories)
        self.node_of: dict[int, str] = {}  # op index -> node id
        self.nodes: list[Node] = []
        self.named: Counter[str] = Counter()  # op nodes of each name so far

    def _add(self, **fields: Any) -> str:
        node_id = f"n{len(self.nodes)}"
        self.nodes.append(Node(id=node_id, **fields))
        return node_id

    def _input(self) -> TensorInfo:
        """The first value the block reads that was made before it: its input."""
        for op in self.ops:
            for tensor in _activations(op):
                if tensor.producer is None or tensor.producer < self.span.first:
                    return tensor
        return self.trace.input

    def build(self) -> BlockGraph:
        shape = _shape(self._input())
        input_id = self._add(
            kind="input", name="input", module=None, op="", kernel="", shape=shape, macs=0
        )
        calls = {c.name: c for c in reversed(self.trace.modules)}  # the first call of each
        for op in self.ops:
            index = op.index
            if index in self.node_of:
                continue
            if index in self.layer_of:
                module = self.layer_of[index]
                self._layer(op, module, calls[module].output if module else None)
            elif op.name in JOIN_OPS and len(_activations(op)) >= 2:
                self.node_of[index] = self._add(
                    kind="join",
                    name=self._name(op.name),
                    module=None,
                    op=JOIN_OPS[op.name],
                    kernel="",
                    shape=_shape(op.outputs[0]),
                    macs=0,
                )
        macs = sum(self.macs)
        return BlockGraph(
            root=self.root,
            type=self.type,
            macs=macs,
            nodes=tuple(self.nodes),
            edges=tuple(_with_shares(self.nodes, self._edges(input_id), macs)),
        )

    def _name(self, base: str) -> str:
        """An op's node name, numbered from the second of its kind: cat, cat_1 …"""
        taken = self.named[base]
        self.named[base] += 1
        return base if not taken else f"{base}_{taken}"

    def _layer(self, op: OpCall, module: str | None, output: TensorInfo | None) -> None:
        """A layer node: the module's ops, or the one op itself."""
        if module is None:
            members = [op.index]
            name, output = self._name(op.name), op.outputs[0]
        else:
            prefix = module + "."
            members = [
                o.index for o in self.ops if o.module == module or o.module.startswith(prefix)
            ]
            name = module[len(self.root) + 1 :] if self.root else module
        node_id = self._add(
            kind="layer",
            name=name,
            module=module,
            op=OP_TEXT.get(op.name, op.name),
            kernel=_kernel(op),
            shape=_shape(output),
            macs=sum(self.macs[i - self.span.first] for i in members),
        )
        for index in members:
            self.node_of[index] = node_id

    def _edges(self, input_id: str) -> list[Edge]:
        """Each node's inputs, followed back through ops that are not nodes."""
        edges: dict[tuple[str, str], Edge] = {}
        for op in self.ops:
            target = self.node_of.get(op.index)
            if target is None:
                continue
            for tensor in _activations(op):
                producer = tensor.producer
                if producer is not None and self.node_of.get(producer) == target:
                    continue  # inside the same layer
                for source, scale in self._sources(tensor, input_id, None):
                    edges.setdefault((source, target), Edge(source, target, scale))
        return list(edges.values())

    def _sources(
        self, tensor: TensorInfo, input_id: str, scale: float | None
    ) -> Iterable[tuple[str, float | None]]:
        producer = tensor.producer
        if producer is None or producer < self.span.first:
            yield input_id, scale
            return
        if producer in self.node_of:
            yield self.node_of[producer], scale
            return
        op = self.trace.ops[producer]
        factor = _scale(op)
        if factor is not None:
            scale = factor * (scale if scale is not None else 1.0)
        for value in _activations(op):
            yield from self._sources(value, input_id, scale)


def _with_shares(nodes: Sequence[Node], edges: Sequence[Edge], total_macs: int) -> list[Edge]:
    """Edges into a join get the MACs share of the layers only that input depends on; the
    block's input straight into a join is a shortcut."""
    kinds = {n.id: n.kind for n in nodes}
    macs = {n.id: n.macs for n in nodes}
    parents: dict[str, list[str]] = {n.id: [] for n in nodes}
    for e in edges:
        parents[e.target].append(e.source)
    above: dict[str, frozenset[str]] = {}
    for n in nodes:  # nodes are in the order they ran: parents come first
        above[n.id] = frozenset({n.id}).union(*(above[p] for p in parents[n.id]))
    shared: list[Edge] = []
    for e in edges:
        if kinds[e.target] != "join":
            shared.append(e)
            continue
        others = [above[p] for p in parents[e.target] if p != e.source]
        mine = above[e.source].difference(*others)
        share = 100.0 * sum(macs[n] for n in mine) / total_macs if total_macs else 0.0
        shared.append(Edge(e.source, e.target, e.scale, share, shortcut=kinds[e.source] == "input"))
    return shared


def block_graph(trace: Trace, costs: CostAnalysis, root: str = "") -> BlockGraph:
    """The layers and joins of module ``root`` (its first call; ``""``: the whole model)
    and the dataflow between them; ``costs`` is ``analytic.cost(trace)``."""
    return _Builder(trace, costs, root).build()


def drawn_modules(trace: Trace, costs: CostAnalysis) -> list[BlockGraph]:
    """The graphs a network page draws: each end point whose branches meet in a join; an
    end point that is a ``Sequential`` (a repeat of residual blocks) gives its children."""
    children: dict[str, list[str]] = {}
    for call in trace.modules:
        parent = call.name.rpartition(".")[0]
        children.setdefault(parent, [])
        if call.name not in children[parent]:
            children[parent].append(call.name)
    types = {c.name: c.type for c in reversed(trace.modules)}
    roots: list[str] = []
    for point in trace.end_points:
        if point not in types:
            continue
        roots += children.get(point, []) if types[point] == "Sequential" else [point]
    graphs = [block_graph(trace, costs, root) for root in roots]
    return [g for g in graphs if g.joins]


def same_drawing(graphs: Sequence[BlockGraph]) -> list[list[BlockGraph]]:
    """Graphs grouped where their drawings are identical (ten equal ``Block35``), in the
    order each drawing first appears."""
    groups: dict[tuple[str, str], list[BlockGraph]] = {}
    for graph in graphs:
        groups.setdefault((graph.type, mermaid(graph)), []).append(graph)
    return list(groups.values())


def macs_text(macs: int) -> str:
    """'2.1M', '347M', '1.2G': three significant digits."""
    for suffix, size in UNITS:
        if macs >= size:
            return f"{macs / size:.3g}{suffix}"
    return str(macs)


def share_text(pct: float) -> str:
    """'41%'; '<1%' for a branch that spends little but not nothing."""
    return "<1%" if 0 < pct < 0.5 else f"{pct:.0f}%"


def _escape(text: str) -> str:
    """Text safe inside a quoted Mermaid label: entity codes for what would end or
    confuse it."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, code)
    return text


def _label(lines: Iterable[str]) -> str:
    return '"' + "<br/>".join(_escape(line) for line in lines if line) + '"'


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


def node_label(node: Node) -> str:
    if node.kind == "input":
        return _label(["input", _shape_text(node.shape)])
    if node.kind == "join":
        return _label([node.op, _shape_text(node.shape)])
    kernel = f"{node.op} {node.kernel}".strip()
    return _label(
        [node.name, f"{kernel} → {_shape_text(node.shape)}", f"{macs_text(node.macs)} MACs"]
    )


def edge_label(edge: Edge, joins: dict[str, str]) -> str:
    """'41%', '×0.17 · 100%', 'shortcut': what the edge carries into a join."""
    parts = []
    if edge.scale is not None:
        parts.append(f"×{edge.scale:g}")
    if edge.shortcut:
        parts.append("shortcut" if joins[edge.target] == "add" else "identity")
    elif edge.share_pct is not None:
        parts.append(share_text(edge.share_pct))
    return _label([" · ".join(parts)]) if parts else ""


def mermaid(graph: BlockGraph, direction: Literal["TB", "LR"] = "TB") -> str:
    """The flowchart text (without the Markdown fence): nodes in the order they ran, so
    branches come out side by side, left to right in the order the block runs them."""
    lines = [f"flowchart {direction}"]
    for node in graph.nodes:
        label = node_label(node)
        lines.append(
            f"    {node.id}([{label}])" if node.kind != "layer" else f"    {node.id}[{label}]"
        )
    joins = {n.id: n.op for n in graph.joins}
    for edge in graph.edges:
        label = edge_label(edge, joins)
        arrow = f"-->|{label}|" if label else "-->"
        lines.append(f"    {edge.source} {arrow} {edge.target}")
    return "\n".join(lines)
