"""ONNX in and out: export any entry to ONNX, and read an ONNX file as a trace.

``onnx`` (and ``onnxruntime``, ``onnxscript`` for the exporter and its check) are an
optional extra; a command that needs them and finds them missing says which extra to
install, in one line (exit 2).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from incprof.errors import InputError

EXTRA = "pip install 'incprof[onnx]'"
SUFFIX = ".onnx"


def is_onnx_path(name: str) -> bool:
    """Whether a variant name is a path to an ONNX file rather than a registered name."""
    return name.lower().endswith(SUFFIX)


def require(package: str = "onnx", *, why: str = "ONNX files") -> ModuleType:
    """Import ``package`` of the onnx extra, or say in one line how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise InputError(f"{why} need the '{package}' package: {EXTRA}") from None
