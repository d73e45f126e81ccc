"""Run alarms (andon): rules over a line's newest judged frames that tell the line to stop and look.

A vision station judges each unit on its own, but a process going wrong shows *across* units: a worn
grinding wheel scratches every ring's outer race, a stringer cracks the same cell of every module, a
damaged reed marks the fabric at the same place across the width, frame after frame. Each of those units
is rejected, correctly, while the line goes on making them. The line YAML says when that is an alarm::

    alarms:
      consecutive_fail: 5                # the last 5 frames all failed
      consecutive_not_inspected: 10      # the last 10 frames could not be judged (camera, lamp, model)
      fail_rate: {window: 100, above: 0.2}   # over 20 % of the last 100 frames failed
      repeat: {window: 20, count: 4}     # one class at one place in 4 of the last 20 frames
      latch: true                        # an alarm stays shown until an operator acknowledges it

The rules count **frames** (inspections), newest last, as the model judged them: a bearing's or a module's
frame is its unit, a fabric roll's frames are its metres. Challenge parts are left out (they are made to
fail). The *place* of a defect is its kind's location key (:meth:`~linecheck.kinds.KindSpec.location_columns`:
a PV cell ``cell:r3c7``, a bearing zone ``zone:outer_race``, a 0.1 m band across a fabric ``across:1.2m``);
a defect that was not located takes part in no ``repeat``.

The rule lives here, once, for the two places that apply it (STYLE: a rule two packages agree on lives
below both): the inspector evaluates it on every frame it judges and raises the alarm on the line at once
(log, metric, ``/status``, OPC UA ``Alarm.*`` for a PLC's stack light or interlock, MQTT and Sparkplug), and
the API evaluates it over the stored frames (``GET /v1/lines/{id}/alarms``) for the dashboard and the kiosk.
:func:`evaluate` is the rule: the conditions that hold over a window of frames. What an operator does
about them (acknowledging, ISA-18.2's alarm states) is the inspector's (:mod:`linecheck.inspect.alarm_watch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AlarmRule = Literal["consecutive_fail", "consecutive_not_inspected", "fail_rate", "repeat"]
#: Every rule, in the order a line shows them.
ALARM_RULES: tuple[AlarmRule, ...] = ("consecutive_fail", "consecutive_not_inspected", "fail_rate", "repeat")
#: The most frames any rule may look back over (the API reads that many per line and request).
MAX_WINDOW = 2000
#: At most this many evidence inspection ids are carried per alarm (the newest).
MAX_EVIDENCE = 50
#: The fewest frames looked back over: a run of failures is followed this far back to find where it began.
MIN_HISTORY = 100


class FailRateRule(BaseModel):
    """Over ``above`` of the last ``window`` frames failed (judged only once the window is full)."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(ge=10, le=MAX_WINDOW, description="frames the rate is taken over")
    above: float = Field(gt=0.0, lt=1.0, description="the share of failed frames above which it is an alarm")


class RepeatRule(BaseModel):
    """One class at one place of the product in ``count`` of the last ``window`` frames."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(ge=2, le=MAX_WINDOW, description="frames looked back over")
    count: int = Field(ge=2, description="frames with the same class at the same place that raise it")
    classes: list[str] = Field(
        default_factory=list, description="the classes watched (empty: every class of the line)"
    )

    @model_validator(mode="after")
    def _count_fits_the_window(self) -> RepeatRule:
        if self.count > self.window:
            raise ValueError(f"count={self.count} is more than window={self.window}")
        return self


class AlarmConfig(BaseModel):
    """A line's run alarms (``alarms:`` in a line YAML); a rule left unset is not watched."""

    model_config = ConfigDict(extra="forbid")

    consecutive_fail: int | None = Field(
        None, ge=2, le=MAX_WINDOW, description="this many failed frames in a row raise an alarm"
    )
    consecutive_not_inspected: int | None = Field(
        None, ge=2, le=MAX_WINDOW, description="this many frames in a row that could not be judged"
    )
    fail_rate: FailRateRule | None = None
    repeat: RepeatRule | None = None
    latch: bool = Field(
        True,
        description="an alarm stays shown after its condition cleared until an operator acknowledges it "
        "(ISA-18.2's latched alarm); false: it goes when its condition clears",
    )

    @model_validator(mode="after")
    def _some_rule(self) -> AlarmConfig:
        if not any(getattr(self, rule) is not None for rule in ALARM_RULES):
            raise ValueError(f"alarms: set at least one of {', '.join(ALARM_RULES)}")
        return self

    @property
    def window(self) -> int:
        """The frames the rules look back over: the longest rule, at least :data:`MIN_HISTORY`.

        A run of failures longer than this is reported as this long (its ``since`` is the first of them).
        """
        return max(
            MIN_HISTORY,
            self.consecutive_fail or 0,
            self.consecutive_not_inspected or 0,
            self.fail_rate.window if self.fail_rate else 0,
            self.repeat.window if self.repeat else 0,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgedFrame:
    """One judged frame of a line as the rules see it.

    Attributes:
        inspection_id: the inspection's id (the alarm's evidence).
        captured_at: when the frame was taken.
        verdict: ``pass``, ``fail`` or ``not_inspected`` (as the model judged it).
        marks: ``(class, location key)`` of each located defect of the frame.

    """

    inspection_id: str
    captured_at: datetime
    verdict: str
    marks: frozenset[tuple[str, str]] = field(default_factory=frozenset)


def marks_of(defects: Iterable[tuple[str, str | None]]) -> frozenset[tuple[str, str]]:
    """The ``(class, location key)`` marks of a frame's defects (a defect with no place has none)."""
    return frozenset((cls, key) for cls, key in defects if key)


@dataclass(frozen=True, kw_only=True, slots=True)
class AlarmHit:
    """One rule's condition holding over a line's newest frames.

    Attributes:
        key: what the alarm is about: its rule, or ``repeat:<class>@<place>`` (one alarm per place).
        rule: the rule that holds.
        message: a line for the operator's screen.
        count: frames that meet the rule (failed frames, frames with the mark, ...).
        of: frames looked over.
        since: capture time of the first of those frames (hold the units made since).
        inspection_ids: the frames that meet it, newest last (at most :data:`MAX_EVIDENCE`).
        class_name: the repeated class (``repeat`` only).
        location_key: the repeated place (``repeat`` only).

    """

    key: str
    rule: AlarmRule
    message: str
    count: int
    of: int
    since: datetime
    inspection_ids: tuple[str, ...]
    class_name: str | None = None
    location_key: str | None = None

    def as_json(self) -> dict[str, object]:
        """The hit as the API, ``/status`` and the line outputs write it."""
        return {
            "key": self.key,
            "rule": self.rule,
            "message": self.message,
            "count": self.count,
            "of": self.of,
            "since": self.since.isoformat(),
            "inspection_ids": list(self.inspection_ids),
            "class_name": self.class_name,
            "location_key": self.location_key,
        }


#: The streak rules: (rule, the verdict it counts, how the message says it).
_STREAKS: tuple[tuple[AlarmRule, str, str], ...] = (
    ("consecutive_fail", "fail", "failed"),
    ("consecutive_not_inspected", "not_inspected", "could not be inspected"),
)


def evaluate(config: AlarmConfig, frames: Sequence[JudgedFrame]) -> list[AlarmHit]:
    """The rules of ``config`` that hold over ``frames`` (oldest first; only the newest count).

    Order: the rules in :data:`ALARM_RULES` order, repeats by most frames then by class and place.
    """
    hits: list[AlarmHit] = []
    for rule, verdict, what in _STREAKS:
        needed = getattr(config, rule)
        if needed is not None:
            run = _streak(frames, verdict)
            if len(run) >= needed:
                hits.append(_hit(rule, rule, run, len(run), f"{len(run)} frames in a row {what}"))
    if config.fail_rate is not None and len(frames) >= config.fail_rate.window:
        window = frames[-config.fail_rate.window :]
        failed = [f for f in window if f.verdict == "fail"]
        if len(failed) / len(window) > config.fail_rate.above:
            hits.append(
                _hit(
                    "fail_rate",
                    "fail_rate",
                    failed,
                    len(window),
                    f"{len(failed)} of the last {len(window)} frames failed "
                    f"({len(failed) / len(window):.0%}, over {config.fail_rate.above:.0%})",
                )
            )
    if config.repeat is not None:
        hits.extend(_repeats(config.repeat, frames[-config.repeat.window :]))
    return hits


def _streak(frames: Sequence[JudgedFrame], verdict: str) -> list[JudgedFrame]:
    """The newest frames that all have ``verdict`` (oldest first)."""
    run: list[JudgedFrame] = []
    for frame in reversed(frames):
        if frame.verdict != verdict:
            break
        run.append(frame)
    return run[::-1]


def _repeats(rule: RepeatRule, window: Sequence[JudgedFrame]) -> list[AlarmHit]:
    watched = set(rule.classes)
    with_mark: dict[tuple[str, str], list[JudgedFrame]] = {}
    for frame in window:
        for mark in frame.marks:
            if not watched or mark[0] in watched:
                with_mark.setdefault(mark, []).append(frame)
    hits = [
        _hit(
            f"repeat:{cls}@{place}",
            "repeat",
            found,
            len(window),
            f"{cls} at {place} in {len(found)} of the last {len(window)} frames",
            class_name=cls,
            location_key=place,
        )
        for (cls, place), found in with_mark.items()
        if len(found) >= rule.count
    ]
    return sorted(hits, key=lambda h: (-h.count, h.class_name or "", h.location_key or ""))


def _hit(
    key: str,
    rule: AlarmRule,
    frames: Sequence[JudgedFrame],
    of: int,
    message: str,
    *,
    class_name: str | None = None,
    location_key: str | None = None,
) -> AlarmHit:
    return AlarmHit(
        key=key,
        rule=rule,
        message=message,
        count=len(frames),
        of=of,
        since=frames[0].captured_at,
        inspection_ids=tuple(f.inspection_id for f in frames[-MAX_EVIDENCE:]),
        class_name=class_name,
        location_key=location_key,
    )


def unknown_classes(config: AlarmConfig, classes: Sequence[str]) -> list[str]:
    """The ``repeat.classes`` that are not among the line's ``classes``."""
    return sorted(set(config.repeat.classes) - set(classes)) if config.repeat else []
