from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linecheck.datasets.issues import IssueList, Severity
from linecheck.datasets.labels import parse_label_text, read_label_file

LABEL = Path("labels/train/a.txt")


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("0 0.5 0.5 0.2", "label.fields", 1),
        ("0 0.5 0.5 0.2 0.2 0.1", "label.fields", 1),
        ("0 0.1 0.1 0.2 0.1 0.2 0.2 0.3 0.3", "label.fields", 1),
        ("0 0.5 0.5 0.2 0.2\nzero 0.5 0.5 0.2 0.2", "label.number", 2),
        ("0 0.5 abc 0.2 0.2", "label.number", 1),
        ("0 0.5 nan 0.2 0.2", "label.number", 1),
        ("0 0.5 0.5 inf 0.2", "label.number", 1),
        ("1.5 0.5 0.5 0.2 0.2", "label.class_not_int", 1),
        ("2 0.5 0.5 0.2 0.2", "label.class_unknown", 1),
        ("-1 0.5 0.5 0.2 0.2", "label.class_unknown", 1),
        ("\n\n0 1.5 0.5 0.2 0.2", "label.coord_range", 3),
        ("0 0.5 0.5 0.2 -0.2", "label.coord_range", 1),
        ("0 0.5 0.5 0 0.2", "label.size", 1),
        ("0 0.5 0.5 0.2 0.0", "label.size", 1),
        ("0 0.95 0.5 0.2 0.2", "label.outside", 1),
        ("0 0.5 0.02 0.2 0.1", "label.outside", 1),
    ],
)
def test_each_bad_line_is_reported_with_its_code_and_line(text: str, code: str, line: int) -> None:
    issues = IssueList()
    boxes = parse_label_text(text, LABEL, 2, issues)
    errors = issues.errors
    assert [(i.code, i.line, i.path) for i in errors] == [(code, line, LABEL)]
    assert errors[0].message  # says what arrived
    good_lines = 1 if text.startswith("0 0.5 0.5 0.2 0.2\n") else 0  # the bad line is left out
    assert boxes.shape == (good_lines, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("\n  \n", []),
        ("1 0.5 0.5 0.2 0.2\n", [[1, 0.5, 0.5, 0.2, 0.2]]),
        ("0 0.5 0.5 1 1", [[0, 0.5, 0.5, 1, 1]]),
        ("1.0 0.25 0.75 0.5 0.5", [[1, 0.25, 0.75, 0.5, 0.5]]),  # integral float class, as Ultralytics
        ("0 0.9995 0.5 0.002 0.2", [[0, 0.9995, 0.5, 0.002, 0.2]]),  # within the edge tolerance
        ("0\t0.1 0.1   0.2 0.2\r\n1 0.3 0.3 0.2 0.2", [[0, 0.1, 0.1, 0.2, 0.2], [1, 0.3, 0.3, 0.2, 0.2]]),
    ],
)
def test_valid_lines_parse_without_issues(text: str, expected: list[list[float]]) -> None:
    issues = IssueList()
    boxes = parse_label_text(text, LABEL, 2, issues)
    assert list(issues) == []
    np.testing.assert_allclose(boxes, np.asarray(expected, dtype=np.float64).reshape(-1, 5))


def test_duplicate_line_is_a_warning_and_kept_once() -> None:
    issues = IssueList()
    boxes = parse_label_text("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n", LABEL, 1, issues)
    assert boxes.shape == (1, 5)
    assert [(i.code, i.severity, i.line) for i in issues] == [("label.duplicate", Severity.WARNING, 2)]


def test_bad_lines_are_all_reported_and_good_lines_kept() -> None:
    issues = IssueList()
    text = "0 0.5 0.5 0.2 0.2\nx 1 1 1 1\n0 0.5 0.5 0.2\n1 0.2 0.2 0.1 0.1\n"
    boxes = parse_label_text(text, LABEL, 2, issues)
    assert [(i.code, i.line) for i in issues] == [("label.number", 2), ("label.fields", 3)]
    assert boxes[:, 0].tolist() == [0.0, 1.0]


def test_label_file_with_bom_reads_and_non_utf8_is_reported(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes("\ufeff0 0.5 0.5 0.2 0.2\n".encode())
    issues = IssueList()
    assert read_label_file(good, 1, issues).shape == (1, 5)
    assert list(issues) == []

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"0 0.5 0.5 0.2 0.2\n\xff\xfe\x00garbage")
    assert read_label_file(bad, 1, issues).shape == (0, 5)
    assert [(i.code, i.path) for i in issues] == [("label.encoding", bad)]
