"""What each command computes, as plain functions returning flat records.

The CLI is a thin layer over these; scripts and notebooks can call them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from incprof.analysis.analytic import CostAnalysis
from incprof.analysis.counters import COUNTERS, delta_pct, explain, run_counter
from incprof.analysis.receptive_field import ReceptiveFieldAnalysis
from incprof.columns import RATIO_METRICS, macs_key
from incprof.errors import InputError, error_line, needs_real_data
from incprof.parse import Inputs, shape_text
from incprof.registry import InputShape, RegistryError, Variant, list_variants
from incprof.run_settings import DEFAULT_DEVICE_PROFILE as DEFAULT_PROFILE
from incprof.sources import resolve

# `incprof factorize`'s records: the study lives beside the paper's claims it checks.

if TYPE_CHECKING:
    from incprof.analysis.latency import CudaTimer
    from incprof.analysis.memory import MemoryAnalysis
    from incprof.analysis.predict import Prediction
    from incprof.analysis.profiles import DeviceProfile

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
    from incprof.analysis import STEP_ANALYZERS, analyzer
    from incprof.analysis.trace import trace_variant

    training = name in STEP_ANALYZERS
    shape = input_shape or variant.input_for(overrides)
    run = analyzer(name)
    return _on_input(
        variant,
        shape,
        lambda: run(
            trace_variant(
                variant, input_shape=shape, batch=batch, overrides=overrides, training=training
            ),
            **options,
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
    from incprof.analysis.latency import resolve_device, sweep

    device = resolve_device(device)  # a missing GPU is a DeviceError, an InputError
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


def memory_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtypes: Sequence[str] = ("fp32",),
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per (variant, dtype): the eval forward's activation peak and where it
    occurs, input, parameter and buffer bytes, bytes moved and arithmetic intensity (see
    :meth:`~incprof.analysis.memory.MemoryAnalysis.summary`), and beside them the
    training step's ``backward_macs`` and ``train_macs`` at this batch."""
    records = []
    variants = [resolve(name, input_shape) for name in names]  # a bad name fails first
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(variants)}] {variant.name}")
        step = analysis("backward", variant, input_shape, batch=batch)
        for dtype in dtypes:
            figures = analysis("memory", variant, input_shape, batch=batch, dtype=dtype)
            records.append(
                {
                    **figures.summary(),
                    "backward_macs": step.backward_macs,
                    "train_macs": step.train_macs,
                }
            )
    return records


# The ``module`` of the row that sums a network in ``incprof memory --depth``.
TOTAL_ROW = "(total)"


def memory_module_records(
    name: str,
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtypes: Sequence[str] = ("fp32",),
    depth: int | None = 2,
) -> tuple[list[MemoryAnalysis], list[dict[str, Any]]]:
    """Per dtype, one variant's modules (at most ``depth`` deep), each with its subtree's
    bytes, FLOPs, intensity and the most live activation bytes while it ran, then a
    ``(total)`` row for the network (its live peak is the activation peak)."""
    variant = resolve(name, input_shape)
    analyses = []
    rows = []
    for dtype in dtypes:
        figures = analysis("memory", variant, input_shape, batch=batch, dtype=dtype)
        analyses.append(figures)
        rows += [{"dtype": dtype, **row} for row in figures.by_module(depth)]
        rows.append(
            {
                "dtype": dtype,
                "module": TOTAL_ROW,
                "type": "",
                "bytes_read": figures.bytes_read,
                "bytes_written": figures.bytes_written,
                "bytes_moved": figures.bytes_moved,
                "flops": figures.flops,
                "arithmetic_intensity": figures.arithmetic_intensity,
                "live_peak_bytes": figures.activation_peak_bytes,
            }
        )
    return analyses, rows


# What torch raises when batch norm in train mode sees one value per channel.
_ONE_VALUE_PER_CHANNEL = "more than 1 value per channel"


def step_memory_records(
    names: Sequence[str],
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtypes: Sequence[str] = ("fp32",),
    optimizers: Sequence[str] = ("sgd",),
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per (variant, dtype, optimizer): what a training step holds, by kind
    (see :meth:`~incprof.analysis.training.StepMemory.summary`), with ``status`` "ok".
    A step that cannot run (batch norm on a 1×1 map at batch 1) is a row whose ``status``
    says why and what to change, its figures None; an eval forward that cannot run is
    an :class:`InputError`, as everywhere."""
    from incprof.columns import STEP_MEMORY_COLUMNS

    records = []
    variants = [resolve(name, input_shape) for name in names]
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(variants)}] {variant.name}: training step")
        step = analysis("backward", variant, input_shape, batch=batch)
        macs = {"backward_macs": step.backward_macs, "train_macs": step.train_macs}
        configs = [(dtype, optimizer) for dtype in dtypes for optimizer in optimizers]
        try:
            held = [
                analysis(
                    "step_memory", variant, input_shape, batch=batch, dtype=d, optimizer=o
                ).summary()
                for d, o in configs
            ]
            records += [
                {**dict.fromkeys(STEP_MEMORY_COLUMNS), **h, "status": "ok", **macs} for h in held
            ]
        except InputError as exc:
            shape = "x".join(map(str, input_shape or variant.input_for()))
            status = _step_skipped(str(exc))
            records += [
                {
                    **dict.fromkeys(STEP_MEMORY_COLUMNS),
                    "variant": variant.name,
                    "input_shape": shape,
                    "batch": batch,
                    "dtype": dtype,
                    "optimizer": optimizer,
                    "status": status,
                }
                for dtype, optimizer in configs
            ]
    return records


def _step_skipped(reason: str) -> str:
    """A skipped step's status: what to change first where that is known, then why."""
    if _ONE_VALUE_PER_CHANNEL in reason:
        return f"skipped: batch norm in train mode needs a batch of 2 or more here ({reason})"
    return f"skipped: {reason}"


# measure_memory(variant, input_shape, *, batch, train, optimizer, device) -> an object
# whose record() holds MEASURED_MEMORY_KEYS (incprof.analysis.measured_memory).
MeasureMemory = Callable[..., Any]


def join_measured_memory(
    records: list[dict[str, Any]],
    *,
    train: bool = False,
    device: str = "cpu",
    measure: MeasureMemory | None = None,
    progress: Progress | None = None,
) -> None:
    """Add the measured peaks (:data:`incprof.columns.MEASURED_MEMORY_KEYS`) to memory or
    training-step records: the real pass runs once per (variant, input, batch, optimizer)
    in fp32, on ``device``; rows in another dtype get blanks and a note saying so.
    ``measure`` defaults to :func:`incprof.analysis.measured_memory.measure_memory`."""
    from incprof.columns import MEASURED_MEMORY_KEYS

    if measure is None:
        from incprof.analysis.measured_memory import measure_memory as measure
    measured: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        if record["dtype"] != "fp32":
            record.update(dict.fromkeys(MEASURED_MEMORY_KEYS))
            record["measured_notes"] = "measured in fp32 only: see this variant's fp32 row"
            continue
        optimizer = record.get("optimizer", "sgd")
        key = (record["variant"], record["input_shape"], record["batch"], optimizer)
        if key not in measured:
            if progress:
                progress(f"measuring {record['variant']} at batch {record['batch']}")
            shape = tuple(int(v) for v in record["input_shape"].split("x"))
            variant = resolve(record["variant"], shape)
            result = measure(
                variant,
                shape,
                batch=record["batch"],
                train=train,
                optimizer=optimizer,
                device=device,
            )
            measured[key] = {k: result.record()[k] for k in MEASURED_MEMORY_KEYS}
        record.update(measured[key])


def device_profile(profile: DeviceProfile | str) -> DeviceProfile:
    """A profile as given, or resolved from a built-in name, ``cpu`` (measured now) or a
    file path (:func:`incprof.analysis.devices.resolve`); a bad one is a ProfileError."""
    from incprof.analysis.devices import resolve
    from incprof.analysis.profiles import DeviceProfile

    return profile if isinstance(profile, DeviceProfile) else resolve(profile)


def default_dtype(profile: DeviceProfile) -> str:
    """bf16 on a GPU (what inference runs in there, and what the H100 factors were fitted
    on), fp32 on a CPU (what a CPU user runs; a CPU profile may hold no other peak)."""
    return "bf16" if profile.host_overlap else "fp32"


def predict_variant(
    variant: Variant,
    profile: DeviceProfile,
    *,
    input_shape: InputShape | None = None,
    batch: int = 1,
    dtype: str = "bf16",
    mode: str = "eager",
    overrides: dict[str, Any] | None = None,
) -> Prediction:
    """The predicted eval forward of one variant (see :mod:`incprof.analysis.predict`),
    read from the same memoized trace as every analyzer; a forward that fails is one line."""
    from incprof.analysis.predict import predict
    from incprof.analysis.trace import trace_variant

    shape = input_shape or variant.input_for(overrides)
    return _on_input(
        variant,
        shape,
        lambda: predict(
            trace_variant(variant, input_shape=shape, batch=batch, overrides=overrides),
            profile,
            dtype=dtype,
            mode=mode,
        ),
    )


def predict_records(
    names: Sequence[str],
    *,
    profile: DeviceProfile | str = DEFAULT_PROFILE,
    dtypes: Sequence[str] | None = None,
    batches: Sequence[int] = (1,),
    modes: Sequence[str] = ("eager",),
    depth: int | None = None,
    input_shape: InputShape | None = None,
    overrides: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """One record per (variant, batch, dtype, mode): the predicted forward time and how it
    splits into compute-, memory- and launch-bound time (see ``Prediction.summary``), with
    the ``profile`` it used and that profile's source. ``dtypes`` default to
    :func:`default_dtype`. With ``depth``, one row per module at most ``depth`` deep (its
    subtree's time, split, the dominant bound and ``bound_ratio``, how many times the next
    bound it is), then a ``(total)`` row per configuration."""
    from incprof.analysis.predict import MODES

    chosen = device_profile(profile)
    dtypes = list(dtypes or [default_dtype(chosen)])
    for dtype in dtypes:
        chosen.peak(dtype)  # a profile lacking the dtype fails before any tracing
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputError(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    variants = [resolve(name, input_shape) for name in names]  # a bad name fails first
    records = []
    for i, variant in enumerate(variants, 1):
        if progress:
            progress(f"[{i}/{len(variants)}] {variant.name}")
        for batch in batches:
            for dtype in dtypes:
                for mode in modes:
                    predicted = predict_variant(
                        variant,
                        chosen,
                        input_shape=input_shape,
                        batch=batch,
                        dtype=dtype,
                        mode=mode,
                        overrides=overrides,
                    )
                    if depth is None:
                        records.append(predicted.summary())
                    else:
                        records += _module_rows(predicted, depth)
    return records


def _module_rows(predicted: Prediction, depth: int) -> list[dict[str, Any]]:
    """``predict --depth``'s rows of one prediction: its modules, then the total."""
    config = {
        "variant": predicted.variant,
        "batch": predicted.batch,
        "dtype": predicted.dtype,
        "mode": predicted.mode,
    }
    summary = predicted.summary()
    shares = predicted.shares()
    total = {
        "module": TOTAL_ROW,
        "type": "",
        "predicted_ms": summary["predicted_ms"],
        **{f"{kind}_ms": 1e3 * seconds for kind, seconds in shares.items()},
        "bound": summary["bound"],
        "bound_ratio": _ratio(shares),
    }
    rows = [*predicted.by_module(depth), total]
    return [{**config, **row, "profile": summary["profile"]} for row in rows]


def _ratio(shares: dict[str, float]) -> float | None:
    """How many times the next bound the dominant one is (None when the next is zero)."""
    first, second = sorted(shares.values(), reverse=True)[:2]
    return first / second if second else None


def _predicted_columns(predicted: Prediction) -> dict[str, Any]:
    """What compare and factorize add of one prediction: its time and bound, the profile's
    source and the configuration it was priced in."""
    return {
        "predicted_ms": predicted.time_ms,
        "predicted_bound": predicted.summary()["bound"],
        "predicted_profile": predicted.profile.source,
        "predicted_config": f"batch {predicted.batch}, {predicted.dtype}, {predicted.mode}",
    }


def add_predictions(
    records: list[dict[str, Any]],
    names: Sequence[str],
    *,
    profile: DeviceProfile | str = DEFAULT_PROFILE,
    dtype: str | None = None,
    mode: str = "eager",
    batch: int = 1,
    input_shape: InputShape | None = None,
) -> None:
    """Add ``predicted_ms`` and its bound, profile and configuration to compare records
    (one per name, in the order of ``names``), at the records' input."""
    chosen = device_profile(profile)
    dtype = dtype or default_dtype(chosen)
    chosen.peak(dtype)
    for record, name in zip(records, names, strict=True):
        variant = resolve(name, input_shape)
        predicted = predict_variant(
            variant, chosen, input_shape=input_shape, batch=batch, dtype=dtype, mode=mode
        )
        record.update(_predicted_columns(predicted))


def add_factorize_predictions(
    records: list[dict[str, Any]],
    *,
    profile: DeviceProfile | str = DEFAULT_PROFILE,
    dtype: str | None = None,
    mode: str = "eager",
    batch: int = 1,
    channels: int | None = None,
    grid: int | None = None,
) -> None:
    """Add each factorize record's predicted time and ``predicted_saving_pct``, the time it
    saves against its family's reference variant (the record whose ``baseline`` is true),
    beside the MAC saving: where the MACs saved are not time saved, the two part."""
    from incprof.registry import get

    chosen = device_profile(profile)
    dtype = dtype or default_dtype(chosen)
    chosen.peak(dtype)
    overrides = {k: v for k, v in (("channels", channels), ("grid", grid)) if v is not None}
    times: dict[str, Prediction] = {}
    for record in records:
        name = record["variant"]
        if name not in times:
            times[name] = predict_variant(
                get(name), chosen, batch=batch, dtype=dtype, mode=mode, overrides=overrides
            )
        record.update(_predicted_columns(times[name]))
    for family in dict.fromkeys(r["family"] for r in records):
        rows = [r for r in records if r["family"] == family]
        reference = next((r for r in rows if r["baseline"]), rows[0])["predicted_ms"]
        for record in rows:
            record["predicted_saving_pct"] = 100 * (1 - record["predicted_ms"] / reference)


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
    from incprof.analysis.conventions import AUX_BATCH, PAPER_SIZES, cost_figures, param_figures
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
        aux = None
        if has_aux:
            try:
                aux = _on_input(
                    variant,
                    shape,
                    lambda s=shape: trace_variant(
                        variant, input_shape=s, batch=AUX_BATCH, training=True
                    ),
                )
            except InputError as exc:
                notes.append(f"aux heads not at {shape_text(shape)}: {exc}")
        step = backward(trace)
        by_category: dict[str, float] = {}
        for record in analysis("cost", variant, shape).records:
            if record.macs:
                by_category[record.category] = by_category.get(record.category, 0) + record.macs
        for _index, _module, operator, macs in step.per_op:
            category = "conv" if "conv" in operator else "linear"
            by_category[category] = by_category.get(category, 0) + macs
        figures += cost_figures(trace, step.train_macs, by_category, aux)
        if default_traces is None:
            default_traces = (trace, aux)
    if default_traces is not None:
        figures += param_figures(*default_traces)
    return figures, notes


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
