"""Records of the static analyses: the registry listing, one variant's analysis, ``show``,
``rf`` and ``compare``. The base the other api modules build on (``analysis``, ``Progress``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from incprof.analysis.analytic import CostAnalysis
from incprof.analysis.counters import run_counter
from incprof.analysis.receptive_field import ReceptiveFieldAnalysis
from incprof.columns import RATIO_METRICS, macs_key
from incprof.errors import InputError, error_line, needs_real_data
from incprof.parse import Inputs, shape_text
from incprof.registry import InputShape, RegistryError, Variant, list_variants
from incprof.sources import resolve

# The networks `incprof compare` shows when it is given none.
MAIN_FAMILY = (
    "googlenet",
    "bn_inception",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v1",
    "inception_resnet_v2",
)

Progress = Callable[[str], None]


def list_records(tag: str | None = None) -> list[dict[str, Any]]:
    """One record per registered entry: what it is and what it reproduces."""
    return [
        {
            "variant": v.name,
            "family": v.family,
            "tag": v.tag,
            "input_shape": "x".join(map(str, v.input_shape)),
            "reproduces": v.reproduces,
            "differences": v.differences,
            "top1": v.accuracy.top1 if v.accuracy else None,
            "top5": v.accuracy.top5 if v.accuracy else None,
            "accuracy_source": v.accuracy.source if v.accuracy else "",
        }
        for v in list_variants(tag)
    ]


T = TypeVar("T")


def _on_input(variant: Variant, shape: InputShape, run: Callable[[], T]) -> T:
    """Run an analyzer, turning a forward pass that fails into one line for the user:
    'input too small' with the smallest that runs, or what the model's code raised."""
    try:
        return run()
    except (RegistryError, InputError):
        raise
    except (RuntimeError, NotImplementedError) as exc:
        if needs_real_data(exc):
            raise NeedsRealData(
                f"{variant.name} reads tensor values in its forward ({error_line(exc)[:120]}):"
                " the analysis runs on the meta device, without data, so it cannot price it;"
                " 'incprof latency' runs real tensors and can time it"
            ) from None
        if isinstance(exc, NotImplementedError):
            raise InputError(f"{variant.name} failed: {error_line(exc)}") from None
        raise _too_small(variant, shape, exc) from None
    except Exception as exc:  # a user's forward raising is their model's problem, not a crash
        raise InputError(
            f"{variant.name} failed on a {shape_text(shape)} input: {error_line(exc)}"
        ) from None


class NeedsRealData(InputError):
    """A model whose forward reads tensor values (``.item()``, ``if x.sum() > 0``,
    ``nonzero``): the meta device has no values to give it."""


def analysis(
    name: str,
    variant: Variant,
    input_shape: InputShape | None = None,
    *,
    batch: int = 1,
    overrides: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """The registered analyzer ``name`` (see :data:`incprof.analysis.ANALYZERS`) on the
    variant's trace (a training step's for :data:`~incprof.analysis.STEP_ANALYZERS`),
    given ``options`` (``dtype=`` …); a forward pass that fails is an
    :class:`InputError` (see _on_input). Every analyzer of one (variant, input, batch)
    reads the same trace."""
    from incprof.analysis import analyzer
    from incprof.profiling import variant_profile

    shape = input_shape or variant.input_for(overrides)
    analyzer(name)  # an unknown name is the caller's error, before any trace
    return _on_input(
        variant,
        shape,
        lambda: variant_profile(variant, shape, batch=batch, overrides=overrides).analysis(
            name, **options
        ),
    )


def analyze_variant(
    variant: Variant, input_shape: InputShape | None = None, *, batch: int = 1
) -> CostAnalysis:
    """Analytic cost (MACs, other ops, parameters)."""
    return analysis("cost", variant, input_shape, batch=batch)


def _too_small(variant: Variant, shape: InputShape, exc: RuntimeError) -> InputError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = f"{variant.name} cannot run on a {shape_text(shape)} input ({reason})"
    if (
        isinstance(shape, Inputs)
        or len(shape) != 3
        or not _runs_at_default_channels(variant, shape)
    ):
        return InputError(text)
    from incprof.analysis.input_size import smallest_square_input

    smallest = smallest_square_input(variant, shape[0])
    if smallest is not None and smallest > min(shape[1:]):
        text += f"; the smallest square input that runs is {shape[0]}x{smallest}x{smallest}"
    return InputError(text)


def _runs_at_default_channels(variant: Variant, shape: InputShape) -> bool:
    """A channel mismatch is not a size problem: no smallest size to suggest then."""
    return shape[0] == variant.input_for()[0]


def rf_analysis(variant: Variant, input_shape: InputShape | None = None) -> ReceptiveFieldAnalysis:
    """Receptive fields of each end point and of the final feature map."""
    return analysis("receptive_field", variant, input_shape)


def rf_records(
    name: str, *, input_shape: InputShape | None = None
) -> tuple[ReceptiveFieldAnalysis, list[dict[str, Any]]]:
    """``endpoint, size, stride, padding, aligned, note`` per end point and for the final
    feature map: sizes are None where no single field exists (``note`` says why), and
    ``aligned`` is false past a merge of misaligned branches on the way to that map."""
    analysis = rf_analysis(resolve(name, input_shape), input_shape)
    return analysis, analysis.records()


def show_records(
    name: str | Variant, *, input_shape: InputShape | None = None, depth: int | None = 2
) -> tuple[CostAnalysis, list[dict[str, Any]]]:
    """The per-module breakdown of one variant (a name, or one already resolved)."""
    variant = name if isinstance(name, Variant) else resolve(name, input_shape)
    analysis = analyze_variant(variant, input_shape)
    return analysis, analysis.by_module(depth)


def source_note(variant: Variant) -> str:
    """What a graph read from a file differs by from its PyTorch module (ONNX: what the
    exporter folded); empty for the registry's modules."""
    return variant.differences if variant.family == "onnx" else ""


def compare_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    counters: Sequence[str] = (),
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per variant: analytic cost, and each named counter's MACs beside it.

    The final feature map's field: ``rf_size`` and ``rf_stride`` (None where no single
    field exists, ``rf_note`` says why), ``rf_aligned``, and ``alignment_note``: where
    branches meet misaligned (empty: nowhere), a fact about the field, not a warning.
    The keys: :func:`incprof.columns.compare_keys`."""
    records = []
    variants = [resolve(name, input_shape) for name in names]  # a bad name fails first
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(names)}] {variant.name}")
        analysis = analyze_variant(variant, input_shape)
        shape = analysis.input_shape if input_shape is None else input_shape
        record = analysis.summary()
        unknown_ops = record.pop("unknown_ops")  # stays last of the cost keys
        record.update(memory_figures(variant, shape), unknown_ops=unknown_ops)
        record["source_note"] = source_note(variant)
        field = rf_analysis(variant, shape)
        final = field.final.record() if field.final else {}
        record["rf_size"] = final.get("size")
        record["rf_stride"] = final.get("stride")
        record["rf_aligned"] = final.get("aligned", field.aligned)
        record["rf_note"] = final.get("note", "no spatial feature map reaches the output")
        record["alignment_note"] = "; ".join(field.misalignments)
        accuracy = variant.accuracy
        record["top1"] = accuracy.top1 if accuracy else None
        record["top5"] = accuracy.top5 if accuracy else None
        record["accuracy_source"] = accuracy.source if accuracy else ""
        default = variant.input_for()
        if accuracy and shape != default:
            # Published accuracy holds at the input it was measured at, not at another.
            record.update(
                top1=None,
                top5=None,
                accuracy_source=f"published at {'x'.join(map(str, default))}, not this input",
            )
        errors = []
        for counter in counters:
            result = run_counter(counter, variant, shape, analysis)
            record[macs_key(counter)] = result.macs
            if result.error:
                errors.append(result.error)
        if counters:
            # A counter that failed leaves its cell blank; this says why.
            record["counter_errors"] = "; ".join(errors)
        records.append(record)
    return records


def memory_figures(variant: Variant, input_shape: InputShape | None = None) -> dict[str, Any]:
    """What compare and factorize show of memory: activation peak, bytes moved and
    intensity of the eval forward (batch 1, fp32), and forward + backward MACs, read
    from the same trace as the MACs."""
    figures = analysis("memory", variant, input_shape, dtype="fp32")
    return {
        "activation_peak_bytes_fp32": figures.activation_peak_bytes,
        "bytes_moved_fp32": figures.bytes_moved,
        "arithmetic_intensity_fp32": figures.arithmetic_intensity,
        "train_macs": analysis("backward", variant, input_shape).train_macs,
    }


def add_baseline_ratios(records: list[dict[str, Any]], baseline: str) -> None:
    """Add ``<metric>_vs_baseline`` (value / the baseline variant's value) to each record."""
    base = next((r for r in records if r["variant"] == baseline), None)
    if base is None:
        names = ", ".join(r["variant"] for r in records)
        raise InputError(f"{baseline!r} is not among the compared variants ({names})")
    for record in records:
        for metric in RATIO_METRICS:
            value, ref = record.get(metric), base.get(metric)
            if isinstance(value, int | float) and isinstance(ref, int | float) and ref:
                record[f"{metric}_vs_baseline"] = value / ref
            elif metric in base:
                record[f"{metric}_vs_baseline"] = None


def sort_records(
    records: list[dict[str, Any]], key: str, *, descending: bool = False
) -> list[dict[str, Any]]:
    """Sort by ``key``; blanks go last whichever the order."""
    present = [r for r in records if r.get(key) is not None]
    blank = [r for r in records if r.get(key) is None]
    return sorted(present, key=lambda r: r[key], reverse=descending) + blank


def analyzer_figures(
    names: Sequence[str], *, batch: int = 1
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every registered analyzer's record for each registry network at ``batch``, by
    network then analyzer: what ``incprof.profile(name, batch=batch).figures()`` gives
    (the report's analyzers page shows each, so an analyzer registered in one line is
    on it)."""
    from incprof.profiling import profile

    return {name: profile(name, batch=batch).figures() for name in names}
