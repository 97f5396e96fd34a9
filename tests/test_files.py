"""A write goes into what the user named: a symlink's target, the same mode, a device or a
pipe streamed to, a read-only file refused; never a replaced link, device or mode."""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from incprof.baseline import analytic_baseline
from incprof.cli import cli
from incprof.files import target, write_text

LIST_JSON = ["list", "--format", "json", "--tag", "block"]


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def listing() -> str:
    return invoke(*LIST_JSON).output


def run_incprof(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a child process: its own standard output and /dev/stdout."""
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
    return subprocess.run(
        [sys.executable, "-m", "incprof", *args], text=True, timeout=120, **streams
    )


def test_a_symlink_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "target.txt"
    real.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to("target.txt")
    result = invoke(*LIST_JSON, "--output", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "target.txt"
    assert real.read_text() == listing()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "target.txt"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to("made.txt")
    assert invoke(*LIST_JSON, "--output", link).exit_code == 0
    assert link.is_symlink() and (tmp_path / "made.txt").read_text() == listing()


def test_an_existing_file_keeps_its_mode(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old\n")
    path.chmod(0o640)
    assert invoke(*LIST_JSON, "--output", path).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == listing()


def test_a_read_only_file_is_refused_even_for_root(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("keep\n")
    path.chmod(0o444)
    result = invoke(*LIST_JSON, "--output", path)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"incprof: error: cannot write {path}: the file is read-only (mode 0444)"
    )
    assert path.read_text() == "keep\n" and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_check_update_refuses_a_read_only_baseline_before_computing(tmp_path, monkeypatch):
    path = tmp_path / "baseline.json"
    write_text(path, "{}")  # malformed: a check would fail with another message
    path.chmod(0o444)
    result = invoke("check", path, "--update")
    assert result.exit_code == 2
    assert "the file is read-only (mode 0444)" in result.output
    assert path.read_text() == "{}"


def test_a_hard_linked_file_is_rewritten_in_place(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old\n")
    other = tmp_path / "other-name.json"
    os.link(path, other)
    assert invoke(*LIST_JSON, "--output", path).exit_code == 0
    assert other.read_text() == listing()
    assert path.stat().st_ino == other.stat().st_ino


def test_a_full_device_is_exit_2_and_stays_a_device():
    result = invoke(*LIST_JSON, "--output", "/dev/full")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "incprof: error: cannot write /dev/full: No space left on device"
    )
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_dev_null_is_written_through():
    assert invoke(*LIST_JSON, "--output", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_pipe_is_streamed_to(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = invoke(*LIST_JSON, "--output", fifo)
    reader.join(timeout=30)
    assert result.exit_code == 0
    assert received == [listing().encode()]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dev_stdout_prints_and_stays_a_symlink():
    child = run_incprof(*LIST_JSON, "--output", "/dev/stdout")
    assert child.returncode == 0, child.stderr
    assert child.stdout == listing()
    assert Path("/dev/stdout").is_symlink()


def test_dev_stdout_redirected_to_a_file_writes_into_that_file(tmp_path):
    path = tmp_path / "redirected.json"
    with open(path, "w") as handle:
        child = run_incprof(*LIST_JSON, "--output", "/dev/stdout", stdout=handle)
    assert child.returncode == 0
    assert path.read_text() == listing()


def test_dash_is_standard_output():
    result = invoke(*LIST_JSON, "--output", "-")
    assert result.exit_code == 0 and result.output == listing()


def test_standard_output_on_a_full_device_is_exit_2():
    with open("/dev/full", "w") as full:
        child = run_incprof(*LIST_JSON, stdout=full, stderr=subprocess.PIPE)
    assert child.returncode == 2
    assert child.stderr.strip() == (
        "incprof: error: cannot write standard output: No space left on device"
    )


@pytest.mark.parametrize(
    "args",
    [[*LIST_JSON, "--output"], ["latency", "user_models:tiny_net", "--device", "cpu", "--save"]],
)
def test_an_empty_file_name_is_refused(args):
    result = invoke(*args, "")
    assert result.exit_code == 2
    assert "needs a file name, or - for standard output" in result.output


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        target(tmp_path)


def test_a_new_file_gets_the_mode_open_would_give(tmp_path):
    path = write_text(tmp_path / "new.json", "{}\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_update_of_a_baseline_through_a_symlink_keeps_link_and_mode(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("[]")
    real.chmod(0o600)
    link = tmp_path / "baseline.json"
    link.symlink_to(real)
    result = invoke("check", link, "--update", "--variants", "user_models:tiny_net")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert json.loads(real.read_text()) == analytic_baseline(["user_models:tiny_net"])
