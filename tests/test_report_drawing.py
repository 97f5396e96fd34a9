"""Plots drawn in a second process: the same bytes as drawn here, and a plot that fails
fails the build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from incprof.report import plots
from incprof.report.drawing import Drawer, second_process

ROWS = [
    {"variant": v, "platform": "cpu", "fit": "fitted", "mode": "eager", **times}
    for v, times in (
        ("a", {"measured_ms": 1.0, "predicted_ms": 1.2}),
        ("b", {"measured_ms": 3.0, "predicted_ms": 2.5}),
    )
]


def broken_plot(rows: list[dict], path: Path, *, title: str) -> None:
    raise ValueError(f"cannot draw {title}")


def test_a_plot_from_the_second_process_is_the_one_drawn_here(tmp_path: Path) -> None:
    with Drawer() as drawer:
        drawer.plot(tmp_path / "there.png", plots.predicted_scatter, ROWS, {"title": "t"})
        drawer.wait()
    Drawer().plot(tmp_path / "here.png", plots.predicted_scatter, ROWS, {"title": "t"})
    assert (tmp_path / "there.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def test_a_plot_that_fails_in_the_second_process_raises_and_writes_nothing(
    tmp_path: Path,
) -> None:
    with Drawer() as drawer:
        drawer.plot(tmp_path / "x.png", broken_plot, ROWS, {"title": "x"})
        with pytest.raises(ValueError, match="cannot draw x"):
            drawer.wait()
    assert list(tmp_path.iterdir()) == []


def test_the_second_process_waits_passively_and_leaves_this_ones_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's OpenMP threads sleep while they wait (unless the user chose a
    policy); this process's environment is as it was."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    pool = second_process()
    try:
        assert pool.apply(os.getenv, ("OMP_WAIT_POLICY",)) == "PASSIVE"
    finally:
        pool.terminate()
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    pool = second_process()
    try:
        assert pool.apply(os.getenv, ("OMP_WAIT_POLICY",)) == "ACTIVE"
    finally:
        pool.terminate()
