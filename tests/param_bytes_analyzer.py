"""A new analyzer as a user would add one: this module, and one line in
``incprof.analysis.ANALYZERS`` (made by the test that uses it). Parameter bytes per
module, at the dtype each parameter was traced in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from incprof.analysis.trace import Trace


@dataclass(frozen=True)
class ParameterBytes:
    variant: str
    by_module: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {"variant": self.variant, "parameter_bytes": sum(self.by_module.values())}


def parameter_bytes(trace: Trace) -> ParameterBytes:
    owned: Counter[str] = Counter()
    for p in trace.parameters:
        owned[p.owner] += p.numel * p.value.dtype.itemsize
    return ParameterBytes(trace.name, dict(owned))
