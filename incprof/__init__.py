"""incprof: what each Inception design decision costs.

The registry's names are imported on first use, so that ``incprof --help`` and
``--version`` answer without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Profile",
    "Variant",
    "__version__",
    "assert_budget",
    "build",
    "get",
    "list_variants",
    "profile",
    "register",
    "resolve",
]

if TYPE_CHECKING:
    from incprof.profiling import Profile, profile
    from incprof.registry import Variant, get, list_variants, register
    from incprof.sources import build, resolve
    from incprof.testing import assert_budget

# Where each public name lives, imported on first use.
_HOMES = {
    "profile": "incprof.profiling",
    "Profile": "incprof.profiling",
    "build": "incprof.sources",
    "resolve": "incprof.sources",
    "assert_budget": "incprof.testing",
}


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        return getattr(importlib.import_module(_HOMES.get(name, "incprof.registry")), name)
    raise AttributeError(f"module 'incprof' has no attribute {name!r}")
