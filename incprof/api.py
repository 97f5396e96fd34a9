"""What each command computes, as plain functions returning flat records.

The CLI is a thin layer over these; scripts and notebooks can call them directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from incprof.analysis.analytic import CostAnalysis
from incprof.analysis.counters import COUNTERS, delta_pct, explain, macs_key, run_counter
from incprof.analysis.receptive_field import ReceptiveFieldAnalysis
from incprof.errors import InputError
from incprof.registry import (
    InputShape,
    RegistryError,
    Variant,
    error_line,
    list_variants,
    resolve,
)

# `incprof factorize`'s records: the study lives beside the paper's claims it checks.
from incprof.studies.factorization import factorize_records as factorize_records

if TYPE_CHECKING:
    from incprof.analysis.latency import CudaTimer

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


def parse_input(text: str | None) -> InputShape | None:
    """'3x299x299' -> (3, 299, 299)."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(
            f"--input must be CxHxW with positive integers, e.g. 3x299x299; got {text!r}"
        )
    return shape  # type: ignore[return-value]


def parse_list(text: str, allowed: Sequence[str], option: str) -> list[str]:
    """'fp32,bf16' -> ['fp32', 'bf16'], each checked against ``allowed``."""
    values = [v.strip() for v in text.split(",")]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InputError(
            f"{option} takes a comma-separated list of {', '.join(allowed)}; got {text!r}"
        )
    return values


def parse_batches(text: str) -> list[int]:
    """'1,32,256' -> [1, 32, 256]; an empty item ('1,,2') is a mistake, not a skip."""
    try:
        batches = [int(v) for v in text.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise InputError(f"--batch takes positive integers, e.g. 1,32,256; got {text!r}")
    return batches


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
    except RegistryError:
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
            f"{variant.name} failed on a {'x'.join(map(str, shape))} input: {error_line(exc)}"
        ) from None


class NeedsRealData(InputError):
    """A model whose forward reads tensor values (``.item()``, ``if x.sum() > 0``,
    ``nonzero``): the meta device has no values to give it."""


# What torch says when a meta tensor is asked for a value or a data-dependent shape.
_DATA_DEPENDENT = ("meta tensor", "data-independent", "data-dependent", "_local_scalar_dense")


def needs_real_data(exc: BaseException) -> bool:
    """Whether a meta-device forward failed for want of values rather than of size."""
    return any(marker in str(exc) for marker in _DATA_DEPENDENT)


def analysis(
    name: str,
    variant: Variant,
    input_shape: InputShape | None = None,
    *,
    batch: int = 1,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """The registered analyzer ``name`` (see :data:`incprof.analysis.ANALYZERS`) on the
    variant's trace; a forward pass that fails is an :class:`InputError` (see _on_input).
    Every analyzer of one (variant, input, batch) reads the same trace."""
    from incprof.analysis import analyzer
    from incprof.analysis.trace import trace_variant

    shape = input_shape or variant.input_for(overrides)
    run = analyzer(name)
    return _on_input(
        variant,
        shape,
        lambda: run(trace_variant(variant, input_shape=shape, batch=batch, overrides=overrides)),
    )


def analyze_variant(
    variant: Variant, input_shape: InputShape | None = None, *, batch: int = 1
) -> CostAnalysis:
    """Analytic cost (MACs, other ops, parameters)."""
    return analysis("cost", variant, input_shape, batch=batch)


def _runs_at(model: Any, shape: InputShape) -> bool:
    import torch

    try:
        with torch.no_grad():
            model(torch.empty((1, *shape), device="meta"))
    except Exception:  # whatever a model raises at this size, it does not run there
        return False
    return True


def smallest_square_input(variant: Variant, channels: int, *, limit: int = 1024) -> int | None:
    """The smallest H = W the variant runs at (meta-device forwards, so it is cheap).

    Bisects on the assumption that a network that runs at s runs at s + 1, then checks
    the answer and steps up past sizes that still fail (a few layouts, such as
    BN-Inception's, only run on some grids).
    """
    from incprof.analysis.trace import meta_model

    model = meta_model(variant).eval()
    if not _runs_at(model, (channels, limit, limit)):
        return None
    low, high = 1, limit
    while low < high:
        middle = (low + high) // 2
        if _runs_at(model, (channels, middle, middle)):
            high = middle
        else:
            low = middle + 1
    return next((s for s in range(low, limit + 1) if _runs_at(model, (channels, s, s))), None)


def _too_small(variant: Variant, shape: InputShape, exc: RuntimeError) -> InputError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = f"{variant.name} cannot run on a {'x'.join(map(str, shape))} input ({reason})"
    if not _runs_at_default_channels(variant, shape):
        return InputError(text)
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
    name: str, *, input_shape: InputShape | None = None, depth: int | None = 2
) -> tuple[CostAnalysis, list[dict[str, Any]]]:
    """The per-module breakdown of one variant."""
    analysis = analyze_variant(resolve(name, input_shape), input_shape)
    return analysis, analysis.by_module(depth)


def compare_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    counters: Sequence[str] = (),
    progress: Progress | None = None,
    warn: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per variant: analytic cost, and each named counter's MACs beside it.

    The final feature map's field: ``rf_size`` and ``rf_stride`` (None where no single
    field exists, ``rf_note`` says why), ``rf_aligned``; ``warn`` gets one line per
    variant whose branches meet misaligned."""
    records = []
    variants = [resolve(name, input_shape) for name in names]  # a bad name fails first
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(names)}] {variant.name}")
        analysis = analyze_variant(variant, input_shape)
        record = analysis.summary()
        shape = analysis.input_shape
        field = rf_analysis(variant, shape)
        final = field.final.record() if field.final else {}
        record["rf_size"] = final.get("size")
        record["rf_stride"] = final.get("stride")
        record["rf_aligned"] = final.get("aligned", field.aligned)
        record["rf_note"] = final.get("note", "no spatial feature map reaches the output")
        if warn and field.misalignments:
            warn(f"not aligned: {variant.name}: {'; '.join(field.misalignments)}")
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


RATIO_METRICS = ("params", "macs", "latency_ms")


def add_baseline_ratios(records: list[dict[str, Any]], baseline: str) -> None:
    """Add ``<metric>_vs_baseline`` (value / the baseline variant's value) to each record."""
    base = next((r for r in records if r["variant"] == baseline), None)
    if base is None:
        names = ", ".join(r["variant"] for r in records)
        raise InputError(f"--baseline {baseline!r} is not among the compared variants ({names})")
    for record in records:
        for metric in RATIO_METRICS:
            value, ref = record.get(metric), base.get(metric)
            if isinstance(value, int | float) and isinstance(ref, int | float) and ref:
                record[f"{metric}_vs_baseline"] = value / ref
            elif metric in base:
                record[f"{metric}_vs_baseline"] = None


# The keys of a compare record, in the order a table shows them: always, per measured
# counter, with latency columns, and with a reference variant (--baseline); the notes last.
# A test holds compare_records to these keys.
COMPARE_KEYS = (
    "variant",
    "input_shape",
    "params",
    "params_with_aux",
    "macs",
    "flops",
    "other_ops",
    "rf_size",
    "rf_stride",
    "rf_aligned",
    "rf_note",
)
LATENCY_KEYS = ("latency_ms", "latency_p10_ms", "latency_p90_ms", "images_per_s", "latency_config")
COMPARE_NOTES = ("unknown_ops", "counter_errors", "accuracy_source")


def compare_keys(
    counters: Sequence[str] = (), *, latency: bool = False, baseline: bool = False
) -> list[str]:
    """Every key a compare record can hold with these options, in column order."""
    keys = [*COMPARE_KEYS, *(macs_key(c) for c in counters), "top1", "top5"]
    if latency:
        keys += LATENCY_KEYS
    if baseline:
        keys += [f"{metric}_vs_baseline" for metric in RATIO_METRICS]
    notes = [k for k in COMPARE_NOTES if counters or k != "counter_errors"]
    return keys + notes


def sort_order(text: str, keys: Sequence[str]) -> tuple[str, bool]:
    """'-macs' -> ('macs', descending); checked against ``keys`` before any computing."""
    descending = text.startswith("-")
    key = text[1:] if descending else text
    if not key:
        raise InputError(f"--sort needs a column name, e.g. macs or -macs; got {text!r}")
    if key not in keys:
        raise InputError(f"--sort {key!r} is not a column; choose one of {', '.join(keys)}")
    return key, descending


def sort_records(
    records: list[dict[str, Any]], key: str, *, descending: bool = False
) -> list[dict[str, Any]]:
    """Sort by ``key``; blanks go last whichever the order."""
    present = [r for r in records if r.get(key) is not None]
    blank = [r for r in records if r.get(key) is None]
    return sorted(present, key=lambda r: r[key], reverse=descending) + blank


def read_json(path: str | Path) -> Any:
    """JSON from a file the user named; every way it can fail is one line."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not JSON: not UTF-8 text") from None


def latency_rows(data: Any, path: str | Path, *, parity: bool = True) -> list[dict[str, Any]]:
    """The latency records of a results file's JSON, each with its ``device_name``: a
    list (``incprof latency --save``), or a dict with ``sweep`` rows and, with ``parity``,
    the ``parity`` rows' own side (``ours_ms``, ``ours_status``) of benchmarks/bench_latency.py.
    """
    if isinstance(data, list):
        rows = data
    elif isinstance(data, dict):
        environment = data.get("environment") or {}
        # Where it ran: the device's name, and a CUDA version (null on the CPU).
        device = {key: environment[key] for key in ("device_name", "cuda") if key in environment}
        ours = [
            {**r, "median_ms": r.get("ours_ms"), "status": r.get("ours_status")}
            for r in (data.get("parity") or [] if parity else [])
            if isinstance(r, dict)
        ]
        sweep = data.get("sweep") or []
        rows = [
            {"device_name": None, **device, **r} for r in [*ours, *sweep] if isinstance(r, dict)
        ]
    else:
        rows = []
    if not rows or not all(isinstance(r, dict) and "variant" in r for r in rows):
        raise InputError(
            f"{path} holds no latency records (a list, or a dict with 'sweep' or 'parity')"
        )
    return rows


def load_latency_results(path: str) -> list[dict[str, Any]]:
    """Latency records saved by ``incprof latency --save`` or benchmarks/bench_latency.py."""
    return latency_rows(read_json(path), path)


def join_latency(
    records: list[dict[str, Any]], results: Sequence[dict[str, Any]], *, batch: int = 1
) -> list[str]:
    """Add latency columns from saved results: per variant, the ok row at ``batch`` and
    the record's input (a row that names none was measured at the variant's default),
    preferring fp32 eager, else the first such row. Returns the variants left blank."""
    missing = []
    for record in records:
        default = "x".join(map(str, resolve(record["variant"]).input_for()))
        rows = [
            r
            for r in results
            if r.get("variant") == record["variant"]
            and r.get("batch") == batch
            and r.get("status") == "ok"
            and (r.get("input_shape") or default) == record["input_shape"]
        ]
        rows.sort(key=lambda r: (r.get("dtype") != "fp32", r.get("mode") != "eager"))
        best = rows[0] if rows else {}
        if not best:
            missing.append(record["variant"])
        median = best.get("median_ms")
        record.update(
            latency_ms=median,
            latency_p10_ms=best.get("p10_ms"),
            latency_p90_ms=best.get("p90_ms"),
            # Parity files hold times only: throughput follows from the batch.
            images_per_s=best.get("images_per_s") or (1e3 * batch / median if median else None),
            # Saved files from elsewhere may lack a field: say what is there.
            latency_config=(
                ", ".join(
                    str(v)
                    for v in (
                        best.get("device_name", "unknown device"),
                        f"batch {batch}",
                        best.get("dtype"),
                        best.get("mode"),
                        best.get("layout"),
                    )
                    if v
                )
                if best
                else "no saved result"
            ),
        )
    return missing


def counter_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    counters: Sequence[str] = COUNTERS,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Records ``variant, counter, macs, delta_vs_analytic_pct, explanation``."""
    records = []
    for i, name in enumerate(names, 1):
        variant = resolve(name, input_shape)
        analysis = analyze_variant(variant, input_shape)
        records.append(
            {
                "variant": variant.name,
                "counter": "analytic",
                "macs": analysis.macs,
                "delta_vs_analytic_pct": 0.0,
                "explanation": "closed form: conv + linear multiply-accumulates, bias excluded",
            }
        )
        for counter in counters:
            if progress:
                progress(f"[{i}/{len(names)}] {variant.name}: {counter}")
            result = run_counter(counter, variant, analysis.input_shape, analysis)
            records.append(
                {
                    "variant": variant.name,
                    "counter": counter,
                    "macs": result.macs,
                    "delta_vs_analytic_pct": delta_pct(result.macs, analysis.macs),
                    "explanation": explain(result, analysis),
                }
            )
    return records


def latency_records(
    names: Sequence[str],
    *,
    batches: Sequence[int] = (1,),
    dtypes: Sequence[str] = ("fp32",),
    modes: Sequence[str] = ("eager",),
    channels_last: bool = False,
    device: str = "auto",
    input_shape: InputShape | None = None,
    progress: Progress | None = None,
    timer: CudaTimer | None = None,
    cpu_min_run_time: float = 1.0,
) -> list[dict[str, Any]]:
    """One record per (variant, batch, dtype, mode): median and spread, throughput, share
    of the device's measured peak, peak memory, and the environment. ``timer`` and
    ``cpu_min_run_time`` set how long each configuration is measured (GPU, CPU)."""
    from incprof.analysis.latency import DeviceError, resolve_device, sweep

    try:
        device = resolve_device(device)
    except DeviceError as exc:
        raise InputError(str(exc)) from None
    variants = [resolve(name, input_shape) for name in names]
    macs: dict[str, int | None] = {}
    shapes: dict[str, InputShape] = {}
    for variant in variants:
        shapes[variant.name] = input_shape or variant.input_for()
        try:
            macs[variant.name] = analyze_variant(variant, input_shape).macs
        except NeedsRealData:
            macs[variant.name] = None  # timed all the same; no TFLOP/s without MACs
    results = sweep(
        variants,
        macs=macs,
        input_shapes=shapes,
        batches=batches,
        dtypes=dtypes,
        modes=modes,
        channels_last=channels_last,
        device=device,
        progress=progress,
        timer=timer,
        cpu_min_run_time=cpu_min_run_time,
    )
    return [r.record() for r in results]
