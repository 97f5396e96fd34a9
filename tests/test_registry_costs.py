"""Every registered entry, through the analytic analyzer, against independent figures."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import incprof
from incprof.analysis.analytic import analyze
from incprof.analysis.trace import meta_model

VARIANTS = incprof.list_variants()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_analytic_macs_equal_flop_counter_mode_half(variant):
    """DESIGN.md's exactness rule: analytic MACs == FlopCounterMode total / 2."""
    analysis = analyze(variant)
    assert not analysis.unknown_ops(), analysis.unknown_ops()
    model = meta_model(variant).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.empty((1, *variant.input_shape), device="meta"))
    assert analysis.macs * 2 == counter.get_total_flops()
    assert analysis.macs > 0
    assert 0 < analysis.params <= analysis.params_with_aux


@pytest.mark.parametrize(
    ("name", "giga_macs"),
    [
        # torchvision's model metadata ("GFLOPS", which are MACs): googlenet 1.50, inception_v3 5.71
        ("googlenet_tv", 1.498),
        ("inception_v3", 5.713),
    ],
)
def test_published_macs(name, giga_macs):
    assert round(analyze(incprof.get(name)).macs / 1e9, 3) == giga_macs


@pytest.mark.parametrize(
    ("name", "macs"),
    [
        # seed 002's hand counts, k·k·C_out·C_in·28·28 summed over the branches
        ("block_naive", 25_690_112 + 346_816_512 + 481_689_600),
        (
            "block_reduced",
            25_690_112 + 12_845_056 + 86_704_128 + 12_845_056 + 120_422_400 + 12_845_056,
        ),
        (
            "block_bn_factorized",
            25_690_112
            + 12_845_056
            + 86_704_128
            + 12_845_056
            + 43_352_064
            + 65_028_096
            + 12_845_056,
        ),
    ],
)
def test_seed_block_hand_counts(name, macs):
    assert analyze(incprof.get(name)).macs == macs
