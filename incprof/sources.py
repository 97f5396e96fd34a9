"""Where a model comes from: a registered name, a user's ``package.module:callable``, a
``torchvision:NAME`` or ``timm:NAME`` model, or an ``.onnx`` file, each resolved to one
:class:`~incprof.registry.Variant` that every analyzer takes.

Kept apart from :mod:`incprof.registry` (the table of names, which imports nothing of
incprof's analysis) because resolving an ``.onnx`` file needs its reader, which traces.
Code named by a *file* is imported only with the user's consent (:func:`require_consent`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Collection
from typing import Any

from torch import nn

from incprof.errors import RegistryError, error_line
from incprof.jsonfile import clip
from incprof.registry import InputShape, Variant, get


def is_user_spec(name: str) -> bool:
    """``package.module:callable`` names a user's model rather than a registered one."""
    return ":" in name


def imported_module(name: str) -> str | None:
    """The module that resolving ``name`` would import: ``package.module`` of a
    ``package.module:callable`` spec; None for a registered name or an ``.onnx`` file,
    which are read as data and run no code of their own."""
    if name.lower().endswith(".onnx") or not is_user_spec(name):
        return None
    return name.partition(":")[0]


def allows_import(module: str, allowed: Collection[str]) -> bool:
    """Whether consenting to ``allowed`` covers ``module`` (a package covers its modules)."""
    return any(module == a or module.startswith(f"{a}.") for a in allowed)


class ConsentError(RegistryError):
    """A file names code to import that the user has not allowed; ``module`` is what it
    would import, so that the command line can say how to allow it."""

    def __init__(self, message: str, module: str) -> None:
        super().__init__(message)
        self.module = module


def require_consent(name: str, allowed: Collection[str], where: str) -> None:
    """Refuse a name a *file* gave that would import code the user did not consent to.

    A data file must never decide what code runs: a baseline committed to a repository
    would otherwise run any module importable there in the CI job that checks it. Names
    the user typed need no consent; registered names never import anything.
    """
    module = imported_module(name)
    if module is not None and not allows_import(module, allowed):
        raise ConsentError(
            f"{where} names {clip(name)!r}, which would import the module {clip(module)!r}; "
            "incprof imports code named by a file only with your consent",
            module,
        )


DEFAULT_USER_INPUT: InputShape = (3, 224, 224)


def load_user_variant(spec: str, input_shape: InputShape | None = None) -> Variant:
    """A variant for ``package.module:callable``, a callable that returns an ``nn.Module``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RegistryError(f"{spec!r} is not of the form package.module:callable")
    # As `python -m` would, find a module in the working directory; appended, so that a
    # file there never shadows an installed package.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    # Any import-time failure is the user's module, not ours; SystemExit included (a
    # training script that parses its command line when imported).
    except (Exception, SystemExit) as exc:
        raise RegistryError(f"cannot import {module_name!r}: {error_line(exc)}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise RegistryError(f"{module_name!r} has no attribute {attr!r}")
    if not callable(target):
        raise RegistryError(f"{spec!r} is not callable")

    def builder(**overrides: Any) -> nn.Module:
        try:
            model = target(**overrides)
        except (Exception, SystemExit) as exc:
            raise RegistryError(f"{spec} raised {error_line(exc)}") from None
        if not isinstance(model, nn.Module):
            raise RegistryError(f"{spec} returned {type(model).__name__}, not an nn.Module")
        return model

    return _brought(spec, builder, input_shape, "user model")


def _brought(
    spec: str, builder: Callable[..., nn.Module], input_shape: InputShape | None, what: str
) -> Variant:
    """A variant a user brings (not registered): analysed at their input, else 3x224x224."""
    return Variant(
        name=spec,
        family="user",
        tag="user",
        builder=builder,
        input_shape=input_shape or DEFAULT_USER_INPUT,
        reproduces=what,
    )


# ``PACKAGE:NAME`` model zoos: the package, and how it builds NAME without weights.
ZOOS: dict[str, Callable[[Any, str], nn.Module]] = {
    "torchvision": lambda package, name: package.models.get_model(name, weights=None),
    "timm": lambda package, name: package.create_model(name, pretrained=False),
}


def zoo_variant(spec: str, input_shape: InputShape | None = None) -> Variant:
    """A variant for ``torchvision:NAME`` or ``timm:NAME``, built without weights. The
    package is imported as it is installed; when it is not, one line names it."""
    zoo, _, model = spec.partition(":")
    try:
        package = importlib.import_module(zoo)
    except (Exception, SystemExit) as exc:
        raise RegistryError(
            f"{spec!r} needs the {zoo} package, which cannot be imported ({error_line(exc)})"
        ) from None
    build_model = ZOOS[zoo]

    def builder(**overrides: Any) -> nn.Module:
        try:
            return build_model(package, model)
        except (Exception, SystemExit) as exc:
            raise RegistryError(f"{zoo} cannot build {model!r}: {error_line(exc)}") from None

    return _brought(spec, builder, input_shape, f"{zoo} model")


def resolve(name: str, input_shape: InputShape | None = None) -> Variant:
    """A registered variant, a ``module:callable`` user model, a ``torchvision:NAME`` or
    ``timm:NAME`` model or a ``.onnx`` file."""
    if name.partition(":")[0] in ZOOS and ":" in name:
        return zoo_variant(name, input_shape)
    if name.lower().endswith(".onnx"):
        from incprof.onnx.reader import onnx_variant

        if input_shape is not None and (
            not isinstance(input_shape, tuple) or len(input_shape) != 3
        ):
            raise RegistryError(f"{name}: an .onnx file takes one CxHxW input; got {input_shape}")

        return onnx_variant(name, input_shape)
    if is_user_spec(name):
        return load_user_variant(name, input_shape)
    return get(name)


def build(name: str, **overrides: Any) -> nn.Module:
    """Build a registered variant (or ``module:callable``) with builder overrides."""
    return resolve(name).build(**overrides)
