"""A defect's current state is its review history replayed: the one rule, below the API and the store checks.

The defect row carries the state for the review queue's index; :func:`replay` is what that state
must be. Writes set it from here (``services.corrections``), reads that decide something (grades,
traces, ``linecheck db verify``) check the row against it and trust the history where they differ.

* ``confirm`` / ``reclassify`` keep the defect (``reclassify`` with the reviewer's class); a
  ``bbox`` on either moves / resizes its box;
* ``reject`` removes it; ``add`` is the first row of a defect a reviewer drew;
* ``undo`` takes back the newest decision not yet undone (undo twice: two decisions back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

STATE_OF = {"confirm": "confirmed", "reject": "rejected", "reclassify": "reclassified", "add": "confirmed"}


class ReviewStep(Protocol):
    """What replaying needs of a review row."""

    @property
    def decision(self) -> str: ...  # noqa: D102

    @property
    def new_class(self) -> str | None: ...  # noqa: D102

    @property
    def bbox(self) -> Sequence[float] | None: ...  # noqa: D102


@dataclass(frozen=True, kw_only=True, slots=True)
class Current:
    """A defect's state after its history; ``decisions``: how many are in force (not undone)."""

    state: str
    final_class: str
    final_bbox: tuple[float, float, float, float] | None = None
    decisions: int = 0


def replay(class_name: str, source: str, history: Sequence[ReviewStep]) -> Current:
    """The current state of a defect from the model's class, its source and its reviews, oldest first."""
    base = Current(state="pending" if source == "model" else "rejected", final_class=class_name)
    done: list[Current] = []
    for step in history:
        if step.decision == "undo":
            if done:
                done.pop()
            continue
        current = done[-1] if done else base
        box = current.final_bbox
        if step.bbox is not None and step.decision != "reject":
            x1, y1, x2, y2 = (float(v) for v in step.bbox)
            box = (x1, y1, x2, y2)
        takes_class = step.decision in ("reclassify", "add") and step.new_class
        done.append(
            Current(
                state=STATE_OF.get(step.decision, current.state),
                final_class=step.new_class if takes_class and step.new_class else current.final_class,
                final_bbox=box,
                decisions=len(done) + 1,
            )
        )
    return done[-1] if done else base


def disagreement(
    stored_state: str,
    stored_class: str,
    stored_bbox: Sequence[float] | None,
    current: Current,
) -> str | None:
    """How a defect row's state differs from its replayed history (None: it agrees)."""
    stored_box = tuple(float(v) for v in stored_bbox) if stored_bbox is not None else None
    found = []
    if stored_state != current.state:
        found.append(f"review_state {stored_state!r} (its reviews say {current.state!r})")
    if stored_class != current.final_class:
        found.append(f"final_class {stored_class!r} (its reviews say {current.final_class!r})")
    if stored_box != current.final_bbox:
        found.append(f"final_bbox {stored_box!r} (its reviews say {current.final_bbox!r})")
    if not found:
        return None
    return "stored " + ", ".join(found) + ": no review is behind it"


def trusted_location(stored_bbox: Sequence[float] | None, stored_location: Any, current: Current) -> Any:
    """The row's ``final_location`` when its box is the replayed one, else None.

    The location of a box no review set is not trusted; callers fall back to the model's location.
    """
    stored_box = tuple(float(v) for v in stored_bbox) if stored_bbox is not None else None
    return stored_location if stored_box == current.final_bbox else None
