"""The generated reports: reproducible bytes, complete links, Table 1 checks, latency page."""

from __future__ import annotations

import json
import re
import struct
from itertools import zip_longest
from pathlib import Path

import pytest
from scratch import ROOT, Run, once_per_run

from incprof.analysis.trace import meta_model
from incprof.report import markdown
from incprof.report.build import build_reports
from incprof.report.zoo import zoo_page, zoo_results
from incprof.sources import resolve
from incprof.studies.googlenet_table1 import (
    GOOGLENET_TABLE1,
    closest_reading,
    implied_params,
    parse_printed,
)

SMALL = ("googlenet", "bn_inception")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _build(out: Path, results: Path, **kwargs) -> list[Path]:
    return build_reports(out, results_dir=results, networks=SMALL, counters=("torch",), **kwargs)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A small report (two networks, one counter, no latency results) and what it wrote:
    built once a run, the workers of ``pytest -n`` reading the same (unwritten) files."""

    def make(folder: Path) -> Run:
        (folder / "results").mkdir()
        written = _build(folder / "out", folder / "results")
        return Run(0, "\n".join(str(p.relative_to(folder / "out")) for p in written), "", "")

    run, folder = once_per_run(tmp_path_factory, "small-report", make)
    return folder / "out", [folder / "out" / line for line in run.output.splitlines()]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _shown(line: bytes | None) -> str:
    return "(end of file)" if line is None else repr(line.decode("utf-8", "replace"))


def _first_difference(committed: dict[str, bytes], fresh: dict[str, bytes]) -> str | None:
    """Where a fresh build first departs from the committed files (a name, then a line, or
    a byte in a PNG); None when both hold the same names and bytes."""
    for name in sorted(committed.keys() | fresh.keys()):
        if name not in fresh:
            return f"{name} is committed, but a fresh build does not write it"
        if name not in committed:
            return f"{name} is written by a fresh build, but not committed"
        old, new = committed[name], fresh[name]
        if old == new:
            continue
        if name.endswith(".png"):
            pairs = enumerate(zip(old, new, strict=False))
            offset = next((i for i, (a, b) in pairs if a != b), min(len(old), len(new)))
            return (
                f"{name} differs from byte {offset} ({len(old)} bytes committed, {len(new)} fresh)"
            )
        lines = enumerate(zip_longest(old.split(b"\n"), new.split(b"\n")), start=1)
        number, was, now = next((n, a, b) for n, (a, b) in lines if a != b)
        return f"{name} line {number} differs: committed {_shown(was)}, fresh {_shown(now)}"
    return None


@pytest.mark.slow
def test_committed_reports_are_what_incprof_report_writes(report_build):
    # Golden check: the committed reports/ is byte for byte what `incprof report` writes
    # now, so a change that moves a figure cannot land without its rebuilt pages.
    assert report_build.result.exit_code == 0, report_build.result.output
    fresh = _files(report_build.folder)
    difference = _first_difference(_files(ROOT / "reports"), fresh)
    assert difference is None, f"reports/{difference}; run `incprof report` and commit"
    assert f"incprof: wrote {len(fresh)} files under reports\n" in report_build.result.output


def test_first_difference_names_the_file_and_the_line():
    page = b"# title\n| a | 1 |\n"
    assert _first_difference({"x.md": page}, {"x.md": page}) is None
    assert _first_difference({"x.md": page}, {"x.md": page.replace(b"1", b"2")}) == (
        "x.md line 2 differs: committed '| a | 1 |', fresh '| a | 2 |'"
    )
    assert _first_difference({"x.md": page}, {"x.md": page + b"more"}) == (
        "x.md line 3 differs: committed '', fresh 'more'"
    )
    assert _first_difference({"x.md": page}, {"x.md": page[:-1]}) == (
        "x.md line 3 differs: committed '', fresh (end of file)"
    )
    assert _first_difference({"p.png": b"\x89PNGab"}, {"p.png": b"\x89PNGac"}) == (
        "p.png differs from byte 5 (6 bytes committed, 6 fresh)"
    )
    assert _first_difference({"p.png": b"\x89PNG"}, {"p.png": b"\x89PNGa"}) == (
        "p.png differs from byte 4 (4 bytes committed, 5 fresh)"
    )
    assert _first_difference({"x.md": page}, {}) == (
        "x.md is committed, but a fresh build does not write it"
    )
    assert _first_difference({"x.md": page}, {"x.md": page, "y.md": page}) == (
        "y.md is written by a fresh build, but not committed"
    )


def test_build_writes_exactly_the_files_it_returns(build):
    out, written = build
    files = _files(out)
    # Exactly the files it says it wrote, and no temp files left behind.
    assert sorted(str(p.relative_to(out)) for p in written) == sorted(files)
    assert not [name for name in files if name.endswith(".tmp")]


def test_expected_pages_and_plots(build):
    a, _ = build
    names = set(_files(a))
    assert {
        "README.md",
        "family.md",
        "analyzers.md",
        "factorization.md",
        "blocks.md",
        "counters.md",
        "latency.md",
        "googlenet_table1.md",
        "claims.md",
        "memory.md",
        "predict.md",
        "zoo.md",
        "networks/googlenet.md",
        "networks/bn_inception.md",
        "plots/top1_vs_macs.png",
        "plots/top1_vs_params.png",
        "plots/rf_googlenet.png",
        "plots/rf_bn_inception.png",
        "plots/memory_googlenet.png",
        "plots/memory_bn_inception.png",
        "plots/roofline_googlenet.png",
        "plots/roofline_bn_inception.png",
    } == names


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))


def test_index_links_every_page_and_every_link_resolves(build):
    a, _ = build
    index = a / "README.md"
    linked = {(a / link).resolve() for link in _links(index)}
    pages = {p.resolve() for p in a.rglob("*.md") if p.name != "README.md"}
    assert pages == linked
    assert "incprof report" in index.read_text(encoding="utf-8")
    for page in a.rglob("*.md"):
        for link in _links(page):
            assert (page.parent / link).is_file(), f"{page.name} links to missing {link}"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == PNG_SIGNATURE
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def test_pngs_are_valid_and_carry_no_time_or_software(build):
    from PIL import Image

    a, _ = build
    pngs = sorted(a.rglob("*.png"))
    assert pngs
    for png in pngs:
        chunks = _chunks(png.read_bytes())
        kinds = [kind for kind, _ in chunks]
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
        assert b"tIME" not in kinds  # no modification time
        text = b" ".join(body for kind, body in chunks if kind in (b"tEXt", b"iTXt", b"zTXt"))
        assert b"Software" not in text and b"Date" not in text
        with Image.open(png) as image:
            image.verify()
            width, height = image.size
        assert width >= 600 and height >= 400  # fixed size at 120 dpi, big enough to read


def test_printed_figures_parse():
    assert parse_printed("2.7K") == (2.7, "K", 0.1)
    assert parse_printed("1072K") == (1072.0, "K", 1.0)
    assert parse_printed("34M") == (34.0, "M", 1.0)


def test_table1_closed_form_and_readings():
    rows = {row.type: row for row in GOOGLENET_TABLE1}
    # inception (3a) reads 192 channels: 192·(64 + 96 + 16 + 32) + 9·96·128 + 25·16·32
    # = 39,936 + 110,592 + 12,800 = 163,328 weights; 163,328 / 1024 = 159.5 -> "159K".
    implied = implied_params(rows["inception (3a)"], 192)
    assert implied.weights == 163_328
    assert implied.biases == 64 + 96 + 128 + 16 + 32 + 32
    assert closest_reading("159K", {"weights only": implied.weights}).within_rounding
    # inception (4c) reads 512: 512·(128 + 128 + 24 + 64) + 9·128·256 + 25·24·64
    # = 176,128 + 294,912 + 38,400 = 509,440, i.e. 497.5K or 509.4K, never "463K".
    implied = implied_params(rows["inception (4c)"], 512)
    assert implied.weights == 509_440
    reading = closest_reading("463K", {"w": implied.weights, "wb": sum(implied)})
    assert not reading.within_rounding
    assert reading.gap_pct == pytest.approx(100 * (463 * 1024 / 509_440 - 1))
    # The linear layer: 1024·1000 = 1,024,000 = exactly 1000 K of 1024.
    assert closest_reading("1000K", {"w": 1_024_000}).gap_pct == 0


def _row(page: str, label: str) -> str:
    return next(line for line in page.splitlines() if line.startswith(f"| {label} "))


def test_table1_page_marks_rows_that_disagree_with_their_widths(build):
    a, _ = build
    page = (a / "googlenet_table1.md").read_text(encoding="utf-8")
    assert "arXiv 1409.4842" in page
    for label in ("inception (4c)", "inception (5a)"):
        assert "params ✗" in _row(page, label)
        assert f"**{label}**: printed params" in page
    for label in ("inception (3a)", "inception (3b)", "linear"):
        assert _row(page, label).rstrip(" |").endswith("ok")
    # Ops follow from the widths except for conv1 and 5a: 7·7·3·64 · 112·112 = 118,013,952
    # MACs against a printed 34M; 5a's 51,079,168 against 54M.
    assert "118,013,952" in page and "51,079,168" in page
    assert "ops ✗" in _row(page, "inception (5a)")
    assert "ops ✗" not in _row(page, "inception (5b)")


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_pages_say_whether_each_receptive_field_is_aligned(build):
    a, _ = build
    family = (a / "family.md").read_text(encoding="utf-8")
    header = _cells(_row(family, "variant"))
    aligned = header.index("rf_aligned")
    assert header[aligned - 1] == "rf_stride"
    # bn_inception (pretrainedmodels' layout) concats misaligned branches in 3c and 4e
    assert _cells(_row(family, "[bn_inception](networks/bn_inception.md)"))[aligned] == "no"
    assert _cells(_row(family, "[googlenet](networks/googlenet.md)"))[aligned] == "yes"
    bn = (a / "networks" / "bn_inception.md").read_text(encoding="utf-8")
    assert "- final receptive field 699 px, effective stride 32 px, not aligned (see below)" in bn
    assert "- not aligned: concat in inception_3c" in bn
    rf_table = bn.split("## Receptive field per end point")[1]
    rf_header = _cells(_row(rf_table, "endpoint"))
    assert rf_header[rf_header.index("padding") + 1] == "aligned"
    column = rf_header.index("aligned")
    assert _cells(_row(rf_table, "inception_3b"))[column] == "yes"
    assert _cells(_row(rf_table, "inception_3c"))[column] == "no"
    googlenet = (a / "networks" / "googlenet.md").read_text(encoding="utf-8")
    assert "effective stride 32 px, aligned\n" in googlenet


def _table_rows(page: str, header_label: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header starts with ``header_label``."""
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_label} "))
    header = _cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, _cells(line), strict=True)))
    return rows


def _number(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_memory_page_marks_each_peak_with_its_module(build):
    a, _ = build
    page = (a / "memory.md").read_text(encoding="utf-8")
    rows = {r["variant"]: r for r in _table_rows(page, "variant")}
    assert list(rows) == ["googlenet", "bn_inception"]
    # googlenet (no BN): conv1's 64×112×112 map is alive while maxpool1 writes its 64×56×56
    # output and, on the trace's (cuda) convention, its int64 indices.
    conv1 = 64 * 112 * 112 * 4
    googlenet = conv1 + 64 * 56 * 56 * 4 + 64 * 56 * 56 * 8
    # bn_inception: conv1's map and its batch norm's, both 64×112×112, before the ReLU.
    bn_inception = 2 * conv1
    for name, peak, module in (
        ("googlenet", googlenet, "maxpool1"),
        ("bn_inception", bn_inception, "conv1.bn"),
    ):
        row = rows[name]
        assert _number(row["activation_peak_bytes_fp32"]) == peak
        assert row["peak_module"] == module
        section = page.split(f"## {name}\n")[1]
        assert f"![{name}: live activation memory over the forward]" in section
        assert f"Peak: {peak:,} bytes" in section and f"at `{module} (" in section
        step = {r["kind"]: _number(r["bytes"]) for r in _table_rows(section, "kind")}
        assert step["gradients"] == step["optimizer state"]  # SGD: one buffer each
        assert step["input"] == 8 * 3 * 224 * 224 * 4  # batch 8
        assert step["total at the step peak"] == _number(row["step_total_peak_bytes_sgd"])
        # Adam keeps a second copy of each trained parameter and a 4-byte step per tensor
        # (every parameter trains: googlenet's aux heads run in train mode).
        tensors = sum(1 for _ in meta_model(resolve(name)).parameters())
        adam = _number(row["step_total_peak_bytes_adam"])
        assert adam - step["total at the step peak"] == step["gradients"] + 4 * tensors


def test_memory_page_says_why_a_step_was_not_priced():
    section = {
        "variant": "m",
        "plot": "plots/memory_m.png",
        "peak_op": 1,
        "ops": 3,
        "peak_bytes": 2048,
        "peak_at": "1 (relu)",
        "input_bytes": 768,
        "parameter_bytes": 448,
        "buffer_bytes": 0,
        "at_peak": [{"module": "0", "operator": "convolution", "shape": "1x4x8x8", "bytes": 1024}],
        "alive_at_peak": 2,
        "step": [],
        "step_note": "m cannot run a training step at batch 8 (why)",
    }
    summary = {"variant": "m", "step_note": section["step_note"]}
    page = markdown.memory_page([summary], [section], step_batch=8, step_optimizer="sgd")
    assert "Not priced: m cannot run a training step at batch 8 (why)" in page
    assert _table_rows(page, "variant")[0]["step_note"] == section["step_note"]
    assert "The 1 largest of the 2 tensors alive at the peak" in page
    assert "| 0        | convolution | 1x4x8x8 |   1,024 |     0 |" in page


def test_factorization_page_prices_the_traffic_of_each_alternative(build):
    a, _ = build
    page = (a / "factorization.md").read_text(encoding="utf-8")
    family = page.split("## fact_5x5\n")[1]
    rows = {r["variant"]: r for r in _table_rows(family, "variant")}
    # On 96×35×35 (fp32 map m), each conv → BN → in-place ReLU (no conv bias) moves: conv
    # reads m and its weight and writes m; BN reads m and 4 vectors of 96, writes m; the
    # ReLU reads and writes m. The peak is a conv's map and its BN's (2m), and with two
    # 3×3 also the first block's output, which Sequential holds while the second runs.
    m = 96 * 35 * 35 * 4
    bn = 4 * 96 * 4
    one_5x5 = 6 * m + 96 * 96 * 25 * 4 + bn
    two_3x3 = 2 * (6 * m + 96 * 96 * 9 * 4 + bn)
    for name, moved, peak in (
        ("fact_5x5_conv5x5", one_5x5, 2 * m),
        ("fact_5x5_two_3x3", two_3x3, 3 * m),
    ):
        row = rows[name]
        assert _number(row["bytes_moved_fp32"]) == moved
        assert _number(row["activation_peak_bytes_fp32"]) == peak
        flops = 2 * _number(row["macs"])
        assert float(row["arithmetic_intensity_fp32"]) == pytest.approx(flops / moved, rel=1e-4)
    assert "[memory page](memory.md)" in page


def test_network_page_without_a_field_says_why():
    reason = "transposed conv, stride 2×2, in 1: field varies with position"
    summary = {
        "variant": "m",
        "input_shape": "3x16x16",
        "params": 1,
        "params_with_aux": 1,
        "macs": 1,
        "flops": 2,
        "other_ops": 0,
        "rf_size": None,
        "rf_stride": None,
        "rf_aligned": True,
        "rf_note": reason,
    }
    entry = {"family": "user", "top1": None, "reproduces": "", "differences": ""}
    rows = [{"endpoint": "1", "size": None, "stride": None, "padding": None, "aligned": True}]
    rows[0].update(note=reason, output_shape=(1, 4, 16, 16))
    page = markdown.network_page(
        summary=summary,
        entry=entry,
        modules=[],
        top_modules=[],
        top_share_pct=0.0,
        rf_rows=rows,
        rf_notes=[],
        rf_plot="p.png",
    )
    assert f"- no final receptive field: {reason}" in page
    assert _cells(_row(page, "1")) == ["1", "", "", "", "yes", reason, "1×4×16×16"]
    overview = markdown.overview_page([summary], links={}, plots=[])
    header = _cells(_row(overview, "variant"))
    assert header[header.index("rf_aligned") + 1] == "rf_note"
    assert reason in _row(overview, "m")


def test_latency_page_without_results_says_so(build):
    a, _ = build
    page = (a / "latency.md").read_text(encoding="utf-8")
    assert "No latency results" in page
    assert "|" not in page  # no table, no numbers


def _sweep_row(variant: str, batch: int, status: str = "ok") -> dict:
    ok = status == "ok"
    return {
        "variant": variant,
        "input_shape": "3x224x224",
        "batch": batch,
        "dtype": "bf16",
        "mode": "eager",
        "layout": "channels_last",
        "status": status,
        "median_ms": 2.0 * batch if ok else None,
        "p10_ms": 1.9 * batch if ok else None,
        "p90_ms": 2.2 * batch if ok else None,
        "iqr_ms": 0.1 if ok else None,
        "repetitions": 100 if ok else None,
        "images_per_s": 500.0 if ok else None,
        "tflops": 3.0 if ok else None,
        "peak_tflops": 700.0,
        "peak_share_pct": 0.43 if ok else None,
        "peak_memory_mib": 80.0 if ok else None,
        "device_name": "Test GPU 9000",
        "torch": "2.11.0",
        "cuda": "12.8",
        "cudnn": 91000,
        "date": "2031-02-03",
    }


def test_latency_page_states_device_and_date_from_the_results(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    environment = {
        "device_name": "Test GPU 9000",
        "torch": "2.11.0",
        "cuda": "12.8",
        "cudnn": 91000,
        "date": "2031-02-03",
    }
    sweep = [_sweep_row("googlenet", 1), _sweep_row("googlenet", 8, "out of memory")]
    (results / "latency_sweep_test.json").write_text(
        json.dumps({"environment": environment, "sweep": sweep})
    )
    parity = {
        "variant": "googlenet",
        "reference": None,
        "batch": 1,
        "mode": "eager",
        "dtype": "bf16",
        "layout": "channels_last",
        "ours_ms": 2.0,
        "reference_ms": None,
        "ratio": None,
        "within_5pct": False,
        "ours_status": "ok",
        "reference_status": "no reference installed",
    }
    # Two measured pairs: eager 3.0 vs 2.0 ms (+50%), graph 0.99 vs 1.0 ms (-1%).
    pairs = [
        {**parity, "reference": "ref.net", "ours_ms": 3.0, "reference_ms": 2.0, "ratio": 1.5},
        {
            **parity,
            "reference": "ref.net",
            "mode": "graph",
            "ours_ms": 0.99,
            "reference_ms": 1.0,
            "ratio": 0.99,
            "within_5pct": True,
        },
    ]
    (results / "latency_parity_test.json").write_text(
        json.dumps(
            {
                "environment": environment,
                "method": "ours, then the reference",
                "parity": [parity, *pairs],
                "timer_checks": {},
            }
        )
    )
    out = tmp_path / "out"
    written = build_reports(out, results_dir=results, networks=("googlenet",), counters=())
    page = (out / "latency.md").read_text(encoding="utf-8")
    assert "No latency results" not in page
    assert "Test GPU 9000" in page and "2031-02-03" in page
    assert "out of memory" in page
    assert "rows without a reference time: 1" in page
    assert "1 of 2 measured pairs within 5%" in page
    assert "Method: ours, then the reference" in page
    assert "mode eager: 0 of 1 within 5%, largest gap +50.0% (googlenet, batch 1)" in page
    assert "mode graph: 1 of 1 within 5%, largest gap -1.0%" in page
    assert (out / "plots/latency_parity_test_parity.png") in written
    assert (out / "plots/latency_sweep_test_eager_latency.png") in written
    assert (out / "plots/latency_sweep_test_eager_peak_share.png") in written
    assert not (out / "counters.md").exists()
    assert "counters.md" not in (out / "README.md").read_text(encoding="utf-8")


def test_latency_page_shows_host_work_and_reference_versions(tmp_path):
    host = {
        "variant": "googlenet",
        "reference": "torchvision.googlenet",
        "ours_aten_ops": 254,
        "reference_aten_ops": 254,
        "ours_module_calls": 224,
        "reference_module_calls": 224,
        "ours_host_ms": 35.25,
        "reference_host_ms": 35.5,
        "host_ratio": 0.993,
        "status": "ok",
    }
    pair = {
        "variant": "googlenet",
        "reference": "torchvision.googlenet",
        "batch": 1,
        "mode": "eager",
        "dtype": "fp32",
        "layout": "contiguous",
        "ours_ms": 29.5,
        "reference_ms": 30.0,
        "ratio": 0.983,
        "within_5pct": True,
        "ours_status": "ok",
        "reference_status": "ok",
    }
    environment = {
        "device_name": "cpu (x86_64, 2 threads)",
        "torch": "2.13.0",
        "date": "2031-02-04",
        "references": {"torchvision": "0.28.0", "timm": None},
    }
    saved = {"environment": environment, "host": [host], "parity": [pair]}
    (tmp_path / "latency_parity_cpu-2-threads.json").write_text(json.dumps(saved))
    out = tmp_path / "out"
    build_reports(out, results_dir=tmp_path, networks=("googlenet",), counters=())
    page = (out / "latency.md").read_text(encoding="utf-8")
    assert "torchvision 0.28.0" in page and "timm" not in page
    assert "### Host work of one eager forward" in page
    host_row = next(line for line in page.splitlines() if "35.25" in line)
    assert host_row.startswith("| googlenet ")
    assert [cell.strip() for cell in host_row.split("|")[3:10]] == [
        "254",
        "254",
        "224",
        "224",
        "35.25",
        "35.5",
        "0.993",
    ]
    assert "1 of 1 measured pairs within 5%" in page


def test_nothing_is_removed(tmp_path):
    out = tmp_path / "out"
    (out / "networks").mkdir(parents=True)
    keep = out / "networks" / "mine.md"
    keep.write_text("not the builder's\n")
    build_reports(out, results_dir=tmp_path / "none", networks=("googlenet",), counters=())
    assert keep.read_text() == "not the builder's\n"


def test_zoo_page_shows_each_saved_total_and_every_model(tmp_path):
    saved = Path(__file__).parents[1] / "benchmarks" / "results"
    results = zoo_results(saved)
    assert results, "benchmarks/check_zoo.py's results are committed"
    page = zoo_page(results, folder="benchmarks/results")
    cells = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in page.splitlines()
        if line.startswith("|")
    ]
    for result in results:
        for kind, s in result["summary"]["kinds"].items():
            assert [kind, *map(str, (s["models"], s["rows"], s["pass"], s["crash"]))] in [
                row[:5] for row in cells
            ]
        shown = {(row[0], row[1].split(" ")[0]) for row in cells}
        assert {(r["kind"], r["model"]) for r in result["rows"]} <= shown
    assert "No zoo results" in zoo_page(zoo_results(tmp_path), folder="x")
