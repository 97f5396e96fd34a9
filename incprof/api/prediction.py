"""Predicted latency from a device profile: ``incprof predict`` records and the
predicted columns ``compare`` and ``factorize`` add; apart because it needs a profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from incprof.api.memory import TOTAL_ROW
from incprof.api.records import Progress, _on_input
from incprof.errors import InputError
from incprof.registry import InputShape, Variant
from incprof.run_settings import DEFAULT_DEVICE_PROFILE as DEFAULT_PROFILE
from incprof.sources import resolve

if TYPE_CHECKING:
    from incprof.analysis.predict import Prediction
    from incprof.analysis.profiles import DeviceProfile


def device_profile(profile: DeviceProfile | str) -> DeviceProfile:
    """A profile as given, or resolved from a built-in name, ``cpu`` (measured now) or a
    file path (:func:`incprof.analysis.devices.resolve`); a bad one is a ProfileError."""
    from incprof.analysis.devices import resolve

    return resolve(profile)


def default_dtype(profile: DeviceProfile) -> str:
    """bf16 on a GPU (what inference runs in there, and what the H100 factors were fitted
    on; fp16 on one whose profile has no bf16 peak, as a pre-Ampere part), fp32 on a CPU
    (what a CPU user runs; a CPU profile may hold no other peak)."""
    return profile.default_dtype()


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
