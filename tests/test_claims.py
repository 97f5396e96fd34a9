"""incprof claim: each convention's figure on a tiny net by hand, claims that hold in
another unit or nowhere, the published registry, and the command's bad input."""

import json

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from incprof.analysis.conventions import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_IN_OTHER_UNIT,
    check_claim,
    cost_figures,
    param_figures,
    parse_value,
)
from incprof.analysis.trace import trace_module
from incprof.analysis.training import backward
from incprof.cli import cli
from incprof.errors import InputError
from incprof.sources import resolve


class Tiny(nn.Module):
    """conv (no bias) + BN + ReLU + max pool, a biased 1×1 conv added back, F.relu, avg
    pool, global pool, linear: one of each thing the tools count differently."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)  # 3×8×8 -> 4×8×8
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)  # -> 4×4×4
        self.conv2 = nn.Conv2d(4, 4, 1)
        self.apool = nn.AvgPool2d(2)  # -> 4×2×2
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.bn(self.conv(x))))
        x = F.relu(x + self.conv2(x))
        return self.fc(torch.flatten(self.gap(self.apool(x)), 1))


SHAPE = (3, 8, 8)
# By hand: conv 4·8·8 outputs × 3·3·3 = 6912 MACs, conv2 4·4·4 × 4 = 256, fc 4·5 = 20.
MACS = 6912 + 256 + 20
BN_ELEMENTS = 4 * 8 * 8  # 256, also ReLU's and max pool's input
POOLED = 4 * 4 * 4  # 64: max pool's output, conv2's, the add's, F.relu's, avg pool's input
AVG_OUT = 4 * 2 * 2  # 16: avg pool's output, the global pool's input
# Backward: conv's input is the image (no gradient): its weight gradient only.
BACKWARD = 6912 + 2 * 256 + 2 * 20

EXPECTED = {
    # (rule, BN folded) -> figure in the tool's own unit
    ("macs", False): MACS,
    ("torch", False): 2 * MACS,
    # fvcore: + BN 2/element + adaptive avg pool 1/input element.
    ("fvcore", False): MACS + 2 * BN_ELEMENTS + AVG_OUT,
    ("fvcore", True): MACS + AVG_OUT,
    # thop: + BN 4/element + avg pool 1/output element + adaptive 4·(bin 4 + 1).
    ("thop", False): MACS + 4 * BN_ELEMENTS + AVG_OUT + 4 * (4 + 1),
    ("thop", True): MACS + AVG_OUT + 4 * (4 + 1),
    # ptflops: + conv2 bias 64 + fc bias 5 + BN 2/element; nn.ReLU, max pool, avg pool and
    # the global pool once by hook and once as F.* (input elements); F.relu once; the add 0.
    ("ptflops", False): MACS
    + POOLED
    + 5
    + 2 * BN_ELEMENTS
    + 2 * (BN_ELEMENTS + BN_ELEMENTS + POOLED + AVG_OUT)
    + POOLED,
    # folded: BN gone, the first conv gains a bias add per output element.
    ("ptflops", True): MACS
    + POOLED
    + 5
    + BN_ELEMENTS
    + 2 * (BN_ELEMENTS + BN_ELEMENTS + POOLED + AVG_OUT)
    + POOLED,
    # every op once: bias adds 64 + 5, BN 2/element, ReLU 256, max pool 64 × window 4,
    # add 64, F.relu 64, avg pool 16 × 4, global pool 16.
    ("all_ops", False): MACS
    + POOLED
    + 5
    + 2 * BN_ELEMENTS
    + BN_ELEMENTS
    + 4 * POOLED
    + POOLED
    + POOLED
    + 4 * AVG_OUT
    + AVG_OUT,
    ("all_ops", True): MACS
    + POOLED
    + 5
    + BN_ELEMENTS
    + BN_ELEMENTS
    + 4 * POOLED
    + POOLED
    + POOLED
    + 4 * AVG_OUT
    + AVG_OUT,
}


@pytest.fixture(scope="module")
def figures():
    trace = trace_module(Tiny(), SHAPE)
    step = backward(trace)
    return cost_figures(trace, step.train_macs, {"conv": 1.0}) + param_figures(trace)


def _find(figures, rule, *, folded=False, doubled=False, phase="forward"):
    (match,) = [
        f
        for f in figures
        if f.convention.rule == rule
        and f.convention.bn_folded == folded
        and f.convention.doubled == doubled
        and f.convention.phase == phase
    ]
    return match


@pytest.mark.parametrize(("rule", "folded"), list(EXPECTED))
def test_each_rule_on_the_tiny_net_by_hand(figures, rule, folded):
    assert _find(figures, rule, folded=folded).value == EXPECTED[rule, folded]


def test_doubled_figures_are_flops(figures):
    doubled = _find(figures, "thop", doubled=True)
    assert doubled.value == 2 * EXPECTED["thop", False]
    assert doubled.convention.unit == "flops"


def test_training_step(figures):
    assert _find(figures, "macs", phase="training step").value == MACS + BACKWARD
    assert _find(figures, "torch", phase="training step").value == 2 * (MACS + BACKWARD)


def test_parameter_conventions(figures):
    conv, bn, conv2, fc = 3 * 4 * 9, 2 * 4, 4 * 4 + 4, 4 * 5 + 5
    assert _find(figures, "params").value == conv + bn + conv2 + fc
    # + BN running mean and variance
    assert _find(figures, "params_with_stats").value == conv + bn + conv2 + fc + 2 * 4
    # − γ, β; + a bias for the conv, which had none
    assert _find(figures, "params_folded", folded=True).value == conv + conv2 + fc + 4
    assert _find(figures, "params_weights").value == 3 * 4 * 9 + 4 * 4 + 4 * 5


def test_measured_counters_agree_with_the_modelled_rules(figures):
    """fvcore and thop, where installed, count the tiny net as modelled."""
    fvcore = pytest.importorskip("fvcore.nn")
    thop = pytest.importorskip("thop")
    x = torch.zeros(1, *SHAPE)
    analysis = fvcore.FlopCountAnalysis(Tiny().eval(), x)
    analysis.unsupported_ops_warnings(False)
    assert analysis.total() == EXPECTED["fvcore", False]
    total, _ = thop.profile(Tiny().eval(), inputs=(x,), verbose=False)
    assert total == EXPECTED["thop", False]


def test_a_mac_claim_that_holds_only_as_flops(figures):
    check = check_claim("tiny", figures, 2 * MACS, unit="macs", tolerance_pct=0)
    assert check.verdict == HOLDS_IN_OTHER_UNIT
    assert {t.figure.convention.rule for t in check.holding} == {"torch", "macs"}
    assert all(t.figure.convention.unit == "flops" for t in check.holding)
    assert "holds only as flops" in check.summary()


def test_a_claim_that_holds(figures):
    check = check_claim("tiny", figures, EXPECTED["thop", False], unit="macs", tolerance_pct=0)
    assert check.verdict == HOLDS
    assert check.holding[0].figure.convention.tool == "thop"


def test_a_claim_that_holds_nowhere_names_the_nearest_and_the_remainder(figures):
    check = check_claim("tiny", figures, 10_000, unit="macs", tolerance_pct=1)
    assert check.verdict == DOES_NOT_HOLD
    nearest = check.nearest
    assert nearest.figure.convention.rule == "ptflops"
    assert not nearest.figure.convention.bn_folded
    rows = check.remainder()
    assert rows[-1]["counted"] == 10_000 - EXPECTED["ptflops", False]
    by_category = {r["category"]: r for r in rows[:-1]}
    assert by_category["conv"]["counted"] == 6912 + 256 + POOLED  # MACs and conv2's bias
    assert by_category["batch_norm"]["counted"] == 2 * BN_ELEMENTS
    # incprof's every-op figure: the add (64) is counted there, not by ptflops.
    assert by_category["elementwise"]["counted"] == 0
    assert by_category["elementwise"]["not_counted"] == POOLED


def test_params_claims_try_params_only_and_json_lists_every_convention(figures):
    check = check_claim("tiny", figures, 161, unit="params", tolerance_pct=0)
    assert {t.figure.convention.unit for t in check.tried} == {"params"}
    everything = check_claim("tiny", figures, 161, unit="auto")
    assert len(everything.records()) == len(figures)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5e9", 1.5e9), ("1.5G", 1.5e9), ("5B", 5e9), ("6,624,904", 6624904), ("13.6M", 13.6e6)],
)
def test_claim_values(text, value):
    assert parse_value(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "-5", "0", "1.5X", ""])
def test_bad_claim_values(text):
    with pytest.raises(InputError):
        parse_value(text)


@pytest.mark.parametrize(
    "args",
    [
        ["no_such_net", "1e9"],
        ["googlenet_tv", "lots"],
        ["googlenet_tv", "--", "-1e9"],
        ["googlenet_tv", "1e9", "--tolerance", "101"],
        ["googlenet_tv", "1e9", "--tolerance", "-1"],
        ["googlenet_tv", "1e9", "--unit", "joules"],
        ["googlenet_tv", "1e9", "--input", "3x224"],
    ],
)
def test_claim_bad_input_is_one_line_and_exit_2(args):
    result = CliRunner().invoke(cli, ["claim", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_json_lists_every_convention_and_exit_codes():
    result = CliRunner().invoke(
        cli, ["claim", "googlenet_tv", "1.498e9", "--unit", "flops", "--format", "json"]
    )
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert len({(r["rule"], r["input_shape"], r["aux_heads"], r["phase"]) for r in records}) > 20
    best = records[0]
    # torchvision's GFLOPS are MACs: the claim holds as MACs at 224, not as FLOPs.
    assert best["holds"] and best["unit"] == "macs" and not best["unit_as_claimed"]
    assert best["figure"] == 1_498_376_192
    missed = CliRunner().invoke(cli, ["claim", "googlenet_tv", "1e6"])
    assert missed.exit_code == 1
    assert "does not hold" in missed.stdout
    assert "remainder (claim − figure)" in missed.stdout


def test_published_claims_reproduce_the_zoo_figures():
    from incprof.api import claim_figures
    from incprof.studies.claims import PUBLISHED_CLAIMS, claim_records

    for claim in PUBLISHED_CLAIMS:
        resolve(claim.variant)  # every claim is about a registered entry
        assert claim.source and claim.quote
    subset = ("googlenet_tv", "inception_v3")
    records = {
        r["key"]: r
        for r in claim_records(lambda name: claim_figures(resolve(name))[0])
        if r["variant"] in subset
    }
    # torchvision's num_params: exact, aux heads out for googlenet, in for inception_v3.
    assert records["torchvision_googlenet_params"]["verdict"] == HOLDS
    assert records["torchvision_inception_v3_params"]["convention"] == "params, aux in"
    # torchvision's GFLOPS 1.498 are MACs.
    assert records["torchvision_googlenet_gflops"]["verdict"] == HOLDS_IN_OTHER_UNIT
    # "5 billion multiply-adds" is 14% under the conv + linear MACs at 299.
    assert records["inception_v3_5b"]["verdict"] == DOES_NOT_HOLD
    assert records["inception_v3_5b"]["figure"] == 5_713_216_096
