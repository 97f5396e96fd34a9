"""The registry: every network, block and factorization variant incprof studies.

Entries are registered by the family modules in :mod:`incprof.models` at import time.
A name that is not registered may still be a ``package.module:callable`` spec, so that
users' own models go through the same analyzers as the registered ones.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from incprof.errors import RegistryError

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
