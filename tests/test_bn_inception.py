"""BN-Inception in pretrainedmodels' layout: parity count, shapes, the paper's pool choices."""

from __future__ import annotations

import pytest
import torch
from end_points import end_point_shapes
from torch import nn

from incprof import registry
from incprof.models.bn_inception import build_bn_inception

# Figure 5 of Ioffe & Szegedy 2015, typed in again here:
# (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool proj); 0 = absent.
FIGURE_5 = {
    "inception_3a": (64, 64, 64, 64, 96, 32),
    "inception_3b": (64, 64, 96, 64, 96, 64),
    "inception_3c": (0, 128, 160, 64, 96, 0),  # stride 2, max pool + pass through
    "inception_4a": (224, 64, 96, 96, 128, 128),
    "inception_4b": (192, 96, 128, 96, 128, 128),
    "inception_4c": (160, 128, 160, 128, 160, 128),
    "inception_4d": (96, 128, 192, 160, 192, 128),
    "inception_4e": (0, 128, 192, 192, 256, 0),  # stride 2, max pool + pass through
    "inception_5a": (352, 192, 320, 160, 224, 128),
    "inception_5b": (352, 192, 320, 192, 224, 128),
}
# (channels, grid) of each module's output at 224, from the widths above: a module's
# output is #1x1 + #3x3 + double #3x3 + (pool proj, or its input when passed through).
OUTPUTS_224 = {
    "inception_3a": (256, 28),  # 64 + 64 + 96 + 32
    "inception_3b": (320, 28),  # 64 + 96 + 96 + 64
    "inception_3c": (576, 14),  # 160 + 96 + 320
    "inception_4a": (576, 14),  # 224 + 96 + 128 + 128
    "inception_4b": (576, 14),  # 192 + 128 + 128 + 128
    "inception_4c": (608, 14),  # 160 + 160 + 160 + 128
    "inception_4d": (608, 14),  # 96 + 192 + 192 + 128
    "inception_4e": (1056, 7),  # 192 + 256 + 608
    "inception_5a": (1024, 7),  # 352 + 320 + 224 + 128
    "inception_5b": (1024, 7),  # 352 + 320 + 224 + 128
}


def unit(cin: int, cout: int, k: int) -> int:
    """pretrainedmodels' conv (with bias) + BN (weight and bias)."""
    return k * k * cin * cout + cout + 2 * cout


def closed_form_params(num_classes: int = 1000) -> int:
    stem = unit(3, 64, 7) + unit(64, 64, 1) + unit(64, 192, 3)
    modules = 0
    cin = 192
    for name, (c1, r3, c3, rd, cd, pp) in FIGURE_5.items():
        modules += unit(cin, c1, 1) if c1 else 0
        modules += unit(cin, r3, 1) + unit(r3, c3, 3)
        modules += unit(cin, rd, 1) + unit(rd, cd, 3) + unit(cd, cd, 3)
        modules += unit(cin, pp, 1) if pp else 0
        cin = OUTPUTS_224[name][0]
    return stem + modules + 1024 * num_classes + num_classes


def build_meta(**kwargs) -> nn.Module:
    with torch.device("meta"):
        return build_bn_inception(**kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parity_count_with_pretrainedmodels():
    # pretrainedmodels' bninception at 1000 classes has 11,295,240 parameters.
    assert closed_form_params() == 11_295_240
    assert n_params(build_meta()) == 11_295_240
    assert n_params(build_meta(num_classes=10)) == closed_form_params(10)


def test_layout_details():
    model = build_meta()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(conv.bias is not None for conv in convs)
    assert all(bn.eps == 1e-5 for bn in model.modules() if isinstance(bn, nn.BatchNorm2d))
    # Figure 5's pooling column: avg + proj, except 3c/4e (max, stride 2) and 5b (max).
    assert isinstance(model.inception_5a.branch_pool[0], nn.AvgPool2d)
    assert isinstance(model.inception_5b.branch_pool[0], nn.MaxPool2d)
    for name in ("inception_3c", "inception_4e"):
        module = model.get_submodule(name)
        assert isinstance(module.branch_pool, nn.MaxPool2d) and module.branch_pool.stride == 2
        assert not hasattr(module, "branch_1x1")
    weight = model.state_dict()["inception_3a.branch_double_3x3.2.conv.weight"]
    assert weight.shape == (96, 96, 3, 3)


@pytest.mark.parametrize("size", [224, 320])
def test_output_and_end_point_shapes(size):
    model = build_meta().eval()
    shapes = end_point_shapes(model, tuple(OUTPUTS_224), size)
    out = model(torch.empty(2, 3, size, size, device="meta"))
    assert out.shape == (2, 1000)
    for name, (channels, grid) in OUTPUTS_224.items():
        assert shapes[name] == (channels, grid * size // 224, grid * size // 224), name


def test_odd_grid_at_the_stride_2_modules_does_not_concatenate():
    # 232 -> 116 -> 58 -> 29 at inception_3c: its padded stride-2 convs give 15, its
    # unpadded ceil-mode pool 14 (the Caffe quirk stated in the variant's differences).
    with pytest.raises(RuntimeError):
        build_meta()(torch.empty(1, 3, 232, 232, device="meta"))


def test_bn_inception_registry_entry():
    variant = registry.get("bn_inception")
    assert registry.get("bninception") is variant
    assert variant.family == "bn_inception" and variant.tag == "network"
    assert variant.input_shape == (3, 224, 224)
    assert variant.end_points == tuple(FIGURE_5)
    assert variant.accuracy is not None and variant.accuracy.top1 == 73.524
    model = build_meta()
    for name in variant.end_points:
        model.get_submodule(name)
