"""Block diagrams: edges equal torch.fx's dataflow, shares by hand, Mermaid that parses."""

from __future__ import annotations

import operator
import re

import pytest
import torch
from torch import fx, nn

from incprof.analysis.analytic import cost
from incprof.analysis.trace import meta_model, trace_module, trace_variant
from incprof.models.blocks import SEED_NAIVE, SEED_REDUCED, NaiveInception, ReducedInception
from incprof.models.inception_resnet import Block35, Block35Widths
from incprof.models.inception_v3 import InceptionA, InceptionB
from incprof.registry import get, list_variants
from incprof.report.diagrams import (
    BlockGraph,
    Edge,
    Node,
    block_graph,
    drawn_modules,
    mermaid,
    same_drawing,
    share_text,
)

# Module types that hold one conv, pooling or linear op: what makes a layer, seen from the
# module tree rather than from the trace.
HEAVY = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear)


def _fx_layers(model: nn.Module) -> set[str]:
    """The outermost submodules holding exactly one heavy module."""
    counts = {
        name: sum(isinstance(m, HEAVY) for m in module.modules())
        for name, module in model.named_modules()
        if name
    }
    return {
        name
        for name, count in counts.items()
        if count == 1
        and all(counts[".".join(name.split(".")[:i])] != 1 for i in range(1, name.count(".") + 1))
    }


class _LayerTracer(fx.Tracer):
    def __init__(self, layers: set[str]) -> None:
        super().__init__()
        self.layers = layers

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.layers or super().is_leaf_module(m, qualname)


def _args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), found.append)
    return found


def fx_edges(model: nn.Module) -> set[tuple[object, object]]:
    """The dataflow between layers, functional pools and joins of ``model``, from
    ``torch.fx.symbolic_trace`` with the layers as leaves; every other node is walked
    through. Layers are keyed by module name, functional pools and joins by their order."""
    layers = _fx_layers(model)
    graph = _LayerTracer(layers).trace(model)
    keys: dict[fx.Node, object] = {}
    pools = joins = 0
    for node in graph.nodes:
        name = getattr(node.target, "__name__", "")
        if node.op == "placeholder":
            keys[node] = "input"
        elif node.op == "call_module" and node.target in layers:
            keys[node] = node.target
        elif node.op == "call_function" and "pool" in name:
            keys[node], pools = ("pool", pools), pools + 1
        elif node.target in (torch.cat, operator.add) and len(_args(node)) >= 2:
            keys[node], joins = ("join", joins), joins + 1

    def sources(node: fx.Node) -> set[object]:
        if node in keys:
            return {keys[node]}
        return set().union(*(sources(a) for a in _args(node)))

    return {(source, keys[node]) for node in keys for arg in _args(node) for source in sources(arg)}


def keyed_edges(graph: BlockGraph) -> set[tuple[object, object]]:
    """The diagram's edges keyed as :func:`fx_edges` keys them."""
    keys: dict[str, object] = {}
    pools = joins = 0
    for node in graph.nodes:
        if node.kind == "input":
            keys[node.id] = "input"
        elif node.kind == "join":
            keys[node.id], joins = ("join", joins), joins + 1
        elif node.module is None:
            keys[node.id], pools = ("pool", pools), pools + 1
        else:
            keys[node.id] = node.name
    return {(keys[e.source], keys[e.target]) for e in graph.edges}


BLOCKS = {
    "block_naive": (lambda: NaiveInception(256, SEED_NAIVE), (256, 28, 28)),
    "block_reduced": (lambda: ReducedInception(256, SEED_REDUCED), (256, 28, 28)),
    # torchvision's InceptionA (Mixed_5b): the pool branch is F.avg_pool2d in forward.
    "mixed_5b_like": (lambda: InceptionA(192, pool_features=32), (192, 35, 35)),
    # torchvision's InceptionB (Mixed_6a): F.max_pool2d straight into the concat.
    "mixed_6a_like": (lambda: InceptionB(288), (288, 35, 35)),
    "block35": (
        lambda: Block35(Block35Widths(320, 32, (32, 32), (32, 48, 64)), scale=0.17),
        (320, 35, 35),
    ),
}


@pytest.mark.parametrize("name", BLOCKS)
def test_edges_equal_the_dataflow_torch_fx_sees(name):
    build, shape = BLOCKS[name]
    model = build().eval()
    expected = fx_edges(model)
    trace = trace_module(model, shape)
    drawn = keyed_edges(block_graph(trace, cost(trace)))
    assert drawn == expected
    assert len(expected) >= 8  # the walk found the block, not an empty graph


def test_naive_block_edges_by_hand():
    # Four branches read the input and meet in one concat; nothing else.
    trace = trace_variant(get("block_naive"))
    branches = ("branch1", "branch2", "branch3", "branch4")
    assert block_graph(trace, cost(trace)).edge_set() == {
        *(("input", b) for b in branches),
        *((b, "cat") for b in branches),
    }


def test_a_block_inside_a_network_is_drawn_from_its_own_ops():
    # Mixed_5b inside inception_v3: its input comes from maxpool2, before the block.
    variant = get("inception_v3")
    trace = trace_variant(variant)
    graph = block_graph(trace, cost(trace), "Mixed_5b")
    assert keyed_edges(graph) == fx_edges(meta_model(variant).Mixed_5b)
    assert graph.type == "InceptionA"
    assert graph.nodes[0].shape == (192, 35, 35)
    assert graph.joins[0].shape == (256, 35, 35)


def test_residual_block_has_a_shortcut_and_a_scaled_branch():
    build, shape = BLOCKS["block35"]
    trace = trace_module(build(), shape)
    graph = block_graph(trace, cost(trace))
    add = next(n for n in graph.joins if n.op == "add")
    into_add = {e.source: e for e in graph.edges if e.target == add.id}
    assert into_add["n0"].shortcut and into_add["n0"].scale is None
    (branch,) = (e for s, e in into_add.items() if s != "n0")
    assert branch.scale == pytest.approx(0.17)
    assert branch.share_pct == pytest.approx(100.0)  # every MAC is on the residual side
    assert '-->|"×0.17 · 100%"|' in mermaid(graph)
    assert '-->|"shortcut"|' in mermaid(graph)


def test_naive_block_shares_are_the_hand_counted_split():
    # 1×1 128, 3×3 192, 5×5 96 convs on 256×28×28, and a max pool: MACs = k²·C_in·C_out·28².
    pixels, c_in = 28 * 28, 256
    macs = {
        "branch1": 1 * c_in * SEED_NAIVE.ch1x1 * pixels,
        "branch2": 9 * c_in * SEED_NAIVE.ch3x3 * pixels,
        "branch3": 25 * c_in * SEED_NAIVE.ch5x5 * pixels,
        "branch4": 0,
    }
    total = sum(macs.values())
    trace = trace_variant(get("block_naive"))
    graph = block_graph(trace, cost(trace))
    (concat,) = graph.joins
    names = {n.id: n.name for n in graph.nodes}
    shares = {names[e.source]: e.share_pct for e in graph.edges if e.target == concat.id}
    assert shares == pytest.approx({k: 100 * v / total for k, v in macs.items()})
    assert [share_text(shares[b]) for b in macs] == ["3%", "41%", "56%", "0%"]
    assert graph.macs == total
    text = mermaid(graph)
    for pct in ("3%", "41%", "56%", "0%"):
        assert f'-->|"{pct}"| {concat.id}' in text


NODE_LINE = re.compile(r'^    (n\d+)(\[|\(\[)"([^"]*)"(\]|\]\))$')
EDGE_LINE = re.compile(r'^    (n\d+) -->(?:\|"([^"]*)"\|)? (n\d+)$')


def assert_sane(text: str) -> None:
    """One header, then node lines, then edge lines; ids unique, every edge endpoint
    declared, labels free of what would end or confuse a quoted label."""
    header, *lines = text.split("\n")
    assert header in ("flowchart TB", "flowchart LR")
    declared: list[str] = []
    for line in lines:
        node, edge = NODE_LINE.match(line), EDGE_LINE.match(line)
        assert node or edge, line
        if node:
            assert not declared or not edge
            assert (node.group(2) == "[") == (node.group(4) == "]"), line
            declared.append(node.group(1))
            label = node.group(3)
        else:
            assert edge.group(1) in declared and edge.group(3) in declared, line
            label = edge.group(2) or ""
        assert not re.search(r"[<>]", label.replace("<br/>", "")), line
    assert len(declared) == len(set(declared))


@pytest.mark.parametrize(
    "name", [v.name for v in (*list_variants("block"), *list_variants("factorization"))]
)
def test_every_block_and_factorization_draws_sane_mermaid(name):
    trace = trace_variant(get(name))
    graph = block_graph(trace, cost(trace))
    assert_sane(mermaid(graph))
    # Every MAC of the block sits in some node: none is lost on an edge.
    assert sum(n.macs for n in graph.nodes) == graph.macs == cost(trace).macs


def test_labels_are_escaped():
    graph = BlockGraph(
        root="",
        type="T",
        macs=0,
        nodes=(
            Node("n0", "input", "input", None, "", "", (3, 8, 8), 0),
            Node("n1", "layer", 'a"<b>#c', "x", "conv", "1x1", (3, 8, 8), 0),
        ),
        edges=(Edge("n0", "n1"),),
    )
    text = mermaid(graph)
    assert_sane(text)
    assert "a#quot;#lt;b#gt;#35;c" in text


def test_network_pages_draw_each_distinct_block_once():
    trace = trace_variant(get("inception_resnet_v2"))
    groups = same_drawing(drawn_modules(trace, cost(trace)))
    by_type = {g[0].type: [b.root for b in g] for g in groups}
    assert by_type["Block35"] == [f"Repeat.{i}" for i in range(10)]
    assert len(by_type["Block17"]) == 20
    assert by_type["Mixed5b"] == ["Mixed_5b"]
    # Conv2d_7b_1x1, an end point without branches, is not drawn.
    assert "BasicConv2d" not in by_type
    trace = trace_variant(get("inception_v3"))
    roots = [[b.root for b in g] for g in same_drawing(drawn_modules(trace, cost(trace)))]
    # Mixed_6c and 6d have the same widths; 6b and 6e do not (channels_7x7 128, 192).
    assert ["Mixed_6c", "Mixed_6d"] in roots and ["Mixed_6b"] in roots
    assert all("Conv2d" not in r[0] and "maxpool" not in r[0] for r in roots)


def test_golden_grid_parallel():
    # 3×3/2 conv 320 -> 320 on 35×35 -> 17×17: 17²·320·320·9 = 266,342,400 MACs.
    trace = trace_variant(get("grid_parallel"))
    assert mermaid(block_graph(trace, cost(trace))) == "\n".join(
        [
            "flowchart TB",
            '    n0(["input<br/>320×35×35"])',
            '    n1["conv<br/>conv 3x3/2 → 320×17×17<br/>266M MACs"]',
            '    n2["pool<br/>max pool 3x3/2 → 320×17×17<br/>0 MACs"]',
            '    n3(["concat<br/>640×17×17"])',
            "    n0 --> n1",
            "    n0 --> n2",
            '    n1 -->|"100%"| n3',
            '    n2 -->|"0%"| n3',
        ]
    )
