"""torchvision and timm for the tests and the zoo check: the one place that works around
the torchvision wheel of this project's registries.

That wheel (torchvision 0.28.0) is a CUDA build: beside the CPU torch its
``_meta_registrations`` module registers a fake kernel for ``torchvision::nms``, an
operator its ``_C`` library (which needs ``libtorch_cuda``) would have defined, and the
import fails. Standing an empty module in for ``_meta_registrations`` lets the models build
and run on the CPU and on ``meta`` (only the detection ops that live in ``_C`` are lost).

Only tests and benchmarks import this; the package itself imports torchvision as it is, so
a user with a matching torchvision never meets the shim.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_SHIMMED = "torchvision._meta_registrations"


def _install_shim() -> None:
    if "torchvision" not in sys.modules and _SHIMMED not in sys.modules:
        sys.modules[_SHIMMED] = types.ModuleType(_SHIMMED)


def torchvision() -> Any:
    """``import torchvision`` that works beside the CPU torch; ImportError if absent."""
    _install_shim()
    return importlib.import_module("torchvision")


def timm() -> Any:
    """``import timm`` (which imports torchvision) through the same shim."""
    _install_shim()
    return importlib.import_module("timm")
