"""Inception-ResNet-v1 (paper) and -v2 (timm layout): counts, shapes, residual wiring."""

from __future__ import annotations

import pytest
import torch
from end_points import end_point_shapes
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from incprof import registry
from incprof.models.inception_resnet import (
    INCEPTION_RESNET_V1,
    Block8,
    Block35,
    Block35Widths,
    InceptionResNet,
    TowerWidths,
    build_inception_resnet_v1,
    build_inception_resnet_v2,
)

# timm's inception_resnet_v2 at 1000 classes (the figure the task gives).
TIMM_V2_PARAMS = 55_843_464


def _meta(builder, **overrides: object) -> nn.Module:
    with torch.device("meta"):
        return builder(**overrides).eval()


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(c_in: int, c_out: int, kh: int, kw: int | None = None) -> int:
    """conv (no bias) → BN: kh·kw·c_in·c_out weights, plus BN's weight and bias per channel."""
    return kh * (kw or kh) * c_in * c_out + 2 * c_out


def projection(c_in: int, c_out: int) -> int:
    """A residual block's linear 1×1 projection: no BN, with bias."""
    return c_in * c_out + c_out


def inception_resnet_v1_params(num_classes: int = 1000) -> int:
    """Hand count from the paper's figures 10-15 and Table 1, block by block."""
    stem = (  # figure 14
        conv(3, 32, 3)
        + conv(32, 32, 3)
        + conv(32, 64, 3)
        + conv(64, 80, 1)
        + conv(80, 192, 3)
        + conv(192, 256, 3)
    )
    block_a = (  # figure 10, on 256 channels
        conv(256, 32, 1)
        + conv(256, 32, 1)
        + conv(32, 32, 3)
        + conv(256, 32, 1)
        + conv(32, 32, 3)
        + conv(32, 32, 3)
        + projection(32 + 32 + 32, 256)
    )
    reduction_a = (  # figure 7 with k, l, m, n = 192, 192, 256, 384
        conv(256, 384, 3) + conv(256, 192, 1) + conv(192, 192, 3) + conv(192, 256, 3)
    )
    block_b = (  # figure 11, on 256 + 384 + 256 = 896 channels
        conv(896, 128, 1)
        + conv(896, 128, 1)
        + conv(128, 128, 1, 7)
        + conv(128, 128, 7, 1)
        + projection(128 + 128, 896)
    )
    reduction_b = (  # figure 12
        conv(896, 256, 1)
        + conv(256, 384, 3)
        + conv(896, 256, 1)
        + conv(256, 256, 3)
        + conv(896, 256, 1)
        + conv(256, 256, 3)
        + conv(256, 256, 3)
    )
    block_c = (  # figure 13, on 896 + 384 + 256 + 256 = 1792 channels
        conv(1792, 192, 1)
        + conv(1792, 192, 1)
        + conv(192, 192, 1, 3)
        + conv(192, 192, 3, 1)
        + projection(192 + 192, 1792)
    )
    fc = 1792 * num_classes + num_classes
    return stem + 5 * block_a + reduction_a + 10 * block_b + reduction_b + 5 * block_c + fc


def test_v2_parameter_count_matches_timm() -> None:
    assert _params(_meta(build_inception_resnet_v2)) == TIMM_V2_PARAMS


def test_v1_parameter_count_matches_hand_count() -> None:
    assert inception_resnet_v1_params() == 22_756_328
    assert _params(_meta(build_inception_resnet_v1)) == inception_resnet_v1_params()
    model = _meta(build_inception_resnet_v1, num_classes=10)
    assert _params(model) == inception_resnet_v1_params(10)


@pytest.mark.parametrize(
    ("builder", "gmacs"),
    [
        # timm model card (inception_resnet_v2.tf_ens_adv_in1k, same network): "GMACs: 13.2".
        (build_inception_resnet_v2, 13.2),
        # No published figure; the paper only says v1 costs about as much as Inception-v3.
        (build_inception_resnet_v1, 6.2),
    ],
)
def test_macs(builder, gmacs: float) -> None:
    model = _meta(builder)
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, 299, 299, device="meta"))
    assert round(counter.get_total_flops() / 2 / 1e9, 1) == gmacs


@pytest.mark.parametrize("builder", [build_inception_resnet_v1, build_inception_resnet_v2])
@pytest.mark.parametrize("size", [299, 363])
def test_inception_resnet_output_shape(builder, size: int) -> None:
    out = _meta(builder)(torch.empty(2, 3, size, size, device="meta"))
    assert out.shape == (2, 1000)


def test_v2_end_point_shapes_at_299() -> None:
    variant = registry.get("inception_resnet_v2")
    shapes = end_point_shapes(_meta(build_inception_resnet_v2), variant.end_points, 299)
    assert shapes == {
        "Mixed_5b": (320, 35, 35),  # 96 + 64 + 96 + 64
        "Repeat": (320, 35, 35),
        "Mixed_6a": (1088, 17, 17),  # 384 + 384 + 320 pooled
        "Repeat_1": (1088, 17, 17),
        "Mixed_7a": (2080, 8, 8),  # 384 + 288 + 320 + 1088 pooled
        "Repeat_2": (2080, 8, 8),
        "Conv2d_7b_1x1": (1536, 8, 8),
    }


def test_v1_end_point_shapes_at_299_and_363() -> None:
    variant = registry.get("inception_resnet_v1")
    model = _meta(build_inception_resnet_v1)
    assert end_point_shapes(model, variant.end_points, 299) == {
        "Repeat": (256, 35, 35),
        "Mixed_6a": (896, 17, 17),  # 384 + 256 + 256 pooled
        "Repeat_1": (896, 17, 17),
        "Mixed_7a": (1792, 8, 8),  # 384 + 256 + 256 + 896 pooled
        "Repeat_2": (1792, 8, 8),
        "Block8": (1792, 8, 8),
    }
    # 363 -> 181 -> 179 -> 89 -> 87 -> 43 -> 21 -> 10
    shapes = end_point_shapes(model, ("Repeat", "Repeat_1", "Block8"), 363)
    assert shapes == {"Repeat": (256, 43, 43), "Repeat_1": (896, 21, 21), "Block8": (1792, 10, 10)}


def test_v2_names_and_timm_parameter_order() -> None:
    model = _meta(build_inception_resnet_v2)
    assert [name for name, _ in model.named_children()] == [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "MaxPool_3a_3x3",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
        "MaxPool_5a_3x3",
        "Mixed_5b",
        "Repeat",
        "Mixed_6a",
        "Repeat_1",
        "Mixed_7a",
        "Repeat_2",
        "Block8",
        "Conv2d_7b_1x1",
        "avgpool",
        "flatten",
        "dropout",
        "fc",
    ]
    assert [len(model.get_submodule(n)) for n in ("Repeat", "Repeat_1", "Repeat_2")] == [10, 20, 9]
    # timm's Block35: branch0, branch1, branch2, then the biased projection conv2d.
    block = model.get_submodule("Repeat.0")
    assert [name for name, _ in block.named_parameters()][-2:] == ["conv2d.weight", "conv2d.bias"]
    assert block.conv2d.weight.shape == (320, 128, 1, 1)
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes[-4:] == [(1536,), (1536,), (1000, 1536), (1000,)]  # Conv2d_7b BN, fc


@pytest.mark.parametrize(
    ("builder", "repeats"),
    [(build_inception_resnet_v2, (10, 20, 9)), (build_inception_resnet_v1, (5, 10, 4))],
)
def test_scales_and_final_block(builder, repeats: tuple[int, int, int]) -> None:
    model = _meta(builder)
    stages = zip(("Repeat", "Repeat_1", "Repeat_2"), repeats, (0.17, 0.10, 0.20), strict=True)
    for name, n, scale in stages:
        blocks = list(model.get_submodule(name))
        assert len(blocks) == n
        assert all(b.scale == scale and b.activate for b in blocks)
    final = model.get_submodule("Block8")
    assert (final.scale, final.activate) == (1.0, False)


def test_mismatched_widths_are_rejected() -> None:
    spec = INCEPTION_RESNET_V1._replace(
        repeat_1=INCEPTION_RESNET_V1.repeat_1._replace(widths=TowerWidths(900, 128, (128,) * 3))
    )
    with pytest.raises(ValueError, match="Mixed_6a gives 896 channels"), torch.device("meta"):
        InceptionResNet(spec)


def _zero_projection(block: nn.Module) -> None:
    nn.init.zeros_(block.conv2d.weight)
    nn.init.zeros_(block.conv2d.bias)


def test_residual_wiring_on_real_values() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5)
    # With a zero projection the block is the identity, then ReLU if it activates.
    last = Block8(TowerWidths(8, 4, (4, 4, 4)), scale=1.0, activate=False).eval()
    _zero_projection(last)
    assert torch.equal(last(x), x)
    a = Block35(Block35Widths(8, 4, (4, 4), (4, 4, 4)), scale=0.17).eval()
    _zero_projection(a)
    assert torch.equal(a(x), torch.relu(x))
    # Otherwise: relu(x + scale · projection(concat(branches))).
    a = Block35(Block35Widths(8, 4, (4, 4), (4, 4, 4)), scale=0.17).eval()
    with torch.no_grad():
        expected = torch.relu(x + 0.17 * a.conv2d(a.branches(x)))
        assert torch.allclose(a(x), expected)


def test_inception_resnet_training_forward_returns_logits_tensor() -> None:
    model = _meta(build_inception_resnet_v2).train()
    out = model(torch.empty(2, 3, 299, 299, device="meta"))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 1000)


def test_inception_resnet_batch_norm_eps_is_tf_slims() -> None:
    model = _meta(build_inception_resnet_v2)
    assert {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}


@pytest.mark.parametrize(
    ("name", "top1", "top5", "first", "last"),
    [
        ("inception_resnet_v2", 80.462, 95.308, "Mixed_5b", "Conv2d_7b_1x1"),
        ("inception_resnet_v1", 78.7, 94.5, "Repeat", "Block8"),
    ],
)
def test_inception_resnet_registry_entry(
    name: str, top1: float, top5: float, first: str, last: str
) -> None:
    variant = registry.get(name)
    assert variant.family == "inception_resnet"
    assert variant.tag == "network"
    assert variant.input_shape == (3, 299, 299)
    assert variant.accuracy is not None
    assert (variant.accuracy.top1, variant.accuracy.top5) == (top1, top5)
    assert (variant.end_points[0], variant.end_points[-1]) == (first, last)
    with torch.device("meta"):
        model = variant.build()
    for end_point in variant.end_points:
        model.get_submodule(end_point)
    assert variant in registry.family_members("inception_resnet")
