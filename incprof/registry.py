"""The registry: every network, block and factorization variant incprof studies.

Entries are registered by the family modules in :mod:`incprof.models` at import time.
A name that is not registered may still be a ``package.module:callable`` spec, so that
users' own models go through the same analyzers as the registered ones.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from incprof.errors import RegistryError, error_line
from incprof.jsonfile import clip

Tag = Literal["network", "block", "factorization", "user"]
TAGS: tuple[Tag, ...] = ("network", "block", "factorization")
InputShape = tuple[int, int, int]


@dataclass(frozen=True)
class Accuracy:
    """Published ImageNet accuracy (percent) and where it was published."""

    top1: float | None
    top5: float | None
    source: str


@dataclass(frozen=True)
class Variant:
    """One registered architecture and the facts the tool reports about it."""

    name: str
    family: str
    tag: Tag
    builder: Callable[..., nn.Module]
    input_shape: InputShape
    reproduces: str
    differences: str = ""
    accuracy: Accuracy | None = None
    aliases: tuple[str, ...] = ()
    # Module names whose outputs are the network's end points, in forward order.
    end_points: tuple[str, ...] = ()
    # A family's reference variant: the alternative the others are compared with.
    reference: bool = False
    # For parametric variants (blocks, factorizations): the input shape for given overrides.
    input_shape_for: Callable[[Mapping[str, Any]], InputShape] | None = field(
        default=None, compare=False
    )
    # A variant with no module to run (an ONNX file): its trace at (input, batch, training).
    trace_source: Callable[[InputShape, int, bool], Any] | None = field(default=None, compare=False)

    def build(self, **overrides: Any) -> nn.Module:
        """The module as registered (aux heads included), with builder overrides applied."""
        return self.builder(**overrides)

    def input_for(self, overrides: Mapping[str, Any] | None = None) -> InputShape:
        """The default input (C, H, W), following overrides such as ``channels``/``grid``."""
        if overrides and self.input_shape_for is not None:
            return self.input_shape_for(overrides)
        return self.input_shape


_VARIANTS: dict[str, Variant] = {}
_ALIASES: dict[str, str] = {}


def register(variant: Variant) -> Variant:
    """Add a variant; a name or alias that is already taken raises."""
    if variant.tag not in TAGS:
        raise RegistryError(f"tag {variant.tag!r} is not one of {', '.join(TAGS)}")
    for key in (variant.name, *variant.aliases):
        if key in _VARIANTS or key in _ALIASES:
            raise RegistryError(f"variant name {key!r} is already registered")
    _VARIANTS[variant.name] = variant
    for alias in variant.aliases:
        _ALIASES[alias] = variant.name
    return variant


def _ensure_loaded() -> None:
    # Importing the models package registers every family.
    importlib.import_module("incprof.models")


def list_variants(tag: str | None = None) -> list[Variant]:
    """Registered variants in registration order, optionally of one tag."""
    _ensure_loaded()
    if tag is not None and tag not in TAGS:
        raise RegistryError(f"unknown tag {tag!r}; choose one of {', '.join(TAGS)}")
    return [v for v in _VARIANTS.values() if tag is None or v.tag == tag]


def family_members(family: str) -> list[Variant]:
    """Every variant of one family, its reference first."""
    members = [v for v in list_variants() if v.family == family]
    return sorted(members, key=lambda v: not v.reference)


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


def get(name: str) -> Variant:
    """The registered variant called ``name`` (or an alias of it).

    An unknown name raises :class:`RegistryError` with close-match suggestions.
    """
    _ensure_loaded()
    key = _ALIASES.get(name, name)
    if key in _VARIANTS:
        return _VARIANTS[key]
    choices = [*_VARIANTS, *_ALIASES]
    # An alias that is close names its variant: suggest the name 'incprof list' shows.
    matches = difflib.get_close_matches(name, choices, n=6, cutoff=0.5)
    close = list(dict.fromkeys(_ALIASES.get(m, m) for m in matches))[:3]
    hint = f"; did you mean {', '.join(close)}?" if close else "; run 'incprof list' to see them"
    raise RegistryError(f"unknown variant {name!r}{hint}")


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
