"""Line kinds: one :class:`KindSpec` per kind, registered by name (built-ins and entry-point plug-ins).

``get_kind("pv").classes``, ``get_kind(line.kind).locate(...)``: every rule that depends on what is
inspected is asked of the kind's spec. :class:`Kind` names the three built-in kinds, the ones the
synthetic line generators can render.
"""

from __future__ import annotations

import re
from enum import StrEnum

from linecheck.errors import InvalidFieldError
from linecheck.kinds.base import (
    CellBox,
    FrameView,
    GeometryMode,
    GeometryOptions,
    GeometrySource,
    Grade,
    GradeTable,
    KindLocation,
    KindOptions,
    KindSpec,
    LocatedDefect,
    StoredDefect,
    StoredInspection,
    finds_geometry,
)
from linecheck.kinds.registry import (
    ENTRY_POINT_GROUP,
    all_kinds,
    get_kind,
    kind_names,
    register_kind,
    reload_kinds,
)


class Kind(StrEnum):
    """The built-in line kinds (those with synthetic line generators); plug-ins add others by name."""

    TEXTILE = "textile"
    BEARING = "bearing"
    PV = "pv"


def parse_kind(value: str) -> Kind:
    """The built-in :class:`Kind` named by ``value``, or raise naming the accepted ones."""
    try:
        return Kind(value)
    except ValueError:
        accepted = ", ".join(k.value for k in Kind)
        raise InvalidFieldError("kind", value, f"expected one of {accepted}") from None


def make_code(kind: str, serial: int) -> str:
    """Format the default traceability code of unit number ``serial`` for ``kind``."""
    return get_kind(kind).make_code(serial)


def check_code(code: str, pattern: str, *, field: str = "code") -> str:
    """Return ``code`` if it matches ``pattern`` (a regular expression), else raise naming the field."""
    if not re.fullmatch(pattern, code):
        raise InvalidFieldError(field, code, f"does not match the line's code pattern {pattern}")
    return code


__all__ = [
    "ENTRY_POINT_GROUP",
    "CellBox",
    "FrameView",
    "GeometryMode",
    "GeometryOptions",
    "GeometrySource",
    "Grade",
    "GradeTable",
    "Kind",
    "KindLocation",
    "KindOptions",
    "KindSpec",
    "LocatedDefect",
    "StoredDefect",
    "StoredInspection",
    "all_kinds",
    "check_code",
    "finds_geometry",
    "get_kind",
    "kind_names",
    "make_code",
    "parse_kind",
    "register_kind",
    "reload_kinds",
]
