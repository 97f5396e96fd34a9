"""incprof.testing.assert_budget, as users call it from their own test suites."""

import re

import pytest
import torch
from torch import nn

from incprof.errors import InputError
from incprof.testing import assert_budget

# Conv2d(3, 8, 3, padding=1) on 3×16×16: 8 output channels × 16·16 positions × 3·3·3 MACs
# each, bias excluded; parameters 8·27 weights + 8 biases.
CONV_MACS = 8 * 16 * 16 * 27
CONV_PARAMS = 8 * 27 + 8


def conv_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())


def test_a_module_within_budget_returns_its_analysis():
    analysis = assert_budget(conv_net(), macs=CONV_MACS, params=CONV_PARAMS, input=(3, 16, 16))
    assert (analysis.macs, analysis.params, analysis.input_shape) == (
        CONV_MACS,
        CONV_PARAMS,
        (3, 16, 16),
    )


def test_over_budget_says_by_how_much():
    with pytest.raises(AssertionError) as info:
        assert_budget(conv_net(), macs=50_000, params=CONV_PARAMS - 1, input="3x16x16")
    assert str(info.value) == (
        "Sequential: macs 55,296 exceed the budget 50,000 by 10.6%; "
        "params 224 exceed the budget 223 by 0.4%"
    )
    with pytest.raises(
        AssertionError,
        match=r"^Sequential: macs 55,296 exceed the budget 55,295 by less than 0\.1%$",
    ):
        assert_budget(conv_net(), macs=CONV_MACS - 1, input="3x16x16")


def test_batch_scales_the_macs_not_the_params():
    analysis = assert_budget(conv_net(), macs=4 * CONV_MACS, input=(3, 16, 16), batch=4)
    assert analysis.macs == 4 * CONV_MACS and analysis.params == CONV_PARAMS
    with pytest.raises(AssertionError, match=r"macs 221,184 exceed"):
        assert_budget(conv_net(), macs=4 * CONV_MACS - 1, input=(3, 16, 16), batch=4)


def test_the_callers_module_is_left_alone():
    model = conv_net()
    weight = model[0].weight.detach().clone()
    assert_budget(model, macs=CONV_MACS, input=(3, 16, 16))
    assert model[0].weight.device.type == "cpu" and torch.equal(model[0].weight, weight)
    assert model.training


def test_registered_names_and_user_specs():
    # torchvision's metadata lists googlenet at 1.50 GFLOPS (MACs) and 6.6 M parameters
    with pytest.raises(AssertionError) as info:
        assert_budget("googlenet_tv", macs=1.4e9, params=7e6)
    message = str(info.value)
    match = re.fullmatch(
        r"googlenet_tv: macs ([\d,]+) exceed the budget 1,400,000,000 by (.+)%", message
    )
    assert match, message
    macs = int(match.group(1).replace(",", ""))
    assert round(macs / 1e9, 2) == 1.50
    assert match.group(2) == f"{100 * (macs - 1.4e9) / 1.4e9:.1f}"
    tiny = assert_budget("user_models:tiny_net", params_with_aux=122, input="3x8x8")
    assert tiny.macs == 4 * 64 * 27 + 4 * 2


def test_bad_input_and_too_small_input_say_so():
    with pytest.raises(ValueError, match=r"input must be a shape without the batch.*; got '3xa'"):
        assert_budget(conv_net(), macs=1, input="3xa")
    with pytest.raises(InputError, match=r"Sequential cannot run on a 3x16 input \("):
        assert_budget(conv_net(), macs=1, input="3x16")
    with pytest.raises(InputError, match="the smallest square input that runs is 3x7x7"):
        assert_budget("user_models:strided_net", macs=1, input=(3, 5, 5))


def test_tied_parameters_count_once_whatever_the_path_in():
    from user_models import TIED_PARAMS, tied_convs

    from incprof.analysis.analytic import analyze_module
    from incprof.api import compare_records

    on_cpu = tied_convs()
    assert on_cpu.first.weight is on_cpu.second.weight
    analysis = assert_budget(on_cpu, params=TIED_PARAMS, input=(4, 8, 8))
    assert (analysis.params, analysis.params_with_aux) == (TIED_PARAMS, TIED_PARAMS)
    assert analyze_module(on_cpu, (4, 8, 8)).params == TIED_PARAMS
    (record,) = compare_records(["user_models:tied_convs"], input_shape=(4, 8, 8))
    assert (record["params"], record["params_with_aux"]) == (TIED_PARAMS, TIED_PARAMS)
    # The caller's model is untouched: still on the CPU, still tied.
    assert on_cpu.first.weight.device.type == "cpu"
    assert on_cpu.first.weight is on_cpu.second.weight


def test_a_budget_must_be_given_and_not_negative():
    with pytest.raises(ValueError, match="give at least one budget"):
        assert_budget(conv_net(), input=(3, 16, 16))
    with pytest.raises(ValueError, match="the macs budget must be positive; got -1"):
        assert_budget(conv_net(), macs=-1, input=(3, 16, 16))


# Conv2d(3, 4, 3, padding=1), then ReLU, on 3×8×8, fp32, batch 1, derived by hand:
SMALL_MAP = 4 * 8 * 8 * 4  # bytes of one 4×8×8 feature map
# While the ReLU runs, the conv's output and the ReLU's are alive (Sequential drops the
# conv's when the ReLU returns); an in-place ReLU writes into the conv's output instead.
SMALL_PEAK = 2 * SMALL_MAP
SMALL_PEAK_INPLACE = SMALL_MAP
# The conv reads the input, its weight and its bias and writes its map; the ReLU reads a
# map and writes one (in place too: it reads and writes its tensor once).
SMALL_BYTES_MOVED = (3 * 8 * 8 * 4 + 4 * 27 * 4 + 4 * 4 + SMALL_MAP) + 2 * SMALL_MAP
# Forward MACs 4·64·27; backward: the weight's gradient only (the input needs none).
SMALL_MACS = 4 * 8 * 8 * 27
SMALL_TRAIN_MACS = 2 * SMALL_MACS


def small_net(*, inplace: bool = False) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=inplace))


def test_memory_and_training_budgets_hold_at_the_hand_derived_figures():
    assert (SMALL_PEAK, SMALL_BYTES_MOVED, SMALL_TRAIN_MACS) == (2048, 4288, 13824)
    analysis = assert_budget(
        small_net(),
        peak_memory=SMALL_PEAK,
        bytes_moved=SMALL_BYTES_MOVED,
        train_macs=SMALL_TRAIN_MACS,
        input=(3, 8, 8),
    )
    assert analysis.macs == SMALL_MACS
    assert_budget(
        small_net(inplace=True),
        peak_memory=SMALL_PEAK_INPLACE,
        bytes_moved=SMALL_BYTES_MOVED,
        input="3x8x8",
    )


def test_memory_and_training_budgets_say_by_how_much():
    with pytest.raises(AssertionError) as info:
        assert_budget(
            small_net(),
            peak_memory=SMALL_PEAK - 1,
            bytes_moved=4000,
            train_macs=SMALL_TRAIN_MACS,
            input=(3, 8, 8),
        )
    assert str(info.value) == (
        "Sequential: peak_memory 2,048 exceed the budget 2,047 by less than 0.1%; "
        "bytes_moved 4,288 exceed the budget 4,000 by 7.2%"
    )
    with pytest.raises(
        AssertionError,
        match=r"^Sequential: train_macs 13,824 exceed the budget 10,000 by 38\.2%$",
    ):
        assert_budget(small_net(), train_macs=10_000, input=(3, 8, 8))
    # In place, the ReLU allocates nothing: a budget below two maps fails only without it.
    with pytest.raises(AssertionError, match=r"^Sequential: peak_memory 2,048 exceed"):
        assert_budget(small_net(), peak_memory=SMALL_PEAK_INPLACE, input=(3, 8, 8))


def test_memory_and_training_budgets_count_the_batch():
    batch = 4
    assert_budget(
        small_net(),
        peak_memory=batch * SMALL_PEAK,
        train_macs=batch * SMALL_TRAIN_MACS,
        input=(3, 8, 8),
        batch=batch,
    )
    # The weights are read once whatever the batch; the maps scale with it.
    weights = 4 * 27 * 4 + 4 * 4
    moved = batch * (SMALL_BYTES_MOVED - weights) + weights
    assert_budget(small_net(), bytes_moved=moved, input=(3, 8, 8), batch=batch)
    with pytest.raises(AssertionError, match=r"bytes_moved 15,808 exceed the budget 15,807"):
        assert_budget(small_net(), bytes_moved=moved - 1, input=(3, 8, 8), batch=batch)
    with pytest.raises(AssertionError, match=r"peak_memory 8,192 exceed the budget 8,191"):
        assert_budget(small_net(), peak_memory=batch * SMALL_PEAK - 1, input=(3, 8, 8), batch=4)


def test_a_memory_budget_must_be_positive():
    with pytest.raises(ValueError, match="the peak_memory budget must be positive; got 0"):
        assert_budget(small_net(), peak_memory=0, input=(3, 8, 8))
    with pytest.raises(ValueError, match=r"give at least one budget: .*train_macs="):
        assert_budget(small_net(), input=(3, 8, 8))
