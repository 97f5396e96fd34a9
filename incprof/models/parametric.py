"""The registration kit of parametric entries: single blocks and factorization variants.

Such an entry is a builder studied at one default input, C × grid × grid, that builder
overrides move: the grid by ``grid``, the channels by the builder's own keyword
(``in_channels`` for blocks, which reads like a module's argument; ``channels`` for
factorizations, where input and output widths match by default). The registry reports
the input that follows the overrides, so an analysis of an overridden build runs on the
input it was built for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple

from torch import nn

from incprof.registry import InputShape, Tag, Variant, register


class Setting(NamedTuple):
    """A parametric entry's default input: ``channels`` × ``grid`` × ``grid``."""

    channels: int
    grid: int


def input_shape(setting: Setting, overrides: Mapping[str, Any], *, channels_key: str) -> InputShape:
    """The input (C, H, W) of an entry built with ``overrides``: ``grid`` sets H = W and
    ``channels_key`` names the builder keyword that sets C."""
    grid = overrides.get("grid", setting.grid)
    return (overrides.get(channels_key, setting.channels), grid, grid)


def check_grid(grid: int, smallest: int = 1) -> None:
    """The modules run on any grid; one too small for them fails here, not mid-forward."""
    if grid < smallest:
        raise ValueError(f"grid must be at least {smallest}, got {grid}")


def register_parametric(
    name: str,
    family: str,
    builder: Callable[..., nn.Module],
    setting: Setting,
    reproduces: str,
    differences: str = "",
    *,
    tag: Tag,
    channels_key: str,
    reference: bool = False,
) -> Variant:
    """Register ``builder`` at ``setting``: the setting is bound into the builder (so a
    builder without defaults builds as registered) and the input follows overrides.
    ``reference`` marks the family's alternative the others are compared with."""
    return register(
        Variant(
            name=name,
            family=family,
            tag=tag,
            builder=partial(builder, **{channels_key: setting.channels, "grid": setting.grid}),
            input_shape=input_shape(setting, {}, channels_key=channels_key),
            reproduces=reproduces,
            differences=differences,
            reference=reference,
            input_shape_for=partial(input_shape, setting, channels_key=channels_key),
        )
    )
