"""Results and baseline files: the one place that reads and writes their JSON.

A *results* file holds latency records: a list of them (``incprof latency --save``), or a
dict with the ``environment`` it ran in and ``sweep`` and ``parity`` rows
(benchmarks/bench_latency.py). ``incprof compare --results``, ``incprof report`` and the
latency baselines read them through :func:`latency_rows`. A *baseline* file is what
``incprof check`` compares with (schema below; :mod:`incprof.baseline` validates it).

Torch-free: reading a file must not cost the command line torch's start-up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from incprof.errors import InputError
from incprof.files import write_text
from incprof.jsonfile import read_json

BASELINE_SCHEMA = "incprof-baseline"
BASELINE_VERSION = 1


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, whole (see :mod:`incprof.files`): a reader sees the
    old file or the new one, a symlink stays a link, the file keeps its mode. Raises
    OSError; the caller words it."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


def latency_rows(data: Any, path: str | Path, *, parity: bool = True) -> list[dict[str, Any]]:
    """The latency records of a results file's JSON, each with its ``device_name``: a
    list, or a dict with ``sweep`` rows and, with ``parity``, the ``parity`` rows' own side
    (``ours_ms``, ``ours_status``). Anything else is an :class:`InputError` naming ``path``.
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


def load_latency_results(path: str | Path) -> list[dict[str, Any]]:
    """Every latency record of a results file, parity rows included (see :func:`latency_rows`)."""
    return latency_rows(read_json(path), path)


def device_slug(device: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3', as results, baselines and calibrated
    profiles are named: lower case, letters and digits in dash-separated runs."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower().replace("nvidia", "")).strip("-")
