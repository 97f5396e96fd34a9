"""A fixed sample of the zoo (``benchmarks/check_zoo.py`` runs all of it): no operator
unknown, MACs equal to the published figure (torchvision's ``_ops``, GMACs to three
decimals) or to ``FlopCounterMode``/2 on the same meta model (timm), parameters exact.

The timm models are the ones whose operators were unknown before they were priced by
class (each named beside it) or that crashed (a Conv1d's one-element stride).
"""

from __future__ import annotations

import pytest

check_zoo = pytest.importorskip("check_zoo")
try:
    TIMM_MODULE = check_zoo.timm()  # imports torchvision too, through the one shim
except ImportError as error:  # the 'zoo' extra is not installed
    pytest.skip(f"torchvision/timm not importable: {error}", allow_module_level=True)

# torchvision: (model, what it exercises).
TORCHVISION = [
    ("resnet18", "conv, pool, linear"),
    ("mobilenet_v3_small", "hardswish, squeeze-excitation"),
    ("efficientnet_b0", "SiLU, stochastic depth in eval"),
    ("convnext_tiny", "as_strided_, layer norm"),
    ("swin_t", "index, masked_fill, as_strided_"),
    ("vit_b_16", "SDPA, layer norm"),
    ("regnet_y_400mf", "a builder that needs real data (built on the CPU)"),
]
# timm, at small inputs where the model allows any: (model, input, the operators it runs
# that only a class prices: each was unknown before).
TIMM = [
    ("nextvit_small", (3, 224, 224), ()),  # Conv1d: crashed in the kernel text
    ("edgenext_xx_small", (3, 64, 64), ("arange", "bitwise_not", "cos", "cumsum", "pow")),
    ("halonet26t", (3, 256, 256), ("unfold",)),
    ("resnetblur18", (3, 64, 64), ("reflection_pad2d",)),
    ("volo_d1_224", (3, 224, 224), ("im2col",)),  # and col2im (a formula)
    ("levit_128s", (3, 224, 224), ("index",)),
    ("crossvit_tiny_240", (3, 240, 240), ()),  # _safe_softmax (nn.MultiheadAttention)
    ("convnextv2_atto", (3, 64, 64), ("addcmul",)),
    ("bat_resnext26ts", (3, 256, 256), ("eye",)),
    ("xcit_nano_12_p16_224", (3, 64, 64), ("arange", "cos", "sin", "div")),
    ("naflexvit_base_patch16_gap", (3, 64, 64), ()),  # _upsample_bicubic2d_aa
]


@pytest.fixture(scope="module")
def torchvision():
    return check_zoo.torchvision()


@pytest.mark.parametrize(("name", "why"), TORCHVISION)
def test_torchvision_against_published(torchvision, name, why):
    weights = torchvision.models.get_model_weights(name).DEFAULT
    crop = weights.transforms.keywords["crop_size"]
    row = check_zoo.run_case(
        {}, name, lambda: torchvision.models.get_model(name), (3, crop, crop), flop_counter=False
    )
    assert row["status"] != "crash", row["reason"]
    assert row["unknown_ops"] == {}
    assert round(row["macs"] / 1e9, 3) == weights.meta["_ops"]
    assert row["params_with_aux"] == weights.meta["num_params"] == row["numel"]


@pytest.mark.parametrize("name", ["r3d_18", "s3d"])  # Conv3d; s3d: max_pool3d_with_indices
def test_video_against_published(torchvision, name):
    weights = torchvision.models.get_model_weights(name).DEFAULT
    shape = (3, check_zoo.VIDEO_FRAMES, *weights.transforms.keywords["crop_size"])
    row = check_zoo.run_case({}, name, lambda: torchvision.models.get_model(name), shape)
    assert row["status"] != "crash", row["reason"]
    assert row["unknown_ops"] == {}
    assert round(row["macs"] / 1e9, 3) == weights.meta["_ops"]
    assert row["macs"] == row["fcm_macs"]
    assert row["params_with_aux"] == weights.meta["num_params"] == row["numel"]


@pytest.mark.parametrize(
    ("name", "kind", "shape"),
    [
        ("ssdlite320_mobilenet_v3_large", "detection", check_zoo.DETECTION_INPUT),
        ("lraspp_mobilenet_v3_large", "segmentation", check_zoo.SEGMENTATION_INPUT),
    ],
)
def test_dense_models_have_no_unknown_operator(name, kind, shape):
    rows = list(check_zoo.torchvision_dense(lambda n: n == name))
    (row,) = rows
    assert row["kind"] == kind and row["status"] == "pass", row.get("reason")
    assert row["unknown_ops"] == {} and row["params_with_aux"] == row["numel"]


@pytest.mark.parametrize(("name", "shape", "by_class"), TIMM)
def test_timm_against_flop_counter(name, shape, by_class):
    row = check_zoo.run_case({}, name, lambda: TIMM_MODULE.create_model(name), shape)
    assert row["status"] != "crash", row["reason"]
    assert row["unknown_ops"] == {}
    assert set(by_class) <= set(row["priced_by_class"])
    assert row["macs"] == row["fcm_macs"] > 0
    assert row["params_with_aux"] == row["numel"]
