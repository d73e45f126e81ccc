"""Close the active-learning loop: reviewed defects become a YOLO dataset to retrain on.

A frame goes into the dataset when a reviewer has decided on at least one of its defects:

* ``confirmed`` defects keep their class, ``reclassified`` ones get the reviewer's class,
* ``rejected`` defects are removed (a frame whose defects were all rejected becomes a
  background image: a hard negative),
* ``pending`` defects (not reviewed yet) make the frame incomplete: it is skipped
  (``pending="skip"``, the default) or the model's box is kept as it is (``pending="keep"``);
* a box a reviewer moved or resized is written where the reviewer put it, and a defect the
  model missed, drawn by a reviewer, is a label like a confirmed one (merged boxes are one
  corrected box, the others rejected).

Passed frames kept for audit, pass-audit samples (``audit_sample``) and near misses
(``audit_borderline``, :mod:`linecheck.audit`), join once a person audited them: an ``ok`` frame
(nothing missed) is a background image (a sample's an unbiased negative of production, a near miss's
a hard one); an ``escape`` frame is labelled with the defects the reviewer drew on it (what the model
missed). A frame kept for audit and not audited yet is skipped, even with a defect drawn on it (the
audit is not done).

Frames are read through a :class:`ReviewSource` (the API over HTTP, or the store directly, see
:mod:`linecheck.datasets.review_sources`), images are the stored full frames, and the dataset is
written all-or-nothing by :class:`~linecheck.datasets.writer.YoloWriter`, split by unit code
(every frame of a unit lands in the same split) and checked with
:func:`~linecheck.datasets.yolo.validate_yolo` afterwards.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from linecheck.datasets.boxes import YoloBoxes, empty_boxes, xyxy_to_yolo
from linecheck.datasets.writer import YoloWriter, check_destination
from linecheck.datasets.yolo import validate_yolo
from linecheck.errors import DatasetError, GoneError, InvalidFieldError, NotFoundError
from linecheck.serving.store.images import sniff_content_type

PendingPolicy = Literal["skip", "keep"]
REVIEW_STATES = ("confirmed", "rejected", "reclassified")
#: What the report counts: each state, pending boxes kept, and (of the kept ones) drawn and moved boxes.
DECISION_COUNTS = (*REVIEW_STATES, "pending_kept", "added", "box_corrected")
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg"}


@dataclass(frozen=True, kw_only=True, slots=True)
class ReviewedDefect:
    """One defect of a frame and where its review stands.

    Attributes:
        id: the store's defect id.
        class_name: the class the model predicted.
        final_class: the class after review (the reviewer's class when reclassified).
        review_state: ``pending``, ``confirmed``, ``rejected`` or ``reclassified``.
        bbox: ``x1, y1, x2, y2`` in the pixels of the inspected frame, after review (a box the
            reviewer moved or resized is where the reviewer put it).
        source: ``model`` (detected) or ``reviewer`` (a missed defect a reviewer drew).
        corrected: the reviewer moved or resized the model's box.

    """

    id: int
    class_name: str
    final_class: str
    review_state: str
    bbox: tuple[float, float, float, float]
    source: str = "model"
    corrected: bool = False

    def __post_init__(self) -> None:
        if self.review_state not in ("pending", *REVIEW_STATES):
            raise InvalidFieldError(
                f"defects[{self.id}].review_state", self.review_state, "expected pending or a decision"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class ReviewedFrame:
    """A stored frame with at least one reviewed defect, and all of its defects."""

    inspection_id: str
    line_id: str
    code: str | None
    captured_at: datetime
    image_ref: str | None
    image_width: int
    image_height: int
    defects: tuple[ReviewedDefect, ...]
    #: A passed frame kept for audit (as a pass-audit sample, a near miss, or both), and the outcome of
    #: its newest audit (None: not audited yet).
    audit_sample: bool = False
    audit_borderline: bool = False
    audit: str | None = None

    def __post_init__(self) -> None:
        if self.image_width <= 0 or self.image_height <= 0:
            raise InvalidFieldError(
                f"inspection {self.inspection_id} image size",
                (self.image_width, self.image_height),
                "expected positive width and height",
            )

    @property
    def kept_for_audit(self) -> bool:
        """Kept for a person to audit: a pass-audit sample, a near miss, or both."""
        return self.audit_sample or self.audit_borderline

    @property
    def group(self) -> str:
        """What keeps frames together in one split: the unit code (the frame itself when unread)."""
        return self.code or f"inspection:{self.inspection_id}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LineClasses:
    """The kind and class list of a line, as the store knows them."""

    line_id: str
    kind: str
    classes: tuple[str, ...]


class ReviewSource(Protocol):
    """Where reviewed frames come from (the API over HTTP, or the store itself)."""

    def line_classes(self, line_id: str) -> LineClasses:
        """Kind and classes of ``line_id`` (:class:`NotFoundError` for an unknown line)."""
        ...

    def reviewed_frames(
        self, line_id: str, *, since: datetime | None, until: datetime | None
    ) -> Iterator[ReviewedFrame]:
        """Frames of ``line_id`` captured in [since, until) with at least one reviewed defect."""
        ...

    def audited_frames(
        self, line_id: str, *, since: datetime | None, until: datetime | None
    ) -> Iterator[ReviewedFrame]:
        """Audited samples and near misses of ``line_id`` captured in [since, until), challenge parts out."""
        ...

    def image(self, ref: str) -> bytes:
        """Bytes of the stored image ``ref`` (:class:`NotFoundError` when it is not stored)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SkippedFrame:
    """A frame left out of the dataset, and why."""

    inspection_id: str
    reason: str


@dataclass(kw_only=True)
class ReviewExportReport:
    """What :func:`export_reviews` wrote."""

    dst: Path
    data_yaml: Path
    kind: str
    lines: list[str]
    names: list[str]
    images: int = 0
    backgrounds: int = 0
    boxes_per_class: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    #: Audited frames kept for audit written: ``ok`` ones (background images) and escapes (labelled);
    #: ``near_misses``: how many of them were near misses (a near miss that is a sample too included).
    audited_ok: int = 0
    escapes: int = 0
    near_misses: int = 0
    skipped: list[SkippedFrame] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Labelled:
    frame: ReviewedFrame
    boxes: YoloBoxes
    decisions: Counter[str]


def frame_labels(
    frame: ReviewedFrame, names: Sequence[str], *, pending: PendingPolicy = "skip"
) -> tuple[YoloBoxes, Counter[str]] | str:
    """YOLO rows of ``frame`` after review, with a count per decision; or why it must be skipped.

    Rejected defects are dropped; confirmed and reclassified ones keep their ``final_class``;
    pending ones skip the frame (``pending="skip"``) or keep the model's class (``"keep"``).
    """
    index = {name: i for i, name in enumerate(names)}
    decisions: Counter[str] = Counter()
    xyxy: list[tuple[float, float, float, float]] = []
    ids: list[int] = []
    for defect in frame.defects:
        state = defect.review_state
        if state == "pending" and pending == "skip":
            waiting = sum(d.review_state == "pending" for d in frame.defects)
            return f"{waiting} defect(s) not reviewed yet (use pending='keep' to keep the model's boxes)"
        decisions["pending_kept" if state == "pending" else state] += 1
        if state == "rejected":
            continue
        if defect.source != "model":
            decisions["added"] += 1
        if defect.corrected:
            decisions["box_corrected"] += 1
        if defect.final_class not in index:
            return f"defect {defect.id} has class {defect.final_class!r}, not one of {list(names)}"
        xyxy.append(defect.bbox)
        ids.append(index[defect.final_class])
    if not xyxy:
        return empty_boxes(), decisions
    rows, keep = xyxy_to_yolo(xyxy, ids, frame.image_width, frame.image_height)
    if not keep.all():
        bad = [frame.defects[i].id for i in np.flatnonzero(~keep).tolist()]
        return f"defect(s) {bad}: box has no area inside the {frame.image_width}x{frame.image_height} frame"
    return rows, decisions


def assign_splits(groups: Sequence[str], *, val: float, seed: int) -> dict[str, str] | None:
    """``train``/``val`` per group, stable for a seed (hash of seed and group); None: write unsplit.

    Unsplit when ``val`` is 0 or there are fewer than two groups; otherwise both splits get at
    least one group (the group hashed lowest goes to val when none did, the highest to train).
    """
    if not 0.0 <= val < 1.0:
        raise InvalidFieldError("val", val, "expected a fraction in [0, 1)")
    unique = sorted(set(groups))
    if val == 0.0 or len(unique) < 2:
        return None

    def fraction(group: str) -> float:
        digest = hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()
        return int(digest[:13], 16) / float(16**13)

    ranked = sorted(unique, key=fraction)
    splits = {g: ("val" if fraction(g) < val else "train") for g in unique}
    if "val" not in splits.values():
        splits[ranked[0]] = "val"
    if "train" not in splits.values():
        splits[ranked[-1]] = "train"
    return splits


def resolve_classes(source: ReviewSource, line_ids: Sequence[str]) -> LineClasses:
    """The common kind and class list of ``line_ids`` (they must agree: one dataset, one list)."""
    if not line_ids:
        raise InvalidFieldError("lines", [], "expected at least one line id")
    found = [source.line_classes(line_id) for line_id in line_ids]
    first = found[0]
    for other in found[1:]:
        if other.classes != first.classes:
            raise InvalidFieldError(
                "lines",
                list(line_ids),
                f"lines need the same classes: {first.line_id} has {list(first.classes)}, "
                f"{other.line_id} has {list(other.classes)}",
            )
    return LineClasses(line_id=",".join(line_ids), kind=first.kind, classes=first.classes)


def _save_image(source: ReviewSource, frame: ReviewedFrame, folder: Path) -> Path | str:
    """Fetch the frame's stored image into ``folder``; the file, or why it cannot be used."""
    if frame.image_ref is None:
        return "no stored full frame (image_ref is empty)"
    try:
        data = source.image(frame.image_ref)
    except (NotFoundError, GoneError) as exc:  # gone: the image retention deleted it
        return f"image {frame.image_ref} not available: {exc}"
    content_type = sniff_content_type(data)
    if content_type is None or cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None:
        return f"image {frame.image_ref} cannot be decoded"
    path = folder / f"{frame.image_ref}{_SUFFIX[content_type]}"
    path.write_bytes(data)
    return path


def audit_problem(frame: ReviewedFrame) -> str | None:
    """Why a frame kept for audit cannot join the dataset yet (None: it can, or it was not kept for audit)."""
    if not frame.kept_for_audit:
        return None
    if frame.audit is None:
        what = "audit sample" if frame.audit_sample else "near miss"
        return f"{what} not audited yet (audit it on the Audit page: ok, or escape after drawing)"
    if frame.audit == "escape" and not any(
        d.source != "model" and d.review_state != "rejected" for d in frame.defects
    ):
        return "audited as an escape, but no defect drawn on it is kept (draw it again and re-audit)"
    return None


def _collect(
    source: ReviewSource,
    line_ids: Sequence[str],
    names: Sequence[str],
    *,
    since: datetime | None,
    until: datetime | None,
    pending: PendingPolicy,
    report: ReviewExportReport,
) -> list[_Labelled]:
    labelled: list[_Labelled] = []
    seen: set[str] = set()
    for line_id in line_ids:
        frames = chain(
            source.reviewed_frames(line_id, since=since, until=until),
            source.audited_frames(line_id, since=since, until=until),
        )
        for frame in frames:
            if frame.inspection_id in seen:
                continue
            seen.add(frame.inspection_id)
            problem = audit_problem(frame)
            if problem is not None:
                report.skipped.append(SkippedFrame(inspection_id=frame.inspection_id, reason=problem))
                continue
            outcome = frame_labels(frame, names, pending=pending)
            if isinstance(outcome, str):
                report.skipped.append(SkippedFrame(inspection_id=frame.inspection_id, reason=outcome))
                continue
            labelled.append(_Labelled(frame=frame, boxes=outcome[0], decisions=outcome[1]))
    return labelled


def export_reviews(
    source: ReviewSource,
    dst: Path,
    *,
    line_ids: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    val: float = 0.2,
    seed: int = 0,
    pending: PendingPolicy = "skip",
) -> ReviewExportReport:
    """Write the reviewed (and audited) frames of ``line_ids`` as a YOLO dataset at ``dst`` (absent or empty).

    Raises :class:`DatasetError` when no frame qualifies (nothing is written then) or when the
    written dataset does not validate; :class:`InvalidFieldError` for bad arguments.
    """
    if pending not in ("skip", "keep"):
        raise InvalidFieldError("pending", pending, "expected skip or keep")
    if since is not None and until is not None and since >= until:
        raise InvalidFieldError("since", since.isoformat(), f"must be before until={until.isoformat()}")
    assign_splits([], val=val, seed=seed)  # checks val before any work
    check_destination(dst)
    common = resolve_classes(source, line_ids)
    names = list(common.classes)
    report = ReviewExportReport(
        dst=dst, data_yaml=dst / "data.yaml", kind=common.kind, lines=list(line_ids), names=names
    )
    labelled = _collect(source, line_ids, names, since=since, until=until, pending=pending, report=report)
    with tempfile.TemporaryDirectory(
        prefix=".from-reviews-", dir=dst.parent if dst.parent.is_dir() else None
    ) as tmp:
        ready: list[tuple[_Labelled, Path]] = []
        for item in labelled:
            saved = _save_image(source, item.frame, Path(tmp))
            if isinstance(saved, str):
                report.skipped.append(SkippedFrame(inspection_id=item.frame.inspection_id, reason=saved))
            else:
                ready.append((item, saved))
        if not ready:
            raise DatasetError(
                f"no reviewed frame of lines {list(line_ids)} qualifies "
                f"({len(report.skipped)} skipped); nothing written",
                path=dst,
            )
        splits = assign_splits([item.frame.group for item, _ in ready], val=val, seed=seed)
        decisions: Counter[str] = Counter()
        extra = {"kind": common.kind, "source": "linecheck reviews", "lines": list(line_ids)}
        with YoloWriter(dst, names, splits=("train", "val") if splits else None, extra=extra) as writer:
            for item, path in ready:
                split = splits[item.frame.group] if splits else None
                stem = f"{item.frame.line_id}_{item.frame.inspection_id}"
                writer.add(stem, path, item.boxes, split=split)
                decisions.update(item.decisions)
                report.audited_ok += int(item.frame.audit == "ok")
                report.escapes += int(item.frame.audit == "escape")
                report.near_misses += int(item.frame.audit is not None and item.frame.audit_borderline)
                if split is not None:
                    report.splits[split] = report.splits.get(split, 0) + 1
            report.data_yaml = writer.commit()
    report.images = writer.images
    report.backgrounds = writer.backgrounds
    report.boxes_per_class = {name: writer.boxes_per_class.get(name, 0) for name in names}
    report.decisions = {key: decisions.get(key, 0) for key in DECISION_COUNTS}
    issues = validate_yolo(dst)
    if issues.errors:
        raise DatasetError(
            f"the written dataset does not validate: {issues.errors[0].message} "
            f"({len(issues.errors)} error(s))",
            path=dst,
        )
    return report
