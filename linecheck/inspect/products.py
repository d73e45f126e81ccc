"""Which product (recipe) a unit is judged as, on a line whose YAML lists ``products:``.

One rule, applied by the code-reader stage to every frame as it is read:

1. the product its PLC job named (a job over ``POST /trigger`` or MQTT with ``product``);
2. else the first product whose ``code_pattern`` matches the unit's code (the code tells what it is);
3. else the product the line is on: its ``default_product``, changed over by the PLC's OPC UA
   ``PrepareProduct``, ``POST /trigger`` or an MQTT trigger message with ``product`` and no job
   (:class:`~linecheck.inspect.triggers.TriggerBoard`).

The frame then carries the line's config for that product (:meth:`linecheck.config.LineConfig.for_product`):
its thresholds, geometry, grade rules and model judge it, and its inspection records the product. A
changeover takes effect for frames read after it; units already read keep theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linecheck.config import LineConfig
from linecheck.inspect.triggers import TriggerBoard

if TYPE_CHECKING:  # the gate records frameless jobs with this rule too
    from linecheck.inspect.gate import Trigger


def product_of(
    line: LineConfig, *, code: str | None, trigger: Trigger | None, board: TriggerBoard | None
) -> str | None:
    """The product a unit of ``line`` with ``code`` (and ``trigger``) is judged as (None: the line's own)."""
    if not line.products:
        return None
    if trigger is not None and trigger.product is not None:
        return trigger.product
    by_code = line.product_for_code(code)
    if by_code is not None:
        return by_code
    return board.product(line.id) if board is not None else line.default_product
