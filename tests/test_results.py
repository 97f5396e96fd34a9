"""The results and baselines JSON layer: one reader for every shape of results file, one
writer, and the device names files are keyed on."""

import json
import os
import subprocess
import sys

import pytest

from incprof.errors import InputError
from incprof.results import (
    device_slug,
    latency_rows,
    load_latency_results,
    read_json,
    write_json,
)

ROW = {"variant": "inception_v3", "batch": 8, "dtype": "fp32", "mode": "eager"}


def test_a_saved_list_is_read_as_it_is(tmp_path):
    """``incprof latency --save`` rows carry their own device: nothing is added."""
    path = tmp_path / "saved.json"
    path.write_text(json.dumps([{**ROW, "median_ms": 12.5, "device_name": "cpu (2 threads)"}]))
    assert load_latency_results(path) == [
        {
            "variant": "inception_v3",
            "batch": 8,
            "dtype": "fp32",
            "mode": "eager",
            "median_ms": 12.5,
            "device_name": "cpu (2 threads)",
        }
    ]


def test_sweep_rows_take_the_files_device_and_cuda_version(tmp_path):
    path = tmp_path / "latency_sweep.json"
    data = {
        "environment": {"device_name": "GPU X", "cuda": "12.8", "torch": "2.11"},
        "sweep": [{**ROW, "median_ms": 3.0, "status": "ok"}],
    }
    path.write_text(json.dumps(data))
    # torch's version stays in the environment: a row gets where it ran, nothing more.
    assert load_latency_results(path) == [
        {
            "device_name": "GPU X",
            "cuda": "12.8",
            "variant": "inception_v3",
            "batch": 8,
            "dtype": "fp32",
            "mode": "eager",
            "median_ms": 3.0,
            "status": "ok",
        }
    ]


def test_parity_rows_give_our_side_and_can_be_left_out(tmp_path):
    path = tmp_path / "latency_parity.json"
    parity = {**ROW, "ours_ms": 2.0, "ours_status": "ok", "reference_ms": 2.2}
    data = {"environment": {"cuda": None}, "parity": [parity]}
    path.write_text(json.dumps(data))
    (row,) = load_latency_results(path)
    # No device name in the environment: the row says so; a null CUDA version is a CPU's.
    assert row == {
        "device_name": None,
        "cuda": None,
        **parity,
        "median_ms": 2.0,
        "status": "ok",
    }
    with pytest.raises(InputError, match="holds no latency records"):
        latency_rows(data, path, parity=False)  # the report reads parity rows apart


@pytest.mark.parametrize(
    "data",
    [
        "just a string",
        [],
        {"environment": {"device_name": "GPU X"}},
        [{"batch": 1, "median_ms": 1.0}],  # a row that names no variant
    ],
)
def test_a_file_without_latency_records_is_refused_in_one_line(tmp_path, data):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as caught:
        load_latency_results(path)
    assert str(caught.value) == (
        f"{path} holds no latency records (a list, or a dict with 'sweep' or 'parity')"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read {path}: No such file or directory"),
        (b"{", "{path} is not JSON: Expecting property name enclosed in double quotes at line 1"),
        (b"\xff\xfe\x00", "{path} is not JSON: not UTF-8 text"),
    ],
)
def test_read_json_failures_are_one_line(tmp_path, content, message):
    path = tmp_path / "file.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_json(path)
    assert str(caught.value) == message.format(path=path)


def test_write_json_is_indented_with_a_final_newline_and_keeps_the_mode(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_json(path, {"sweep": [{"variant": "v", "batch": 1}]})
    assert path.read_text() == (
        '{\n  "sweep": [\n    {\n      "variant": "v",\n      "batch": 1\n    }\n  ]\n}\n'
    )
    assert os.stat(path).st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("device", "slug"),
    [
        ("NVIDIA H100 80GB HBM3", "h100-80gb-hbm3"),
        ("NVIDIA H200", "h200"),
        ("AMD EPYC 7B13", "amd-epyc-7b13"),
        ("Intel(R) Xeon(R) Processor (2 threads)", "intel-r-xeon-r-processor-2-threads"),
        ("NVIDIA RTX PRO 6000 Blackwell Max-Q", "rtx-pro-6000-blackwell-max-q"),
    ],
)
def test_device_slug(device, slug):
    assert device_slug(device) == slug


def test_the_file_layer_loads_no_torch():
    """``incprof compare --results`` and the command line's option checks read files and
    parse options before anything imports torch."""
    code = (
        "import sys; import incprof.results, incprof.parse, incprof.columns;"
        " assert 'torch' not in sys.modules, 'torch imported'"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
