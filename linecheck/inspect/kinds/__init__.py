"""Per-line unit accounting of the inspector, over the line kind's spec (:mod:`linecheck.kinds`).

Frame kinds (a frame is a unit) use :class:`KindLogic`; web kinds (a roll spans many frames) use
:class:`WebLogic`. Locations and grades come from the kind's spec, never from a branch on its name.
"""

from __future__ import annotations

from linecheck.config import LineConfig
from linecheck.inspect.kinds.base import KindLogic, UnitGrade
from linecheck.inspect.kinds.web import WebLogic
from linecheck.kinds import get_kind


def logic_for(line: LineConfig) -> KindLogic:
    """The unit logic of ``line`` (a fresh instance: it keeps the line's unit state)."""
    spec = get_kind(line.kind)
    return WebLogic(line) if spec.unit == "web" else KindLogic(line)


__all__ = ["KindLogic", "UnitGrade", "WebLogic", "logic_for"]
