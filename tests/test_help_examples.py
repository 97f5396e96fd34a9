"""Every example in every command's help runs as printed (from the repository root)."""

import shlex
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from incprof.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def help_examples() -> list[list[str]]:
    """The example command lines of ``incprof --help`` and of each command's ``--help``."""
    texts = [CliRunner().invoke(cli, ["--help"]).output]
    texts += [CliRunner().invoke(cli, [name, "--help"]).output for name in cli.commands]
    examples = []
    for text in texts:
        lines = text.split("Example", 1)[1].splitlines()[1:] if "Example" in text else []
        joined = "\n".join(line.strip() for line in lines).replace("\\\n", " ")
        for line in joined.splitlines():
            args = shlex.split(line.split("  #")[0])[1:] if line.startswith("incprof ") else []
            if args and args not in examples:  # the group's examples repeat some commands'
                examples.append(args)
    return examples


EXAMPLES = help_examples()


def test_every_command_shows_examples():
    shown = {args[0] for args in EXAMPLES}
    assert shown == set(cli.commands)
    assert len(EXAMPLES) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("args", EXAMPLES, ids=[" ".join(a) for a in EXAMPLES])
def test_help_example_runs(args, tmp_path, monkeypatch):
    # Read what the examples read from the repository; write what they write to a scratch
    # folder, so that no example touches the checkout.
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    if "cuda" in args and not torch.cuda.is_available():
        assert result.exit_code == 2
        assert result.output.strip().endswith("no CUDA GPU is available on this machine")
        return
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
