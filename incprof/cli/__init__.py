"""The ``incprof`` command: the group here, one thin click command per module beside it
(``listing`` is ``incprof list``), the options they share in :mod:`incprof.cli.options` and
the one output path of every ``--format`` in :mod:`incprof.cli.output`.

Each command imports what it computes with inside its function, so that ``incprof --help``
and ``--version`` start without importing torch."""

from __future__ import annotations

from typing import Any

import click

from incprof import __version__
from incprof.cli import (
    analyze,
    calibrate,
    check,
    claim,
    compare,
    counters,
    export,
    factorize,
    latency,
    listing,
    memory,
    predict,
    report,
    rf,
    show,
)
from incprof.cli.output import BadInput
from incprof.errors import InputError

EXAMPLES = """\b
Examples:
  incprof list --tag network
  incprof compare                          # the main Inception family
  incprof compare googlenet_tv inception_v3 --counters torch,fvcore
  incprof show inception_v3 --depth 1
  incprof analyze inception_v3             # every registered analyzer's figures
  incprof counters googlenet_tv --format markdown
  incprof claim googlenet_tv 1.5G          # which conventions give 1.5 billion
  incprof memory inception_v3 --train --batch 2   # training-step memory by kind
  incprof predict inception_v3 --device h100-sxm --batch 1,256 --mode eager,graph
  incprof show incprof.models.googlenet:build_googlenet_tv   # any package.module:callable
  incprof report --out reports/
"""

# click >= 8.2 shows the help through this usage error when no command is given.
_SHOWS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _usage_line(exc: click.UsageError, ctx: click.Context) -> BadInput:
    """click's usage error (a bad option value, a missing argument) as one line."""
    where = exc.ctx.command_path if exc.ctx else ctx.command_path
    return BadInput(f"{exc.format_message()} (see '{where} --help')")


class IncprofGroup(click.Group):
    """Turns the library's input errors and click's usage errors into exit code 2 with
    one line, never a traceback or a usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if isinstance(exc, _SHOWS_HELP):
                raise
            raise _usage_line(exc, ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        from incprof.errors import RegistryError

        try:
            return super().invoke(ctx)
        except (InputError, RegistryError) as exc:
            raise BadInput(str(exc)) from None
        except KeyboardInterrupt:
            # 130 as a shell reports Ctrl-C; 1 is what `check` means by "regressed".
            click.echo("incprof: interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except click.UsageError as exc:
            raise _usage_line(exc, ctx) from None


@click.group(
    cls=IncprofGroup, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="incprof")
def cli() -> None:
    """What each Inception design decision costs: exact MACs, parameters, receptive
    fields and latency for GoogLeNet, BN-Inception, Inception-v3/v4, Inception-ResNet
    and their factorization variants.

    MACs are multiply-accumulates of convolutions and linear layers (bias excluded,
    batch 1, eval path); FLOPs = 2 × MACs; everything else is other_ops.
    """


COMMANDS: tuple[click.Command, ...] = (
    listing.list_command,
    show.show_command,
    analyze.analyze_command,
    compare.compare_command,
    counters.counters_command,
    latency.latency_command,
    calibrate.calibrate_command,
    memory.memory_command,
    predict.predict_command,
    factorize.factorize_command,
    claim.claim_command,
    rf.rf_command,
    export.export_command,
    report.report_command,
    check.check_command,
)
for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="incprof")
