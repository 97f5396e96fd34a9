"""Rendering of flat records: the formats a script or a reader relies on."""

import json

from incprof.report.tables import render

RECORDS = [
    {"variant": "a", "params": 1234567, "ratio": 0.5, "note": "1×1 | 3×3\nsecond line"},
    {"variant": "b", "params": 7, "ratio": None, "note": ""},
]


def test_markdown_escapes_pipes_and_line_breaks_so_rows_keep_their_columns():
    lines = render(RECORDS, "markdown").splitlines()
    assert len(lines) == 4  # header, rule, two rows
    # Every line has the same number of unescaped column separators.
    separators = {line.replace("\\|", "").count("|") for line in lines}
    assert separators == {5}
    assert "1×1 \\| 3×3 second line" in lines[2]


def test_console_table_groups_thousands_and_clips_nothing_short():
    text = render(RECORDS, "table")
    assert "1,234,567" in text and "0.5" in text


def test_json_keeps_numbers_as_numbers_and_blank_as_null():
    rows = json.loads(render(RECORDS, "json"))
    assert rows[0]["params"] == 1234567 and rows[1]["ratio"] is None


def test_csv_has_a_header_and_one_line_per_record():
    lines = render(RECORDS, "csv").splitlines()
    assert lines[0] == "variant,params,ratio,note"
    assert lines[-1] == "b,7,,"
