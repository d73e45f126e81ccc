"""Per-kind inspection logic: product locations, unit state and grading notes."""

from __future__ import annotations

from linecheck.config import LineConfig
from linecheck.inspect.kinds.base import KindLogic
from linecheck.kinds import Kind


def logic_for(line: LineConfig) -> KindLogic:
    """The kind logic of ``line`` (a fresh instance: it keeps the line's unit state)."""
    from linecheck.inspect.kinds.bearing import BearingLogic
    from linecheck.inspect.kinds.pv import PVLogic
    from linecheck.inspect.kinds.textile import TextileLogic

    classes: dict[Kind, type[KindLogic]] = {
        Kind.TEXTILE: TextileLogic,
        Kind.BEARING: BearingLogic,
        Kind.PV: PVLogic,
    }
    return classes[line.kind](line)


__all__ = ["KindLogic", "logic_for"]
