"""Seed 001's "Inception-v2": closed-form parameter count, shapes, names, aux head."""

from __future__ import annotations

import torch
from end_points import end_point_shapes
from torch import nn

from incprof import registry
from incprof.models.inception_v2_rethinking import build_inception_v2_rethinking

# The seed's InceptionV2() (num_classes=10), counted by running the seed's own code with its
# indentation restored: 25,420,856 parameters, 23,213,998 of them outside the aux head.
SEED_PARAMS_WITH_AUX = 25_420_856
SEED_PARAMS = 23_213_998


def unit(cin: int, cout: int, area: int) -> int:
    """The seed's ConvBlock: conv weight (area·cin·cout) + conv bias + BN weight and bias."""
    return area * cin * cout + cout + 2 * cout


def linear(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def f5(c: int) -> int:  # InceptionF5: 64->96->96 | 48->64 (3×3) | pool->64 | 64
    return (
        unit(c, 64, 1)
        + unit(64, 96, 9)
        + unit(96, 96, 9)
        + unit(c, 48, 1)
        + unit(48, 64, 9)
        + unit(c, 64, 1)
        + unit(c, 64, 1)
    )


def f6(c: int, f: int) -> int:  # InceptionF6: 1×7 and 7×1 kernels have area 7
    long_tower = unit(c, f, 1) + 3 * unit(f, f, 7) + unit(f, 192, 7)
    short_tower = unit(c, f, 1) + unit(f, f, 7) + unit(f, 192, 7)
    return long_tower + short_tower + unit(c, 192, 1) + unit(c, 192, 1)


def f7(c: int) -> int:  # InceptionF7: 1×3 and 3×1 kernels have area 3
    return (
        unit(c, 448, 1)
        + unit(448, 384, 9)
        + 2 * unit(384, 384, 3)
        + unit(c, 384, 1)
        + 2 * unit(384, 384, 3)
        + unit(c, 192, 1)
        + unit(c, 320, 1)
    )


def red(c: int, r: int, add: int) -> int:  # InceptionRed: towers of 178 + add and 302 + add
    a, b = 178 + add, 302 + add
    return unit(c, r, 1) + unit(r, a, 9) + unit(a, a, 9) + unit(c, r, 1) + unit(r, b, 9)


def closed_form_params(num_classes: int = 10, *, aux: bool) -> int:
    stem = (
        unit(3, 32, 9)
        + unit(32, 32, 9)
        + unit(32, 64, 9)
        + unit(64, 80, 9)
        + unit(80, 192, 9)
        + unit(192, 288, 9)
    )
    body = (
        3 * f5(288)
        + red(288, 64, 0)  # -> 178 + 302 + 288 = 768
        + f6(768, 128)
        + 3 * f6(768, 160)
        + f6(768, 192)
        + red(768, 192, 16)  # -> 194 + 318 + 768 = 1280
        + f7(1280)
        + f7(2048)
    )
    total = stem + body + linear(2048, num_classes)
    if aux:
        # 1×1 conv 768 -> 128 with bias (no BN), fc 128·4·4 = 2048 -> 1024, fc -> classes.
        total += (768 * 128 + 128) + linear(2048, 1024) + linear(1024, num_classes)
    return total


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(**kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return build_inception_v2_rethinking(**kwargs)


def test_parameter_count_in_closed_form() -> None:
    assert closed_form_params(aux=True) == SEED_PARAMS_WITH_AUX
    assert closed_form_params(aux=False) == SEED_PARAMS
    assert n_params(meta_model()) == SEED_PARAMS_WITH_AUX
    assert n_params(meta_model(aux_logits=False)) == SEED_PARAMS
    assert n_params(meta_model(num_classes=1000)) == closed_form_params(1000, aux=True)


def test_end_point_and_output_shapes_at_299() -> None:
    variant = registry.get("inception_v2_rethinking")
    model = meta_model().eval()
    shapes = end_point_shapes(model, variant.end_points, 299)
    out = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    assert shapes == {
        **{f"inception3{c}": (288, 35, 35) for c in "abc"},  # 96 + 64 + 64 + 64
        "inceptionRed1": (768, 17, 17),  # 178 + 302 + 288 pooled
        **{f"inception4{c}": (768, 17, 17) for c in "abcde"},  # 4 × 192
        "inceptionRed2": (1280, 8, 8),  # 194 + 318 + 768 pooled
        "inception5a": (2048, 8, 8),  # 384·2 + 384·2 + 192 + 320
        "inception5b": (2048, 8, 8),
    }


def test_training_returns_logits_and_aux() -> None:
    model = meta_model().train()
    logits, aux = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert logits.shape == aux.shape == (2, 10)
    no_aux = meta_model(aux_logits=False).train()
    assert no_aux(torch.empty(2, 3, 299, 299, device="meta")).shape == (2, 10)


def test_aux_head_does_not_run_in_eval() -> None:
    model = meta_model().eval()
    calls: list[str] = []
    model.aux.register_forward_hook(lambda *_: calls.append("aux"))
    model(torch.empty(1, 3, 299, 299, device="meta"))
    assert calls == []


def test_seed_names_and_state_dict_keys() -> None:
    model = meta_model()
    assert [name for name, _ in model.named_children()] == [
        "conv1",
        "conv2",
        "conv3",
        "pool1",
        "conv4",
        "conv5",
        "conv6",
        "inception3a",
        "inception3b",
        "inception3c",
        "inceptionRed1",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "inceptionRed2",
        "aux",
        "inception5a",
        "inception5b",
        "pool6",
        "dropout",
        "fc",
    ]
    state = model.state_dict()
    expected = {
        "conv1.conv.weight": (32, 3, 3, 3),
        "conv1.conv.bias": (32,),
        "conv6.bn.running_var": (288,),
        "inception3a.branch2.1.conv.weight": (64, 48, 3, 3),  # 3×3, not 5×5
        "inception3a.branch4.0.conv.weight": (64, 288, 1, 1),
        "inceptionRed1.branch1.2.conv.weight": (178, 178, 3, 3),
        "inceptionRed1.branch2.1.conv.weight": (302, 64, 3, 3),
        "inceptionRed2.branch1.2.conv.weight": (194, 194, 3, 3),
        "inceptionRed2.branch2.1.conv.weight": (318, 192, 3, 3),
        "inception4a.branch1.1.conv.weight": (128, 128, 1, 7),  # 1×7 first
        "inception4a.branch1.4.conv.weight": (192, 128, 7, 1),
        "inception5a.branch1_top.conv.weight": (384, 384, 1, 3),
        "inception5a.branch2_bot.conv.weight": (384, 384, 3, 1),
        "inception5a.branch4.0.conv.weight": (320, 1280, 1, 1),
        "aux.conv.weight": (128, 768, 1, 1),
        "aux.conv.bias": (128,),
        "aux.fc1.weight": (1024, 2048),
        "aux.fc2.weight": (10, 1024),
        "fc.weight": (10, 2048),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key


def test_conv_units_and_pools_are_the_seeds() -> None:
    model = meta_model()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(conv.bias is not None for conv in convs)
    assert {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}
    assert not any(isinstance(m, nn.AvgPool2d) for m in model.modules())
    assert isinstance(model.inception3a.branch3[0], nn.MaxPool2d)
    assert model.dropout.p == 0.4 and model.aux.dropout.p == 0.7
    assert model.aux.pool.output_size == 4


def test_inception_v2_rethinking_registry_entry() -> None:
    variant = registry.get("inception_v2_rethinking")
    assert (variant.family, variant.tag, variant.input_shape) == (
        "inception_v3",
        "network",
        (3, 299, 299),
    )
    assert variant.accuracy is None  # the seed's 74.18% is CIFAR-10, not ImageNet
    assert "74.18%" in variant.reproduces and "CIFAR-10" in variant.reproduces
    assert "CIFAR-10" in variant.differences and "(logits, aux)" in variant.differences
    assert variant in registry.family_members("inception_v3")
