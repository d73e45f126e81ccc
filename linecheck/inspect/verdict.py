"""Verdict of one frame from its detections and the line's per-class thresholds.

Fail-safe by construction: a frame without detections (inference failed, timed out, was
late or could not be queued) is ``not_inspected`` with the reason, routed to manual QA — a
frame is ``pass`` only when the model answered and nothing reached its class threshold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from linecheck.audit import borderline_gap, near_miss, sampled
from linecheck.config import LineConfig
from linecheck.contract import REASON_MAX_CHARS, clean_text
from linecheck.inspect.kinds.base import KindLogic
from linecheck.inspect.messages import DefectRecord, InferredFrame, InspectionResult
from linecheck.messages import CodeStatus, Detections, Verdict

#: Boxes thinner than this (pixels, after clipping to the frame) are not defects but numeric noise.
MIN_BOX_PX = 0.5


def clip_boxes(xyxy: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.float32]:
    """Boxes clipped to the frame, rounded to 0.1 px (as they are reported)."""
    out = np.asarray(xyxy, np.float32).reshape(-1, 4).copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return np.round(out, 1)


def above_threshold(line: LineConfig, detections: Detections) -> npt.NDArray[np.bool_]:
    """Mask of the detections whose confidence reaches their class threshold on ``line``."""
    thresholds = np.array([line.threshold(name) for name in detections.names()], np.float32)
    return np.asarray(detections.confidence >= thresholds, np.bool_)


def shorten(text: str, limit: int = REASON_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters (ellipsis when cut), control characters replaced.

    Notes quote error messages (a camera's, a server's), which may carry control characters the
    contract refuses in a reason.
    """
    text = clean_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _result(
    inferred: InferredFrame,
    logic: KindLogic,
    *,
    verdict: Verdict,
    reasons: list[str | None],
    defects: tuple[DefectRecord, ...] = (),
    gap: float | None = None,
) -> InspectionResult:
    coded = inferred.coded
    frame = coded.frame
    geometry_note = coded.geometry.note if coded.geometry else None
    notes = [r for r in (*reasons, coded.code_note, geometry_note) if r]
    if coded.code_status is CodeStatus.UNREAD and not coded.code_note:
        notes.append("code unread")
    trigger = frame.meta.get("trigger")
    web = logic.spec.unit == "web"  # a roll is sampled frame by frame (linecheck.audit)
    audit = verdict is Verdict.PASS and sampled(
        coded.line.audit, frame.line_id, coded.code, frame.seq if web else None
    )
    return InspectionResult(
        **({"id": trigger.inspection_id} if trigger is not None else {}),
        trigger_id=None if trigger is None else trigger.trigger_id,
        encoder_count=None if trigger is None else trigger.encoder_count,
        line_id=frame.line_id,
        station=frame.station,
        code=coded.code,
        code_status=coded.code_status,
        captured_at=frame.captured_at,
        model_name=inferred.model_name,
        model_version=inferred.model_version,
        verdict=verdict,
        reason=shorten("; ".join(notes)) or None,
        latency_ms=inferred.latency_ms,
        frame_seq=frame.seq,
        image_width=frame.width,
        image_height=frame.height,
        roll_offset_m=logic.roll_offset_m(coded),
        geometry=logic.geometry_json(coded),
        product=coded.line.product,
        audit_sample=audit,
        audit_borderline=verdict is Verdict.PASS
        and coded.code is not None
        and near_miss(coded.line.audit, gap),
        defects=defects,
        image=frame.image,
    )


def judge(inferred: InferredFrame, logic: KindLogic) -> InspectionResult:
    """The inspection result of one frame: defects located on the product, verdict and reason."""
    if inferred.detections is None:
        return _result(inferred, logic, verdict=Verdict.NOT_INSPECTED, reasons=[inferred.failure])
    frame = inferred.coded.frame
    line = inferred.coded.line  # the unit's product's thresholds, when the line has products
    detections = inferred.detections
    kept = detections.filter(above_threshold(line, detections))
    boxes = clip_boxes(kept.xyxy, frame.width, frame.height)
    usable = (boxes[:, 2] - boxes[:, 0] >= MIN_BOX_PX) & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_PX)
    defects = tuple(
        DefectRecord(
            class_name=name,
            confidence=float(np.clip(score, 0.0, 1.0)),
            bbox=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            location=logic.locate(box, inferred.coded),
            heatmap=heat,
        )
        for box, score, name, heat, ok in zip(
            boxes.tolist(),
            kept.confidence.tolist(),
            kept.names(),
            kept.heatmaps,
            usable.tolist(),
            strict=True,
        )
        if ok
    )
    verdict = Verdict.FAIL if defects else Verdict.PASS
    gap = None
    if verdict is Verdict.PASS and line.audit is not None and line.audit.borderline:  # a near miss?
        scores = detections.confidence.tolist()
        gap = borderline_gap(scores, [line.threshold(name) for name in detections.names()])
    return _result(
        inferred, logic, verdict=verdict, reasons=[logic.reason(defects, line)], defects=defects, gap=gap
    )
