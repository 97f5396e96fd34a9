"""Device profiles: what a prediction divides by, each figure with its kind and source.

A profile is data (a JSON file; the built-in ones ship in ``incprof/profiles/``). Every
figure says where it comes from, and the kinds are kept apart:

* ``datasheet`` — the vendor's published number (dense, no sparsity);
* ``measured`` — timed on the device itself (``cpu`` at run time, ``incprof calibrate``);
* ``fitted`` — a factor fitted to measured network or micro-benchmark times (the source
  names the rows);
* ``assumed`` — borrowed from another profile because nothing was measured there.

A profile lacking the dtype asked for, or with a figure outside physical sense (a peak
outside 0.01–100,000 TFLOP/s, a bandwidth outside 1–100,000 GB/s, a launch cost or gap
outside 0–10,000 µs, an efficiency outside (0, 1]), is one line that names the file and
the key: a missing peak is never a zero. Strings read from a file are cut to a sane
length (:func:`incprof.jsonfile.clip`), so a hostile file cannot flood the terminal.

Efficiencies are looked up per dtype class and op category: ``tensor.conv`` (TF32, bf16
and fp16 on tensor cores), ``simt.conv`` (strict fp32 on CUDA cores), then the plain
category, then ``default``. A GPU profile may name its SM count (``sm_count``), which the
shape model of :mod:`incprof.analysis.predict` uses for tile and wave quantization, and a
``validation`` list: per dtype, what its fitted factors were fitted on and the error they
reached on rows they were not fitted on. A dtype with no entry is predicted by transfer and
every output says "not validated".
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from incprof.errors import InputError
from incprof.jsonfile import clip, loads, read_json
from incprof.run_settings import PRECISIONS as DTYPES

SCHEMA = "incprof-device-profile/1"
KINDS = ("datasheet", "measured", "fitted", "assumed")
# Op categories an efficiency may be given for; ``default`` covers the others.
# ``dwconv``: depthwise convolutions (one or two channels per group), which no GEMM
# kernel runs: their time is priced on the CUDA cores' fp32 peak.
CATEGORIES = ("conv", "dwconv", "matmul", "norm", "pointwise", "pool", "copy", "other")
# Which units run a dtype's convolutions and matmuls, as PyTorch sets them up: strict fp32
# (allow_tf32 off) on CUDA cores, TF32 and autocast bf16/fp16 on tensor cores.
DTYPE_CLASS = {"fp32": "simt", "tf32": "tensor", "bf16": "tensor", "fp16": "tensor"}
CLASSES = ("simt", "tensor")
EFFICIENCY_KEYS = (
    "default",
    *CATEGORIES,
    *(f"{c}.{k}" for c in CLASSES for k in ("default", *CATEGORIES)),
)
# Physical sense, per figure group: (lowest, highest, whether the lowest is allowed).
RANGES = {
    "peak_tflops": (0.01, 100_000.0, True),
    "bandwidth_gbs": (1.0, 100_000.0, True),
    "launch_us": (0.0, 10_000.0, True),
    "gap_us": (0.0, 10_000.0, True),
    "compute_efficiency": (0.0, 1.0, False),
    "memory_efficiency": (0.0, 1.0, False),
    "sm_count": (1.0, 1_000.0, True),
    "clock_mhz": (100.0, 10_000.0, True),
}
# How much of a file's strings is kept: shown in tables, footers and reports.
NAME_CHARS, TITLE_CHARS, SOURCE_CHARS = 60, 160, 600


class ProfileError(InputError):
    """A device name or profile file that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Figure:
    """One number of a profile, with where it comes from."""

    value: float
    kind: str
    source: str

    def record(self) -> dict[str, Any]:
        return {"value": self.value, "kind": self.kind, "source": self.source}


STATUSES = ("validated", "transferred")


@dataclass(frozen=True)
class Validation:
    """Where one dtype's factors come from and the error they reached out of sample.

    ``validated``: fitted on this device in this dtype (class); the error is on rows the
    fit did not see. ``transferred``: the factors come from another device or dtype; the
    error is the one measured for such transfers (``how`` names the experiment).
    """

    dtype: str
    status: str
    fitted_on: str
    how: str
    rows: int
    median_abs_error_pct: float
    p90_abs_error_pct: float

    def record(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "status": self.status,
            "fitted_on": self.fitted_on,
            "how": self.how,
            "rows": self.rows,
            "median_abs_error_pct": self.median_abs_error_pct,
            "p90_abs_error_pct": self.p90_abs_error_pct,
        }

    def line(self) -> str:
        band = f"median {self.median_abs_error_pct:.0f}%, p90 {self.p90_abs_error_pct:.0f}%"
        if self.status == "validated":
            return f"fitted on {self.fitted_on}; out-of-sample error {band} ({self.how})"
        return (
            f"transferred from {self.fitted_on}, not validated here; "
            f"transfer error {band} ({self.how})"
        )


@dataclass(frozen=True)
class DeviceProfile:
    """What the latency model needs to know of one device.

    ``launch_us``: host time per ATen op in eager mode (Python, dispatch, the launch).
    ``gap_us``: device time per kernel beyond its roofline time (launch latency, tail;
    what separates back-to-back kernels in a replayed graph). ``host_overlap``: whether
    the device runs while the host goes on (a GPU's asynchronous stream) or the host does
    the work itself (a CPU, where the costs add up).
    """

    name: str
    title: str
    host_overlap: bool
    peak_tflops: Mapping[str, Figure]
    bandwidth_gbs: Figure
    launch_us: Figure
    gap_us: Figure
    compute_efficiency: Mapping[str, Figure]
    memory_efficiency: Mapping[str, Figure]
    origin: str = "built-in"  # the file it was read from, or "built-in" / "measured now"
    notes: tuple[str, ...] = field(default=())
    sm_count: Figure | None = None  # GPUs: the shape model's wave quantization
    clock_mhz: Figure | None = None  # boost clock, as the datasheet gives it
    validation: tuple[Validation, ...] = field(default=())

    def peak(self, dtype: str) -> Figure:
        if dtype not in self.peak_tflops:
            raise ProfileError(
                f"profile {self.name!r} ({self.origin}) has no {dtype} peak; it has "
                f"{', '.join(self.peak_tflops) or 'none'}"
            )
        return self.peak_tflops[dtype]

    def default_dtype(self) -> str:
        """The dtype a prediction takes when none is asked for: bf16 on a GPU (fp16 where
        the profile has no bf16 peak, as on a pre-Ampere part), fp32 on a CPU."""
        if not self.host_overlap:
            return "fp32"
        return next((d for d in ("bf16", "fp16") if d in self.peak_tflops), "fp32")

    def compute_eff(self, category: str, dtype: str | None = None) -> float:
        return _efficiency(self.compute_efficiency, category, dtype)

    def memory_eff(self, category: str, dtype: str | None = None) -> float:
        return _efficiency(self.memory_efficiency, category, dtype)

    def provenance(self, dtype: str) -> Validation | None:
        """The validation entry of ``dtype`` (or of every dtype, ``*``); None: no measured
        error exists for predictions in this dtype here."""
        for entry in self.validation:
            if entry.dtype in (dtype, "*"):
                return entry
        return None

    def provenance_line(self, dtype: str) -> str:
        """One line saying where ``dtype``'s factors come from and their error band."""
        entry = self.provenance(dtype)
        if entry is not None:
            return entry.line()
        kinds = {f.kind for k, f in self.figures().items() if "efficiency" in k}
        if kinds <= {"measured", "fitted"} and not self.host_overlap:
            return (
                "fitted on this CPU's micro-benchmarks; no network error measured in this profile"
            )
        return f"not validated: no measurement in {dtype} on this device or a transfer to it"

    @property
    def source(self) -> str:
        """One line naming the profile and what its figures are: shown beside a prediction."""
        kinds = sorted({f.kind for f in self.figures().values()}, key=KINDS.index)
        line = f"{self.name} ({self.origin}; {', '.join(kinds)} figures)"
        return line + (f"; {self.validation_summary()}" if self.validation else "")

    def validation_summary(self) -> str:
        """Per dtype, in a few words: validated or transferred, and the error band."""
        parts = []
        for dtype in self.peak_tflops:
            entry = self.provenance(dtype)
            if entry is None:
                parts.append(f"{dtype} not validated")
            else:
                word = "validated" if entry.status == "validated" else "transferred, not validated"
                parts.append(
                    f"{dtype} {word} (median {entry.median_abs_error_pct:.0f}%, "
                    f"p90 {entry.p90_abs_error_pct:.0f}%)"
                )
        return "; ".join(parts)

    def figures(self) -> dict[str, Figure]:
        """Every figure by its dotted key, as ``fit`` and the report name them."""
        out = {f"peak_tflops.{k}": v for k, v in self.peak_tflops.items()}
        out.update(bandwidth_gbs=self.bandwidth_gbs, launch_us=self.launch_us, gap_us=self.gap_us)
        out.update({k: getattr(self, k) for k in _OPTIONAL_FIGURES if getattr(self, k)})
        out.update({f"compute_efficiency.{k}": v for k, v in self.compute_efficiency.items()})
        out.update({f"memory_efficiency.{k}": v for k, v in self.memory_efficiency.items()})
        return out

    def with_figures(
        self, figures: Mapping[str, Figure], *, origin: str | None = None
    ) -> DeviceProfile:
        """A copy with the figures of ``figures`` (dotted keys) set or replaced."""
        data = self.to_dict()
        for key, figure in figures.items():
            group, _, sub = key.partition(".")
            if group not in _FIGURE_GROUPS and group not in _SINGLE_FIGURES:
                raise ValueError(f"unknown profile figure {key!r}")
            if sub:
                data[group][sub] = figure.record()
            else:
                data[group] = figure.record()
        return replace(from_dict(data, origin=origin or self.origin), notes=self.notes)

    def keeping_efficiencies(self, keys: Sequence[str]) -> DeviceProfile:
        """A copy whose efficiency tables hold only ``default`` and the dotted ``keys``: a
        fit of ``compute_efficiency.default`` must not be shadowed by a per-class entry."""
        data = self.to_dict()
        for group in ("compute_efficiency", "memory_efficiency"):
            data[group] = {
                k: v for k, v in data[group].items() if k == "default" or f"{group}.{k}" in keys
            }
        data.pop("validation", None)  # what was validated is not what will be fitted
        return replace(from_dict(data, origin=self.origin), notes=self.notes)

    def with_validation(self, entries: tuple[Validation, ...]) -> DeviceProfile:
        return replace(self, validation=entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "title": self.title,
            "host_overlap": self.host_overlap,
            "peak_tflops": {k: v.record() for k, v in self.peak_tflops.items()},
            "bandwidth_gbs": self.bandwidth_gbs.record(),
            "launch_us": self.launch_us.record(),
            "gap_us": self.gap_us.record(),
            "compute_efficiency": {k: v.record() for k, v in self.compute_efficiency.items()},
            "memory_efficiency": {k: v.record() for k, v in self.memory_efficiency.items()},
            **{k: getattr(self, k).record() for k in _OPTIONAL_FIGURES if getattr(self, k)},
            **({"validation": [v.record() for v in self.validation]} if self.validation else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


_FIGURE_GROUPS = ("peak_tflops", "compute_efficiency", "memory_efficiency")
_SINGLE_FIGURES = ("bandwidth_gbs", "launch_us", "gap_us")
_OPTIONAL_FIGURES = ("sm_count", "clock_mhz")


def _efficiency(table: Mapping[str, Figure], category: str, dtype: str | None) -> float:
    """The most specific entry: class and category, class, category, default."""
    cls = DTYPE_CLASS.get(dtype or "")
    keys = (f"{cls}.{category}", f"{cls}.default") if cls else ()
    for key in (*keys, category, "default"):
        if key in table:
            return table[key].value
    raise KeyError(category)  # unreachable: from_dict requires 'default'


def _figure(value: Any, where: str, group: str) -> Figure:
    """One ``{value, kind, source}`` figure, its value within ``RANGES[group]``."""
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where}: expected {{value, kind, source}}, got {clip(repr(value))}")
    number, kind, source = value.get("value"), value.get("kind"), value.get("source")
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
    ):
        raise ProfileError(f"{where}.value must be a number, got {clip(repr(number))}")
    low, high, low_ok = RANGES[group]
    if number < low or (number == low and not low_ok) or number > high:
        bracket = "[" if low_ok else "("
        raise ProfileError(
            f"{where}.value {number:g} is outside physical sense: "
            f"expected {bracket}{low:g}, {high:g}]"
        )
    if kind not in KINDS:
        raise ProfileError(
            f"{where}.kind must be one of {', '.join(KINDS)}, got {clip(repr(kind))}"
        )
    if not isinstance(source, str) or not source.strip():
        raise ProfileError(f"{where}.source must name where the figure comes from")
    return Figure(float(number), kind, clip(source, SOURCE_CHARS))


def _validation(data: Any, origin: str) -> tuple[Validation, ...]:
    if not isinstance(data, list):
        raise ProfileError(f"{origin}: 'validation' must be a list")
    out = []
    for i, entry in enumerate(data):
        where = f"{origin}: validation[{i}]"
        if not isinstance(entry, Mapping):
            raise ProfileError(f"{where} must be an object")
        if entry.get("dtype") not in (*DTYPES, "*") or entry.get("status") not in STATUSES:
            raise ProfileError(
                f"{where}: dtype one of {', '.join(DTYPES)} or '*', status "
                f"one of {', '.join(STATUSES)}"
            )
        texts = [entry.get(k) for k in ("fitted_on", "how")]
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise ProfileError(f"{where}: 'fitted_on' and 'how' must be non-empty strings")
        numbers = [entry.get(k) for k in ("median_abs_error_pct", "p90_abs_error_pct")]
        rows = entry.get("rows")
        if (
            any(isinstance(n, bool) or not isinstance(n, (int, float)) for n in numbers)
            or not all(0 <= n <= 1e4 for n in numbers)
            or isinstance(rows, bool)
            or not isinstance(rows, int)
            or not 0 < rows < 10**7
        ):
            raise ProfileError(f"{where}: errors must be 0-10,000 % and rows a positive count")
        out.append(
            Validation(
                entry["dtype"],
                entry["status"],
                clip(texts[0], SOURCE_CHARS),
                clip(texts[1], SOURCE_CHARS),
                rows,
                float(numbers[0]),
                float(numbers[1]),
            )
        )
    return tuple(out)


def from_dict(data: Any, *, origin: str = "built-in") -> DeviceProfile:
    """Validate a profile's JSON object; every error names the key at fault."""
    origin = clip(origin, SOURCE_CHARS)
    if not isinstance(data, Mapping):
        raise ProfileError(f"{origin}: a profile is a JSON object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise ProfileError(
            f"{origin}: schema must be {SCHEMA!r}, got {clip(repr(data.get('schema')))}"
        )
    for key in ("name", "title"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise ProfileError(f"{origin}: {key!r} must be a non-empty string")
    if not isinstance(data.get("host_overlap"), bool):
        raise ProfileError(f"{origin}: 'host_overlap' must be true or false")
    groups: dict[str, dict[str, Figure]] = {}
    for group in _FIGURE_GROUPS:
        table = data.get(group)
        if not isinstance(table, Mapping) or not table:
            raise ProfileError(f"{origin}: {group!r} must be a non-empty object")
        allowed = DTYPES if group == "peak_tflops" else EFFICIENCY_KEYS
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise ProfileError(
                f"{origin}: {group} has unknown key {clip(repr(unknown[0]))}; allowed: "
                f"{', '.join(allowed)}"
            )
        groups[group] = {k: _figure(v, f"{origin}: {group}.{k}", group) for k, v in table.items()}
    for group in ("compute_efficiency", "memory_efficiency"):
        if "default" not in groups[group]:
            raise ProfileError(f"{origin}: {group} needs a 'default' entry")
    singles = {key: _figure(data.get(key), f"{origin}: {key}", key) for key in _SINGLE_FIGURES}
    optional = {
        key: _figure(data[key], f"{origin}: {key}", key)
        for key in _OPTIONAL_FIGURES
        if data.get(key) is not None
    }
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ProfileError(f"{origin}: 'notes' must be a list of strings")
    return DeviceProfile(
        name=clip(data["name"], NAME_CHARS),
        title=clip(data["title"], TITLE_CHARS),
        host_overlap=data["host_overlap"],
        peak_tflops=groups["peak_tflops"],
        compute_efficiency=groups["compute_efficiency"],
        memory_efficiency=groups["memory_efficiency"],
        origin=origin,
        notes=tuple(clip(n, SOURCE_CHARS) for n in notes),
        validation=_validation(data.get("validation", []), origin),
        **singles,
        **optional,
    )


def load(path: str | Path) -> DeviceProfile:
    """A profile file (``incprof calibrate --out``'s, or one written by hand)."""
    try:
        data = read_json(path, what="profile")
    except InputError as exc:
        raise ProfileError(str(exc)) from None
    return from_dict(data, origin=str(path))


def builtin_names() -> tuple[str, ...]:
    """The shipped profiles, by name: the GPUs' datasheets and ``cpu`` (measured now)."""
    files = resources.files("incprof") / "profiles"
    return tuple(
        sorted(p.name[: -len(".json")] for p in files.iterdir() if p.name.endswith(".json"))
    )


def builtin(name: str) -> DeviceProfile:
    """A shipped profile by name, as stored (``cpu``'s run-time figures not yet measured)."""
    names = builtin_names()
    if name not in names:
        prefixed = [n for n in names if n.startswith(name.lower())]
        close = [*prefixed, *difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.4)]
        close = list(dict.fromkeys(close))[:3]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ProfileError(f"unknown device {name!r}{hint} (known: {', '.join(names)})")
    text = (resources.files("incprof") / "profiles" / f"{name}.json").read_text(encoding="utf-8")
    return from_dict(loads(text, f"built-in {name}.json"), origin=f"built-in {name}.json")
