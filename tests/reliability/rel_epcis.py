"""GS1's EPCIS 2.0 JSON schema as a validator, and strict JSON parsing, for the reliability tests.

The schema is GS1's own file in ``tests/data/epcis2`` (see its README); the ``uri`` and
``date-time`` format checks are spelled out because ``jsonschema`` only checks them with optional
packages installed (the same checks as ``tests/serving/api/test_api_trace.py``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

EPCIS_DIR = Path(__file__).resolve().parents[1] / "data" / "epcis2"


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return (
            not isinstance(value, str)
            or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+", value) is not None
        )

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            raise ValueError(f"not RFC 3339: {value}")
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None

    return checker


@lru_cache(maxsize=1)
def epcis_validator() -> jsonschema.Draft7Validator:
    """GS1's EPCIS 2.0 document schema with format checks."""
    schema = json.loads((EPCIS_DIR / "EPCIS-JSON-Schema.json").read_text())
    return jsonschema.Draft7Validator(schema, format_checker=_format_checker())


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Every schema violation of ``document`` as ``path: message``."""
    return [f"{list(e.absolute_path)}: {e.message}" for e in epcis_validator().iter_errors(document)]


def strict_json(text: str | bytes) -> Any:
    """``text`` parsed as strict JSON: ``NaN`` / ``Infinity`` literals are an error."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)
