"""The line PC asks the API where each line's error-proofing verification stands, for the line to act on.

The API keeps the record of the challenge parts (``GET /v1/lines/{id}/verification``:
:mod:`linecheck.verification`); the inspector asks it every ``verification_poll_s`` seconds, and a few
seconds after it judged a challenge part, and shows the answer where the line looks: its ``/status``
(``verification`` per line), the live status table, the gauge
``linecheck_inspector_verification_state{line}`` (1 verified, 0 due, -1 failed, NaN not known) and the
OPC UA server's ``Verification.State`` / ``Verification.Ok`` variables, which a PLC can interlock on (do
not start the line until the station is verified). An API that cannot be reached leaves the state
``unknown`` with the reason; the last answer is kept beside it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from linecheck.config import LineConfig
from linecheck.errors import LinecheckError
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.workers import Worker

log = logging.getLogger(__name__)

#: The gauge's value per state (NaN: not known).
STATE_VALUES = {"verified": 1.0, "due": 0.0, "failed": -1.0}
#: After a challenge part was judged, ask again this much later (its inspection is on its way to the API).
RECHECK_AFTER_S = 3.0


class VerificationWatch(Worker):
    """Polls the API's verification of every line that lists challenge parts."""

    def __init__(
        self,
        *,
        lines: Sequence[LineConfig],
        client: ApiClient,
        metrics: InspectorMetrics,
        poll_s: float,
        stop: threading.Event,
    ) -> None:
        super().__init__("verification-watch", stop)
        self.line_ids = [line.id for line in lines if line.verification is not None]
        self.client = client
        self.metrics = metrics
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._next_at = 0.0
        self._states: dict[str, dict[str, Any]] = {lid: {"state": "unknown"} for lid in self.line_ids}
        for lid in self.line_ids:
            self.metrics.verification_state.labels(lid).set(float("nan"))

    def run(self) -> None:
        """Ask now, then every ``poll_s`` (sooner when :meth:`recheck` asks), until stopped."""
        while not self.stop.is_set():
            self.poll()
            with self._lock:
                self._next_at = time.monotonic() + self.poll_s
            while not self.stop.is_set():
                with self._lock:
                    left = self._next_at - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(min(left, 0.5))
                self._wake.clear()

    def recheck(self, after_s: float = RECHECK_AFTER_S) -> None:
        """Ask again ``after_s`` from now (a challenge part was just judged)."""
        with self._lock:
            self._next_at = min(self._next_at, time.monotonic() + after_s)
        self._wake.set()

    def poll(self) -> None:
        """Ask the API about every line once."""
        for line_id in self.line_ids:
            checked_at = datetime.now(UTC).isoformat()
            try:
                answer = self.client.verification(line_id)
            except LinecheckError as exc:
                self._store(line_id, {"state": "unknown", "error": str(exc), "checked_at": checked_at})
                continue
            if answer is None:  # the API's copy of the line lists no parts (not synced yet)
                note = "the API's line config lists no challenge parts (run `linecheck lines sync`)"
                self._store(line_id, {"state": "unknown", "error": note, "checked_at": checked_at})
                continue
            self._store(
                line_id,
                {
                    "state": answer.get("state", "unknown"),
                    "due_at": answer.get("due_at"),
                    "verified_at": answer.get("verified_at"),
                    "problem": answer.get("problem"),
                    "suspect_since": answer.get("suspect_since"),
                    "checked_at": checked_at,
                },
            )

    def _store(self, line_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            before = self._states.get(line_id, {})
            if state["state"] == "unknown":  # keep the last answer the API gave beside the reason
                known = before if before.get("state") not in (None, "unknown") else before.get("last_known")
                if known:
                    state["last_known"] = {k: v for k, v in known.items() if k != "last_known"}
            self._states[line_id] = state
        self.metrics.verification_state.labels(line_id).set(STATE_VALUES.get(state["state"], float("nan")))
        if state["state"] != before.get("state"):
            level = logging.INFO if state["state"] == "verified" else logging.WARNING
            why = state.get("problem") or state.get("error") or f"until {state.get('due_at')}"
            if state.get("suspect_since"):
                why += f"; the units made since {state['suspect_since']} are suspect: hold them"
            log.log(level, "line %s: error-proofing verification %s: %s", line_id, state["state"], why)

    def snapshot(self, line_id: str) -> dict[str, Any] | None:
        """The line's latest answer (None: the line lists no challenge parts)."""
        with self._lock:
            state = self._states.get(line_id)
            return dict(state) if state is not None else None
