"""The one JSON reader: hostile files (deep, huge, NaN, not UTF-8) are one line and exit 2
in every command that reads one, never a RecursionError or a 50 MB echo."""

import json

import pytest
from test_hardening import assert_one_line_error, invoke

from incprof import jsonfile
from incprof.baseline import analytic_baseline
from incprof.errors import InputError

DEEP = "[" * 100_000 + "]" * 100_000


def test_nesting_depth_is_counted_outside_strings_and_without_recursion():
    assert jsonfile.nesting_depth('{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert jsonfile.nesting_depth(DEEP) == jsonfile.MAX_DEPTH + 1  # stopped, not recursed
    assert jsonfile.nesting_depth(r'["\"[[[["]') == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP, f"nested over {jsonfile.MAX_DEPTH} levels deep"),
        ('{"peak": NaN}', "NaN is not a number JSON allows"),
        ('{"peak": -Infinity}', "-Infinity is not a number JSON allows"),
        ("[" + "9" * 5000 + "]", "is not JSON incprof reads"),
        ("{oops", "is not JSON: Expecting property name"),
    ],
)
def test_every_hostile_text_is_one_input_error(tmp_path, text, message):
    path = tmp_path / "hostile.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as caught:
        jsonfile.read_json(path, what="baseline")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"baseline {path}")


def test_a_file_over_the_cap_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonfile, "MAX_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(["x" * 2000]))
    with pytest.raises(InputError, match="is over 0 MiB"):
        jsonfile.read_json(path)


def test_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "utf16.json"
    path.write_text("{}", encoding="utf-16")
    with pytest.raises(InputError, match="not UTF-8 text"):
        jsonfile.read_json(path)


def test_clip_cuts_long_and_multiline_text():
    assert jsonfile.clip("short") == "short"
    cut = jsonfile.clip("x" * 10_000)
    assert len(cut) == jsonfile.SHOWN_CHARS and cut.endswith("…")
    assert jsonfile.clip("two\nlines") == "two lines"


@pytest.fixture
def deep_file(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(DEEP)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["check", "{f}"],
        ["check", "{f}", "--update"],
        ["predict", "googlenet", "--profile", "{f}"],
    ],
)
def test_deeply_nested_files_are_one_line_in_every_command(deep_file, args):
    result = invoke(*[a.replace("{f}", str(deep_file)) for a in args])
    assert_one_line_error(result, f"nested over {jsonfile.MAX_DEPTH} levels deep")


def test_a_baseline_nested_inside_its_entries_is_refused(tmp_path):
    data = analytic_baseline(["googlenet"])
    entry = data["entries"][0]
    for _ in range(40):
        entry = {"nested": entry}
    data["entries"][0] = entry
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data))
    assert_one_line_error(invoke("check", str(path)), "levels deep")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda data: data["entries"][0].update(variant="v" * 2_000_000),
        lambda data: data["entries"][0].update(macs="9" * 2_000_000),
        lambda data: data.update(kind="k" * 2_000_000),
        lambda data: data.update(version="1" * 2_000_000),
    ],
    ids=["variant", "metric", "kind", "version"],
)
def test_a_huge_string_in_a_baseline_is_not_echoed(tmp_path, tamper):
    data = analytic_baseline(["googlenet"])
    tamper(data)
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data))
    result = invoke("check", str(path))
    assert_one_line_error(result, str(path))
    assert len(result.output) < len(str(path)) + 300
