"""The traced pass: ops, shapes, storages, dataflow and module calls, by hand on tiny models."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import incprof
from incprof.analysis import ANALYZERS, analyzer
from incprof.analysis.analytic import ModuleInfo, OpRecord, analyze_module
from incprof.analysis.meta_build import in_eval_mode
from incprof.analysis.meta_kernels import SHORTCUTS, shape_shortcut
from incprof.analysis.trace import ROOT, Trace, meta_model, trace_module, trace_variant
from incprof.analysis.trace_ir import (
    ModuleCall,
    OpCall,
    ParameterInfo,
    StorageInfo,
    TensorInfo,
    slot_constructor,
)
from incprof.registry import get

aten = torch.ops.aten
PACKAGE = Path(__file__).resolve().parents[1] / "incprof"


class Stem(nn.Module):
    """conv -> in-place ReLU -> flatten (a view) -> linear; an aux head that never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, bias=False)
        self.fc = nn.Linear(2 * 4 * 4, 3)
        self.aux = nn.Linear(5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x), inplace=True)
        return self.fc(torch.flatten(x, 1))


def test_ops_in_order_with_their_module_and_shapes() -> None:
    trace = trace_module(Stem(), (1, 6, 6))
    assert [(op.module, op.name) for op in trace.ops] == [
        ("conv", "convolution"),
        (ROOT, "relu_"),
        (ROOT, "view"),
        ("fc", "t"),
        ("fc", "addmm"),
    ]
    conv = trace.ops[0]
    assert conv.out.shape == (1, 2, 4, 4)  # 6 - 3 + 1
    assert conv.out.strides == (32, 16, 4, 1)
    assert conv.out.dtype == torch.float32
    assert trace.output.shape == (1, 3)
    assert all(op.phase == "forward" for op in trace.ops)


def test_dataflow_storages_views_and_in_place() -> None:
    trace = trace_module(Stem(), (1, 6, 6))
    conv, relu, view, t, addmm = trace.ops
    assert conv.inputs[0] is trace.input and trace.input.producer is None
    assert relu.inputs[0] is conv.out
    # In place: a new value of the same storage, made by the ReLU.
    assert relu.out is not conv.out
    assert relu.out.storage == conv.out.storage and relu.out.producer == relu.index
    # A view: a new value on its base's storage; the linear reads it, not the conv's value.
    assert view.out.storage == relu.out.storage and view.out.shape == (1, 32)
    assert addmm.inputs[1] is view.out
    # t() of the weight is a view of the parameter's storage.
    weight = next(p for p in trace.parameters if p.name == "fc.weight")
    assert t.inputs[0] is weight.value and t.out.storage == weight.value.storage
    assert len({conv.out.storage, trace.input.storage, addmm.out.storage}) == 3


def test_parameters_owners_and_use() -> None:
    trace = trace_module(Stem(), (1, 6, 6))
    rows = {p.name: (p.owner, p.numel, p.used) for p in trace.parameters}
    assert rows == {
        "conv.weight": ("conv", 18, True),
        "fc.weight": ("fc", 96, True),
        "fc.bias": ("fc", 3, True),
        "aux.weight": ("aux", 25, False),
        "aux.bias": ("aux", 5, False),
    }


def test_tied_weight_is_one_parameter() -> None:
    first, second = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
    second.weight = first.weight
    trace = trace_module(nn.Sequential(first, second), (4, 5, 5))
    assert [p.name for p in trace.parameters] == ["0.weight", "0.bias", "1.bias"]
    assert sum(p.numel for p in trace.parameters) == 144 + 4 + 4


def test_module_calls_nest_and_repeat() -> None:
    shared = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(1, 1, 1), shared, shared)
    trace = trace_module(model, (1, 2, 2))
    assert [(m.name, m.type) for m in trace.modules] == [
        ("0", "Conv2d"),
        ("1", "ReLU"),
        ("1", "ReLU"),
    ]
    conv = trace.modules[0]
    assert (conv.kernel_size, conv.stride) == ((1, 1), (1, 1))
    assert [trace.ops[i].name for i in range(conv.first_op, conv.end_op)] == ["convolution"]
    assert trace.end_points == ("0", "1")  # named_children: a module shared is one child


def test_trace_is_immutable() -> None:
    trace = trace_module(Stem(), (1, 6, 6))
    with pytest.raises(dataclasses.FrozenInstanceError):
        trace.ops = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        trace.ops[0].module = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        trace.ops[0].kwargs["x"] = 1  # type: ignore[index]


def test_training_step_records_backward_and_saved_tensors() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    trace = trace_module(model, (1, 6, 6), training=True)
    assert trace.training
    forward = [op.name for op in trace.ops if op.phase == "forward"]
    backward = [op.name for op in trace.ops if op.phase == "backward"]
    assert forward == ["convolution", "relu", "view", "t", "addmm", "sum"]
    assert "convolution_backward" in backward and "threshold_backward" in backward
    conv, relu = trace.ops[0], trace.ops[1]
    weight = next(p.value for p in trace.parameters if p.name == "0.weight")
    # The conv saves its input and weight; ReLU saves its output; addmm its two matrices.
    saved = trace.saved
    assert saved[0] is trace.input and saved[1] is weight and saved[2] is relu.out
    assert [s.shape for s in saved[3:]] == [(1, 32), (32, 3)]
    assert conv.out not in saved


def test_traces_are_kept_per_variant_input_and_batch() -> None:
    variant = get("block_naive")
    first = trace_variant(variant)
    assert trace_variant(variant) is first
    assert trace_variant(variant, input_shape=variant.input_shape) is first
    assert trace_variant(variant, batch=2) is not first
    assert trace_variant(variant, batch=2).input.shape == (2, 256, 28, 28)
    assert trace_variant(variant, overrides={"grid": 14}).input.shape == (1, 256, 14, 14)


def test_every_registered_analyzer_is_a_function_of_a_trace() -> None:
    trace = trace_module(Stem(), (1, 6, 6))
    results = {name: analyzer(name)(trace) for name in ANALYZERS}
    cost = results["cost"]
    # By hand: conv 2·4·4 outputs × 9 MACs; linear 32 × 3.
    assert cost.macs == 2 * 16 * 9 + 32 * 3 == analyze_module(Stem(), (1, 6, 6)).macs
    assert results["receptive_field"].final.field.size == (3, 3)
    with pytest.raises(ValueError, match="unknown analyzer 'nope'"):
        analyzer("nope")


def test_meta_build_skips_init_and_keeps_shapes() -> None:
    model = meta_model(get("inception_v3"))
    assert all(p.device.type == "meta" for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == 27_161_264  # torchvision's, aux incl.


def _torch_kernel(func, args, kwargs):
    try:
        return func(*args, **kwargs), None
    except (RuntimeError, ValueError, IndexError) as exc:
        return None, exc


def _same(mine, theirs) -> bool:
    if isinstance(theirs, tuple | list):
        return len(mine) == len(theirs) and all(
            _same(a, b) for a, b in zip(mine, theirs, strict=True)
        )
    return (mine.shape, mine.dtype, mine.stride()) == (theirs.shape, theirs.dtype, theirs.stride())


def _meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=dtype)


def _layouts() -> list[torch.Tensor]:
    """Inputs an elementwise op meets in a backward: dense, a slice of a concatenation's
    gradient, an expanded mean, channels-last, transposed, strided, half."""
    base = _meta(2, 8, 5, 6)
    return [
        base,
        _meta(2, 16, 5, 6)[:, 4:12],
        _meta(2, 8, 1, 1).expand(2, 8, 5, 6),
        _meta(1, 8, 1, 1).expand(3, 8, 4, 4),
        base.to(memory_format=torch.channels_last),
        base.transpose(1, 2),
        base[:, :, ::2],
        _meta(2, 8, 5, 6, dtype=torch.float16),
    ]


def _shortcut_cases():
    for size, k, s, p, d, groups in itertools.product(
        (1, 5, 8), (1, 3), (1, 2), (0, 1, 2), (1, 2), (1, 2)
    ):
        weight = _meta(4, 4 // groups, k, k)
        yield (
            aten.convolution.default,
            (_meta(1, 4, size, size), weight, None, [s, s], [p, p], [d, d], False, [0, 0], groups),
            {},
        )
    for size, k, s, p, ceil in itertools.product(
        (1, 4, 7, 8), (1, 2, 3), (1, 2, 3), (0, 1, 2), (False, True)
    ):
        x = _meta(2, 3, size, size + 1)
        yield aten.max_pool2d_with_indices.default, (x, [k, k], [s, s], [p, p], [1, 1], ceil), {}
        yield aten.avg_pool2d.default, (x, [k, k], [s, s], [p, p], ceil), {}
    yield aten.max_pool2d_with_indices.default, (_meta(1, 1, 8, 8), [3, 3], []), {}
    for dims, keep in itertools.product(([-1, -2], [2, 3], [1], [0, 0]), (False, True)):
        yield aten.mean.dim, (_meta(2, 3, 4, 5), dims, keep), {}
    for parts, dim in itertools.product(([3, 5], [2, 2, 2]), (0, 1, -1, 3)):
        yield aten.cat.default, ([_meta(2, c, 4, 4) for c in parts], dim), {}
    yield aten.cat.default, ([_meta(2, 3, 4, 4), _meta(2, 3, 5, 4)], 1), {}
    yield aten.cat.default, ([_meta(2, 3, 4, 4), _meta(2, 3, 4, 4, dtype=torch.float16)], 1), {}
    yield aten._adaptive_avg_pool2d.default, (_meta(2, 3, 7, 9), [1, 1]), {}
    yield aten._adaptive_avg_pool2d.default, (_meta(2, 3, 7, 9), [3, 2]), {}
    weight = _meta(10, 32)
    yield aten.addmm.default, (_meta(10), _meta(4, 32), weight.t()), {}
    yield aten.addmm.default, (_meta(10), _meta(4, 31), weight.t()), {}
    for func in (aten.add.Tensor, aten.mul.Tensor, aten.sub.Tensor):
        yield func, (_meta(2, 3, 4, 4), _meta(2, 3, 4, 4)), {}
        yield func, (_meta(2, 3, 4, 4), 0.17), {}
        yield func, (_meta(2, 3, 4, 4), _meta(3, 1, 1)), {}
    yield (
        aten.native_batch_norm.default,
        (_meta(2, 3, 4, 4), _meta(3), _meta(3), _meta(3), _meta(3), False, 0.1, 1e-3),
        {},
    )
    yield (
        aten._native_batch_norm_legit_no_training.default,
        (_meta(2, 3, 4, 4), _meta(3), _meta(3), _meta(3), _meta(3), 0.1, 1e-3),
        {},
    )
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        x, w = _meta(2, 3, 4, 4, dtype=dtype), _meta(3, dtype=dtype)
        yield (aten.native_batch_norm.default, (x, w, w, w, w, True, 0.1, 1e-3), {})
    yield (aten.native_batch_norm.default, (_meta(2, 3), None, None, None, None, True, 0.1, 0), {})
    yield aten.threshold_backward.default, (_meta(2, 3, 4, 4), _meta(2, 3, 4, 4), 0), {}
    for x in _layouts():
        yield aten.threshold_backward.default, (x, _meta(*x.shape), 0), {}
        for func in (aten.relu.default, aten.sigmoid.default, aten.tanh.default):
            yield func, (x,), {}
        for func, number in itertools.product((aten.div.Scalar, aten.mul.Scalar), (49, 0.5)):
            yield func, (x, number), {}
        yield aten.relu_.default, (x,), {}
    yield aten.div.Scalar, (_meta(2, 3, dtype=torch.int64), 2), {}
    yield aten.relu_.default, (_meta(2, 3, dtype=torch.int64),), {}
    meta = torch.device("meta")
    for size, extra in itertools.product(
        ([0], [2, 3], [2, 3, 4, 5], [2, -1]),
        (
            {},
            {"dtype": torch.float16, "layout": torch.strided, "pin_memory": False},
            {"dtype": torch.uint8, "memory_format": torch.contiguous_format},
            {"memory_format": torch.channels_last},
        ),
    ):
        yield aten.empty.memory_format, (size,), {"device": meta, **extra}
    yield aten.empty.memory_format, ([2, 3],), {"device": "meta", "dtype": torch.int64}
    yield aten.empty.memory_format, ([2, 3],), {"device": "cpu"}
    yield aten.mul.Scalar, (_meta(2, 3), True), {}
    yield aten.threshold_backward.default, (_meta(2, 3, 4, 4), _meta(3, 4, 4), 0), {}
    stats = _meta(3)
    for mask in ([True, True, True], [False, True, True], [True, False, False]):
        x = _meta(2, 3, 4, 4)
        yield (
            aten.native_batch_norm_backward.default,
            (x, x, _meta(3), _meta(3), _meta(3), stats, stats, True, 1e-3, mask),
            {},
        )


BATCH_NORMS = (aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default)


def test_shape_shortcuts_match_torchs_meta_kernels() -> None:
    """Each shortcut gives torch's shape, dtype and strides, and stands aside where torch
    would raise (its error is the user's message)."""
    seen = set()
    for func, args, kwargs in _shortcut_cases():
        seen.add(func)
        mine = shape_shortcut(func, args, kwargs)
        theirs, error = _torch_kernel(func, args, kwargs)
        if error is not None:
            assert mine is None, (func, [getattr(a, "shape", a) for a in args], error)
        elif func in BATCH_NORMS and not (len(args) > 5 and args[5] is True):
            # Eval batch norm saves no statistics: empty, as the CPU and CUDA kernels
            # return them (torch's meta kernel gives them the channels' size).
            assert _same(mine[0], theirs[0]) and [t.shape for t in mine[1:]] == [(0,), (0,)]
        elif func is aten.native_batch_norm_backward.default:
            # The gradients not asked for are None, as the CPU and CUDA kernels give them.
            for asked, ours, torchs in zip(args[9], mine, theirs, strict=True):
                assert _same(ours, torchs) if asked else ours is None
        elif mine is not None:
            assert _same(mine, theirs), (func, [getattr(a, "shape", a) for a in args])
            if func is aten.relu_.default:  # in place: the tensor itself, as torch's
                assert mine is args[0] and theirs is args[0]
    assert seen == set(SHORTCUTS)


def test_registry_analysis_imports_no_dynamo() -> None:
    """torch._dynamo costs ~2 s of import; the traced pass must never pull it in (nor
    the training step's: the import, inside a pass, left garbage cycles that held the
    pass's tensors, so a step's peak depended on when the collector ran)."""
    code = (
        "import sys\n"
        "from incprof.api import analyze_variant, rf_analysis\n"
        "from incprof.registry import list_variants\n"
        "from incprof.api import analysis\n"
        "for v in list_variants():\n"
        "    analyze_variant(v); rf_analysis(v); analysis('step_memory', v, batch=2)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def count_storages(trace: Trace) -> int:
    """A new analyzer, as the next ones will be: a function of a trace, nothing more."""
    return len({t.storage for op in trace.ops for t in op.outputs})


def test_a_new_analyzer_is_one_function_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from incprof import api

    monkeypatch.setitem(ANALYZERS, "storages", f"{__name__}:count_storages")
    # Stem: conv writes one storage; relu_ and view reuse it; t() views the weight's; addmm
    # writes one.
    trace = trace_module(Stem(), (1, 6, 6))
    assert analyzer("storages")(trace) == 3
    # Through the library face, on a registered variant: three convs (their ReLUs in
    # place), a max pool that writes values and indices, the concat: 6.
    assert api.analysis("storages", get("block_naive")) == 6


def _cyclic_garbage(make: Callable[[], object]) -> int:
    """How many objects ``make()``'s result leaves that only the cyclic collector frees."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = make()
        del result
        gc.set_debug(gc.DEBUG_SAVEALL)
        found = gc.collect()
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
    return found


@pytest.mark.parametrize("training", [False, True])
def test_a_trace_is_freed_by_reference_counting(training: bool) -> None:
    """The recorder's weak-reference callbacks referred back to it, so every trace left
    ~13,000 objects (Inception-v3) for the collector's next full pass, which walks every
    object of the process. Now a trace goes when its last reference does."""
    model = meta_model(get("block_reduced")).eval()
    shape = get("block_reduced").input_shape
    trace_module(model, shape, batch=2, training=training)  # lazy imports paid
    before = _cyclic_garbage(lambda: None)
    left = _cyclic_garbage(lambda: trace_module(model, shape, batch=2, training=training))
    assert left - before < 20  # a closure or two of the input builder, not the trace


def test_profile_pauses_the_collector_and_restores_it() -> None:
    seen: list[bool] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(gc.isenabled())
            return x * 2

    assert gc.isenabled()
    incprof.profile(Probe(), (4,))
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        incprof.profile(Probe(), (4,))
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()


@pytest.mark.parametrize(
    "cls",
    [TensorInfo, OpCall, StorageInfo, ModuleCall, ParameterInfo, OpRecord, ModuleInfo],
    ids=lambda c: c.__name__,
)
def test_slot_constructor_makes_the_dataclass_record(cls: type) -> None:
    """The fast constructor gives the record the dataclass's own ``__init__`` gives, as
    frozen as it (its fields set by position, each a distinct object here)."""
    values = [object() for _ in dataclasses.fields(cls)]
    fast, slow = slot_constructor(cls)(*values), cls(*values)
    assert type(fast) is cls
    assert [getattr(fast, f.name) for f in dataclasses.fields(cls)] == values
    assert [getattr(slow, f.name) for f in dataclasses.fields(cls)] == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(fast, dataclasses.fields(cls)[0].name, 1)
    assert not hasattr(fast, "__dict__") and repr(fast) == repr(slow)


def test_slot_constructor_takes_flat_slotted_dataclasses_only() -> None:
    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(Unslotted):
        b: int

    for cls in (Unslotted, Derived):
        with pytest.raises(TypeError, match="not a flat slotted dataclass"):
            slot_constructor(cls)


def test_in_eval_mode_is_eval() -> None:
    """Every module's flag as ``eval()`` leaves it; a module that overrides ``train`` is
    asked through it."""
    model = meta_model(get("inception_v3"))
    assert all(m.training for m in model.modules())
    assert in_eval_mode(model) is model
    assert not any(m.training for m in model.modules())

    class KeepsTraining(nn.Module):
        def train(self, mode: bool = True) -> nn.Module:
            return super().train(True)  # e.g. a frozen-statistics block that stays put

    custom = nn.Sequential(nn.ReLU(), KeepsTraining())
    in_eval_mode(custom)
    assert [m.training for m in custom.modules()] == [False, False, True]


def test_the_recorder_goes_with_its_pass_without_the_collector() -> None:
    # Its weak references' callbacks refer back to it: released at the pass's end, it is
    # freed by reference counting, not left to a full collection.
    from incprof.analysis.recorder import _Recorder

    def recorders() -> int:
        return sum(type(o) is _Recorder for o in gc.get_objects())

    gc.collect()
    gc.disable()
    try:
        before = recorders()  # another test's, kept alive by what it holds
        trace = trace_module(Stem(), (1, 6, 6))
        assert recorders() == before
    finally:
        gc.enable()
    freed = [s for s in trace.storages if s.freed_before is not None]
    assert freed  # the conv's output died inside the pass, and that was noted


def test_making_the_inputs_leaves_no_reference_cycle() -> None:
    """Nested inputs (a tuple of tensors, a dict) are made without a cycle for the
    collector: every trace makes them."""
    from incprof.analysis.inputs import make_inputs
    from incprof.parse import Inputs, TensorSpec

    nested = (TensorSpec((2,)), [TensorSpec((5,))])
    spec = Inputs((TensorSpec((3, 4, 4)), nested), (("mask", {"m": TensorSpec((4,), "bool")}),))
    gc.collect()
    gc.disable()
    try:
        args, kwargs = make_inputs(spec, batch=2)
        assert [args[0].shape, args[1][0].shape, args[1][1][0].shape] == [
            (2, 3, 4, 4),
            (2, 2),
            (2, 5),
        ]
        assert kwargs["mask"]["m"].shape == (2, 4) and kwargs["mask"]["m"].dtype == torch.bool
        del args, kwargs
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_training_step_that_raises_leaves_no_recorder_behind() -> None:
    """The saved tensors of a forward that raised (batch norm on one sample) hold no
    cycle through autograd's graph, which no collection could break."""
    from incprof.analysis.recorder import _Recorder

    def recorders() -> int:
        return sum(type(o) is _Recorder for o in gc.get_objects())

    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.BatchNorm1d(4))
    gc.collect()
    before = recorders()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        trace_module(net, (3, 2, 2), batch=1, training=True)
    gc.collect()
    assert recorders() == before
