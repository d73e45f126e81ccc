"""Request parameters of the API, and its names for the wire contract's payloads.

The bodies themselves (``extra="forbid"``, field limits, the rules that need no line config) are
:mod:`linecheck.contract`, shared with the inspector. Checks that need a line's config (classes,
code pattern, PV grid, location kind) and the bbox-inside-the-image check live in the services,
which name the field they reject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from linecheck.contract import (
    CODE_PATTERN,
    INGEST_ADAPTER,
    INT64_MAX,
    CodeAssignPayload,
    DefectPayload,
    GenealogyPayload,
    InspectionBatchPayload,
    InspectionPayload,
    ProcessEventPayload,
    ReviewPayload,
)

__all__ = [
    "CODE_PATTERN",
    "INGEST_ADAPTER",
    "INT64_MAX",
    "CodeAssignIn",
    "DefectIn",
    "GenealogyIn",
    "InspectionBatchIn",
    "InspectionIn",
    "Offset",
    "ProcessEventIn",
    "ReviewIn",
    "RowId",
]

#: ``offset`` of paginated listings.
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
#: A row id in a path (``/v1/defects/{defect_id}``).
RowId = Annotated[int, Path(le=INT64_MAX)]

# The API's names for the contract's payloads (routes and services annotate with these).
DefectIn = DefectPayload
InspectionIn = InspectionPayload
InspectionBatchIn = InspectionBatchPayload
ReviewIn = ReviewPayload
GenealogyIn = GenealogyPayload
ProcessEventIn = ProcessEventPayload
CodeAssignIn = CodeAssignPayload
