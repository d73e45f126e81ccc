"""GS1 EPCIS event hash IDs (CBV 2.0, "EPCIS event hash ID"): an event's canonical pre-hash string, hashed.

The ID of an event is ``ni:///sha-256;<hex digest>?ver=CBV2.0`` (RFC 6920) of its pre-hash
string, which is built by these rules (for the event fields linecheck's export writes):

* properties in the canonical order: ``eventType``, ``eventTime``, ``eventTimeZoneOffset``,
  ``epcList``, ``parentID``, ``inputEPCList``, ``childEPCs``, ``outputEPCList``, ``action``,
  ``transformationID``, ``bizStep``, ``disposition``, ``readPoint``, ``bizLocation``, then the
  user extension elements; ``eventID`` and ``recordTime`` are not part of it;
* concatenated without separators, a value as ``key=value``; a list's name appears once, followed
  by its elements (``epcListepc=...epc=...``) in case-sensitive lexical order;
* times in UTC with millisecond precision and ``Z`` (``2005-04-04T02:33:31.116Z``);
* bare CBV words expanded to their GS1 Web URI (``shipping`` ->
  ``https://ref.gs1.org/cbv/BizStep-shipping``, ``in_transit`` -> ``.../Disp-in_transit``);
* extension elements as ``{namespace}localName=value`` with the prefix's namespace from the
  document's ``@context``; an object's children follow its name, every group of siblings sorted;
  numbers without trailing zeros, booleans ``true`` / ``false``, values trimmed, nulls left out.

EPC URIs (``urn:epc:id:...``) would also be rewritten to GS1 Digital Link; linecheck's codes are
not EPCs (``urn:linecheck:code:...``), so they are hashed as they are, and a standard field this
module does not cover is an error rather than a silently different hash.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: Version suffix of the IDs: the CBV release whose algorithm built the pre-hash string.
CBV_VERSION = "CBV2.0"
#: Standard fields in canonical order, with how each is written.
_ORDER: tuple[tuple[str, str], ...] = (
    ("eventTime", "time"),
    ("eventTimeZoneOffset", "value"),
    ("epcList", "epcs"),
    ("parentID", "value"),
    ("inputEPCList", "epcs"),
    ("childEPCs", "epcs"),
    ("outputEPCList", "epcs"),
    ("action", "value"),
    ("transformationID", "value"),
    ("bizStep", "bizStep"),
    ("disposition", "disposition"),
    ("readPoint", "id"),
    ("bizLocation", "id"),
)
#: Fields that never enter the hash.
_IGNORED = frozenset({"type", "eventID", "recordTime", "@context"})
_CBV = "https://ref.gs1.org/cbv/"


def _utc_ms(value: str) -> str:
    at = datetime.fromisoformat(value.strip()).astimezone(UTC)
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:{at.second:02d}"
        f".{at.microsecond // 1000:03d}Z"
    )


def _vocabulary(value: str, kind: str) -> str:
    """A bare CBV word as its GS1 Web URI; a URI stays as it is."""
    value = value.strip()
    return value if ":" in value else f"{_CBV}{kind}-{value}"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} in an EPCIS event")
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value).strip()


def _name(key: str, namespaces: Mapping[str, str]) -> str:
    """``prefix:local`` as ``{namespace}local`` when the prefix is declared, else the key itself."""
    prefix, sep, local = key.partition(":")
    if sep and prefix in namespaces:
        return f"{{{namespaces[prefix]}}}{local}"
    return key


def _extension(key: str, value: Any, namespaces: Mapping[str, str]) -> list[str]:
    """The pre-hash substrings of one extension element (a list gives one per item)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [part for item in value for part in _extension(key, item, namespaces)]
    name = _name(key, namespaces)
    if isinstance(value, Mapping):
        children = sorted(part for k, v in value.items() for part in _extension(str(k), v, namespaces))
        return [name + "".join(children)]
    return [f"{name}={_scalar(value)}"]


def pre_hash(event: Mapping[str, Any], namespaces: Mapping[str, str]) -> str:
    """The canonical pre-hash string of ``event`` (a JSON-LD event; ``namespaces``: prefix -> IRI)."""
    parts = [f"eventType={event['type']}"]
    for field, how in _ORDER:
        value = event.get(field)
        if value is None:
            continue
        if how == "time":
            parts.append(f"{field}={_utc_ms(value)}")
        elif how == "value":
            parts.append(f"{field}={_scalar(value)}")
        elif how == "epcs":
            if value:
                parts.append(field + "".join(f"epc={_scalar(v)}" for v in sorted(value)))
        elif how == "id":
            parts.append(f"{field}id={_scalar(value['id'])}")
        else:  # bizStep / disposition: vocabulary
            kind = "BizStep" if how == "bizStep" else "Disp"
            parts.append(f"{field}={_vocabulary(value, kind)}")
    known = {field for field, _ in _ORDER} | _IGNORED
    extensions: list[str] = []
    for key, value in event.items():
        if key in known:
            continue
        if ":" not in key:
            raise ValueError(f"EPCIS field {key!r} is not covered by the event hash")
        extensions.extend(_extension(key, value, namespaces))
    return "".join(parts) + "".join(sorted(extensions))


def event_hash_id(event: Mapping[str, Any], namespaces: Mapping[str, str]) -> str:
    """The event's hash ID, ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    digest = hashlib.sha256(pre_hash(event, namespaces).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={CBV_VERSION}"
