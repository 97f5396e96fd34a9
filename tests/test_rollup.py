"""The one per-module rollup: which modules a depth shows, and each one's subtree."""

from __future__ import annotations

from incprof.analysis.rollup import shown_modules, subtrees

CALLS = [("a", "Seq"), ("a.b", "Conv"), ("a.b.c", "ReLU"), ("ab", "Linear"), ("a.b", "Conv")]


def test_a_depth_shows_each_module_once_in_the_order_it_first_ran() -> None:
    assert shown_modules(CALLS, 1) == [("a", "Seq"), ("ab", "Linear")]
    assert shown_modules(CALLS, 2) == [("a", "Seq"), ("a.b", "Conv"), ("ab", "Linear")]
    assert shown_modules(CALLS, None) == [
        ("a", "Seq"),
        ("a.b", "Conv"),
        ("a.b.c", "ReLU"),
        ("ab", "Linear"),
    ]


def test_a_subtree_is_the_module_and_the_names_that_continue_it() -> None:
    items = [("a.b.c", 1), ("ab", 2), ("a", 3), ("(root)", 4), ("a.b", 5), ("a.bc", 6)]
    groups = subtrees(["a", "a.b", "ab"], items, lambda item: item[0])
    # 'ab' and 'a.bc' are not inside 'a.b'; 'ab' is not inside 'a'.
    assert [v for _, v in groups["a"]] == [1, 3, 5, 6]
    assert [v for _, v in groups["a.b"]] == [1, 5]
    assert [v for _, v in groups["ab"]] == [2]
