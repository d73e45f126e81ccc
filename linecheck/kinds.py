"""The three line kinds linecheck inspects, their canonical defect classes and unit-code formats."""

from __future__ import annotations

import re
from enum import StrEnum

from linecheck.errors import InvalidFieldError


class Kind(StrEnum):
    """Kind of production line; decides the defect classes, locations and grading rules."""

    TEXTILE = "textile"
    BEARING = "bearing"
    PV = "pv"


#: Canonical defect classes per kind, in model class-id order.
CLASSES: dict[Kind, tuple[str, ...]] = {
    Kind.TEXTILE: ("hole", "stain", "broken_yarn", "knot"),
    Kind.BEARING: ("scratch", "dent", "rust", "crack"),
    Kind.PV: ("crack", "finger_interruption", "dark_cell", "broken_corner"),
}

#: Default traceability-code pattern per kind (a line YAML may override it).
#: textile: fabric roll id; bearing: DataMatrix part serial; pv: module serial.
CODE_PATTERNS: dict[Kind, str] = {
    Kind.TEXTILE: r"^RL[0-9]{10}$",
    Kind.BEARING: r"^BR[0-9]{10}$",
    Kind.PV: r"^PV[0-9]{12}$",
}

_CODE_PREFIX: dict[Kind, tuple[str, int]] = {
    Kind.TEXTILE: ("RL", 10),
    Kind.BEARING: ("BR", 10),
    Kind.PV: ("PV", 12),
}


def parse_kind(value: str) -> Kind:
    """Return the :class:`Kind` named by ``value`` or raise naming the accepted ones."""
    try:
        return Kind(value)
    except ValueError:
        accepted = ", ".join(k.value for k in Kind)
        raise InvalidFieldError("kind", value, f"expected one of {accepted}") from None


def make_code(kind: Kind, serial: int) -> str:
    """Format the default traceability code of unit number ``serial`` for ``kind``."""
    prefix, digits = _CODE_PREFIX[kind]
    if serial < 0 or serial >= 10**digits:
        raise InvalidFieldError("serial", serial, f"expected 0 <= serial < 10**{digits}")
    return f"{prefix}{serial:0{digits}d}"


def check_code(code: str, pattern: str, *, field: str = "code") -> str:
    """Return ``code`` if it matches ``pattern`` (a regular expression), else raise naming the field."""
    if not re.fullmatch(pattern, code):
        raise InvalidFieldError(field, code, f"does not match the line's code pattern {pattern}")
    return code
