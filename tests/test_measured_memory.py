"""Measured memory: real passes on the CPU against hand-derived bytes and the analytic peaks."""

from __future__ import annotations

import re
import sys

import pytest
import torch
from torch import nn

from incprof.analysis.measured_memory import MeasuredMemory, available_bytes, measure_memory
from incprof.analysis.memory import memory
from incprof.analysis.trace import trace_variant
from incprof.analysis.training import step_memory
from incprof.registry import get, list_variants

RECORD_KEYS = {
    "measured_tracker_peak_bytes",
    "measured_profiler_peak_bytes",
    "measured_memtracker_peak_bytes",
    "measured_cuda_peak_bytes",
    "measured_notes",
}
# The goal: the seed-002 blocks, every factorization variant and inception_v3.
AGREEMENT = [
    "block_naive",
    "block_reduced",
    "block_bn_factorized",
    *(v.name for v in list_variants("factorization")),
    "inception_v3",
]
# inception_v3 at batch 8: three real forwards of ~2 s each on two cores.
CASES = [
    pytest.param(
        name, batch, marks=[pytest.mark.slow] if (name, batch) == ("inception_v3", 8) else []
    )
    for name in AGREEMENT
    for batch in (1, 8)
]


def within(measured: int | None, analytic: int, share: float = 0.01) -> bool:
    return measured is not None and abs(measured - analytic) <= share * analytic


@pytest.fixture(scope="module")
def measured() -> dict[tuple[str, int], MeasuredMemory]:
    """Each entry measured once per module, on demand: inception_v3 at batch 8 takes a
    few seconds, and three tests read each."""
    return {}


def measured_of(cache: dict[tuple[str, int], MeasuredMemory], name: str, batch: int):
    if (name, batch) not in cache:
        cache[(name, batch)] = measure_memory(get(name), batch=batch)
    return cache[(name, batch)]


def conv_relu(inplace: bool) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=inplace))


def test_conv_relu_chain_peak_by_hand():
    # 8 channels × 8 × 8 fp32 = 2048 bytes a map. A ReLU that is not in place makes a
    # second map while the conv's is still held by Sequential's loop: 2 × 2048; in place,
    # it writes into the conv's: 2048. No pool, no workspace the trackers could differ on.
    apart = measure_memory(conv_relu(False), (3, 8, 8))
    inplace = measure_memory(conv_relu(True), (3, 8, 8))
    assert apart.tracker_peak_bytes == 4096
    assert inplace.tracker_peak_bytes == 2048
    assert apart.memtracker_peak_bytes == 4096
    assert inplace.memtracker_peak_bytes == 2048
    assert apart.profiler_peak_bytes >= 4096


def test_record_has_the_agreed_flat_keys():
    record = measure_memory(conv_relu(True), (3, 8, 8), batch=2).record()
    assert set(record) == RECORD_KEYS
    assert record["measured_tracker_peak_bytes"] == 2 * 2048
    assert record["measured_cuda_peak_bytes"] is None
    assert "cuda: not asked" in record["measured_notes"]
    assert "tracker:" in record["measured_notes"]


def python_visible_peak(trace) -> int:
    """The analytic peak as a function-level tracker sees it, derived from the trace:
    storages freed right after the op that made them (an eval max pool's int64 indices,
    batch norm's empty statistics) never reach Python, so leave them out."""
    sizes = {
        s.index: s.nbytes
        for s in trace.storages
        if s.role == "activation" and s.freed_before != s.producer + 1
    }
    live = peak = 0
    for op in trace.ops:
        live -= sum(
            sizes[s.index]
            for s in trace.storages
            if s.freed_before == op.index and s.index in sizes
        )
        live += sum(
            sizes[s.index] for s in trace.storages if s.producer == op.index and s.index in sizes
        )
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize(("name", "batch"), CASES)
def test_tracker_sees_the_analytic_peak_less_in_call_temporaries(measured, name, batch):
    trace = trace_variant(get(name), batch=batch)
    result = measured_of(measured, name, batch)
    assert result.tracker_peak_bytes == python_visible_peak(trace)
    assert result.tracker_peak_bytes <= memory(trace).activation_peak_bytes


@pytest.mark.parametrize(("name", "batch"), CASES)
def test_dispatch_level_methods_see_what_the_trace_sees(measured, name, batch):
    """MemTracker is a dispatch mode like the trace: it sees the max-pool indices the CPU
    computes and drops, and matches the analytic peak; the profiler sees them too, plus
    kernels' workspace, so it is never below it."""
    analytic = memory(trace_variant(get(name), batch=batch))
    result = measured_of(measured, name, batch)
    assert within(result.memtracker_peak_bytes, analytic.activation_peak_bytes)
    assert result.profiler_peak_bytes is not None
    assert result.profiler_peak_bytes >= analytic.activation_peak_bytes


def test_profiler_agrees_on_inception_v3(measured):
    # A whole network's peak sits between convolutions: no workspace is alive then.
    analytic = memory(trace_variant(get("inception_v3")))
    result = measured_of(measured, "inception_v3", 1)
    assert within(result.profiler_peak_bytes, analytic.activation_peak_bytes)


@pytest.mark.parametrize("name", ["block_reduced", "fact_5x5_two_3x3"])
def test_training_step_peak_agrees_with_analytic(name):
    variant = get(name)
    analytic = step_memory(trace_variant(variant, batch=2, training=True))
    result = measure_memory(variant, batch=2, train=True)
    assert within(result.tracker_peak_bytes, analytic.step_peak_bytes)
    assert within(result.memtracker_peak_bytes, analytic.step_peak_bytes)
    assert result.profiler_peak_bytes >= result.tracker_peak_bytes
    assert f"({analytic.optimizer_state_bytes} bytes in closed form)" in result.notes


def test_training_measurement_leaves_the_module_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.eval()
    stats = model[1].running_mean.clone()
    weight_grad = torch.ones_like(model[0].weight)
    model[0].weight.grad = weight_grad
    result = measure_memory(model, (3, 6, 6), batch=2, train=True)
    assert result.tracker_peak_bytes is not None
    assert not model.training and not model[1].training
    assert torch.equal(model[1].running_mean, stats)
    assert model[0].weight.grad is weight_grad
    assert model[0].bias.grad is None


def test_a_pass_that_does_not_fit_is_not_run():
    result = measure_memory(get("block_naive"), batch=10**6)
    assert (
        result.tracker_peak_bytes,
        result.profiler_peak_bytes,
        result.memtracker_peak_bytes,
        result.cuda_peak_bytes,
    ) == (None, None, None, None)
    match = re.fullmatch(r"not run: needs ~([\d.]+) GiB, ([\d.]+) GiB available", result.notes)
    assert match, result.notes
    # 10**6 × the batch-1 peak of 4,214,784 bytes, beside the input and weights.
    assert float(match[1]) > 4_214_784 * 10**6 / 2**30


def test_a_training_step_that_raises_is_one_line():
    # BatchNorm in AuxLogits sees a 1×1 map at batch 1.
    result = measure_memory(get("inception_v3"), batch=1, train=True)
    assert result.tracker_peak_bytes is None and result.profiler_peak_bytes is None
    assert "Expected more than 1 value per channel when training" in result.notes
    assert "\n" not in result.notes


class FailsOnData(nn.Module):
    """Traces on meta, then fails on real tensors, as a data-dependent check would."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_meta:
            raise RuntimeError("no real data here\nsecond line")
        return self.conv(x)


def test_a_forward_that_raises_on_data_is_one_line():
    result = measure_memory(FailsOnData(), (3, 4, 4))
    assert result.record() == {
        "measured_tracker_peak_bytes": None,
        "measured_profiler_peak_bytes": None,
        "measured_memtracker_peak_bytes": None,
        "measured_cuda_peak_bytes": None,
        "measured_notes": "the pass raised RuntimeError: no real data here",
    }


def test_a_module_needs_its_input_shape():
    with pytest.raises(ValueError, match="input shape"):
        measure_memory(conv_relu(True))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the column without a GPU")
def test_cuda_column_says_why_it_is_empty():
    result = measure_memory(conv_relu(True), (3, 8, 8), device="cuda")
    assert result.cuda_peak_bytes is None
    assert "cuda: no CUDA device" in result.notes
    assert result.tracker_peak_bytes == 2048


def test_memtracker_missing_is_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.distributed._tools.mem_tracker", None)
    result = measure_memory(conv_relu(True), (3, 8, 8))
    assert result.memtracker_peak_bytes is None
    assert "memtracker: not available here (ModuleNotFoundError" in result.notes
    assert result.tracker_peak_bytes == 2048


def test_available_bytes_reads_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  2048 kB\nMemAvailable:    1024 kB\n")
    assert available_bytes(meminfo) == 1024 * 1024
    assert available_bytes(tmp_path / "absent") is None
