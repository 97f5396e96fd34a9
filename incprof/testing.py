"""Cost budgets for users' own test suites: a test fails when a model outgrows its budget.

    from incprof.testing import assert_budget

    def test_the_model_fits_the_phone():
        assert_budget("mypkg.models:build_net", macs=600e6, params=5e6, input="3x224x224")

The figures are incprof's analytic ones (``macs``: conv + linear multiply-accumulates,
bias excluded, eval path; ``params``: used by the eval forward, aux heads excluded), so a
budget means the same thing as a number in ``incprof compare``. Memory and training
budgets follow ``incprof memory``: ``peak_memory`` is the activation peak of the eval
forward in bytes and ``bytes_moved`` its traffic in bytes (fp32, unfused eager),
``train_macs`` the forward + backward MACs of a training step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch import nn

from incprof.analysis.analytic import CostAnalysis
from incprof.analysis.trace import meta_copy
from incprof.api import analysis, analyze_variant
from incprof.errors import InputError
from incprof.parse import parse_input_shape
from incprof.registry import InputShape, Variant
from incprof.sources import DEFAULT_USER_INPUT, resolve


def _input_shape(value: str | Sequence[int] | None) -> InputShape | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else "x".join(map(str, value))
    try:
        return parse_input_shape(text)
    except InputError:
        raise ValueError(
            f"input must be a shape without the batch, any rank: (3, 224, 224), '3x224x224' "
            f"or '128'; got {value!r}"
        ) from None


def _module_variant(model: nn.Module, shape: InputShape | None) -> Variant:
    """A module instance as a user variant, so it gets the same too-small-input help."""
    return Variant(
        name=type(model).__name__,
        family="user",
        tag="user",
        # A copy on the meta device: the analyzers never touch the caller's weights.
        builder=lambda: meta_copy(model),
        input_shape=shape or DEFAULT_USER_INPUT,
        reproduces="user model",
    )


def _by(value: int, budget: float) -> str:
    pct = 100 * (value - budget) / budget
    # One MAC over is over: never say "by 0.0%".
    return f" by {pct:.1f}%" if pct >= 0.05 else " by less than 0.1%"


def assert_budget(
    model_or_name: str | nn.Module,
    *,
    macs: float | None = None,
    params: float | None = None,
    params_with_aux: float | None = None,
    peak_memory: float | None = None,
    bytes_moved: float | None = None,
    train_macs: float | None = None,
    input: str | Sequence[int] | None = None,
    batch: int = 1,
) -> CostAnalysis:
    """Fail with a readable AssertionError when a figure is over its budget.

    ``model_or_name``: a registered name, ``package.module:callable``, or an ``nn.Module``.
    ``input``: one float input's shape without the batch, any rank: (C, H, W) or
    'CxHxW', (C, L) … (default: the variant's own; 3x224x224 for user
    models). ``macs``, ``train_macs``, ``peak_memory`` (largest live activation bytes of
    the eval forward, input and weights apart) and ``bytes_moved`` (bytes read and
    written by the eval forward's ops) count a batch of ``batch``, in fp32. Returns the
    cost analysis, so a test can assert more (``.by_module()``, ``.unknown_ops()``).
    """
    __tracebackhide__ = True  # pytest shows the budget line, not this function
    budgets = {
        "macs": macs,
        "params": params,
        "params_with_aux": params_with_aux,
        "peak_memory": peak_memory,
        "bytes_moved": bytes_moved,
        "train_macs": train_macs,
    }
    given = {metric: budget for metric, budget in budgets.items() if budget is not None}
    if not given:
        # A call that checks nothing would pass forever: a silent, useless test.
        raise ValueError(
            "give at least one budget: macs=, params=, params_with_aux=, peak_memory=,"
            " bytes_moved= or train_macs="
        )
    for metric, budget in given.items():
        if not budget > 0:  # NaN too
            raise ValueError(f"the {metric} budget must be positive; got {budget!r}")
    shape = _input_shape(input)
    if isinstance(model_or_name, nn.Module):
        variant = _module_variant(model_or_name, shape)
    else:
        variant = resolve(model_or_name, shape)
    cost = analyze_variant(variant, shape, batch=batch)
    figures = _figures(variant, cost, given.keys(), batch)
    over = []
    for metric, budget in given.items():
        value = figures[metric]
        if value > budget:
            over.append(f"{metric} {value:,} exceed the budget {budget:,.0f}{_by(value, budget)}")
    if over:
        raise AssertionError(f"{cost.variant}: {'; '.join(over)}")
    return cost


def _figures(
    variant: Variant, cost: CostAnalysis, metrics: Iterable[str], batch: int
) -> dict[str, int]:
    """The figures the budgets name; memory and backward are analysed only when asked."""
    wanted = set(metrics)
    figures = {m: getattr(cost, m) for m in ("macs", "params", "params_with_aux")}
    if wanted & {"peak_memory", "bytes_moved"}:
        memory = analysis("memory", variant, cost.input_shape, batch=batch)
        figures["peak_memory"] = memory.activation_peak_bytes
        figures["bytes_moved"] = memory.bytes_moved
    if "train_macs" in wanted:
        figures["train_macs"] = analysis(
            "backward", variant, cost.input_shape, batch=batch
        ).train_macs
    return figures
