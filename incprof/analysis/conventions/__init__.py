"""Which counting conventions reproduce a published cost figure, and what is left over.

A published "1.5 billion multiply-adds" or "5.71 GFLOPS" is one number under one
convention: MACs or FLOPs, 224 or 299 pixels, aux heads in or out, batch norm, bias adds,
activations and pooling counted by one tool's rules and not another's, batch norm folded
into the conv, one forward or a training step. This package enumerates those conventions
for one network and computes its figure under each, from the meta-device trace alone, so
that a claim can be checked against all of them at once.

The parts: :mod:`~incprof.analysis.conventions.rules` (each tool's rules, per operator),
:mod:`~incprof.analysis.conventions.figures` (the figures under every convention) and
:mod:`~incprof.analysis.conventions.claim` (a claim against them); every name is
importable from here.
"""

from incprof.analysis.conventions.claim import (
    DOES_NOT_HOLD,
    HOLDS,
    HOLDS_IN_OTHER_UNIT,
    ClaimCheck,
    Tried,
    check_claim,
    check_tolerance,
    check_unit,
    parse_value,
)
from incprof.analysis.conventions.figures import (
    AUX_BATCH,
    CLAIM_UNITS,
    DEFAULT_TOLERANCE_PCT,
    FORWARD,
    PAPER_SIZES,
    TRAINING_STEP,
    UNITS,
    Convention,
    Figure,
    cost_figures,
    param_figures,
)
from incprof.analysis.conventions.rules import RULES, Count, Op, Rule, forward_ops

__all__ = [
    "AUX_BATCH",
    "CLAIM_UNITS",
    "DEFAULT_TOLERANCE_PCT",
    "DOES_NOT_HOLD",
    "FORWARD",
    "HOLDS",
    "HOLDS_IN_OTHER_UNIT",
    "PAPER_SIZES",
    "RULES",
    "TRAINING_STEP",
    "UNITS",
    "ClaimCheck",
    "Convention",
    "Count",
    "Figure",
    "Op",
    "Rule",
    "Tried",
    "check_claim",
    "check_tolerance",
    "check_unit",
    "cost_figures",
    "forward_ops",
    "param_figures",
    "parse_value",
]
