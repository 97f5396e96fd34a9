"""The per-module rollup every table by module shares: which modules a depth shows, and
each one's items (priced ops, traffic rows, predicted times) from its whole subtree.

A module's subtree is itself and every module whose dotted name continues its own
(``Mixed_5b`` holds ``Mixed_5b.branch1x1.conv``). Each item is filed under its module and
that module's ancestors in one pass, rather than every module scanning every item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def shown_modules(calls: Iterable[tuple[str, str]], depth: int | None) -> list[tuple[str, str]]:
    """(name, type) of each module at most ``depth`` dots deep (None: every one), once,
    in the order they first ran."""
    shown: dict[str, str] = {}
    for name, type_ in calls:
        if name not in shown and (depth is None or name.count(".") + 1 <= depth):
            shown[name] = type_
    return list(shown.items())


def subtrees(
    names: Iterable[str], items: Iterable[T], module_of: Callable[[T], str]
) -> dict[str, list[T]]:
    """For each of ``names``, the items issued in that module or below it, in order."""
    groups: dict[str, list[T]] = {name: [] for name in names}
    for item in items:
        module = module_of(item)
        while True:
            found = groups.get(module)
            if found is not None:
                found.append(item)
            module, dot, _ = module.rpartition(".")
            if not dot:
                break
    return groups
