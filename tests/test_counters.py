"""Measured counters beside the analytic figure, with every gap named by operator."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from incprof.analysis.analytic import analyze
from incprof.analysis.counters import delta_pct, explain, run_counter
from incprof.registry import Variant
from incprof.sources import load_user_variant


class Toy(nn.Module):
    """conv(bias) → BN → F.relu → F.max_pool → grouped 1×3 conv → +avg_pool → GAP → fc."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, (1, 3), padding=(0, 1), groups=2, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.c1(x)))
        y = self.c2(F.max_pool2d(x, 2))
        y = y + F.avg_pool2d(y, 3, 1, 1)
        return self.fc(torch.flatten(self.pool(y), 1))


TOY = Variant("toy", "test", "network", Toy, (3, 16, 16), "a test model")
# conv1: 8·16·16 outputs × 3·3·3; conv2: 8·8·8 outputs × (8/2)·1·3; fc: 8·5
TOY_MACS = 8 * 256 * 27 + 8 * 64 * 12 + 40
BN_ELEMENTS = 8 * 16 * 16


@pytest.fixture(scope="module")
def analytic():
    return analyze(TOY)


def test_analytic_toy(analytic):
    assert analytic.macs == TOY_MACS


def test_torch_counter_agrees_exactly(analytic):
    result = run_counter("torch", TOY, TOY.input_shape, analytic)
    assert result.macs == TOY_MACS
    assert explain(result, analytic).startswith("exact")


def test_fvcore_gap_is_bn_and_global_pool(analytic):
    result = run_counter("fvcore", TOY, TOY.input_shape, analytic)
    # fvcore: conv + linear MACs, plus BN at 2 per element, plus adaptive pool's 8·8·8 inputs
    assert result.macs == TOY_MACS + 2 * BN_ELEMENTS + 8 * 64
    text = explain(result, analytic)
    assert "batch_norm" in text and "pool" in text
    assert "max_pool2d" in text  # fvcore says it skipped it


def test_thop_gap_is_bn_and_pool_modules(analytic):
    result = run_counter("thop", TOY, TOY.input_shape, analytic)
    # thop: BN 4 per element (affine); adaptive pool (64/1 + 1) per output element (8)
    assert result.macs == TOY_MACS + 4 * BN_ELEMENTS + 8 * 65
    text = explain(result, analytic)
    assert "batch_norm" in text
    assert "avg_pool2d (pool)" in text and "relu (activation)" in text  # functional: unseen
    assert delta_pct(result.macs, analytic.macs) == pytest.approx(
        100 * (4 * BN_ELEMENTS + 8 * 65) / TOY_MACS
    )


def test_failing_counter_is_a_cell_not_a_crash(analytic):
    broken = Variant("broken", "test", "network", lambda: nn.Conv2d(5, 1, 1), (3, 4, 4), "x")
    result = run_counter("fvcore", broken, broken.input_shape, analytic)
    assert result.macs is None
    assert result.error.startswith("fvcore failed: RuntimeError")
    assert explain(result, analytic) == result.error


def test_unknown_counter_name_raises(analytic):
    with pytest.raises(ValueError, match="unknown counter"):
        run_counter("nope", TOY, TOY.input_shape, analytic)


# user_models:attention_net at 3x64x64: an 8×8/8 patch embedding gives L = 64 tokens of
# E = 64 channels; self-attention; mean; linear 64→10.
TOKENS, DIM = 64, 64
ATTN_EMBED_MACS = TOKENS * DIM * 3 * 8 * 8
# in-projection (q, k, v) 3·L·E² + QKᵀ L²·E + attention·V L²·E + out-projection L·E²
MHA_MACS = 3 * TOKENS * DIM**2 + 2 * TOKENS**2 * DIM + TOKENS * DIM**2
ATTN_HEAD_MACS = DIM * 10
# user_models:lstm_net at 3x48x48: a 4×4/4 patch embedding gives 144 steps of 64 features;
# one LSTM layer of 64 hidden units; linear 64→5 on the last state.
STEPS, FEATURES, HIDDEN = 144, 64, 64
LSTM_EMBED_MACS = STEPS * FEATURES * 3 * 4 * 4
LSTM_MACS = STEPS * 4 * HIDDEN * (FEATURES + HIDDEN)  # per step: four gates, H × (I + H) each
LSTM_HEAD_MACS = HIDDEN * 5


@pytest.fixture(scope="module")
def attention():
    variant = load_user_variant("user_models:attention_net", (3, 64, 64))
    return variant, analyze(variant)


@pytest.fixture(scope="module")
def lstm():
    variant = load_user_variant("user_models:lstm_net", (3, 48, 48))
    return variant, analyze(variant)


def test_attention_and_lstm_closed_forms_are_the_issue_figures(attention, lstm):
    # The figures issue 17 quotes, from the closed forms above.
    assert ATTN_EMBED_MACS + MHA_MACS + ATTN_HEAD_MACS == 2_359_936
    assert LSTM_EMBED_MACS + LSTM_MACS + LSTM_HEAD_MACS == 5_161_280
    for (variant, analytic), true_macs in ((attention, 2_359_936), (lstm, 5_161_280)):
        assert analytic.macs == true_macs
        # On the meta device torch takes no fused path: FlopCounterMode sees the matmuls.
        assert run_counter("torch", variant, variant.input_shape, analytic).macs == true_macs


def test_torch_cpu_misses_the_attention_fast_path(attention):
    variant, analytic = attention
    result = run_counter("torch-cpu", variant, variant.input_shape, analytic)
    assert result.macs == ATTN_EMBED_MACS + ATTN_HEAD_MACS == 787_072
    assert explain(result, analytic) == (
        f"{-100 * MHA_MACS / analytic.macs:+.3f}% _native_multi_head_attention"
        " (nn.MultiheadAttention's fast path) in attn: no formula in FlopCounterMode"
    )


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="no oneDNN LSTM kernel")
def test_torch_cpu_misses_the_fused_lstm(lstm):
    variant, analytic = lstm
    result = run_counter("torch-cpu", variant, variant.input_shape, analytic)
    assert result.macs == LSTM_EMBED_MACS + LSTM_HEAD_MACS == 442_688
    assert explain(result, analytic) == (
        f"{-100 * LSTM_MACS / analytic.macs:+.3f}% mkldnn_rnn_layer (oneDNN's fused LSTM layer)"
        " in lstm: no formula in FlopCounterMode"
    )


def test_torch_cpu_names_nothing_where_no_fused_path_runs(analytic):
    # relu, max_pool2d, BN: no formula in FlopCounterMode either, but no MAC to miss.
    result = run_counter("torch-cpu", TOY, TOY.input_shape, analytic)
    assert result.macs == TOY_MACS
    assert explain(result, analytic).startswith("exact")


class RootAttention(nn.Module):
    """Bias-free linear queries over (4 heads, 16 tokens, dim 8), attention issued by the
    root's own forward (F.scaled_dot_product_attention), then an nn.MultiheadAttention."""

    def __init__(self) -> None:
        super().__init__()
        self.query = nn.Linear(8, 8, bias=False)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        y = F.scaled_dot_product_attention(self.query(x), x, x).flatten(0, 1)
        return self.attn(y, y, y, need_weights=False)[0]


def test_torch_cpu_charges_each_hidden_mac_once():
    variant = Variant("root_attention", "test", "network", RootAttention, (4, 16, 8), "x")
    analytic = analyze(variant)
    query_macs = 4 * 16 * 8 * 8
    sdpa_macs = 4 * 2 * 16**2 * 8  # per head: QKᵀ and attention·V, 16²·8 each
    mha_macs = 4 * (4 * 16 * 8**2 + 2 * 16**2 * 8)  # per sequence: projections, QKᵀ, AV
    assert analytic.macs == query_macs + sdpa_macs + mha_macs
    result = run_counter("torch-cpu", variant, variant.input_shape, analytic)
    assert result.macs == query_macs
    # The root issued one fused op and holds the module issuing the other: one entry for
    # both, less the linear inside the root that FlopCounterMode did count.
    assert explain(result, analytic) == (
        f"{-100 * (sdpa_macs + mha_macs) / analytic.macs:+.3f}% _native_multi_head_attention"
        " (nn.MultiheadAttention's fast path), _scaled_dot_product_flash_attention_for_cpu"
        " (F.scaled_dot_product_attention's CPU kernel) in (root): no formula in FlopCounterMode"
    )
