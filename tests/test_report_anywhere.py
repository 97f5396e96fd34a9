"""`incprof report` from any directory: the measured results incprof comes with are found,
a user's own folder is added, and the pages name folders without a machine's paths."""

from test_hardening import assert_one_line_error, invoke

from incprof.report import build, measured_pages, writer
from incprof.report.writer import SHIPPED_RESULTS, results_folders


def test_the_shipped_results_are_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert results_folders() == [SHIPPED_RESULTS]
    assert any(SHIPPED_RESULTS.glob("latency*.json"))
    assert writer.shown(SHIPPED_RESULTS) == "benchmarks/results"  # relative to the checkout
    mine = tmp_path / "mine"
    mine.mkdir()
    assert results_folders([mine, SHIPPED_RESULTS]) == [SHIPPED_RESULTS, mine]
    assert writer.shown_all(results_folders([mine])) == "benchmarks/results, mine"


def test_a_latency_page_built_outside_the_repository_shows_the_measurements(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    latency = measured_pages.latency_page(writer.Writer(tmp_path / "out"), results_folders())
    assert "No latency results" not in latency
    assert "NVIDIA H100 80GB HBM3" in latency


# The second process itself is exercised by the session's report build (tests/conftest.py),
# whose counter-agreement page the golden test compares with the committed one.
def test_without_a_second_process_the_call_runs_here(monkeypatch):
    def no_processes(_context, _processes):
        raise OSError("no processes")

    monkeypatch.setattr("multiprocessing.context.SpawnContext.Pool", no_processes)
    with build._Beside(sorted, [3, 1, 2]) as beside:
        assert beside.pool is None
        assert beside.result() == [1, 2, 3]


def test_a_missing_results_folder_is_one_line(tmp_path):
    result = invoke("report", "--out", str(tmp_path / "out"), "--results", str(tmp_path / "nope"))
    assert_one_line_error(result, f"--results {tmp_path / 'nope'}: no such folder")
    assert not (tmp_path / "out").exists()
