"""YOLO label files: one ``class cx cy w h`` line per box, normalised to [0, 1]; empty file = no boxes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from linecheck.datasets.boxes import YoloBoxes, empty_boxes, format_label_lines
from linecheck.datasets.issues import DatasetIssue, IssueSink, Severity
from linecheck.text_files import decode_text

#: How far (in image fractions) a box edge may stick out of the image before it is an error;
#: covers rounding by tools that write fewer decimals.
EDGE_TOLERANCE = 1e-3
_VALUE_TOLERANCE = 1e-6
_FIELDS = ("class", "cx", "cy", "w", "h")


def _parse_class(text: str) -> int | str:
    """The class id in ``text``, or the reason it is not one (``'number'`` / ``'integer'``)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return "number"
    if not math.isfinite(value):
        return "number"
    return int(value) if value.is_integer() else "integer"


def parse_label_text(text: str, path: Path, nc: int, sink: IssueSink) -> YoloBoxes:
    """Parse label-file ``text`` for a dataset with ``nc`` classes.

    Every problem goes to ``sink`` with ``path`` and the line number; lines with a problem are
    left out of the result, duplicate lines are kept once (a warning).
    """
    rows: list[tuple[float, ...]] = []
    seen: set[tuple[float, ...]] = set()

    def report(line: int, code: str, message: str, severity: Severity = Severity.ERROR) -> None:
        sink(DatasetIssue(code=code, severity=severity, path=path, line=line, message=message))

    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != len(_FIELDS):
            report(
                number,
                "label.fields",
                f"expected 5 fields 'class cx cy w h', got {len(fields)}: {raw.strip()!r}",
            )
            continue
        cls = _parse_class(fields[0])
        if cls == "number":
            report(number, "label.number", f"class={fields[0]!r} is not a number")
            continue
        if cls == "integer":
            report(number, "label.class_not_int", f"class={fields[0]!r} is not an integer class id")
            continue
        values: list[float] = []
        for name, field in zip(_FIELDS[1:], fields[1:], strict=True):
            try:
                value = float(field)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                report(number, "label.number", f"{name}={field!r} is not a finite number")
                break
            values.append(value)
        else:
            assert isinstance(cls, int)
            problem = check_row(cls, values, nc)
            if problem is not None:
                report(number, *problem)
                continue
            row = (float(cls), *values)
            if row in seen:
                report(number, "label.duplicate", "duplicate of an earlier line", Severity.WARNING)
                continue
            seen.add(row)
            rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5) if rows else empty_boxes()


def check_row(cls: int, values: list[float], nc: int) -> tuple[str, str] | None:
    """Range checks of one parsed row ``cx cy w h``: None when fine, else ``(code, message)``."""
    cx, cy, w, h = values
    if cls < 0 or cls >= nc:
        return "label.class_unknown", f"class={cls} is not a class id of this dataset (0..{nc - 1})"
    for name, value in zip(_FIELDS[1:], values, strict=True):
        if value < -_VALUE_TOLERANCE or value > 1 + _VALUE_TOLERANCE:
            return "label.coord_range", f"{name}={value:g} is outside [0, 1] (labels must be normalised)"
    if w <= 0 or h <= 0:
        return "label.size", f"box size w={w:g} h={h:g}: expected both > 0"
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if min(x1, y1) < -EDGE_TOLERANCE or max(x2, y2) > 1 + EDGE_TOLERANCE:
        return (
            "label.outside",
            f"box x1={x1:.4f} y1={y1:.4f} x2={x2:.4f} y2={y2:.4f} extends outside the image [0, 1]",
        )
    return None


def read_label_file(path: Path, nc: int, sink: IssueSink) -> YoloBoxes:
    """Read and parse the label file at ``path`` (UTF-8, or the encoding of its byte-order mark)."""
    try:
        text = decode_text(path.read_bytes())
    except UnicodeDecodeError as exc:
        sink(
            DatasetIssue(
                code="label.encoding",
                severity=Severity.ERROR,
                path=path,
                message=f"label file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            )
        )
        return empty_boxes()
    return parse_label_text(text, path, nc, sink)


def write_label_file(path: Path, boxes: YoloBoxes) -> None:
    """Write ``boxes`` to ``path`` (an empty file when there are none), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_label_lines(boxes), encoding="utf-8")
