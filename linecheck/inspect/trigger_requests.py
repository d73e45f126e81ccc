"""Trigger requests from outside, whatever carries them: ``POST /trigger`` and the MQTT trigger topics.

One JSON object, one meaning on every path:

* ``{"line_id": "textile-01", "code": "RL0000000042"}`` sets the current unit of a trigger-coded line
  (:class:`~linecheck.inspect.triggers.TriggerBoard`);
* with ``"trigger_id"`` and/or ``"encoder_count"`` (or ``"job": true``) it is a PLC job, as OPC UA
  ``StartSingleJob``: the line's next frame is that unit, the reject deadline counts from now, ``code``
  is optional, and the answer carries the ``inspection_id`` the result will have. The same
  ``trigger_id`` again within a minute is the same job (:data:`~linecheck.inspect.gate.REPEAT_WINDOW_S`);
  a job's ``"product"`` is the product that unit is judged as;
* ``{"line_id": "pv-01", "product": "PV-6x12"}`` changes the line over to one of its ``products:``
  (``null``: back to the line's own config), for the frames read from now on
  (:mod:`linecheck.inspect.products`); with ``code`` it also sets the current unit.

``line_id`` may be left out when the inspector runs one line; a carrier that belongs to one line (an
MQTT topic) gives it, and a body naming another line is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from linecheck.errors import InvalidFieldError
from linecheck.inspect.gate import Trigger
from linecheck.inspect.triggers import TriggerBoard

#: Largest trigger request, in bytes.
MAX_BODY = 4096


def parse_body(raw: bytes) -> Any:
    """A request's JSON; raises :class:`InvalidFieldError` naming ``body`` when it is not."""
    if not 0 < len(raw) <= MAX_BODY:
        raise InvalidFieldError("body", len(raw), f"expected a JSON object of 1..{MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidFieldError("body", "<unparsable>", f"not JSON: {exc}") from None


def is_job(body: Any) -> bool:
    """True for a body that asks for a PLC job rather than setting a code."""
    return isinstance(body, dict) and (
        body.get("job") is True or "trigger_id" in body or "encoder_count" in body
    )


class TriggerRequests:
    """Answers trigger requests with the inspector's board (current codes) and gate (PLC jobs)."""

    def __init__(self, board: TriggerBoard | None, jobs: Callable[..., Trigger] | None) -> None:
        self.board = board
        self.jobs = jobs  # RejectGate.job

    def answer(self, body: Any, *, line_id: str | None = None) -> dict[str, Any]:
        """Act on ``body`` and return the answer; ``line_id``: the line the carrier belongs to.

        Raises:
            InvalidFieldError: the field at fault, its value and why (nothing was started or set).

        """
        if not isinstance(body, dict):
            raise InvalidFieldError("body", type(body).__name__, 'expected {"line_id": ..., "code": ...}')
        line = self._line_of(body, line_id)
        product = body.get("product")
        if product is not None and not isinstance(product, str):
            raise InvalidFieldError(
                "product", product, "expected a product id of the line (a string) or null"
            )
        if self.jobs is not None and is_job(body):
            return self._job(body, line)
        code = body.get("code")
        changeover = "product" in body
        if (code is not None or not changeover) and (not isinstance(code, str) or not code.strip()):
            raise InvalidFieldError("code", code, "expected a non-empty string")
        if self.board is None:
            raise InvalidFieldError("line_id", line, "this inspector has no trigger-coded line")
        answer: dict[str, Any] = {"line_id": line}
        if changeover:
            self.board.check_product(line, product)  # before the code is set: all or nothing
        if code is not None:
            self.board.set(line, code)
            answer["code"] = code
        if changeover:
            answer.update(product=product, previous_product=self.board.set_product(line, product))
        return answer

    def _line_of(self, body: dict[str, Any], carrier_line: str | None) -> str:
        named = body.get("line_id")
        if carrier_line is not None:
            if named is not None and named != carrier_line:
                raise InvalidFieldError("line_id", named, f"this topic is line {carrier_line}'s")
            return carrier_line
        if named is None and self.board is not None and len(self.board.line_ids) == 1:
            named = self.board.line_ids[0]
        if not isinstance(named, str):
            raise InvalidFieldError("line_id", named, "expected the id of a line of this inspector")
        return named

    def _job(self, body: dict[str, Any], line_id: str) -> dict[str, Any]:
        assert self.jobs is not None
        trigger_id, code, encoder = body.get("trigger_id"), body.get("code"), body.get("encoder_count")
        if trigger_id is not None and not isinstance(trigger_id, str):  # its length and text: the contract's
            raise InvalidFieldError("trigger_id", trigger_id, "expected a string")
        if code is not None and not isinstance(code, str):
            raise InvalidFieldError("code", code, "expected a string")
        if encoder is not None and (isinstance(encoder, bool) or not isinstance(encoder, int)):
            raise InvalidFieldError("encoder_count", encoder, "expected an integer")
        trigger = self.jobs(
            line_id, trigger_id=trigger_id, code=code, encoder_count=encoder, product=body.get("product")
        )
        return {
            "line_id": line_id,
            "inspection_id": trigger.inspection_id,
            "trigger_id": trigger.trigger_id,
            "encoder_count": trigger.encoder_count,
            "code": trigger.code,
            **({"product": trigger.product} if trigger.product is not None else {}),
        }
