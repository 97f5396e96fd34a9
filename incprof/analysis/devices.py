"""A device profile by name or path, the one entry point that may measure: ``cpu`` is
this machine, its peak, copy bandwidth and per-op host cost measured when asked for.

Apart from :mod:`incprof.analysis.profiles` (the schema, the shipped files, reading and
checking them), which measures nothing, so that the calibration that writes profiles can
import it without a cycle.
"""

from __future__ import annotations

from incprof.analysis import calibrate
from incprof.analysis.profiles import DeviceProfile, builtin, load


def resolve(spec: str) -> DeviceProfile:
    """A device name or a profile file. ``cpu`` is this machine: its peak, copy bandwidth
    and per-op host cost are measured now (a few seconds); its efficiencies are the ones
    stored in ``cpu.json``. A path (anything with a slash or ending in ``.json``) is read."""
    if "/" in spec or spec.endswith(".json"):
        return load(spec)
    profile = builtin(spec)
    if spec == "cpu":
        return profile.with_figures(
            calibrate.measure_cpu_figures(), origin="measured now on this CPU"
        )
    return profile
