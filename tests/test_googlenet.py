"""GoogLeNet: the paper's network (closed-form count) and torchvision's layout (parity)."""

from __future__ import annotations

import pytest
import torch
from end_points import end_point_shapes
from torch import nn

from incprof import registry
from incprof.models.googlenet import build_googlenet, build_googlenet_tv

# Table 1 of Szegedy et al. 2014, typed in again here so the count below does not depend
# on the model's own table: (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
TABLE_1 = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}
# Output grid of each module at 224: stage 3 at 28×28, stage 4 at 14×14, stage 5 at 7×7.
GRID_224 = {"3": 28, "4": 14, "5": 7}


def conv_with_bias(cin: int, cout: int, k: int) -> int:
    return k * k * cin * cout + cout


def linear(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def paper_params(num_classes: int = 1000, *, aux: bool) -> int:
    """GoogLeNet's parameters from Table 1: every conv has a bias, no BN."""
    stem = conv_with_bias(3, 64, 7) + conv_with_bias(64, 64, 1) + conv_with_bias(64, 192, 3)
    modules = sum(
        conv_with_bias(cin, c1, 1)
        + conv_with_bias(cin, r3, 1)
        + conv_with_bias(r3, c3, 3)
        + conv_with_bias(cin, r5, 1)
        + conv_with_bias(r5, c5, 5)
        + conv_with_bias(cin, pp, 1)
        for cin, c1, r3, c3, r5, c5, pp in TABLE_1.values()
    )
    head = linear(1024, num_classes)
    total = stem + modules + head
    if aux:
        # Each aux head: 1×1 conv to 128 on its input, fc 128·4·4 = 2048 -> 1024, fc -> classes.
        for cin in (512, 528):  # outputs of inception4a and inception4d
            total += conv_with_bias(cin, 128, 1) + linear(2048, 1024) + linear(1024, num_classes)
    return total


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_meta(builder, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return builder(**kwargs)


def test_paper_params_match_closed_form():
    # Hand total: stem 9,472 + 4,160 + 110,784; 9 modules; fc 1,025,000.
    assert paper_params(aux=False) == 6_998_552
    assert paper_params(aux=True) == 13_378_280
    assert n_params(build_meta(build_googlenet, aux_logits=False)) == paper_params(aux=False)
    assert n_params(build_meta(build_googlenet)) == paper_params(aux=True)
    assert n_params(build_meta(build_googlenet, num_classes=10)) == paper_params(10, aux=True)


def test_torchvision_parity_counts():
    # torchvision docs: GoogLeNet_Weights.IMAGENET1K_V1 num_params = 6,624,904 (aux removed).
    assert n_params(build_meta(build_googlenet_tv, aux_logits=False)) == 6_624_904
    assert n_params(build_meta(build_googlenet_tv)) == 13_004_888


def test_torchvision_layout_details():
    model = build_meta(build_googlenet_tv)
    state = model.state_dict()
    # Keys and shapes as torchvision names them; branch3 is the known 3×3.
    expected = {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv2.bn.running_var": (64,),
        "conv3.conv.weight": (192, 64, 3, 3),
        "inception3a.branch1.conv.weight": (64, 192, 1, 1),
        "inception3a.branch2.1.conv.weight": (128, 96, 3, 3),
        "inception3a.branch3.1.conv.weight": (32, 16, 3, 3),
        "inception3a.branch4.1.bn.weight": (32,),
        "inception5b.branch4.1.conv.weight": (128, 832, 1, 1),
        "aux1.conv.conv.weight": (128, 512, 1, 1),
        "aux2.conv.conv.weight": (128, 528, 1, 1),
        "aux1.fc1.weight": (1024, 2048),
        "aux2.fc2.bias": (1000,),
        "fc.weight": (1000, 1024),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 + 9 * 6 + 2
    assert all(conv.bias is None for conv in convs)
    assert all(bn.eps == 1e-3 for bn in model.modules() if isinstance(bn, nn.BatchNorm2d))
    assert model.maxpool4.kernel_size == 2 and model.maxpool4.ceil_mode


def test_paper_layout_details():
    model = build_meta(build_googlenet)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.inception4a.branch3[1].conv.kernel_size == (5, 5)
    assert isinstance(model.aux1.pool, nn.AvgPool2d)
    assert model.dropout.p == 0.4 and model.aux1.dropout.p == 0.7


@pytest.mark.parametrize("builder", [build_googlenet, build_googlenet_tv])
@pytest.mark.parametrize("size", [224, 320])
def test_eval_output_andend_point_shapes(builder, size):
    model = build_meta(builder)
    names = tuple(TABLE_1)
    shapes = end_point_shapes(model, names, size)
    for name, (_cin, c1, _r3, c3, _r5, c5, pp) in TABLE_1.items():
        grid = GRID_224[name.removeprefix("inception")[0]] * size // 224
        assert shapes[name] == (c1 + c3 + c5 + pp, grid, grid), name
    out = model(torch.empty(2, 3, size, size, device="meta"))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1000)


@pytest.mark.parametrize("builder", [build_googlenet, build_googlenet_tv])
def test_training_forward_returns_aux_logits(builder):
    model = build_meta(builder, num_classes=10).train()
    logits, aux1, aux2 = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert logits.shape == aux1.shape == aux2.shape == (2, 10)
    no_aux = build_meta(builder, num_classes=10, aux_logits=False).train()
    assert no_aux(torch.empty(2, 3, 224, 224, device="meta")).shape == (2, 10)


def test_aux_heads_do_not_run_in_eval():
    model = build_meta(build_googlenet_tv).eval()
    calls: list[str] = []
    model.aux1.register_forward_hook(lambda *_: calls.append("aux1"))
    model.aux2.register_forward_hook(lambda *_: calls.append("aux2"))
    model(torch.empty(1, 3, 224, 224, device="meta"))
    assert calls == []


def test_torchvision_aux_heads_run_at_larger_inputs():
    # Adaptive 4×4 pooling: torchvision's aux heads work at 320; the paper's fixed 5×5/3
    # pool does not (documented in the variant's differences).
    model = build_meta(build_googlenet_tv).train()
    assert len(model(torch.empty(1, 3, 320, 320, device="meta"))) == 3


def test_googlenet_registry_entries():
    paper = registry.get("googlenet")
    tv = registry.get("googlenet_tv")
    for variant in (paper, tv):
        assert variant.family == "googlenet" and variant.tag == "network"
        assert variant.input_shape == (3, 224, 224)
        assert variant.end_points == tuple(TABLE_1)
        model = build_meta(variant.build)
        for name in variant.end_points:
            model.get_submodule(name)
    # The paper gives top-5 error only: 10.07% for one model and one crop (Table 3).
    assert paper.accuracy is not None
    assert (paper.accuracy.top1, paper.accuracy.top5) == (None, 89.93)
    assert "LocalRespNorm" in paper.differences
    assert tv.accuracy is not None
    assert (tv.accuracy.top1, tv.accuracy.top5) == (69.778, 89.53)
