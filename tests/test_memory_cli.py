"""Where users see memory: `incprof memory`, and compare's and factorize's traffic columns.

The independent figures are worked out by hand for fact_5x5_two_3x3, two BasicConv2d
(3×3 conv 96→96, no bias → BN → in-place ReLU) on a 96×35×35 input, in eager order.
"""

import json

import pytest
from click.testing import CliRunner

from incprof.analysis.memory import memory
from incprof.analysis.trace import trace_variant
from incprof.analysis.training import backward, step_memory
from incprof.api import join_measured_memory, memory_records, step_memory_records
from incprof.cli import cli
from incprof.columns import (
    COMPARE_KEYS,
    MEASURED_MEMORY_KEYS,
    STEP_MEMORY_COLUMNS,
    in_units,
    unit_header,
)
from incprof.registry import get
from incprof.sources import resolve

TWO_3X3 = "fact_5x5_two_3x3"
MAP = 96 * 35 * 35 * 4  # one 96×35×35 fp32 activation: 470,400 bytes
WEIGHT = 96 * 96 * 3 * 3 * 4  # one 3×3 conv's weight
BN = 4 * 96 * 4  # weight, bias, running mean and var, read by batch norm
CONV_MACS = 96 * 96 * 3 * 3 * 35 * 35
# Per BasicConv2d: the conv reads its input and weight and writes a map; BN reads that map
# and its four vectors and writes a map; the in-place ReLU reads and writes it once.
TWO_3X3_BYTES_MOVED = 2 * ((MAP + WEIGHT + MAP + BN + MAP) + 3 * MAP)
# At the second BN: the first block's output (held by nn.Sequential until the block
# returns), the second conv's output and BN's output.
TWO_3X3_PEAK = 3 * MAP
TWO_3X3_PARAM_BYTES = 2 * (WEIGHT + 2 * 96 * 4)  # conv weights, BN weight and bias


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def cells_of(markdown_row: str) -> list[str]:
    return [cell.strip() for cell in markdown_row.strip("|").split("|")]


def records_of(*args: str) -> list[dict]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_memory_json_holds_the_analysis_and_hand_derived_figures():
    fp32, bf16 = records_of("memory", TWO_3X3, "--dtype", "fp32,bf16")
    analysis = memory(trace_variant(resolve(TWO_3X3)))
    step = backward(trace_variant(resolve(TWO_3X3)))
    assert fp32 == {
        **analysis.summary(),
        "backward_macs": step.backward_macs,
        "train_macs": step.train_macs,
    }
    assert fp32["bytes_moved"] == TWO_3X3_BYTES_MOVED == 6_311_424
    assert fp32["activation_peak_bytes"] == TWO_3X3_PEAK
    assert (fp32["peak_module"], fp32["peak_operator"]) == ("conv_3x3_2.bn", "native_batch_norm")
    assert fp32["input_bytes"] == MAP and fp32["flops"] == 2 * 2 * CONV_MACS
    # The first conv's input needs no gradient: weight gradient only; the second: both.
    assert fp32["backward_macs"] == 3 * CONV_MACS and fp32["train_macs"] == 5 * CONV_MACS
    assert fp32["arithmetic_intensity"] == 4 * CONV_MACS / TWO_3X3_BYTES_MOVED
    # Every storage is floating: bf16 halves each byte figure, MACs stay.
    assert bf16["dtype"] == "bf16"
    for key in ("activation_peak_bytes", "bytes_moved", "input_bytes", "parameter_bytes"):
        assert bf16[key] * 2 == fp32[key]
    assert bf16["train_macs"] == fp32["train_macs"]


def test_memory_table_shows_one_unit_per_column_and_csv_exact_bytes(tmp_path):
    table = run("memory", TWO_3X3).stdout.splitlines()
    header = table[0].split()
    assert {"activation_peak_mib", "input_kib", "mib_moved", "flop_per_byte"} <= set(header)
    assert "activation_peak_bytes" not in header
    row = dict(zip(header, table[2].split(), strict=True))
    assert row["activation_peak_mib"] == f"{TWO_3X3_PEAK / 2**20:.5g}"  # 1.3458
    assert row["input_kib"] == f"{MAP / 2**10:.5g}"  # 459.38
    markdown = run("memory", TWO_3X3, "--format", "markdown").stdout.splitlines()
    assert markdown[0].startswith("| variant") and "activation_peak_mib" in markdown[0]
    csv_lines = run("memory", TWO_3X3, "--format", "csv").stdout.splitlines()
    csv_row = dict(zip(csv_lines[0].split(","), csv_lines[1].split(","), strict=True))
    assert csv_row["activation_peak_bytes"] == str(TWO_3X3_PEAK)
    target = tmp_path / "memory.json"
    assert run("memory", TWO_3X3, "--format", "json", "--output", str(target)).exit_code == 0
    (saved,) = json.loads(target.read_text())
    assert saved["bytes_moved"] == TWO_3X3_BYTES_MOVED


def test_a_huge_batch_stays_exact_and_the_table_formats_it():
    batch = 10**9
    (record,) = records_of("memory", TWO_3X3, "--batch", str(batch))
    assert record["activation_peak_bytes"] == TWO_3X3_PEAK * batch
    assert record["bytes_moved"] == 2 * (6 * MAP * batch + WEIGHT + BN)  # weights read once
    header, _, row = run("memory", TWO_3X3, "--batch", str(batch)).stdout.splitlines()[:3]
    cells = dict(zip(header.split(), row.split(), strict=True))
    assert cells["batch"] == "1,000,000,000"
    assert cells["activation_peak_mib"] == f"{TWO_3X3_PEAK * batch / 2**20:,.0f}"


def test_memory_depth_gives_module_rows_then_the_total():
    rows = records_of("memory", TWO_3X3, "--depth", "1")
    assert [r["module"] for r in rows] == ["conv_3x3_1", "conv_3x3_2", "(total)"]
    *modules, total = rows
    assert total["bytes_moved"] == sum(r["bytes_moved"] for r in modules) == TWO_3X3_BYTES_MOVED
    assert total["live_peak_bytes"] == TWO_3X3_PEAK == modules[1]["live_peak_bytes"]
    assert modules[0]["live_peak_bytes"] == 2 * MAP  # its conv and BN outputs
    text = run("memory", TWO_3X3, "--depth", "1").stdout
    assert text.startswith(
        f"{TWO_3X3}  input 96x35x35  batch 1  fp32  activation peak 1.35 MiB (1,411,200 bytes)"
        " at conv_3x3_2.bn (native_batch_norm)\n"
    )
    assert "live_peak_mib" in text.splitlines()[2].split()


def test_memory_train_at_batch_2_on_blocks():
    sgd, adam = records_of("memory", TWO_3X3, "--train", "--batch", "2", "--optimizer", "sgd,adam")
    expected = step_memory(
        trace_variant(resolve(TWO_3X3), batch=2, training=True), optimizer="adam"
    ).summary()
    assert {k: adam[k] for k in expected} == expected
    assert list(adam) == list(STEP_MEMORY_COLUMNS) and adam["status"] == "ok"
    # By hand: every parameter is trained; SGD keeps one momentum copy, Adam two and a
    # float32 step per parameter tensor (2 conv weights, 2 BN weights and biases).
    assert sgd["gradient_bytes"] == adam["gradient_bytes"] == TWO_3X3_PARAM_BYTES
    assert sgd["optimizer_state_bytes"] == TWO_3X3_PARAM_BYTES
    assert adam["optimizer_state_bytes"] == 2 * TWO_3X3_PARAM_BYTES + 6 * 4
    assert sgd["input_bytes"] == 2 * MAP and sgd["train_macs"] == 2 * 5 * CONV_MACS
    (block,) = records_of("memory", "block_reduced", "--train", "--batch", "2")
    cost = records_of("compare", "block_reduced")[0]
    assert block["gradient_bytes"] == 4 * cost["params"]
    assert (
        block["step_peak_bytes"]
        == (
            step_memory(trace_variant(resolve("block_reduced"), batch=2, training=True))
        ).step_peak_bytes
    )


def test_a_training_step_that_cannot_run_is_a_skipped_row():
    both = run("memory", "user_models:pooled_bn_net", TWO_3X3, "--train", "--format", "json")
    assert both.exit_code == 0, both.output
    skipped, ran = json.loads(both.stdout)
    assert skipped["status"].startswith(
        "skipped: batch norm in train mode needs a batch of 2 or more here"
    )
    assert "Expected more than 1 value per channel" in skipped["status"]
    assert skipped["step_peak_bytes"] is None and ran["status"] == "ok"
    (warning,) = both.stderr.splitlines()
    assert warning.startswith("incprof: user_models:pooled_bn_net: skipped: batch norm")
    alone = run("memory", "user_models:pooled_bn_net", "--train")
    assert alone.exit_code == 2 and "Traceback" not in alone.output
    assert alone.stderr.startswith("incprof: error: no training step ran; user_models:")
    assert len(alone.stderr.splitlines()) == 1
    assert "skipped: batch norm" in alone.stdout  # the table is written all the same
    (at_two,) = records_of("memory", "user_models:pooled_bn_net", "--train", "--batch", "2")
    assert at_two["status"] == "ok"


def test_inception_v3_training_step_at_batch_1_says_to_use_batch_2():
    result = run("memory", "inception_v3", "--train")
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert "inception_v3: skipped: batch norm in train mode needs a batch of 2 or more" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dtype", "fp8"), "--dtype takes a comma-separated list of fp32, bf16, fp16; got 'fp8'"),
        (("--train", "--optimizer", "rmsprop"), "--optimizer takes a comma-separated list of sgd"),
        (("--optimizer", "adam"), "--optimizer sets the training step's optimizer; give --train"),
        (("block_reduced", "--depth", "1"), "--depth breaks down one VARIANT's modules; got 2"),
        (("--depth", "1", "--train"), "--depth breaks down the eval forward"),
        (("--input", "3x8"), "cannot run on a 3x8 input"),
        (("--batch", "0"), "--batch takes positive integers up to 2**31, e.g. 1,32,256; got '0'"),
    ],
)
def test_memory_bad_input_is_one_line_and_exit_2(args, message):
    result = run("memory", TWO_3X3, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_memory_unknown_variant_is_the_usual_line():
    result = run("memory", "fact_5x5_two_3x4")
    assert result.exit_code == 2
    assert "unknown variant 'fact_5x5_two_3x4'; did you mean fact_5x5_two_3x3" in result.output


def test_eval_max_pool_writes_its_indices():
    # The CPU and CUDA kernels allocate an eval max pool's int64 indices too (measured:
    # tests/test_measured_memory.py): 640 maps of 17×17, fp32 values and int64 indices.
    figures = memory(trace_variant(get("grid_conv_then_pool")))
    pool = figures.by_operator()["max_pool2d_with_indices"]
    assert pool["bytes_written"] == 640 * 17 * 17 * (4 + 8)
    assert pool["bytes_read"] == 640 * 35 * 35 * 4


class FakeMeasured:
    """What measure_memory returns, as the join reads it."""

    def __init__(self, peak: int) -> None:
        self.peak = peak

    def record(self) -> dict:
        return {
            "measured_tracker_peak_bytes": self.peak,
            "measured_profiler_peak_bytes": self.peak + 64,
            "measured_memtracker_peak_bytes": None,
            "measured_cuda_peak_bytes": None,
            "measured_notes": "fake",
            "measured_extra": "not joined",
        }


def test_join_measured_memory_measures_once_per_pass_in_fp32():
    calls = []

    def measure(variant, shape, *, batch, train, optimizer, device):
        calls.append((variant.name, shape, batch, train, optimizer, device))
        return FakeMeasured(1000 * batch)

    records = memory_records([TWO_3X3], batch=3, dtypes=("fp32", "bf16"))
    join_measured_memory(records, measure=measure)
    assert calls == [(TWO_3X3, (96, 35, 35), 3, False, "sgd", "cpu")]
    fp32, bf16 = records
    assert {k: fp32[k] for k in MEASURED_MEMORY_KEYS} == {
        "measured_tracker_peak_bytes": 3000,
        "measured_profiler_peak_bytes": 3064,
        "measured_memtracker_peak_bytes": None,
        "measured_cuda_peak_bytes": None,
        "measured_notes": "fake",
    }
    assert bf16["measured_tracker_peak_bytes"] is None
    assert bf16["measured_notes"].startswith("measured in fp32 only")
    steps = step_memory_records([TWO_3X3], batch=2, optimizers=("sgd", "adam"))
    calls.clear()
    join_measured_memory(steps, train=True, measure=measure)
    assert [c[3:5] for c in calls] == [(True, "sgd"), (True, "adam")]
    assert all("measured_extra" not in r for r in steps)


def test_unit_columns_are_pure_and_pick_one_unit_per_column():
    records = [{"bytes_moved": 512, "input_bytes": 3 * 2**20}, {"bytes_moved": 2**20 - 1}]
    shown, columns = in_units(records, ["bytes_moved", "input_bytes"])
    assert columns == ["kib_moved", "input_mib"]
    assert shown == [
        {"kib_moved": 0.5, "input_mib": 3.0},
        {"kib_moved": 1024 - 1 / 1024, "input_mib": None},
    ]
    assert records[0] == {"bytes_moved": 512, "input_bytes": 3 * 2**20}  # untouched
    assert unit_header("arithmetic_intensity_fp32", "MiB") == "flop_per_byte_fp32"


def test_compare_gains_memory_columns_after_other_ops():
    position = COMPARE_KEYS.index("other_ops")
    assert COMPARE_KEYS[position + 1 : position + 5] == (
        "activation_peak_bytes_fp32",
        "bytes_moved_fp32",
        "arithmetic_intensity_fp32",
        "train_macs",
    )
    (record,) = records_of("compare", TWO_3X3)
    assert record["activation_peak_bytes_fp32"] == TWO_3X3_PEAK
    assert record["bytes_moved_fp32"] == TWO_3X3_BYTES_MOVED
    assert record["arithmetic_intensity_fp32"] == 4 * CONV_MACS / TWO_3X3_BYTES_MOVED
    assert record["train_macs"] == 5 * CONV_MACS
    header, _, row = run("compare", TWO_3X3, "--format", "markdown").stdout.splitlines()[:3]
    cells = dict(zip(cells_of(header), cells_of(row), strict=True))
    assert cells["activation_peak_mib_fp32"] == f"{TWO_3X3_PEAK / 2**20:.5g}"
    assert cells["mib_moved_fp32"] == f"{TWO_3X3_BYTES_MOVED / 2**20:.5g}"  # 6.019
    assert "flop_per_byte_fp32" in cells and "train_macs" in cells


def test_compare_memory_columns_of_a_network_are_its_trace_figures():
    (record,) = records_of("compare", "inception_v3")
    trace = trace_variant(resolve("inception_v3"))
    figures = memory(trace, dtype="fp32")
    assert record["activation_peak_bytes_fp32"] == figures.activation_peak_bytes
    assert record["bytes_moved_fp32"] == figures.bytes_moved
    assert record["arithmetic_intensity_fp32"] == figures.arithmetic_intensity
    assert record["train_macs"] == backward(trace).train_macs
    assert record["flops"] == figures.flops  # the same convolutions and matmuls


def test_factorize_sets_traffic_beside_each_saving():
    records = {r["variant"]: r for r in records_of("factorize", "fact_5x5")}
    two, five = records[TWO_3X3], records["fact_5x5_conv5x5"]
    assert two["bytes_moved_fp32"] == TWO_3X3_BYTES_MOVED
    assert two["activation_peak_bytes_fp32"] == TWO_3X3_PEAK
    assert two["arithmetic_intensity_fp32"] == 4 * CONV_MACS / TWO_3X3_BYTES_MOVED
    # One block of a 5×5 conv: no intermediate map to write and read back.
    assert five["bytes_moved_fp32"] == 6 * MAP + 96 * 96 * 25 * 4 + BN
    assert five["activation_peak_bytes_fp32"] == 2 * MAP
    header = run("factorize", "fact_5x5").stdout.splitlines()[0].split()
    position = header.index("saving_pct")
    assert header[position + 1 : position + 4] == [
        "mib_moved_fp32",
        "activation_peak_mib_fp32",
        "flop_per_byte_fp32",
    ]
