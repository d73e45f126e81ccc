"""The run alarm rule (linecheck.alarms): what holds over a line's newest frames, and the YAML it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from linecheck.alarms import MAX_EVIDENCE, MIN_HISTORY, AlarmConfig, JudgedFrame, evaluate, marks_of
from linecheck.config import LineConfig, load_line

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def frames(verdicts: str, marks: dict[int, list[tuple[str, str]]] | None = None) -> list[JudgedFrame]:
    """One frame per letter (p pass, f fail, n not_inspected), a minute apart; ``marks`` by index."""
    names = {"p": "pass", "f": "fail", "n": "not_inspected"}
    return [
        JudgedFrame(
            inspection_id=f"i{i}",
            captured_at=T0 + timedelta(minutes=i),
            verdict=names[v],
            marks=marks_of((marks or {}).get(i, [])),
        )
        for i, v in enumerate(verdicts)
    ]


def rules(**raw: Any) -> AlarmConfig:
    return AlarmConfig.model_validate(raw)


def test_failures_in_a_row_raise_from_the_nth_and_a_pass_ends_them() -> None:
    config = rules(consecutive_fail=3)
    assert evaluate(config, frames("pff")) == []
    (hit,) = evaluate(config, frames("pfff"))
    assert (hit.key, hit.rule, hit.count, hit.of) == ("consecutive_fail", "consecutive_fail", 3, 3)
    assert hit.since == T0 + timedelta(minutes=1)  # the first of the run
    assert hit.inspection_ids == ("i1", "i2", "i3")
    assert hit.message == "3 frames in a row failed"
    assert evaluate(config, frames("pffffp")) == []  # the newest frame passed: no run any more
    assert evaluate(config, frames("ffnf")) == []  # a frame that could not be judged breaks it too
    (longer,) = evaluate(config, frames("ffffff"))
    assert longer.count == 6 and longer.since == T0


def test_frames_that_could_not_be_judged_have_a_rule_of_their_own() -> None:
    config = rules(consecutive_not_inspected=2)
    assert evaluate(config, frames("fnf")) == []
    (hit,) = evaluate(config, frames("fnn"))
    assert hit.rule == "consecutive_not_inspected" and hit.count == 2
    assert "could not be inspected" in hit.message


def test_a_fail_rate_is_judged_only_over_a_full_window_and_above_its_limit() -> None:
    config = rules(fail_rate={"window": 10, "above": 0.3})
    assert evaluate(config, frames("ffffffppp")) == []  # 9 frames: the window is not full yet
    assert evaluate(config, frames("pppfffpppp")) == []  # exactly 30 %: not above
    (hit,) = evaluate(config, frames("ppppfpfpfpf"))  # the newest 10: 4 failed
    assert (hit.rule, hit.count, hit.of) == ("fail_rate", 4, 10)
    assert hit.since == T0 + timedelta(minutes=4)  # the first failed frame of the window
    assert hit.message == "4 of the last 10 frames failed (40%, over 30%)"
    assert evaluate(config, frames("ffffffpppppppppp")) == []  # the early failures left the window


def test_one_class_at_one_place_repeating_raises_one_alarm_per_place() -> None:
    config = rules(repeat={"window": 6, "count": 3})
    crack_r3c7 = ("crack", "cell:r3c7")
    marks = {
        0: [crack_r3c7],  # outside the newest 6 below
        2: [crack_r3c7, ("crack", "cell:r0c0")],
        4: [crack_r3c7, ("finger", "cell:r3c7")],
        5: [("crack", "cell:r0c0")],
        6: [crack_r3c7],
    }
    (hit,) = evaluate(config, frames("fpfpfff", marks))
    assert hit.key == "repeat:crack@cell:r3c7"
    assert (hit.class_name, hit.location_key, hit.count, hit.of) == ("crack", "cell:r3c7", 3, 6)
    assert hit.since == T0 + timedelta(minutes=2) and hit.inspection_ids == ("i2", "i4", "i6")
    assert hit.message == "crack at cell:r3c7 in 3 of the last 6 frames"
    marks[3] = [("crack", "cell:r0c0")]  # now the other cell repeats too: two alarms, most frames first
    hits = evaluate(config, frames("fpffffff", {**marks, 7: [("crack", "cell:r0c0")]}))
    assert [h.key for h in hits] == ["repeat:crack@cell:r0c0", "repeat:crack@cell:r3c7"]
    assert [h.count for h in hits] == [4, 3]


def test_a_repeat_watches_only_its_classes_and_located_defects() -> None:
    watched = rules(repeat={"window": 5, "count": 2, "classes": ["scratch"]})
    marks = {0: [("dent", "zone:face")], 1: [("dent", "zone:face")], 2: [("scratch", "zone:face")]}
    assert evaluate(watched, frames("fff", marks)) == []  # dents repeat, but only scratches are watched
    assert marks_of([("scratch", None), ("scratch", ""), ("dent", "zone:bore")]) == {("dent", "zone:bore")}


def test_rules_report_in_a_fixed_order_and_carry_bounded_evidence() -> None:
    config = rules(
        consecutive_fail=2, fail_rate={"window": 10, "above": 0.5}, repeat={"window": 10, "count": 2}
    )
    many = frames("f" * 120, {i: [("hole", "across:1.2m")] for i in range(120)})
    hits = evaluate(config, many)
    assert [h.rule for h in hits] == ["consecutive_fail", "fail_rate", "repeat"]
    streak = hits[0]
    assert streak.count == 120 and len(streak.inspection_ids) == MAX_EVIDENCE
    assert streak.inspection_ids[-1] == "i119"  # the newest kept
    assert streak.as_json()["since"] == T0.isoformat()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "set at least one"),
        ({"consecutive_fail": 1}, "consecutive_fail"),
        ({"fail_rate": {"window": 5, "above": 0.5}}, "window"),
        ({"fail_rate": {"window": 50, "above": 1.0}}, "above"),
        ({"repeat": {"window": 4, "count": 5}}, "count=5 is more than window=4"),
        ({"repeat": {"window": 100_000, "count": 5}}, "window"),
        ({"consecutive_fail": 3, "stop": True}, "stop"),
    ],
)
def test_a_bad_alarms_section_is_refused_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        AlarmConfig.model_validate(raw)


def test_the_window_is_the_longest_rule_and_at_least_the_history_a_run_is_followed_over() -> None:
    assert rules(consecutive_fail=3).window == MIN_HISTORY
    assert rules(consecutive_fail=3, repeat={"window": 400, "count": 4}).window == 400
    assert rules(fail_rate={"window": 200, "above": 0.1}, consecutive_not_inspected=900).window == 900


def _line(**extra: Any) -> dict[str, Any]:
    base = load_line(ROOT / "configs" / "lines" / "bearing-01.yaml").model_dump(mode="json")
    return {**base, **extra}


def test_a_line_yaml_checks_its_alarms_against_the_line() -> None:
    line = LineConfig.model_validate(_line(alarms={"repeat": {"window": 5, "count": 2, "classes": ["rust"]}}))
    assert line.alarms is not None and line.alarms.repeat is not None and line.alarms.latch is True
    with pytest.raises(ValidationError, match=r"alarms.repeat.classes names \['crack_x'\]"):
        LineConfig.model_validate(_line(alarms={"repeat": {"window": 5, "count": 2, "classes": ["crack_x"]}}))
    modbus = {"host": "127.0.0.1", "coil": 3, "alarm_coil": 4}
    with pytest.raises(ValidationError, match="alarm_coil is set, but the line has no alarms"):
        LineConfig.model_validate(_line(outputs={"modbus": modbus}))
    with pytest.raises(ValidationError, match="alarm_coil=3 is the reject coil"):
        LineConfig.model_validate(
            _line(alarms={"consecutive_fail": 3}, outputs={"modbus": {**modbus, "alarm_coil": 3}})
        )
    ok = LineConfig.model_validate(_line(alarms={"consecutive_fail": 3}, outputs={"modbus": modbus}))
    assert ok.alarms is not None
