"""Records that join measured figures (latency, hardware counters, measured memory peaks)
to the static ones; apart because each runs or reads a real measurement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from incprof.analysis.counters import COUNTERS, delta_pct, explain, run_counter
from incprof.api.records import NeedsRealData, Progress, analyze_variant
from incprof.registry import InputShape
from incprof.sources import resolve

if TYPE_CHECKING:
    from incprof.analysis.latency import CudaTimer


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
