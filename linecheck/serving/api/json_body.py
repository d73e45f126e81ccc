"""Strict JSON out: every body the API sends parses as standard JSON, whatever the store holds.

JSON has no ``NaN`` or ``Infinity``. The API refuses them at its door (:mod:`linecheck.contract`),
but a row written before that, or below the API, may still hold one; rather than failing the read,
such a number is sent as its name (``"NaN"``, ``"Infinity"``, ``"-Infinity"``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import JSONResponse

_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite number (at any depth) replaced by its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return _NAMES[repr(value)]
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def _dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


class StrictJSONResponse(JSONResponse):
    """The API's default response class: standard JSON, non-finite numbers named."""

    def render(self, content: Any) -> bytes:
        """``content`` as JSON (a second pass names non-finite numbers, only when there are some)."""
        try:
            return _dumps(content)
        except ValueError:
            return _dumps(finite_json(content))
