"""Error-proofing in the demo: the bearing line runs challenge parts, and the summary says what came of them.

A bearing line in an automotive plant proves every shift that its vision station still catches defects
(IATF 16949's verification of error-proofing; :mod:`linecheck.verification`): a red rabbit (a ring with
known scratches) must be rejected with its scratch, a master ring must pass. The demo gives its bearing line
such parts (unless the line's YAML lists its own), and the simulated camera runs them before the first
unit and again every :data:`CHALLENGE_EVERY` units (``synth://...&challenge=N``), as an operator would.

The API keeps the record: ``GET /v1/lines/{id}/verification`` says verified, due or failed, the
dashboard shows it, and with ``auto_hold`` a missed part holds the units made since the station was last
known good (``GET /v1/holds``). The summary's ``verification`` and ``holds`` keys carry both answers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from linecheck.config import LineConfig
from linecheck.kinds import make_code

log = logging.getLogger(__name__)

#: The simulated camera runs the challenge parts again after this many units (about 50 s at 4 frames/s).
CHALLENGE_EVERY = 200
#: Serials of the demo's challenge parts: a ring with known scratches, and a master ring the starter model
#: passes (chosen as a plant chooses its master: a good part the station is known to pass).
RABBIT_SERIAL, MASTER_SERIAL = 9_900_000_001, 9_900_000_004


def with_challenge_parts(line: LineConfig) -> LineConfig:
    """A bearing ``line`` with the demo's challenge parts and automatic holds, unless its YAML lists parts."""
    if line.kind != "bearing" or line.verification is not None:
        return line
    verification = {
        "every_h": 8,
        "auto_hold": True,
        "parts": [
            {"code": make_code(line.kind, RABBIT_SERIAL), "expect": "fail", "classes": ["scratch"]},
            {"code": make_code(line.kind, MASTER_SERIAL), "expect": "pass"},
        ],
    }
    return LineConfig.model_validate({**line.model_dump(mode="json"), "verification": verification})


def challenge_query(line: LineConfig) -> str:
    """The simulated camera's query for ``line``'s challenge parts ('' when it lists none)."""
    return f"&challenge={CHALLENGE_EVERY}" if line.verification is not None else ""


def _part(part: dict[str, Any]) -> dict[str, Any]:
    return {k: part.get(k) for k in ("code", "expect", "classes", "met", "verdict", "found_classes")}


def verification_summary(
    api_url: str, viewer_key: str, lines: Sequence[LineConfig]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each line's verification as the API answers it, and the holds the API placed (the summary's keys).

    A look-up that fails is logged and left out: the summary of a run stands without it.
    """
    headers = {"Authorization": f"Bearer {viewer_key}"}
    verification: dict[str, Any] = {}
    holds: list[dict[str, Any]] = []
    with httpx.Client(base_url=api_url, headers=headers, timeout=10.0) as client:
        for line in lines:
            if line.verification is None:
                continue
            try:
                response = client.get(f"/v1/lines/{line.id}/verification")
                response.raise_for_status()
                held = client.get("/v1/holds", params={"line_id": line.id, "limit": 20})
                held.raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("verification look-up of line %s failed: %s", line.id, exc)
                continue
            answer = response.json()
            verification[line.id] = {
                "state": answer["state"],
                "problem": answer.get("problem"),
                "due_at": answer.get("due_at"),
                "suspect_since": answer.get("suspect_since"),
                "parts": [_part(p) for p in answer.get("parts", [])],
            }
            holds.extend(
                {k: hold.get(k) for k in ("id", "line_id", "cause", "since", "until", "units", "held")}
                for hold in held.json().get("items", [])
            )
    return verification, holds
