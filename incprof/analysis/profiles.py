"""Device profiles: what a prediction divides by, each figure with its kind and source.

A profile is data (a JSON file; the built-in ones ship in ``incprof/profiles/``). Every
figure says where it comes from, and the kinds are kept apart:

* ``datasheet`` — the vendor's published number (dense, no sparsity);
* ``measured`` — timed on the device itself (``cpu`` at run time, ``incprof calibrate``);
* ``fitted`` — a factor fitted to measured network or micro-benchmark times (the source
  names the rows);
* ``assumed`` — borrowed from another profile because nothing was measured there.

A profile lacking the dtype asked for, or with a figure that is not a positive number, is
an error that names the file and the key: a missing peak is never a zero.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from incprof.errors import InputError
from incprof.jsonfile import loads, read_json

SCHEMA = "incprof-device-profile/1"
KINDS = ("datasheet", "measured", "fitted", "assumed")
DTYPES = ("fp32", "tf32", "bf16", "fp16")
# Op categories an efficiency may be given for; ``default`` covers the others.
CATEGORIES = ("conv", "matmul", "norm", "pointwise", "pool", "copy", "other")
EFFICIENCY_KEYS = ("default", *CATEGORIES)


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

    def peak(self, dtype: str) -> Figure:
        if dtype not in self.peak_tflops:
            raise ProfileError(
                f"profile {self.name!r} ({self.origin}) has no {dtype} peak; it has "
                f"{', '.join(self.peak_tflops) or 'none'}"
            )
        return self.peak_tflops[dtype]

    def compute_eff(self, category: str) -> float:
        return _efficiency(self.compute_efficiency, category)

    def memory_eff(self, category: str) -> float:
        return _efficiency(self.memory_efficiency, category)

    @property
    def source(self) -> str:
        """One line naming the profile and what its figures are: shown beside a prediction."""
        kinds = sorted({f.kind for f in self.figures().values()}, key=KINDS.index)
        return f"{self.name} ({self.origin}; {', '.join(kinds)} figures)"

    def figures(self) -> dict[str, Figure]:
        """Every figure by its dotted key, as ``fit`` and the report name them."""
        out = {f"peak_tflops.{k}": v for k, v in self.peak_tflops.items()}
        out.update(bandwidth_gbs=self.bandwidth_gbs, launch_us=self.launch_us, gap_us=self.gap_us)
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
            **({"notes": list(self.notes)} if self.notes else {}),
        }


_FIGURE_GROUPS = ("peak_tflops", "compute_efficiency", "memory_efficiency")
_SINGLE_FIGURES = ("bandwidth_gbs", "launch_us", "gap_us")


def _efficiency(table: Mapping[str, Figure], category: str) -> float:
    return (table.get(category) or table["default"]).value


def _figure(
    value: Any, where: str, *, at_most: float | None = None, zero_ok: bool = False
) -> Figure:
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where}: expected {{value, kind, source}}, got {value!r}")
    number, kind, source = value.get("value"), value.get("kind"), value.get("source")
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, float))
        or not math.isfinite(number)
    ):
        raise ProfileError(f"{where}.value must be a number, got {number!r}")
    if number < 0 or (number == 0 and not zero_ok):
        raise ProfileError(f"{where}.value must be {'≥' if zero_ok else '>'} 0, got {number!r}")
    if at_most is not None and number > at_most:
        raise ProfileError(f"{where}.value must be at most {at_most:g}, got {number!r}")
    if kind not in KINDS:
        raise ProfileError(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(source, str) or not source.strip():
        raise ProfileError(f"{where}.source must name where the figure comes from")
    return Figure(float(number), kind, source)


def from_dict(data: Any, *, origin: str = "built-in") -> DeviceProfile:
    """Validate a profile's JSON object; every error names the key at fault."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{origin}: a profile is a JSON object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise ProfileError(f"{origin}: schema must be {SCHEMA!r}, got {data.get('schema')!r}")
    for key in ("name", "title"):
        if not isinstance(data.get(key), str) or not data[key]:
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
                f"{origin}: {group} has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}"
            )
        at_most = None if group == "peak_tflops" else 1.0
        groups[group] = {
            k: _figure(v, f"{origin}: {group}.{k}", at_most=at_most) for k, v in table.items()
        }
    for group in ("compute_efficiency", "memory_efficiency"):
        if "default" not in groups[group]:
            raise ProfileError(f"{origin}: {group} needs a 'default' entry")
    singles = {
        key: _figure(data.get(key), f"{origin}: {key}", zero_ok=key != "bandwidth_gbs")
        for key in _SINGLE_FIGURES
    }
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ProfileError(f"{origin}: 'notes' must be a list of strings")
    return DeviceProfile(
        name=data["name"],
        title=data["title"],
        host_overlap=data["host_overlap"],
        peak_tflops=groups["peak_tflops"],
        compute_efficiency=groups["compute_efficiency"],
        memory_efficiency=groups["memory_efficiency"],
        origin=origin,
        notes=tuple(notes),
        **singles,
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


def resolve(spec: str) -> DeviceProfile:
    """A device name or a profile file. ``cpu`` is this machine: its peak, copy bandwidth
    and per-op host cost are measured now (a few seconds); its efficiencies are the ones
    stored in ``cpu.json``. A path (anything with a slash or ending in ``.json``) is read."""
    if "/" in spec or spec.endswith(".json"):
        return load(spec)
    profile = builtin(spec)
    if spec == "cpu":
        from incprof.analysis.calibrate import measure_cpu_figures

        return profile.with_figures(measure_cpu_figures(), origin="measured now on this CPU")
    return profile
