"""A device profile by name or path, the one entry point that may measure: ``cpu`` is
this machine, its peak, copy bandwidth and per-op host cost measured when asked for.

Apart from :mod:`incprof.analysis.profiles` (the schema, the shipped files, reading and
checking them), which measures nothing, so that the calibration that writes profiles can
import it without a cycle.
"""

from __future__ import annotations

from pathlib import Path

from incprof.analysis import calibrate
from incprof.analysis.profiles import DeviceProfile, ProfileError, builtin, load


def resolve(spec: str | Path | DeviceProfile) -> DeviceProfile:
    """A device name, a profile file, or a profile already in hand (returned as it is:
    one a user loaded or changed with ``with_figures``). ``cpu`` is this machine: its peak,
    copy bandwidth and per-op host cost are measured now (a few seconds); its efficiencies
    are the ones stored in ``cpu.json``. A path (a ``Path``, or a name with a slash or
    ending in ``.json``) is read."""
    if isinstance(spec, DeviceProfile):
        return spec
    if isinstance(spec, Path):
        return load(spec)
    if not isinstance(spec, str):
        raise ProfileError(
            f"a device is a name, a profile file or a DeviceProfile, got {type(spec).__name__}"
        )
    if "/" in spec or spec.endswith(".json"):
        return load(spec)
    profile = builtin(spec)
    if spec == "cpu":
        return profile.with_figures(
            calibrate.measure_cpu_figures(), origin="measured now on this CPU"
        )
    return profile
