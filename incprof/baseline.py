"""Regression checks against a committed baseline: what ``incprof check`` computes.

A baseline is a JSON object ``{"schema": "incprof-baseline", "version": 1, "kind": ...,
"entries": [...]}``. An *analytic* baseline holds each entry's exact figures (params,
params_with_aux, macs, other_ops, rf_size, rf_stride at an input shape, and
activation_peak_bytes_fp32, bytes_moved_fp32 and train_macs at batch 1); they are exact
integers, so any change is a regression unless a tolerance allows it: a change either way
means an architecture changed, and that is what a reviewer must see. A baseline written
before the memory figures lacks those three, and a check then skips them. A *latency*
baseline holds median times measured on one GPU (its top-level ``device``); they compare as a ratio
with a tolerance, and only on that same GPU; elsewhere each row is skipped and says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incprof.analysis.latency import DTYPES, MODES
from incprof.api import analyze_variant, compare_records
from incprof.errors import InputError
from incprof.jsonfile import clip, read_json
from incprof.parse import parse_input_shape
from incprof.registry import InputShape, RegistryError, get, list_variants
from incprof.results import (
    BASELINE_SCHEMA,
    BASELINE_VERSION,
    load_latency_results,
    write_json,
)
from incprof.sources import imported_module, is_user_spec, require_consent, resolve

KINDS = ("analytic", "latency")
# compare's figures, then memory and training ones (batch 1, fp32; DESIGN.md
# "Conventions"), which older baselines lack.
MEMORY_METRICS = ("activation_peak_bytes_fp32", "bytes_moved_fp32", "train_macs")
COST_METRICS = ("params", "params_with_aux", "macs", "other_ops", "rf_size", "rf_stride")
ANALYTIC_METRICS = (*COST_METRICS, *MEMORY_METRICS)
LAYOUTS = ("contiguous", "channels_last")
# Repeated GPU medians of one configuration differ by a few percent, and eager runs at
# small batches, bound by the host's launch speed, by more: inception_v3 at batch 32, eager,
# measured twice back to back on an H100 differed by 7.8% (benchmarks/results, timer_checks).
DEFAULT_LATENCY_TOLERANCE_PCT = 10.0

Entry = dict[str, Any]
# Median ms and status ("ok" or why not) of one latency entry, measured here.
Measure = Callable[[Mapping[str, Any]], tuple[float | None, str]]


class BaselineError(InputError):
    """A baseline that is missing, malformed or of another schema version; one line."""


class EmptyBaselineError(BaselineError):
    """A baseline with no entries: it would pass while checking nothing."""


@dataclass(frozen=True)
class Baseline:
    """A loaded, validated baseline."""

    kind: str
    entries: tuple[Entry, ...]
    device: str | None = None
    origin: str = field(default="the baseline", compare=False)  # its path, for messages

    def data(self, entries: Iterable[Entry] | None = None) -> dict[str, Any]:
        """The JSON object, with ``entries`` in place of this baseline's if given."""
        data: dict[str, Any] = {
            "schema": BASELINE_SCHEMA,
            "version": BASELINE_VERSION,
            "kind": self.kind,
        }
        if self.device is not None:
            data["device"] = self.device
        data["entries"] = list(self.entries if entries is None else entries)
        return data


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shape_text(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[1-9]\d*x[1-9]\d*x[1-9]\d*", value) is not None


# A variant, a GPU: longer is no name a user wrote (and would be echoed in every message).
NAME_CHARS = 256


def _name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= NAME_CHARS and value.isprintable()


# Per kind: each field, whether it must be there, what it must be, and how to say so.
_FIELDS: dict[str, tuple[tuple[str, bool, Callable[[Any], bool], str], ...]] = {
    "analytic": (
        ("variant", True, _name, f"a name of at most {NAME_CHARS} printable characters"),
        ("input_shape", True, _shape_text, "CxHxW, e.g. 3x299x299"),
        ("params", True, _whole, "a whole number"),
        ("params_with_aux", True, _whole, "a whole number"),
        ("macs", True, _whole, "a whole number"),
        ("other_ops", True, _whole, "a whole number"),
        ("rf_size", True, lambda v: v is None or _whole(v), "a whole number or null"),
        ("rf_stride", True, lambda v: v is None or _whole(v), "a whole number or null"),
        *((key, False, _whole, "a whole number") for key in MEMORY_METRICS),
    ),
    "latency": (
        ("variant", True, _name, f"a name of at most {NAME_CHARS} printable characters"),
        ("input_shape", False, _shape_text, "CxHxW, e.g. 3x299x299"),
        ("batch", True, lambda v: _whole(v) and v > 0, "a positive whole number"),
        ("dtype", True, lambda v: v in DTYPES, "/".join(DTYPES)),
        ("mode", True, lambda v: v in MODES, "/".join(MODES)),
        ("layout", True, lambda v: v in LAYOUTS, "contiguous/channels_last"),
        (
            "median_ms",
            True,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
            "a positive number",
        ),
    ),
}


def load_baseline(path: str | Path) -> Baseline:
    """Read and validate a baseline; every problem is a :class:`BaselineError` in one line."""
    try:
        data = read_json(Path(path))
    except InputError as exc:
        raise BaselineError(str(exc)) from None
    return validate(data, str(path))


def validate(data: Any, path: str) -> Baseline:
    """A :class:`Baseline` of a JSON value, or a :class:`BaselineError` that names ``path``."""
    if not isinstance(data, dict) or data.get("schema") != BASELINE_SCHEMA:
        raise BaselineError(f'{path} is not an incprof baseline (no "schema": "{BASELINE_SCHEMA}")')
    version = data.get("version")
    if not (_whole(version) and version == BASELINE_VERSION):
        raise BaselineError(
            f"{path} is baseline version {clip(repr(version))}; this incprof reads version "
            f"{BASELINE_VERSION}"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise BaselineError(f"{path}: kind {clip(repr(kind))} is not one of {', '.join(KINDS)}")
    device = data.get("device")
    if kind == "latency" and not _name(device):
        raise BaselineError(f'{path}: a latency baseline names its GPU in "device"')
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise BaselineError(f'{path}: "entries" must be a list')
    if not entries:
        raise EmptyBaselineError(f"{path} holds no entries, so it checks nothing")
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise BaselineError(f"{path}: entry {number} is not an object")
        for key, required, valid, meaning in _FIELDS[kind]:
            if key not in entry:
                if required:
                    raise BaselineError(f"{path}: entry {number} has no {key!r}")
            elif not valid(entry[key]):
                got = clip(repr(entry[key]))
                raise BaselineError(f"{path}: entry {number} {key!r} must be {meaning}; got {got}")
    return Baseline(kind, tuple(entries), device if kind == "latency" else None, path)


def write_baseline(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write a baseline whole (see :func:`incprof.results.write_json`): readers see the old
    file or the new one, never half; a read-only baseline is refused."""
    path = Path(path)
    try:
        write_json(path, data)
    except OSError as exc:
        raise BaselineError(f"cannot write {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class CheckRow:
    """One figure of one entry: the baseline's value, today's, and the verdict."""

    variant: str
    config: str
    metric: str
    baseline: float | int | None
    now: float | int | None
    status: str  # ok, regressed, improved or skipped
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.status != "ok" or self.now != self.baseline

    @property
    def change_pct(self) -> float | None:
        if not isinstance(self.baseline, int | float) or not isinstance(self.now, int | float):
            return None
        if self.baseline == 0:
            return 0.0 if self.now == 0 else None
        return 100 * (self.now - self.baseline) / self.baseline

    @property
    def change(self) -> str:
        """'+1,024 (+0.02%)' for exact figures, '×1.083 (+8.3%)' for times."""
        pct = self.change_pct
        if self.now is None or self.baseline is None:
            return ""
        if isinstance(self.now, int) and isinstance(self.baseline, int):
            delta = f"{self.now - self.baseline:+,}"
            if pct is None:
                return delta
            # A change of a few MACs in billions is still a change: never show it as 0.00%.
            shown = f"{pct:+.2f}%" if abs(pct) >= 0.01 or pct == 0 else f"{pct:+.1e}%"
            return f"{delta} ({shown})"
        return "" if pct is None else f"×{self.now / self.baseline:.3f} ({pct:+.1f}%)"

    def record(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "config": self.config,
            "metric": self.metric,
            "baseline": self.baseline,
            "now": self.now,
            "change_pct": self.change_pct,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CheckResult:
    """The rows of one check, and the baseline as ``--update`` would write it."""

    rows: tuple[CheckRow, ...]
    # None where today's figures could not be had here (latency on another machine).
    updated: dict[str, Any] | None

    @property
    def regressed(self) -> bool:
        return any(r.status == "regressed" for r in self.rows)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("ok", "regressed", "improved", "skipped"), 0)
        for row in self.rows:
            counts[row.status] += 1
        return counts


def analytic_entry(name: str, input_shape: InputShape | None = None) -> Entry:
    """The exact figures of one variant (or ``module:callable``), as a baseline holds them."""
    (record,) = compare_records([name], input_shape=input_shape)
    return {k: record[k] for k in ("variant", "input_shape", *ANALYTIC_METRICS)}


def analytic_baseline(names: Sequence[str] | None = None) -> dict[str, Any]:
    """An analytic baseline of ``names`` (default: every registered entry)."""
    chosen = list(names) if names is not None else [v.name for v in list_variants()]
    return Baseline("analytic", tuple(analytic_entry(n) for n in chosen)).data()


def _check_analytic(baseline: Baseline, tolerance_pct: float) -> CheckResult:
    rows: list[CheckRow] = []
    current: list[Entry] = []
    for entry in baseline.entries:
        name, config = entry["variant"], entry["input_shape"]
        try:
            now = analytic_entry(name, parse_input_shape(config))
        except (RegistryError, InputError) as exc:  # gone from the registry, or cannot run
            rows.append(CheckRow(name, config, "all", None, None, "regressed", str(exc)))
            continue
        current.append(now)
        for metric in (m for m in ANALYTIC_METRICS if m in entry):
            row = CheckRow(name, config, metric, entry[metric], now[metric], "ok")
            pct = row.change_pct
            if row.now == row.baseline:
                rows.append(row)
            elif pct is not None and abs(pct) <= tolerance_pct:
                rows.append(_with(row, "ok", f"within the {tolerance_pct:g}% tolerance"))
            else:
                rows.append(_with(row, "regressed", "changed"))
    return CheckResult(tuple(rows), baseline.data(current))


def _with(row: CheckRow, status: str, reason: str) -> CheckRow:
    return CheckRow(row.variant, row.config, row.metric, row.baseline, row.now, status, reason)


def _latency_config(entry: Mapping[str, Any]) -> str:
    parts = [f"batch {entry['batch']}", entry["dtype"], entry["mode"], entry["layout"]]
    if entry.get("input_shape"):
        parts.insert(0, entry["input_shape"])
    return ", ".join(parts)


def current_gpu() -> str | None:
    """This machine's GPU, by the name latency baselines are keyed on (None: no GPU)."""
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def measure_on_this_gpu() -> Measure:
    """Times baseline entries the way ``incprof latency`` does (CUDA events, warm-up,
    cuDNN autotuning, L2 flushed); one timer for all of them."""
    import torch

    from incprof.analysis.latency import CudaTimer, environment, measure

    torch.backends.cudnn.benchmark = True
    timer = CudaTimer()
    env = environment("cuda")

    def run(entry: Mapping[str, Any]) -> tuple[float | None, str]:
        shape = parse_input_shape(entry.get("input_shape"))
        variant = resolve(entry["variant"], shape)
        analysis = analyze_variant(variant, shape)
        record = measure(
            variant,
            macs=analysis.macs,
            input_shape=analysis.input_shape,
            batch=entry["batch"],
            dtype=entry["dtype"],
            mode=entry["mode"],
            channels_last=entry["layout"] == "channels_last",
            device="cuda",
            env=env,
            timer=timer,
        )
        return record.median_ms, record.status

    return run


def not_here(baseline: Baseline, gpu: str | None) -> str | None:
    """Why this machine cannot measure a latency baseline's figures (None: it can)."""
    if baseline.kind != "latency" or gpu == baseline.device:
        return None
    return f"needs {baseline.device}; this machine has {gpu or 'no GPU'}"


def _check_latency(
    baseline: Baseline, tolerance_pct: float, gpu: str | None, measure: Measure | None
) -> CheckResult:
    why = not_here(baseline, gpu)
    if why:
        rows = tuple(
            CheckRow(
                e["variant"], _latency_config(e), "median_ms", e["median_ms"], None, "skipped", why
            )
            for e in baseline.entries
        )
        return CheckResult(rows, None)
    measure = measure or measure_on_this_gpu()
    rows: list[CheckRow] = []
    current: list[Entry] = []
    for entry in baseline.entries:
        row = CheckRow(
            entry["variant"], _latency_config(entry), "median_ms", entry["median_ms"], None, "ok"
        )
        try:
            median_ms, status = measure(entry)
        except (RegistryError, InputError) as exc:
            median_ms, status = None, str(exc)
        if median_ms is None or status != "ok":
            rows.append(_with(row, "regressed", f"no measurement: {status}"))
            current.append(entry)  # an update keeps what it could not measure again
            continue
        row = CheckRow(row.variant, row.config, row.metric, row.baseline, median_ms, "ok")
        pct = row.change_pct or 0.0
        if pct > tolerance_pct:
            row = _with(row, "regressed", f"slower by more than {tolerance_pct:g}%")
        elif pct < -tolerance_pct:
            row = _with(row, "improved", f"faster by more than {tolerance_pct:g}%; --update")
        rows.append(row)
        current.append({**entry, "median_ms": median_ms})
    return CheckResult(tuple(rows), baseline.data(current))


def check(
    baseline: Baseline,
    *,
    tolerance_pct: float = 0.0,
    latency_tolerance_pct: float = DEFAULT_LATENCY_TOLERANCE_PCT,
    gpu: str | None = None,
    measure: Measure | None = None,
    allow_imports: Collection[str] = (),
) -> CheckResult:
    """Recompute what ``baseline`` holds and compare.

    ``tolerance_pct`` loosens the exact figures (0: any change regresses).
    ``gpu`` is this machine's GPU (see :func:`current_gpu`; None: none): latency entries
    are measured, by ``measure`` (default: :func:`measure_on_this_gpu`), only when it is
    the baseline's device, and compare as a ratio within ``latency_tolerance_pct``.
    ``allow_imports``: the modules an entry's ``package.module:callable`` may import (see
    :func:`vet_names`); any other such entry is a :class:`BaselineError`.
    """
    vet_names(baseline, allow_imports)
    if baseline.kind == "analytic":
        return _check_analytic(baseline, tolerance_pct)
    return _check_latency(baseline, latency_tolerance_pct, gpu, measure)


def vet_names(baseline: Baseline, allow_imports: Collection[str] = ()) -> None:
    """Before anything runs: each entry names a registered variant (an unknown one is bad
    input with the close names, not a regression), an ``.onnx`` file, or a module the
    user consented to import (:func:`incprof.sources.require_consent`)."""
    for number, entry in enumerate(baseline.entries, 1):
        name, where = entry["variant"], f"{baseline.origin}: entry {number}"
        require_consent(name, allow_imports, where)  # a ConsentError: the CLI says how
        try:
            if imported_module(name) is None and not name.lower().endswith(".onnx"):
                get(name)
        except RegistryError as exc:
            message = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
            raise BaselineError(message) from None


def _result_rows(path: Path) -> list[dict[str, Any]]:
    """Latency rows of a results file (see :func:`incprof.results.latency_rows`)."""
    try:
        return load_latency_results(path)
    except InputError as exc:
        raise BaselineError(str(exc)) from None


def _measured_on_cpu(row: Mapping[str, Any]) -> bool:
    """A CPU row: its environment records no CUDA version (``"cuda": null``), or, in files
    written before CPU rows were named by the processor's model, its device name is
    'cpu (…)'."""
    return ("cuda" in row and row["cuda"] is None) or str(row.get("device_name")).startswith("cpu")


def _default_input(name: str) -> str | None:
    """A registered variant's default input as text; None for any other name, which is
    never resolved here: a results file must not decide what code is imported."""
    if is_user_spec(name) or name.lower().endswith(".onnx"):
        return None
    try:
        return "x".join(map(str, resolve(name).input_for()))
    except RegistryError:
        return None


# What makes two latency rows the same configuration.
_LATENCY_KEY = ("variant", "input_shape", "batch", "dtype", "mode", "layout")


def latency_baselines_from_results(paths: Sequence[str | Path]) -> dict[str, dict[str, Any]]:
    """One latency baseline per GPU found in saved results, keyed by the GPU's name.

    Only rows measured ``ok`` on a GPU are kept. Where two rows share a configuration,
    the later file's wins (so pass parity files before sweeps, whose method ``check``
    repeats).
    """
    by_device: dict[str, dict[tuple[Any, ...], Entry]] = {}
    for path in paths:
        for row in _result_rows(Path(path)):
            device = row.get("device_name")
            if row.get("status") != "ok" or not device or _measured_on_cpu(row):
                continue
            entry = {key: row[key] for key in _LATENCY_KEY if row.get(key) is not None}
            if entry.get("input_shape") == _default_input(entry["variant"]):
                del entry["input_shape"]  # the same configuration as a row that names none
            entry["median_ms"] = row.get("median_ms")
            key = tuple(entry.get(k) for k in _LATENCY_KEY)
            by_device.setdefault(device, {})[key] = entry
    sources = ", ".join(map(str, paths))
    return {
        device: validate(
            Baseline("latency", tuple(entries.values()), device).data(), sources
        ).data()
        for device, entries in by_device.items()
    }
