"""Every example in every command's help runs as printed (from the repository root)."""

import shlex

import pytest
import torch
from click.testing import CliRunner
from scratch import CALIBRATE_ARGS, REPORT_ARGS, run_in_scratch

from incprof.cli import cli


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
# Examples whose run a session fixture holds (one full build, one timed calibration).
SHARED = {tuple(REPORT_ARGS): "report_build", tuple(CALIBRATE_ARGS): "quick_calibration"}


def test_every_command_shows_examples():
    shown = {args[0] for args in EXAMPLES}
    assert shown == set(cli.commands)
    assert len(EXAMPLES) >= 20


def _exports_read_by(args: list[str]) -> list[list[str]]:
    """The export examples that write the .onnx files ``args`` reads."""
    read = [a for i, a in enumerate(args) if a.endswith(".onnx") and args[i - 1] != "--onnx"]
    return [
        e for e in EXAMPLES if e[0] == "export" and any(e[e.index("--onnx") + 1] == f for f in read)
    ]


@pytest.mark.parametrize(
    "args",
    # Building the reports takes over 5 s; every other example well under.
    [pytest.param(a, marks=pytest.mark.slow if a[0] == "report" else ()) for a in EXAMPLES],
    ids=[" ".join(a) for a in EXAMPLES],
)
def test_help_example_runs(args, tmp_path, request, exports):
    # Read what the examples read from the repository; write what they write to a scratch
    # folder, so that no example touches the checkout.
    if tuple(args) in SHARED:  # the session's one run, which other tests check further
        result = request.getfixturevalue(SHARED[tuple(args)]).result
    elif args[0] == "export":  # exported once a session, for the examples that read it
        result = exports.run(args)
    else:
        for export in _exports_read_by(args):  # an ONNX file an example reads: made first
            assert exports.run(export).exit_code == 0
            (tmp_path / export[export.index("--onnx") + 1]).symlink_to(exports.file(export))
        result = run_in_scratch(args, tmp_path)
    if "cuda" in args and not torch.cuda.is_available():
        assert result.exit_code == 2
        assert result.output.strip().endswith("no CUDA GPU is available on this machine")
        return
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
