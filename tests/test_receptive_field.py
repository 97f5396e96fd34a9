"""Receptive fields: closed form on tiny graphs, and the empirical field on real ones."""

from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from user_models import transposed_net

import incprof
from incprof.analysis.receptive_field import (
    analyze_module_rf,
    analyze_rf,
    empirical_field,
    expected_region,
)
from incprof.analysis.trace import meta_model


def fields(model: nn.Module, shape, endpoints=()):
    return {
        r["endpoint"]: r for r in analyze_module_rf(model, shape, endpoints=endpoints).records()
    }


def test_chain_of_convs_and_pools():
    # 7×7/2 p3: r 7, S 2, P 3; 3×3/2 p1 pool: r 7+2·2 = 11, S 4, P 3+1·2 = 5;
    # 3×3 dilation 2 p2: k_eff 5 → r 11+4·4 = 27, S 4, P 5+2·4 = 13
    model = nn.Sequential(
        nn.Conv2d(3, 4, 7, 2, 3), nn.MaxPool2d(3, 2, 1), nn.Conv2d(4, 4, 3, padding=2, dilation=2)
    )
    rows = fields(model, (3, 64, 64), endpoints=("0", "1", "2"))
    assert [(rows[e]["size"], rows[e]["stride"], rows[e]["padding"]) for e in "012"] == [
        (7, 2, 3),
        (11, 4, 5),
        (27, 4, 13),
    ]


class Branches(nn.Module):
    """1×1 | 1×1→3×3 | 1×7→7×1 | 3×3 avg pool, concatenated, then a residual scaled add."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 2, 1)
        self.b = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 3, padding=1))
        self.c = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)))
        self.proj = nn.Conv2d(8, 2, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x), self.c(x), F.avg_pool2d(x, 3, 1, 1)], 1)
        x = x + 0.2 * F.relu(self.proj(y))
        return self.pool(x).flatten(1)


def test_branches_take_the_largest_field_per_axis():
    result = analyze_module_rf(Branches(), (2, 16, 16), endpoints=("proj",))
    assert result.aligned
    (proj,) = result.endpoints
    # height: max(1, 3, 1, 3) = 3; width: max(1, 3, 7, 3) = 7
    assert proj.field.size == (3, 7) and proj.field.padding == (1, 3)
    rows = result.records()
    assert rows[0]["size_h"] == 3 and rows[0]["size_w"] == 7 and rows[0]["size"] == 7
    # the global pool ends the field; the final map is the residual sum before it
    assert rows[-1]["endpoint"] == "final_feature_map" and rows[-1]["size_w"] == 7


class Misaligned(nn.Module):
    """A 2×2 conv padded on the left/top only: its centre sits half a pixel off the 1×1's."""

    def __init__(self) -> None:
        super().__init__()
        self.shifted = nn.Sequential(nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(1, 1, 2))
        self.plain = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return torch.cat([self.shifted(x), self.plain(x)], 1)


def test_misaligned_concat_is_reported_with_its_place():
    result = analyze_module_rf(Misaligned(), (1, 8, 8))
    assert not result.aligned
    assert "concat in the model's forward: centres" in result.misalignments[0]


def test_alignment_is_per_end_point_along_the_data_flow():
    # Both branches are end points and feed the misaligned concat; only what follows it is off.
    records = analyze_module_rf(Misaligned(), (1, 8, 8)).records()
    rows = {r["endpoint"]: r["aligned"] for r in records}
    assert rows == {"shifted": True, "plain": True, "final_feature_map": False}


def test_bn_inception_is_misaligned_from_inception_3c_on():
    # pretrainedmodels' layout: the stride-2 modules 3c and 4e concat stride-2 3×3 convs
    # padded by 1 with an unpadded 3×3/2 max pool, one pixel of their input grid apart.
    analysis = analyze_rf(incprof.get("bn_inception"))
    assert [m.split(":")[0] for m in analysis.misalignments] == [
        "concat in inception_3c",
        "concat in inception_4e",
    ]
    aligned = {r["endpoint"]: r["aligned"] for r in analysis.records()}
    assert [e for e, ok in aligned.items() if ok] == ["inception_3a", "inception_3b"]
    assert aligned["final_feature_map"] is False


def test_square_networks_give_the_four_contract_columns():
    rows = analyze_rf(incprof.get("googlenet_tv")).records()
    assert set(rows[0]) == {"endpoint", "size", "stride", "padding", "aligned", "note"} | {
        "output_shape"
    }


@pytest.mark.parametrize(
    ("name", "size"),
    [
        # Araujo, Norris & Sim (Distill 2019), table of receptive fields:
        # Inception v2 (BN-Inception) 699, Inception v4 2071, Inception-ResNet-v2 3039
        ("bn_inception", 699),
        ("inception_v4", 2071),
        ("inception_resnet_v2", 3039),
        ("inception_v3", 1311),
    ],
)
def test_published_final_fields(name, size):
    final = analyze_rf(incprof.get(name)).final
    assert max(final.field.size) == size and max(final.field.stride) == 32


def _check_empirical(model, shape, analysis, endpoint=None, *, must_be_whole=False):
    entry = (
        analysis.final
        if endpoint is None
        else next(e for e in analysis.endpoints if e.endpoint == endpoint)
    )
    size, first, clipped = expected_region(entry.field, entry.output_shape[-2:], shape[-2:])
    if must_be_whole:
        assert not clipped, f"{endpoint}: choose a larger input, the field is clipped"
    assert empirical_field(model, shape, endpoint) == (size, first)


SMALL_ENTRIES = [v for v in incprof.list_variants() if v.tag in ("block", "factorization")]


@pytest.mark.parametrize("variant", SMALL_ENTRIES, ids=lambda v: v.name)
def test_empirical_field_on_blocks_and_factorizations(variant):
    model = meta_model(variant)
    analysis = analyze_module_rf(model, variant.input_shape)
    assert analysis.aligned, analysis.misalignments
    _check_empirical(model, variant.input_shape, analysis)


@pytest.mark.parametrize(
    ("name", "shape", "endpoints"),
    [
        ("googlenet", (3, 224, 224), ("inception3a", "inception3b", "inception4a")),
        ("googlenet_tv", (3, 224, 224), ("inception3a", "inception3b", "inception4a")),
        ("inception_v3", (3, 299, 299), ("Mixed_5b", "Mixed_5d", "Mixed_6a")),
    ],
)
def test_empirical_field_on_network_end_points(name, shape, endpoints):
    variant = incprof.get(name)
    model = meta_model(variant)
    analysis = analyze_module_rf(model, shape, endpoints=endpoints)
    assert analysis.aligned
    for endpoint in endpoints:
        _check_empirical(model, shape, analysis, endpoint, must_be_whole=True)


def test_empirical_field_on_branches():
    model = Branches()
    analysis = analyze_module_rf(model, (2, 16, 16), endpoints=("proj",))
    _check_empirical(model, (2, 16, 16), analysis, "proj", must_be_whole=True)


def _at_positions(model, shape, positions):
    return [empirical_field(model, shape, position=(o, o)) for o in positions]


def test_issue_transposed_net_has_no_single_field():
    # Issue 17's model (tests/user_models.py). By hand: output o of the 4×4/2 transposed
    # conv (p1) is fed by conv outputs j with o = 2j − 1 + t, t in 0..3, i.e. two of them,
    # and conv output j sees input pixels 2j − 1 .. 2j + 1. For o = 4, 5, 6, 7:
    # j in {1, 2}, {2, 3}, {2, 3}, {3, 4} → pixels 1–5, 3–7, 3–7, 5–9.
    model = transposed_net()
    measured = _at_positions(model, (3, 16, 16), range(4, 8))
    assert measured == [((5, 5), (f, f)) for f in (1, 3, 3, 5)]
    # Starts step 2, 0, 2: no (stride, padding) gives o·S − P for all four, so no number.
    rows = fields(model, (3, 16, 16))
    assert (rows["0"]["size"], rows["0"]["stride"], rows["0"]["padding"]) == (3, 2, 1)
    for endpoint in ("1", "final_feature_map"):
        assert (rows[endpoint]["size"], rows[endpoint]["stride"]) == (None, None)
        assert rows[endpoint]["note"].startswith("transposed conv, stride 2×2, in 1:")


@pytest.mark.parametrize(("k", "s", "p"), [(4, 2, 1), (3, 2, 1), (2, 2, 0), (3, 3, 1), (5, 2, 2)])
def test_strided_transposed_conv_fields_vary_with_position(k, s, p):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ConvTranspose2d(1, 1, k, s, p))
    measured = _at_positions(model, (1, 12, 12), range(10, 10 + 2 * s))
    sizes = {size for size, _ in measured}
    steps = {b[0] - a[0] for (_, a), (_, b) in pairwise(measured)}
    assert len(sizes) > 1 or len(steps) > 1  # not one translation-invariant field
    assert fields(model, (1, 12, 12))["1"]["size"] is None


def test_stride_1_transposed_conv_closed_form():
    # Conv 3×3/2 p1: r 3, S 2, P 1. A 3×3 stride-1 transposed conv, p0, is a 3×3 conv
    # padded 2: output o sees conv outputs o − 2 .. o, input pixels 2o − 5 .. 2o + 1:
    # r 3 + 2·2 = 7, S 2, P 1 + 2·2 = 5.
    model = nn.Sequential(nn.Conv2d(1, 1, 3, 2, 1), nn.ConvTranspose2d(1, 1, 3, 1, 0))
    row = fields(model, (1, 16, 16))["1"]
    assert (row["size"], row["stride"], row["padding"]) == (7, 2, 5)


@pytest.mark.parametrize(("k", "p", "d"), [(3, 0, 1), (3, 1, 1), (4, 1, 1), (5, 0, 1), (3, 3, 2)])
def test_stride_1_transposed_conv_matches_the_gradient(k, p, d):
    model = nn.Sequential(nn.Conv2d(1, 1, 3, 2, 1), nn.ConvTranspose2d(1, 1, k, 1, p, dilation=d))
    shape = (1, 24, 24)
    analysis = analyze_module_rf(model, shape)
    final = analysis.final
    for position in [(3, 3), (5, 6), (7, 4)]:
        size, first, _ = expected_region(final.field, final.output_shape[-2:], (24, 24), position)
        assert empirical_field(model, shape, position=position) == (size, first)


class UpsampleSkip(nn.Module):
    """A U-Net step: conv, 2×2 max pool, conv, 2× upsampling, concat with the skip, 1×1 conv."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.skip = nn.Conv2d(1, 1, 3, padding=1)
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1))
        self.head = nn.Conv2d(2, 1, 1)

    def forward(self, x):
        skip = self.skip(x)
        up = F.interpolate(self.down(skip), scale_factor=2, mode=self.mode)
        return self.head(torch.cat([up, skip], 1))


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # By hand, output o = 2m (+1): nearest reads down-conv output m, which sees pooled
        # m − 1 .. m + 1, skip outputs 2m − 2 .. 2m + 3, input 2m − 3 .. 2m + 4 (8 pixels);
        # the skip's own 3 pixels lie inside.
        ("nearest", [(8, 5), (8, 5), (8, 7)]),
        # bilinear (align_corners=False) reads m − 1, m at o = 2m and m, m + 1 at o = 2m + 1:
        # input 2m − 5 .. 2m + 4 and 2m − 3 .. 2m + 6 (10 pixels).
        ("bilinear", [(10, 3), (10, 5), (10, 5)]),
    ],
)
def test_upsampling_leaves_no_field_even_after_a_skip_merge(mode, expected):
    model = UpsampleSkip(mode)
    measured = _at_positions(model, (1, 16, 16), (8, 9, 10))
    assert measured == [((size, size), (first, first)) for size, first in expected]
    # The concat used to keep only the skip's field (3 px): now no number, and why.
    rows = fields(model, (1, 16, 16), endpoints=("skip", "head"))
    assert rows["skip"]["size"] == 3
    assert rows["head"]["size"] is None and rows["head"]["note"].startswith("upsampling")


def test_flatten_ends_the_field_like_a_global_pool():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(1, 1, 3, 2), nn.Flatten(), nn.Linear(9, 2))
    final = analyze_module_rf(model, (1, 7, 7)).final
    assert final.endpoint == "final_feature_map" and final.field.size == (3, 3)
    assert final.output_shape == (1, 1, 3, 3)
