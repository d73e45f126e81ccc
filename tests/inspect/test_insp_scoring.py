"""Recall scoring, reason notes and the demo summary document (pure functions)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from linecheck.contract import REASON_MAX_CHARS
from linecheck.inspect.demo_summary import (
    SCHEMA,
    build_summary,
    merge_statuses,
    render_summary,
    summarize_trace,
)
from linecheck.inspect.kinds.base import NOTES_SHOWN, join_notes
from linecheck.inspect.scoring import iou_matrix, match
from linecheck.inspect.verdict import shorten
from linecheck.messages import Verdict


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate boxes do not divide by zero
    ],
)
def test_iou(a: list[float], b: list[float], expected: float) -> None:
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("truth", "found", "expected"),
    [
        ([("hole", [0, 0, 10, 10])], [("hole", [1, 1, 10, 10])], [0]),
        ([("hole", [0, 0, 10, 10])], [("stain", [0, 0, 10, 10])], [None]),  # class must agree
        ([("hole", [0, 0, 10, 10])], [("hole", [7, 7, 17, 17])], [None]),  # IoU 9/191 < 0.3
        # two truths competing for one detection: the better overlap wins, the other is missed
        ([("hole", [0, 0, 10, 10]), ("hole", [2, 0, 12, 10])], [("hole", [2, 0, 12, 10])], [None, 0]),
        (
            [("knot", [0, 0, 10, 10]), ("hole", [50, 50, 60, 60])],
            [("hole", [50, 50, 60, 61]), ("knot", [0, 0, 9, 9])],
            [1, 0],
        ),
        ([], [("hole", [0, 0, 1, 1])], []),
    ],
)
def test_match_is_greedy_one_to_one_and_class_aware(truth: list, found: list, expected: list) -> None:
    got = match(
        np.array([b for _, b in truth], np.float32),
        [c for c, _ in truth],
        np.array([b for _, b in found], np.float32),
        [c for c, _ in found],
    )
    assert got == expected


@pytest.mark.parametrize("n", [0, 1, NOTES_SHOWN, NOTES_SHOWN + 3])
def test_join_notes_counts_what_it_leaves_out(n: int) -> None:
    notes = [f"note{i}" for i in range(n)]
    text = join_notes("grade C", notes)
    assert text.startswith("grade C")
    assert text.count("note") == min(n, NOTES_SHOWN)
    assert ("(+3 more)" in text) == (n > NOTES_SHOWN)


def test_shorten_keeps_short_text_and_cuts_long() -> None:
    assert shorten("abc", 5) == "abc"
    assert shorten("abcdefgh", 5) == "abcd…" and len(shorten("x" * 9000)) == REASON_MAX_CHARS


def _status(line_id: str, kind: str, frames: int, samples: int) -> dict:
    return {
        "elapsed_s": 10.0 + samples,
        "lines": {
            line_id: {
                "kind": kind,
                "frames_in": frames,
                "units": frames // 2,
                "verdicts": {"pass": frames - 1, "fail": 1},
                "unit_verdicts": {"pass": 1},
                "codes": {"read": frames - 1, "code_unread": 1},
                "defects": {"crack": 2},
                "not_inspected_causes": {},
            }
        },
        "models": {kind: {"connected": True}},
        "outbox": {"pending": 0, "sent": frames, "rejected": 0},
        "sender": {"online": True, "last_error": None},
    }


def test_summary_document_has_stable_keys() -> None:
    merged = merge_statuses(
        {"a": _status("bearing-01", "bearing", 10, 1), "b": _status("pv-01", "pv", 6, 2)},
        [10.0, 20.0, 30.0, 40.0],
    )
    assert merged["frames_in"] == 16 and merged["elapsed_s"] == 12.0
    assert merged["latency_ms_p50"] == pytest.approx(25.0)
    summary = build_summary(
        status=merged,
        duration_s=8.0,
        api_url="http://x",
        models={"pv": "1"},
        recall={"iou": 0.3, "overall": {"recall": 1.0, "truth": 1, "found": 1}, "lines": {}},
        traces=[],
    )
    assert summary["schema"] == SCHEMA
    assert set(summary) == {
        "schema",
        "duration_s",
        "api_url",
        "models",
        "totals",
        "latency_ms",
        "outbox",
        "recall",
        "lines",
        "traces",
        "per_model",
        "outputs",
        "verification",
        "holds",
    }
    assert summary["verification"] == {} and summary["holds"] == []  # lines with challenge parts only
    assert summary["outputs"] == {}  # the demo fills it with what the line outputs' peers received
    assert summary["per_model"] == {}  # lines running several models only
    assert summary["totals"] == {
        "frames": 16,
        "units": 8,
        "frames_per_s": 2.0,
        "verdicts": {"pass": 14, "fail": 2, "not_inspected": 0},
        "code_unread": 2,
        "defects": 4,
    }
    assert summary["outbox"] == {"pending": 0, "sent": 16, "rejected": 0}
    assert list(summary["lines"]) == ["bearing-01", "pv-01"]


def test_a_missed_challenge_part_and_its_hold_are_rendered_in_red_with_the_sorting_list() -> None:
    from rich.console import Console

    status = merge_statuses({"a": _status("bearing-01", "bearing", 10, 1)}, [10.0])
    verification = {
        "bearing-01": {
            "state": "failed",
            "problem": "challenge part BR9900000001 was judged pass, expected fail with crack",
            "due_at": None,
            "suspect_since": "2026-12-02T08:00:00Z",
            "parts": [
                {"code": "BR9900000001", "expect": "fail", "classes": ["crack"], "met": False,
                 "verdict": "pass", "found_classes": []},
                {"code": "BR9900000003", "expect": "pass", "classes": [], "met": None,
                 "verdict": None, "found_classes": []},
            ],
        }
    }  # fmt: skip
    holds = [
        {"id": 7, "line_id": "bearing-01", "cause": "verification", "since": "2026-12-02T08:00:00Z",
         "until": "2026-12-02T09:00:00Z", "units": 40, "held": 39}
    ]  # fmt: skip
    summary = build_summary(
        status=status,
        duration_s=8.0,
        api_url="http://x",
        models={},
        recall={"iou": 0.3, "overall": {"recall": 1.0, "truth": 1, "found": 1}, "lines": {}},
        traces=[],
        verification=verification,
        holds=holds,
    )
    console = Console(record=True, width=160, color_system=None)
    render_summary(summary, console)
    text = console.export_text()
    assert "Error-proofing" in text and "failed" in text
    assert "BR9900000001" in text and "not run" in text  # the master was never run
    assert "expected fail with crack" in text
    assert "hold 7 on bearing-01 (verification): 39 of 40 units" in text and "/v1/holds/7/units" in text


def test_trace_gist() -> None:
    trace = {
        "code": "PV000000000003",
        "unit": {"code": "PV000000000003", "kind": "pv", "line_id": "pv-01"},
        "inspections": [
            {
                "verdict": "fail",
                "defects": [{"class_name": "crack", "confidence": 0.9, "location": {"row": 1, "col": 2}}],
            },
            {"verdict": "pass", "defects": []},
        ],
        "model_versions": [{"model_name": "pv", "model_version": "2"}],
    }
    gist = summarize_trace(trace)
    assert gist["verdicts"] == {"fail": 1, "pass": 1} and gist["inspections"] == 2
    assert gist["defects"] == [{"class_name": "crack", "confidence": 0.9, "location": {"row": 1, "col": 2}}]
    assert gist["model_versions"] == ["pv v2"] and gist["line_id"] == "pv-01"


def test_model_tally_counts_each_models_defects_and_false_rejects() -> None:
    from linecheck.inspect.demo_models import ModelTally

    tally = ModelTally(
        {
            "textile-01": [("textile", ("hole", "stain")), ("textile-anomaly", ("anomaly",))],
            "pv-01": [("pv", ("crack",))],
        }
    )
    cases = [((), ()), (("stain", "anomaly"), (1,)), (("anomaly",), ()), (("anomaly", "anomaly"), (0,))]
    for classes, truth in cases:
        result = SimpleNamespace(
            line_id="textile-01",
            verdict=Verdict.FAIL if classes else Verdict.PASS,
            defects=[SimpleNamespace(class_name=c) for c in classes],
        )
        inferred = SimpleNamespace(coded=SimpleNamespace(frame=SimpleNamespace(meta={"gt_class_ids": truth})))
        tally.observe(result, inferred)  # type: ignore[arg-type]
    summary = tally.summary()
    assert set(summary) == {"textile-01"}  # one model: nothing to compare
    assert summary["textile-01"]["textile"] == {
        "frames": 4, "defects": 1, "frames_failed": 1, "good_frames_failed": 0, "defective_frames_failed": 1,
    }  # fmt: skip
    assert summary["textile-01"]["textile-anomaly"] == {
        "frames": 4, "defects": 4, "frames_failed": 3, "good_frames_failed": 1, "defective_frames_failed": 2,
    }  # fmt: skip
