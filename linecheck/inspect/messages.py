"""The inspector's hop messages, after the shared ``Frame`` and ``Detections``.

``Frame`` (source) -> ``CodedFrame`` (code reader) -> ``InferredFrame`` (batcher)
-> ``InspectionResult`` (kind logic + verdict) -> outbox row (JSON payload of the ingest contract).

``InspectionResult`` checks itself against :mod:`linecheck.contract` when it is made, so a result
the API would refuse fails here, with the API's rule, field name and message.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from linecheck.config import LineConfig
from linecheck.contract import DefectPayload, InspectionPayload, bbox_problem, build
from linecheck.errors import InvalidFieldError
from linecheck.inspect.geometry import FrameGeometry
from linecheck.messages import CodeStatus, Detections, Frame, Verdict

#: A defect location: textile ``along_m/across_m/length_m/width_m``, PV ``row/col``, bearing ``zone``.
Location = Mapping[str, float | int | str]


def new_inspection_id() -> str:
    """Client-generated idempotent id of one inspection (uuid4 hex)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True, slots=True)
class CodedFrame:
    """A frame with the unit identity attached (or marked unread) and its line.

    Attributes:
        frame: the camera frame.
        line: the line the frame was taken on.
        code: traceability code, None when ``code_status`` is ``code_unread``.
        code_status: how the code was obtained.
        received_at: ``time.monotonic()`` when the frame entered the pipeline (for deadlines).
        code_note: why the code is unread, if it is.
        geometry: where the product lies in the frame, on a ``geometry_mode: auto`` line (None:
            the line YAML's geometry, not measured).

    """

    frame: Frame
    line: LineConfig
    code: str | None
    code_status: CodeStatus
    received_at: float
    code_note: str | None = None
    geometry: FrameGeometry | None = None

    def __post_init__(self) -> None:
        if (self.code is None) != (self.code_status is CodeStatus.UNREAD):
            raise InvalidFieldError(
                "code",
                self.code,
                f"code must be None exactly when code_status is code_unread ({self.code_status})",
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class InferredFrame:
    """A coded frame after the detector: detections, or the reason there are none.

    Attributes:
        coded: the frame and its unit identity.
        detections: the model's detections; None when inference failed or was skipped.
        model_name: model the frame was routed to.
        model_version: version that answered (None when inference failed).
        latency_ms: duration of the inference call that carried this frame.
        failure: why the frame was not inspected (None on success).

    """

    coded: CodedFrame
    detections: Detections | None
    model_name: str
    model_version: str | None
    latency_ms: float | None
    failure: str | None = None

    def __post_init__(self) -> None:
        if (self.detections is None) == (self.failure is None):
            raise InvalidFieldError(
                "failure", self.failure, "expected either detections or a failure reason, not both or neither"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class DefectRecord:
    """One defect above its class threshold, located on the product.

    Attributes:
        class_name: defect class.
        confidence: detector score in [0, 1].
        bbox: ``x1, y1, x2, y2`` in frame pixels.
        location: product location (see :data:`Location`).
        crop_ref: sha256 of the uploaded JPEG crop, filled by the outbox.
        heatmap_ref: sha256 of the uploaded JPEG heat map over the crop, filled by the outbox for
            a defect with a ``heatmap``.
        heatmap: an anomaly region's map over ``bbox`` (see ``Detections.heatmaps``); not sent,
            the outbox renders it.

    """

    class_name: str
    confidence: float
    bbox: tuple[float, float, float, float]
    location: Location
    crop_ref: str | None = None
    heatmap_ref: str | None = None
    heatmap: npt.NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.bbox
        if not (x2 >= x1 and y2 >= y1):
            raise InvalidFieldError("bbox", self.bbox, "expected x1 <= x2 and y1 <= y2")
        self.to_contract()  # the contract's limits: class name, confidence in [0, 1], crop ref

    def to_contract(self) -> DefectPayload:
        """The defect as the ingest contract's model (raises :class:`InvalidFieldError` when invalid)."""
        return build(
            DefectPayload,
            {
                "class_name": self.class_name,
                "confidence": round(float(self.confidence), 4),
                "bbox": [round(float(v), 1) for v in self.bbox],
                "location": dict(self.location),
                "crop_ref": self.crop_ref,
                "heatmap_ref": self.heatmap_ref,
            },
        )

    def to_payload(self) -> dict[str, Any]:
        """The defect as the ingest contract's JSON object."""
        return self.to_contract().model_dump(mode="json")


@dataclass(frozen=True, kw_only=True, slots=True)
class InspectionResult:
    """The outcome of inspecting one frame of one unit, ready for the outbox.

    ``image`` is the frame itself: the outbox keeps and uploads it when :attr:`keep_image` is true,
    and cuts the defect crops from it; it is not part of the JSON payload.
    """

    id: str = field(default_factory=new_inspection_id)
    line_id: str
    station: str
    code: str | None
    code_status: CodeStatus
    captured_at: datetime
    model_name: str | None
    model_version: str | None
    verdict: Verdict
    reason: str | None = None
    latency_ms: float | None = None
    frame_seq: int
    image_width: int
    image_height: int
    image_ref: str | None = None
    roll_offset_m: float | None = None
    #: The product's geometry found in the frame (``geometry_mode: auto``), as its kind writes it
    #: (:meth:`~linecheck.kinds.KindSpec.geometry_to_json`); None when the line YAML's was used.
    geometry: Mapping[str, Any] | None = None
    defects: tuple[DefectRecord, ...] = ()
    image: npt.NDArray[np.uint8] | None = field(default=None, repr=False, compare=False)
    #: The trigger the unit came with (PLC job id / measurement id, or ``<station>:<seq>`` when the
    #: camera runs free) and the line's encoder count at the trigger: what a PLC shift register
    #: matches the result to the unit at the gate with. Line outputs and the API's record carry them.
    trigger_id: str | None = None
    encoder_count: int | None = None
    #: The product (recipe) the unit was judged as (:mod:`linecheck.inspect.products`); None: the line's own.
    product: str | None = None
    #: A passed unit in the line's pass-audit sample (:mod:`linecheck.audit`): its frame is kept.
    audit_sample: bool = False
    #: A passed frame kept for audit as a near miss (a score within ``audit.borderline`` of its threshold).
    audit_borderline: bool = False

    def __post_init__(self) -> None:
        self.to_contract()
        # the inspector's own rule: its defects are the detections that reached their threshold
        if self.verdict is Verdict.PASS and self.defects:
            raise InvalidFieldError("verdict", self.verdict, f"pass with {len(self.defects)} defects")

    @property
    def keep_image(self) -> bool:
        """True when the full frame is uploaded: failed, not inspected, code unread, or kept for audit."""
        kept_for_audit = self.audit_sample or self.audit_borderline
        return self.verdict is not Verdict.PASS or self.code_status is CodeStatus.UNREAD or kept_for_audit

    def to_contract(self) -> InspectionPayload:
        """The inspection as the ingest contract's model, checked with the rules the API applies.

        Raises :class:`InvalidFieldError` naming the field the API would name in its 422 answer.
        """
        payload = build(
            InspectionPayload,
            {
                "id": self.id,
                "line_id": self.line_id,
                "station": self.station,
                "code": self.code,
                "code_status": self.code_status,
                "captured_at": self.captured_at.isoformat(timespec="milliseconds"),
                "model_name": self.model_name,
                "model_version": self.model_version,
                "verdict": self.verdict,
                "reason": self.reason,
                "latency_ms": None if self.latency_ms is None else round(float(self.latency_ms), 2),
                "frame_seq": self.frame_seq,
                "trigger_id": self.trigger_id,
                "encoder_count": self.encoder_count,
                "product": self.product,
                "audit_sample": True if self.audit_sample else None,
                "audit_borderline": True if self.audit_borderline else None,
                "image_width": self.image_width,
                "image_height": self.image_height,
                "image_ref": self.image_ref,
                "roll_offset_m": None if self.roll_offset_m is None else round(float(self.roll_offset_m), 4),
                "geometry": None if self.geometry is None else dict(self.geometry),
                "defects": [d.to_contract() for d in self.defects],
            },
        )
        for j, defect in enumerate(payload.defects):
            problem = bbox_problem(defect.bbox, payload.image_width, payload.image_height)
            if problem is not None:
                raise InvalidFieldError(f"defects[{j}].bbox", list(defect.bbox), problem)
        return payload

    def to_payload(self) -> dict[str, Any]:
        """The inspection as the ingest contract's JSON object (``POST /v1/inspections``)."""
        return self.to_contract().model_dump(mode="json")
