"""ONNX in and out: per-op formulas on hand-built graphs, the export round trip, errors.

Every expected figure is computed here by hand from the graph's sizes: the lowering to
ATen and the shared formulas are what is under test.
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from incprof import api
from incprof.analysis.analytic import cost
from incprof.cli import cli
from incprof.errors import InputError
from incprof.onnx import require
from incprof.onnx.export import export
from incprof.onnx.reader import load, trace_onnx
from incprof.registry import get
from incprof.sources import resolve

FLOAT = TensorProto.FLOAT


def _weight(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)


def _model(nodes, inputs, outputs, initializers=(), value_info=(), opset=18):
    graph = helper.make_graph(
        nodes, "g", inputs, outputs, initializer=list(initializers), value_info=list(value_info)
    )
    imports = [helper.make_opsetid("", opset), helper.make_opsetid("my.domain", 1)]
    return helper.make_model(graph, opset_imports=imports)


def _save(model: onnx.ModelProto, tmp_path, name: str = "m.onnx") -> str:
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def _image(name: str, c: int, h: int, w: int, batch: int | str = 1):
    return helper.make_tensor_value_info(name, FLOAT, [batch, c, h, w])


def _cost(model: onnx.ModelProto, tmp_path):
    return cost(trace_onnx(load(_save(model, tmp_path))))


def test_grouped_dilated_conv(tmp_path):
    # 8 → 16 channels in 2 groups, 3×3 dilated by 2, padding 2: 16×16 stays 16×16.
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=2, dilations=[2, 2], pads=[2, 2, 2, 2])
    model = _model(
        [node], [_image("x", 8, 16, 16)], [_image("y", 16, 16, 16)], [_weight("w", 16, 4, 3, 3)]
    )
    result = _cost(model, tmp_path)
    assert result.macs == (16 * 16 * 16) * (8 // 2) * 3 * 3
    assert result.params == 16 * 4 * 3 * 3
    assert result.output_shape == (1, 16, 16, 16)


def test_conv_same_upper_stride_2_and_bias(tmp_path):
    # SAME_UPPER, stride 2 on 15×15: ceil(15/2) = 8 positions; the bias adds 1 per output.
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[2, 2], auto_pad="SAME_UPPER")
    model = _model(
        [node],
        [_image("x", 3, 15, 15)],
        [_image("y", 4, 8, 8)],
        [_weight("w", 4, 3, 5, 5), _weight("b", 4)],
    )
    result = _cost(model, tmp_path)
    assert result.macs == 4 * 8 * 8 * 3 * 5 * 5
    assert result.other_ops == 4 * 8 * 8
    assert result.params == 4 * 3 * 5 * 5 + 4


def test_asymmetric_pads_become_a_pad_op(tmp_path):
    # pads (top 0, left 0, bottom 1, right 1), 2×2 kernel on 4×4: 4×4 out.
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 0, 1, 1])
    model = _model(
        [node], [_image("x", 2, 4, 4)], [_image("y", 3, 4, 4)], [_weight("w", 3, 2, 2, 2)]
    )
    result = _cost(model, tmp_path)
    assert result.macs == 3 * 4 * 4 * 2 * 2 * 2
    assert result.by_operator()["constant_pad_nd"]["calls"] == 1


def test_conv_transpose(tmp_path):
    # Each of the 4×8×8 inputs scatters into 6 channels × 3×3 taps.
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1] * 4)
    model = _model(
        [node], [_image("x", 4, 8, 8)], [_image("y", 6, 15, 15)], [_weight("w", 4, 6, 3, 3)]
    )
    result = _cost(model, tmp_path)
    assert result.macs == 4 * 8 * 8 * 6 * 3 * 3
    assert result.output_shape == (1, 6, 15, 15)


def test_pools_gemm_batch_norm_and_joins(tmp_path):
    # x 1×4×8×8 → BN → Relu → {MaxPool 2×2/2, AveragePool 3×3/2 pad 1} → Concat →
    # Add itself → GlobalAveragePool → Flatten → Gemm (transB) to 5 classes.
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "t", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node(
            "AveragePool", ["r"], ["p2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4
        ),
        helper.make_node("Concat", ["p1", "p2"], ["c"], axis=1),
        helper.make_node("Add", ["c", "c"], ["a"]),
        helper.make_node("GlobalAveragePool", ["a"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    inits = [_weight(n, 4) for n in "stmv"] + [_weight("fc_w", 5, 8), _weight("fc_b", 5)]
    y = helper.make_tensor_value_info("y", FLOAT, [1, 5])
    result = _cost(_model(nodes, [_image("x", 4, 8, 8)], [y], inits), tmp_path)
    assert result.macs == 8 * 5  # the Gemm only
    expected_other = (
        2 * 4 * 8 * 8  # batch norm with running statistics: scale and shift
        + 4 * 8 * 8  # relu
        + 4 * 4 * 4 * (2 * 2)  # max pool: 2×2 window per output
        + 4 * 4 * 4 * (3 * 3)  # average pool: 3×3 window per output
        + 8 * 4 * 4  # the add
        + 8 * 4 * 4  # global average: every input element once
        + 5  # the Gemm's bias
    )
    assert result.other_ops == expected_other
    # BN's scale and shift are parameters, its running statistics are not.
    assert result.params == 2 * 4 + 5 * 8 + 5
    assert result.unknown_ops() == {}


def test_matmul_batched_rows(tmp_path):
    # (2, 5, 8) @ (8, 3): 2 · 5 rows of 8 by 3 columns.
    x = helper.make_tensor_value_info("x", FLOAT, [2, 5, 8, 8])
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    shape = numpy_helper.from_array(np.array([2, 5, 64], dtype=np.int64), "shape")
    y = helper.make_tensor_value_info("y", FLOAT, [2, 5, 3])
    path = _save(_model(nodes, [x], [y], [shape, _weight("w", 64, 3)]), tmp_path)
    result = cost(trace_onnx(load(path, batch=2)))
    assert result.macs == 2 * 5 * 64 * 3
    assert result.params == 64 * 3


def test_unknown_op_is_listed_never_zero(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Foo", ["c"], ["f"], domain="my.domain"),
        helper.make_node("Foo", ["f"], ["y"], domain="my.domain"),
    ]
    shapes = [_image("c", 2, 4, 4), _image("f", 2, 4, 4)]
    model = _model(
        nodes, [_image("x", 1, 4, 4)], [_image("y", 2, 4, 4)], [_weight("w", 2, 1, 1, 1)], shapes
    )
    result = _cost(model, tmp_path)
    assert result.unknown_ops() == {"my.domain.Foo": 2}
    assert result.macs == 2 * 4 * 4
    rows = result.by_module()
    assert any("my.domain.Foo" in r["unknown_ops"] for r in rows)


def test_unknown_op_without_shapes_is_one_line(tmp_path):
    nodes = [
        helper.make_node("Foo", ["x"], ["f"], domain="my.domain"),
        helper.make_node("Relu", ["f"], ["y"]),
    ]
    model = _model(nodes, [_image("x", 1, 4, 4)], [helper.make_tensor_value_info("y", FLOAT, None)])
    with pytest.raises(InputError, match=r"gives no shape for 'f'.*does not know"):
        trace_onnx(load(_save(model, tmp_path)))


# --- the export round trip ---------------------------------------------------------------


def _batch_norm_channels(name: str) -> int:
    """Channels of every batch norm in the module: what torch's exporter folds."""
    model = get(name).build()
    return sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize(
    "name",
    ["block_naive", "block_bn_factorized", "fact_5x5_conv5x5", "fact_5x5_two_3x3", "googlenet"],
)
def test_round_trip(name, tmp_path):
    exported = export(get(name))
    assert exported.matches, exported.summary()
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(exported.data)
    variant = resolve(str(path))
    read = api.analyze_variant(variant)
    reference = api.analyze_variant(get(name))
    assert read.macs == reference.macs
    assert read.output_shape == reference.output_shape
    # Batch norm folded into bias-free convs: 2 parameters per channel become 1.
    folded = _batch_norm_channels(name)
    assert reference.params - read.params == folded
    assert (str(folded) in variant.differences) == bool(folded)
    # The graph's end points are its top-level modules; the registry declares its own.
    fields = {r["endpoint"]: r for r in api.rf_analysis(variant).records()}
    for expected in api.rf_analysis(get(name)).records():
        assert fields[expected["endpoint"]] == expected


def test_dynamic_batch_scales(tmp_path):
    exported = export(get("block_reduced"), dynamic_batch=True)
    path = tmp_path / "b.onnx"
    path.write_bytes(exported.data)
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param
    one = cost(trace_onnx(load(path, batch=1)))
    four = cost(trace_onnx(load(path, batch=4)))
    assert four.macs == 4 * one.macs == 4 * api.analyze_variant(get("block_reduced")).macs


def test_module_rows_follow_the_pytorch_names(tmp_path):
    exported = export(get("block_naive"))
    path = tmp_path / "n.onnx"
    path.write_bytes(exported.data)
    _, rows = api.show_records(str(path), depth=1)
    _, reference = api.show_records("block_naive", depth=1)
    keys = ("module", "kernel", "output_shape", "params", "macs")
    assert [{k: r[k] for k in keys} for r in rows] == [{k: r[k] for k in keys} for r in reference]


# --- bad input: one line, exit 2 -------------------------------------------------------


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def _one_line(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_file(tmp_path):
    _one_line(_run("show", str(tmp_path / "none.onnx")), "no such file")


def test_malformed_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is no protobuf \xff\xff\xff")
    _one_line(_run("compare", str(bad)), "bad.onnx")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    _one_line(_run("show", str(empty)), "holds no graph")


def test_dynamic_spatial_size_needs_input(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    x = _image("x", 3, "H", "W")  # type: ignore[arg-type]
    x.type.tensor_type.shape.dim[2].dim_param = "H"
    x.type.tensor_type.shape.dim[3].dim_param = "W"
    y = helper.make_tensor_value_info("y", FLOAT, None)
    path = _save(_model([node], [x], [y]), tmp_path)
    _one_line(_run("show", path), "dynamic input size", "(CxHxW)")
    result = _run("show", path, "--input", "3x10x12", "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"other_ops": 360' in result.output  # relu: 3 · 10 · 12


def test_input_that_contradicts_a_fixed_graph(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    path = _save(_model([node], [_image("x", 3, 8, 8)], [_image("y", 3, 8, 8)]), tmp_path)
    _one_line(_run("show", path, "--input", "3x16x16"), "takes a 3x8x8 input")


def test_missing_extra_names_it(monkeypatch, tmp_path):
    for package in ("onnx", "onnxscript"):  # None in sys.modules: the import fails
        monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(InputError, match=r"incprof\[onnx\]"):
        require()
    _one_line(_run("show", "model.onnx"), "incprof[onnx]")
    _one_line(_run("export", "block_naive", "--onnx", str(tmp_path / "m.onnx")), "incprof[onnx]")


def test_export_refuses_an_onnx_file_and_unwritable_path(tmp_path):
    _one_line(_run("export", "x.onnx", "--onnx", str(tmp_path / "y.onnx")), "ONNX file already")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _one_line(
            _run("export", "block_naive", "--onnx", str(locked / "sub" / "m.onnx")),
            "cannot write",
        )
    finally:
        locked.chmod(0o700)
