"""incprof: what each Inception design decision costs.

The registry's names are imported on first use, so that ``incprof --help`` and
``--version`` answer without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Variant", "__version__", "build", "get", "list_variants", "register", "resolve"]

if TYPE_CHECKING:
    from incprof.registry import Variant, build, get, list_variants, register, resolve


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("incprof.registry"), name)
    raise AttributeError(f"module 'incprof' has no attribute {name!r}")
