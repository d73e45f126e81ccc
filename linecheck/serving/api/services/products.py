"""The config an inspection, or a unit, is judged with: its line's, as the product it was made as changes it.

A line YAML may list ``products:`` (recipes: 6x10 and 6x12 PV modules, 6204 and 6205 rings), each
changing the line's thresholds, its kind's section (geometry, grade rules), model and speed. The
inspector names the product each unit was judged as (the inspection's ``product``), and the API
checks, locates and grades with that product's config (:meth:`linecheck.config.LineConfig.for_product`):

* ingest refuses a product the line does not list (:func:`ingest_config`), and checks the defects'
  locations and a found geometry against the product's geometry;
* a box a reviewer corrects or draws is located with its inspection's product (:func:`config_for`);
* a unit is graded with the product of its newest inspection (:func:`unit_config`): the frames of
  one unit share their product, and where they do not, the latest judgement stands;
* a stored product that the line no longer lists (its YAML changed since) is logged and the line's
  own config is used: reading the unit keeps working (as a stored geometry it no longer reads does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from linecheck.config import LineConfig
from linecheck.errors import InvalidFieldError
from linecheck.serving.api.services.lines import LineRegistry

log = logging.getLogger(__name__)


class JudgedInspection(Protocol):
    """What picks a unit's product among its inspections (a stored row or an ``InspectionOut``)."""

    @property
    def id(self) -> str: ...  # noqa: D102

    @property
    def captured_at(self) -> datetime: ...  # noqa: D102

    @property
    def product(self) -> str | None: ...  # noqa: D102


def ingest_config(line: LineConfig, product: str | None, *, field: str = "product") -> LineConfig:
    """The config an arriving inspection is checked with; :class:`InvalidFieldError` naming ``field``.

    The error says the value and the line's products.
    """
    try:
        return line.for_product(product)
    except InvalidFieldError as exc:
        raise InvalidFieldError(field, exc.value, exc.reason) from None


def config_for(line: LineConfig, product: str | None) -> LineConfig:
    """The config a stored inspection was judged with (the line's own when its product is gone)."""
    try:
        return line.for_product(product)
    except InvalidFieldError as exc:
        log.warning(
            "line %s: stored product %r: %s; the line's own config is used", line.id, product, exc.reason
        )
        return line


def unit_product(inspections: Sequence[JudgedInspection]) -> str | None:
    """The product a unit was made as: that of its newest inspection (None: none, or no product)."""
    if not inspections:
        return None
    return max(inspections, key=lambda i: (i.captured_at, i.id)).product


def unit_config(line: LineConfig, inspections: Sequence[JudgedInspection]) -> LineConfig:
    """The config a unit is graded with: its line's, for the product of its newest inspection."""
    return config_for(line, unit_product(inspections))


def check_product_filter(lines: LineRegistry, product: str | None, line_id: str | None = None) -> None:
    """A ``product`` query parameter must be a product of ``line_id`` (without one: of some line).

    Raises:
        InvalidFieldError: naming ``product``, with the value and the products there are.

    """
    if product is None:
        return
    line = lines.get(line_id) if line_id is not None else None
    if line is not None:
        line.for_product(product)  # its error names ``product``, the value and the line's products
        return
    products = {lid: config.product_ids for lid, config in sorted(lines.all().items())}
    if not any(product in ids for ids in products.values()):
        known = {lid: ids for lid, ids in products.items() if ids}
        raise InvalidFieldError(
            "product", product, f"not a product of any registered line; the lines' products: {known}"
        )


def product_configs(stored: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per product of a stored line config, the line's config as that product changes it (as JSON).

    Pages draw a unit of a product with it, so the merge rule stays :meth:`LineConfig.for_product`'s.
    A stored config this linecheck cannot read gives none (the pages draw with the line's own).
    """
    try:
        line = LineConfig.from_stored(stored)
    except ValidationError:
        log.warning("line %s: stored config not readable; no product configs", stored.get("id"))
        return {}
    return {
        p.id: line.for_product(p.id).model_dump(mode="json", exclude={"products", "default_product"})
        for p in line.products
    }
