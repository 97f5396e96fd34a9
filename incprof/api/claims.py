"""``incprof claim``: every counting convention's figure for a network and the check of a
published figure against them; apart because it traces at several inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from incprof.api.records import Progress, _on_input, analysis
from incprof.errors import InputError
from incprof.parse import Inputs, shape_text
from incprof.registry import InputShape, Variant
from incprof.sources import resolve


def claim_figures(
    variant: Variant,
    input_shapes: Sequence[InputShape] = (),
    *,
    progress: Progress | None = None,
) -> tuple[list[Any], list[str]]:
    """Every convention's figure for ``variant`` (see :mod:`incprof.analysis.conventions`): at
    its default input, each of ``input_shapes``, and the papers' 224 and 299 (3-channel
    networks); aux heads in where the network has any. Returns the figures and a note per
    convention that could not be computed (a paper size the network cannot run, an aux
    head too small for it). A default or asked-for input that fails is an InputError."""
    from incprof.analysis.conventions import PAPER_SIZES, cost_figures, param_figures
    from incprof.analysis.trace import trace_variant
    from incprof.analysis.training import backward

    default = variant.input_for()
    asked = [default, *input_shapes]
    image = not isinstance(default, Inputs) and len(default) == 3
    papers = [s for s in PAPER_SIZES if image and default[0] == s[0]]
    shapes = list(dict.fromkeys([*asked, *papers]))
    has_aux = None
    figures: list[Any] = []
    notes: list[str] = []
    default_traces: tuple[Any, Any] | None = None
    for i, shape in enumerate(shapes, 1):
        if progress:
            progress(f"[{i}/{len(shapes)}] {variant.name} at {shape_text(shape)}")
        try:
            trace = _on_input(variant, shape, lambda s=shape: trace_variant(variant, input_shape=s))
        except InputError as exc:
            if shape in asked:
                raise
            notes.append(f"not at {shape_text(shape)}: {exc}")
            continue
        if has_aux is None:
            has_aux = any(not p.used for p in trace.parameters)
        aux = _aux_trace(variant, shape, notes) if has_aux else None
        step = backward(trace)
        figures += cost_figures(
            trace, step.train_macs, _macs_by_category(variant, shape, step), aux
        )
        if default_traces is None:
            default_traces = (trace, aux)
    if default_traces is not None:
        figures += param_figures(*default_traces)
    return figures, notes


def _aux_trace(variant: Variant, shape: InputShape, notes: list[str]) -> Any:
    """The training-mode trace that runs the aux heads, or None (and a note) where they
    cannot run at ``shape``."""
    from incprof.analysis.conventions import AUX_BATCH
    from incprof.analysis.trace import trace_variant

    try:
        return _on_input(
            variant,
            shape,
            lambda: trace_variant(variant, input_shape=shape, batch=AUX_BATCH, training=True),
        )
    except InputError as exc:
        notes.append(f"aux heads not at {shape_text(shape)}: {exc}")
        return None


def _macs_by_category(variant: Variant, shape: InputShape, step: Any) -> dict[str, float]:
    """Forward MACs per operator category, plus the backward pass's conv and linear MACs."""
    by_category: dict[str, float] = {}
    for record in analysis("cost", variant, shape).records:
        if record.macs:
            by_category[record.category] = by_category.get(record.category, 0) + record.macs
    for _index, _module, operator, macs in step.per_op:
        category = "conv" if "conv" in operator else "linear"
        by_category[category] = by_category.get(category, 0) + macs
    return by_category


def claim_check(
    name: str,
    value: float,
    *,
    unit: str = "auto",
    tolerance_pct: float | None = None,
    input_shapes: Sequence[InputShape] = (),
    at_most: bool = False,
    progress: Progress | None = None,
) -> tuple[Any, list[str]]:
    """Check a published figure for ``name`` against every counting convention (see
    :func:`incprof.analysis.conventions.check_claim`); returns the check and the notes of
    :func:`claim_figures`. Bad input (unit, tolerance, name) fails before any tracing."""
    from incprof.analysis.conventions import (
        DEFAULT_TOLERANCE_PCT,
        check_claim,
        check_tolerance,
        check_unit,
    )

    check_unit(unit)
    tolerance = check_tolerance(DEFAULT_TOLERANCE_PCT if tolerance_pct is None else tolerance_pct)
    if not value > 0:
        raise InputError(f"VALUE must be positive; got {value}")
    variant = resolve(name, input_shapes[0] if input_shapes else None)
    figures, notes = claim_figures(variant, input_shapes, progress=progress)
    check = check_claim(
        variant.name, figures, value, unit=unit, tolerance_pct=tolerance, at_most=at_most
    )
    return check, notes
