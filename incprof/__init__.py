"""incprof: what each Inception design decision costs."""

from incprof.registry import Variant, build, get, list_variants, register, resolve

__version__ = "0.1.0"

__all__ = ["Variant", "__version__", "build", "get", "list_variants", "register", "resolve"]
