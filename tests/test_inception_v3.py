"""Inception-v3 in torchvision's layout: counts, names, shapes, aux head, registry entry."""

from __future__ import annotations

import torch
from end_points import end_point_shapes
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from incprof import registry
from incprof.models.inception_v3 import (
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    build_inception_v3,
)

# torchvision docs, Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264 (with
# AuxLogits); torchvision's model without the aux head (and timm's) has 23,834,568.
TV_PARAMS_WITH_AUX = 27_161_264
TV_PARAMS = 23_834_568


def unit(cin: int, cout: int, kh: int, kw: int | None = None) -> int:
    """conv without bias (kh·kw·cin·cout) + BN weight and bias (2·cout)."""
    return kh * (kh if kw is None else kw) * cin * cout + 2 * cout


def linear(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def block_a(c: int, pool_features: int) -> int:
    return (
        unit(c, 64, 1)
        + unit(c, 48, 1)
        + unit(48, 64, 5)
        + unit(c, 64, 1)
        + unit(64, 96, 3)
        + unit(96, 96, 3)
        + unit(c, pool_features, 1)
    )


def block_b(c: int) -> int:
    return unit(c, 384, 3) + unit(c, 64, 1) + unit(64, 96, 3) + unit(96, 96, 3)


def block_c(c: int, c7: int) -> int:
    one_tower = unit(c, c7, 1) + unit(c7, c7, 1, 7) + unit(c7, 192, 7, 1)
    dbl_tower = unit(c, c7, 1) + 3 * unit(c7, c7, 7, 1) + unit(c7, 192, 1, 7)
    return unit(c, 192, 1) + one_tower + dbl_tower + unit(c, 192, 1)


def block_d(c: int) -> int:
    return (
        unit(c, 192, 1)
        + unit(192, 320, 3)
        + unit(c, 192, 1)
        + unit(192, 192, 1, 7)
        + unit(192, 192, 7, 1)
        + unit(192, 192, 3)
    )


def block_e(c: int) -> int:
    split = 2 * unit(384, 384, 1, 3)  # 1×3 ‖ 3×1
    return (
        unit(c, 320, 1)
        + unit(c, 384, 1)
        + split
        + unit(c, 448, 1)
        + unit(448, 384, 3)
        + split
        + unit(c, 192, 1)
    )


def closed_form_params(num_classes: int = 1000, *, aux: bool) -> int:
    """Inception-v3's parameters from torchvision's widths, typed in again here."""
    stem = unit(3, 32, 3) + unit(32, 32, 3) + unit(32, 64, 3) + unit(64, 80, 1) + unit(80, 192, 3)
    mixed = (
        block_a(192, 32)  # Mixed_5b -> 256
        + block_a(256, 64)  # Mixed_5c -> 288
        + block_a(288, 64)  # Mixed_5d -> 288
        + block_b(288)  # Mixed_6a -> 384 + 96 + 288 = 768
        + block_c(768, 128)  # Mixed_6b
        + 2 * block_c(768, 160)  # Mixed_6c, Mixed_6d
        + block_c(768, 192)  # Mixed_6e
        + block_d(768)  # Mixed_7a -> 320 + 192 + 768 = 1280
        + block_e(1280)  # Mixed_7b -> 2048
        + block_e(2048)  # Mixed_7c
    )
    total = stem + mixed + linear(2048, num_classes)
    if aux:
        total += unit(768, 128, 1) + unit(128, 768, 5) + linear(768, num_classes)
    return total


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(**kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return build_inception_v3(**kwargs)


def test_parameter_counts_match_torchvision_and_closed_form() -> None:
    assert closed_form_params(aux=False) == TV_PARAMS
    assert closed_form_params(aux=True) == TV_PARAMS_WITH_AUX
    assert n_params(meta_model(aux_logits=False)) == TV_PARAMS
    assert n_params(meta_model()) == TV_PARAMS_WITH_AUX
    assert n_params(meta_model(num_classes=10)) == closed_form_params(10, aux=True)


def test_macs_match_torchvision_metadata() -> None:
    # torchvision docs: Inception_V3_Weights.IMAGENET1K_V1 "GFLOPS" 5.71 (conv + linear MACs).
    with FlopCounterMode(display=False) as counter:
        meta_model().eval()(torch.empty(1, 3, 299, 299, device="meta"))
    assert round(counter.get_total_flops() / 2 / 1e9, 2) == 5.71


def test_torchvision_names_order_and_state_dict_keys() -> None:
    model = meta_model()
    assert [name for name, _ in model.named_children()] == [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "maxpool1",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
        "maxpool2",
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "AuxLogits",
        "Mixed_7a",
        "Mixed_7b",
        "Mixed_7c",
        "avgpool",
        "dropout",
        "fc",
    ]
    state = model.state_dict()
    # 96 conv units (stem 5, A 3×7, B 4, C 4×10, D 6, E 2×9, aux 2) × 6 keys
    # (conv.weight, bn weight/bias/running_mean/running_var/num_batches_tracked) + 2 fc × 2.
    assert len(state) == 96 * 6 + 2 * 2
    expected = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_2.conv.weight": (192, 192, 7, 1),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch3x3dbl_3a.bn.weight": (384,),
        "AuxLogits.conv0.conv.weight": (128, 768, 1, 1),
        "AuxLogits.conv1.conv.weight": (768, 128, 5, 5),
        "AuxLogits.fc.weight": (1000, 768),
        "fc.weight": (1000, 2048),
        "fc.bias": (1000,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key


def test_conv_units_are_torchvisions() -> None:
    model = meta_model()
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))
    assert {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}
    assert model.dropout.p == 0.5
    assert meta_model(dropout=0.2).dropout.p == 0.2


def test_module_classes() -> None:
    model = meta_model()
    classes = {
        InceptionA: ("Mixed_5b", "Mixed_5c", "Mixed_5d"),
        InceptionB: ("Mixed_6a",),
        InceptionC: ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
        InceptionD: ("Mixed_7a",),
        InceptionE: ("Mixed_7b", "Mixed_7c"),
    }
    for cls, names in classes.items():
        for name in names:
            assert type(model.get_submodule(name)) is cls, name
        assert "figure" in (cls.__doc__ or "")


def test_inception_v3_end_point_shapes_at_299() -> None:
    variant = registry.get("inception_v3")
    shapes = end_point_shapes(meta_model(), variant.end_points, 299)
    assert shapes == {
        "Conv2d_2b_3x3": (64, 147, 147),
        "maxpool1": (64, 73, 73),
        "Conv2d_4a_3x3": (192, 71, 71),
        "maxpool2": (192, 35, 35),
        "Mixed_5b": (256, 35, 35),  # 64 + 64 + 96 + 32
        "Mixed_5c": (288, 35, 35),  # 64 + 64 + 96 + 64
        "Mixed_5d": (288, 35, 35),
        "Mixed_6a": (768, 17, 17),  # 384 + 96 + 288 pooled
        **{f"Mixed_6{c}": (768, 17, 17) for c in "bcde"},  # 4 × 192
        "Mixed_7a": (1280, 8, 8),  # 320 + 192 + 768 pooled
        "Mixed_7b": (2048, 8, 8),  # 320 + 768 + 768 + 192
        "Mixed_7c": (2048, 8, 8),
    }


def test_larger_input_runs_with_aux_head() -> None:
    # Valid 3×3/2 convs and pools: 363 -> 181 -> 179 -> 89 -> 87 -> 43 -> 21 -> 10.
    model = meta_model()
    shapes = end_point_shapes(model, ("Mixed_5d", "Mixed_6e", "Mixed_7c"), 363)
    assert shapes == {
        "Mixed_5d": (288, 43, 43),
        "Mixed_6e": (768, 21, 21),
        "Mixed_7c": (2048, 10, 10),
    }
    logits, aux = model.train()(torch.empty(2, 3, 363, 363, device="meta"))
    assert logits.shape == aux.shape == (2, 1000)


def test_eval_returns_logits_and_skips_aux_head() -> None:
    model = meta_model(num_classes=10).eval()
    calls: list[str] = []
    model.AuxLogits.register_forward_hook(lambda *_: calls.append("aux"))
    out = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    assert calls == []


def test_training_returns_logits_and_aux_logits() -> None:
    logits, aux = meta_model(num_classes=10).train()(torch.empty(2, 3, 299, 299, device="meta"))
    assert logits.shape == aux.shape == (2, 10)
    no_aux = meta_model(num_classes=10, aux_logits=False).train()
    assert no_aux.AuxLogits is None
    assert no_aux(torch.empty(2, 3, 299, 299, device="meta")).shape == (2, 10)


def test_init_follows_torchvision() -> None:
    # Truncated normal at ±2 with std 0.1 (aux 5×5 conv 0.01, aux fc 0.001).
    torch.manual_seed(0)
    model = build_inception_v3()
    assert model.Mixed_7c.branch1x1.conv.weight.abs().max() <= 2
    assert 0.09 < model.Mixed_7c.branch3x3dbl_2.conv.weight.std() < 0.11
    assert 0.009 < model.AuxLogits.conv1.conv.weight.std() < 0.011
    assert 0.0009 < model.AuxLogits.fc.weight.std() < 0.0011


def test_inception_v3_registry_entry() -> None:
    variant = registry.get("inception_v3")
    assert (variant.family, variant.tag, variant.input_shape) == (
        "inception_v3",
        "network",
        (3, 299, 299),
    )
    assert variant.accuracy is not None
    assert (variant.accuracy.top1, variant.accuracy.top5) == (77.294, 93.45)
    assert "IMAGENET1K_V1" in variant.accuracy.source
    assert variant.end_points[-11:] == tuple(
        f"Mixed_{n}" for n in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")
    )
    model = meta_model()
    for name in variant.end_points:
        model.get_submodule(name)


def test_inception_v3_conv_block_is_swappable() -> None:
    # Every conv unit is built by conv_block: with a parameter-free stand-in, only the
    # classifier's parameters are left.
    def stand_in(cin: int, cout: int, **_kwargs: object) -> nn.Module:
        return nn.Identity()

    assert n_params(meta_model(conv_block=stand_in, aux_logits=False)) == linear(2048, 1000)
