"""Inception-v4 in timm's layout: parameter count, MACs, shapes, names, registry entry."""

from __future__ import annotations

import pytest
import torch
from end_points import end_point_shapes
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from incprof import registry
from incprof.models.inception_v4 import build_inception_v4

# timm's inception_v4 at 1000 classes (the figure the task and timm's model card give).
TIMM_PARAMS = 42_679_816


def _meta_model(**overrides: object) -> nn.Module:
    with torch.device("meta"):
        return build_inception_v4(**overrides).eval()


def test_parameter_count_matches_timm() -> None:
    assert sum(p.numel() for p in _meta_model().parameters()) == TIMM_PARAMS


def test_parameter_count_follows_num_classes() -> None:
    # Only the classifier changes: 1536 weights + 1 bias per class.
    delta = TIMM_PARAMS - sum(p.numel() for p in _meta_model(num_classes=10).parameters())
    assert delta == (1536 + 1) * (1000 - 10)


def test_macs_match_timm_model_card() -> None:
    # timm/inception_v4.tf_in1k model card: "GMACs: 12.3" at 299 px (conv + linear).
    model = _meta_model()
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 299, 299, device="meta"))
    assert round(counter.get_total_flops() / 2 / 1e9, 1) == 12.3


@pytest.mark.parametrize("size", [299, 363])
def test_inception_v4_output_shape(size: int) -> None:
    out = _meta_model()(torch.empty(2, 3, size, size, device="meta"))
    assert out.shape == (2, 1000)


def test_inception_v4_end_point_shapes_at_299() -> None:
    variant = registry.get("inception_v4")
    shapes = end_point_shapes(_meta_model(), variant.end_points, 299)
    expected = {
        "Mixed_3a": (160, 73, 73),  # 64 pooled + 96 conv
        "Mixed_4a": (192, 71, 71),  # 96 + 96
        "Mixed_5a": (384, 35, 35),  # 192 conv + 192 pooled
        **{f"Mixed_5{c}": (384, 35, 35) for c in "bcde"},  # 96 × 4
        "Mixed_6a": (1024, 17, 17),  # 384 + 256 + 384 pooled
        **{f"Mixed_6{c}": (1024, 17, 17) for c in "bcdefgh"},  # 384 + 256 + 256 + 128
        "Mixed_7a": (1536, 8, 8),  # 192 + 320 + 1024 pooled
        **{f"Mixed_7{c}": (1536, 8, 8) for c in "bcd"},  # 256 + 512 + 512 + 256
    }
    assert shapes == expected


def test_end_point_grids_at_363() -> None:
    # Valid 3×3/2 convs and pools: 363 -> 181 -> 179 -> 89 -> 87 -> 43 -> 21 -> 10.
    shapes = end_point_shapes(_meta_model(), ("Mixed_4a", "Mixed_5e", "Mixed_6h", "Mixed_7d"), 363)
    assert shapes == {
        "Mixed_4a": (192, 87, 87),
        "Mixed_5e": (384, 43, 43),
        "Mixed_6h": (1024, 21, 21),
        "Mixed_7d": (1536, 10, 10),
    }


def test_tf_slim_names_and_timm_parameter_order() -> None:
    model = _meta_model()
    names = [name for name, _ in model.named_children()]
    assert names[:5] == ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Mixed_3a", "Mixed_4a"]
    assert names[-4:] == ["avgpool", "flatten", "dropout", "fc"]
    # timm registers Inception-C's split towers as flat attributes in this order.
    block_c = [name for name, _ in model.get_submodule("Mixed_7b").named_children()]
    assert block_c == [
        "branch0",
        "branch1_0",
        "branch1_1a",
        "branch1_1b",
        "branch2_0",
        "branch2_1",
        "branch2_2",
        "branch2_3a",
        "branch2_3b",
        "branch3",
    ]
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes[0] == (32, 3, 3, 3)  # Conv2d_1a_3x3.conv, no bias
    assert shapes[1:3] == [(32,), (32,)]  # its BN weight and bias
    assert shapes[-2:] == [(1000, 1536), (1000,)]  # fc


def test_inception_v4_batch_norm_eps_is_tf_slims() -> None:
    eps = {m.eps for m in _meta_model().modules() if isinstance(m, nn.BatchNorm2d)}
    assert eps == {1e-3}


def test_inception_v4_training_forward_returns_logits_tensor() -> None:
    model = _meta_model().train()
    out = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 1000)


def test_inception_v4_registry_entry() -> None:
    variant = registry.get("inception_v4")
    assert variant.family == "inception_v4"
    assert variant.tag == "network"
    assert variant.input_shape == (3, 299, 299)
    assert variant.accuracy is not None
    assert (variant.accuracy.top1, variant.accuracy.top5) == (80.156, 94.968)
    assert variant.end_points[0] == "Mixed_3a"
    assert variant.end_points[-1] == "Mixed_7d"
    assert len(variant.end_points) == 2 + (1 + 4) + (1 + 7) + (1 + 3)
    with torch.device("meta"):
        model = variant.build()
    for name in variant.end_points:
        model.get_submodule(name)
    assert variant in registry.family_members("inception_v4")
