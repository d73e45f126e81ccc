"""Response bodies of the holds (containment of suspect units, :mod:`.services.holds`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from linecheck.serving.api.responses import HoldUnitState, PageOut, UnitStatusOut, _Out


class HoldReleaseOut(_Out):
    """A release of a whole hold (``code`` null) or of one unit of it."""

    id: int
    hold_id: int
    code: str | None = Field(description="the unit released (null: the whole hold)")
    comment: str
    created_by: str
    created_by_name: str | None = Field(None, description="the name given to that key, if any")
    created_at: datetime


class HoldOut(_Out):
    """A hold: the units a line (a product of it) made in a period are suspect, and where they stand."""

    id: int
    line_id: str
    product: str | None = Field(None, description="only the units judged as this product (null: all)")
    since: datetime = Field(description="the suspect period's start: units inspected from then on")
    until: datetime = Field(description="the suspect period's end (excluded)")
    cause: str = Field(description="verification, escape, complaint or other")
    reason: str
    created_by: str
    created_by_name: str | None = None
    created_at: datetime = Field(description="when the hold was placed: an inspection after it re-inspects")
    released: HoldReleaseOut | None = Field(None, description="the release of the whole hold (null: open)")
    units: int = Field(description="units in the hold (the line's challenge parts left out)")
    held: int = Field(description="units still held: not re-inspected, not released")
    reinspected: int = Field(
        description="units inspected again after the hold was placed (their grade decides)"
    )
    released_units: int = Field(description="units released by a person (each, or with the whole hold)")


class HoldPageOut(PageOut):
    """A page of holds, newest first."""

    items: list[HoldOut]


class HoldUnitOut(_Out):
    """A unit of a hold and where it stands."""

    code: str
    captured_at: datetime = Field(description="its newest inspection in the hold's period")
    state: HoldUnitState
    reinspected_at: datetime | None = Field(
        None, description="its newest inspection after the hold was placed"
    )
    release: HoldReleaseOut | None = Field(None, description="the release that let it go, if any")
    status: UnitStatusOut | None = Field(None, description="the unit's status after review (its grade)")
    may_ship: bool = Field(description="held by no hold (this one or another), and its grade accepts it")


class HoldUnitPageOut(PageOut):
    """A page of a hold's units, newest first."""

    hold_id: int
    items: list[HoldUnitOut]


class HoldContainerOut(_Out):
    """A code holding still-held units of a hold: a box or pallet they were packed in, a module made of them.

    Its relation and depth are those of the first link found to it.
    """

    code: str
    relation: str = Field(description="how it came to hold them: contains, packed_in or made_from")
    depth: int = Field(description="1: a held unit's own parent; 2: that parent's parent; ...")
    held_units: int = Field(description="still-held units of the hold inside it (directly or deeper)")
    examples: list[str] = Field(description="up to five of those units")


class HoldContainersOut(_Out):
    """Where a hold's still-held units went: the containers to pull back, most held units first."""

    hold_id: int
    held_units: int = Field(description="units of the hold still held")
    packed: int = Field(description="of those, how many are inside at least one container")
    items: list[HoldContainerOut]
