"""Shadow models: a candidate model judges the line's frames beside the production model, unheard.

Before a new model is promoted, an ML engineer wants to know how it would have judged *this* line's
units, not a test split: a line YAML's ``shadow:`` lists candidate models (``{name: bearing, version:
staging}``); the inspector runs each on every frame the line inspected, judges its detections with the
line's own thresholds and kind logic, and compares the verdict with the one the line acted on. The
shadow never touches a unit: its verdict goes to no API record, no reject output and no PLC.

Per (line, shadow) it keeps, under ``<inspector_dir>/shadow/<line>/<model>@<version>/``:

* ``summary.json``: frames compared; both pass, both fail, **production only** (production failed the
  unit, the shadow would have passed it: an escape the candidate would add) and **shadow only** (the
  shadow would have failed a unit production passed: a catch or a false reject, for QA to look at);
  defects per class by each; frames skipped (its queue full, its model down) and their causes.
* ``disagreements.jsonl``: one line per frame the two judged differently (inspection id, code, both
  verdicts and defects), with the frame as PNG in ``images/`` for the first ``shadow_keep_images``.

Shadow frames go through a bounded queue of their own and the shadow's failures stay there: a
queue that is full skips the frame for the shadow (counted, ``linecheck_inspector_shadow_skipped_total``),
never waits, so a slow candidate cannot slow the line. ``linecheck models shadow`` prints the summaries.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2

from linecheck.inspect.batcher import DetectorFactory, DetectorLink
from linecheck.inspect.kinds import KindLogic
from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.verdict import judge
from linecheck.inspect.workers import Channel, ChannelClosed, RateLimitedLog, Worker
from linecheck.messages import Verdict
from linecheck.model.detector import Detector

log = logging.getLogger(__name__)

SHADOW_FOLDER = "shadow"
SUMMARY_FILE = "summary.json"
DISAGREEMENTS_FILE = "disagreements.jsonl"
#: The summary is rewritten at most this often (and when the worker stops).
SUMMARY_EVERY_S = 1.0
#: Outcomes of a compared frame: (production verdict, shadow verdict).
OUTCOMES = {
    ("pass", "pass"): "both_pass",
    ("fail", "fail"): "both_fail",
    ("fail", "pass"): "production_only",
    ("pass", "fail"): "shadow_only",
}


@dataclass(frozen=True, slots=True)
class ShadowSpec:
    """One shadow model of a line: its label (``name@version``) and how to build its detector."""

    label: str
    factory: DetectorFactory


def shadow_label(name: str, version: str) -> str:
    """How a shadow is named in folders, metrics and reports: ``name@version``."""
    return f"{name}@{version}"


def shadow_dir(inspector_dir: Path, line_id: str, label: str) -> Path:
    """The folder of one line's shadow (``@`` and other characters unsafe in a path become ``_``)."""
    return inspector_dir / SHADOW_FOLDER / line_id / re.sub(r"[^A-Za-z0-9@._-]", "_", label)


def _empty_counts() -> dict[str, Any]:
    return {
        "compared": 0,
        **dict.fromkeys(OUTCOMES.values(), 0),
        "skipped": {},
        "defects": {"production": {}, "shadow": {}},
    }


class ShadowLog:
    """The summary, the disagreements and their images of one line's shadow (thread-safe)."""

    def __init__(self, folder: Path, *, line_id: str, label: str, keep_images: int) -> None:
        self.folder = folder
        self.line_id = line_id
        self.label = label
        self.keep_images = keep_images
        self._lock = threading.Lock()
        self._written_at = 0.0
        folder.mkdir(parents=True, exist_ok=True)
        self.summary: dict[str, Any] = {
            "line_id": line_id,
            "shadow": label,
            "model_version": None,
            "started_at": datetime.now(UTC).isoformat(),
            "updated_at": None,
            "images_kept": 0,
            **_empty_counts(),
        }
        previous = self._read_previous()
        if previous is not None:
            self.summary.update({k: previous[k] for k in self.summary if k in previous})

    def _read_previous(self) -> dict[str, Any] | None:
        path = self.folder / SUMMARY_FILE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("shadow %s: %s unreadable (%s); counting from zero", self.label, path, exc)
            return None
        return data if isinstance(data, dict) else None

    def version(self, model_version: str) -> None:
        """The shadow's model answered as ``model_version``: a new version starts its counts afresh."""
        with self._lock:
            old = self.summary.get("model_version")
            if old not in (None, model_version):
                archive = self.folder / f"summary.{re.sub(r'[^A-Za-z0-9._-]', '_', str(old))}.json"
                self._write(archive)
                log.info(
                    "shadow %s: version %s -> %s; earlier counts in %s",
                    self.label,
                    old,
                    model_version,
                    archive,
                )
                self.summary.update(_empty_counts(), started_at=datetime.now(UTC).isoformat(), images_kept=0)
            self.summary["model_version"] = model_version

    def skipped(self, cause: str, frames: int = 1) -> None:
        """``frames`` were not judged by the shadow (``queue_full``, ``unavailable``, ``error``)."""
        with self._lock:
            skipped = self.summary["skipped"]
            skipped[cause] = skipped.get(cause, 0) + frames
            self._maybe_write()

    def compared(self, production: InspectionResult, shadow: InspectionResult) -> str:
        """Count one frame both judged; write it down when they disagree. Returns the outcome."""
        outcome = OUTCOMES[(production.verdict.value, shadow.verdict.value)]
        with self._lock:
            s = self.summary
            s["compared"] += 1
            s[outcome] += 1
            for who, result in (("production", production), ("shadow", shadow)):
                per_class = s["defects"][who]
                for defect in result.defects:
                    per_class[defect.class_name] = per_class.get(defect.class_name, 0) + 1
            if outcome in ("production_only", "shadow_only"):
                self._disagreement(production, shadow, outcome)
            self._maybe_write()
        return outcome

    def _disagreement(self, production: InspectionResult, shadow: InspectionResult, outcome: str) -> None:
        image: str | None = None
        if self.summary["images_kept"] < self.keep_images and production.image is not None:
            name = f"images/{production.id}.png"
            (self.folder / "images").mkdir(exist_ok=True)
            if cv2.imwrite(str(self.folder / name), production.image):
                image = name
                self.summary["images_kept"] += 1
        row = {
            "outcome": outcome,
            "inspection_id": production.id,
            "line_id": production.line_id,
            "station": production.station,
            "code": production.code,
            "captured_at": production.captured_at.isoformat(),
            "frame_seq": production.frame_seq,
            "production": _judged(production),
            "shadow": _judged(shadow),
            "image": image,
        }
        with (self.folder / DISAGREEMENTS_FILE).open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")

    def _maybe_write(self) -> None:
        if time.monotonic() - self._written_at >= SUMMARY_EVERY_S:
            self._write(self.folder / SUMMARY_FILE)

    def _write(self, path: Path) -> None:
        self.summary["updated_at"] = datetime.now(UTC).isoformat()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        self._written_at = time.monotonic()

    def flush(self) -> None:
        """Write the summary now."""
        with self._lock:
            self._write(self.folder / SUMMARY_FILE)

    def snapshot(self) -> dict[str, Any]:
        """The counts, for the inspector's status."""
        with self._lock:
            return json.loads(json.dumps(self.summary))


def _judged(result: InspectionResult) -> dict[str, Any]:
    return {
        "verdict": result.verdict.value,
        "model_version": result.model_version,
        "defects": [
            {
                "class_name": d.class_name,
                "confidence": round(d.confidence, 4),
                "bbox": [round(v, 1) for v in d.bbox],
            }
            for d in result.defects
        ],
    }


class ShadowWorker(Worker):
    """Runs one shadow model on the frames one line judged, in batches, and compares the verdicts."""

    def __init__(
        self,
        *,
        line_id: str,
        spec: ShadowSpec,
        logic: KindLogic,
        inbox: Channel[tuple[InferredFrame, InspectionResult]],
        record: ShadowLog,
        metrics: InspectorMetrics,
        max_batch: int,
        reconnect_s: tuple[float, float],
        stop: threading.Event,
    ) -> None:
        super().__init__(f"shadow-{line_id}-{spec.label}", stop)
        self.line_id = line_id
        self.spec = spec
        self.logic = logic
        self.inbox = inbox
        self.record = record
        self.metrics = metrics
        self.max_batch = max_batch
        warn = RateLimitedLog(log)
        self.link = DetectorLink(
            spec.label,
            spec.factory,
            min_s=reconnect_s[0],
            max_s=reconnect_s[1],
            report=lambda text: warn.warning(
                self.name, "shadow %s on line %s: %s", spec.label, line_id, text
            ),
            on_connect=lambda detector, _recovered: record.version(str(detector.model_version)),
        )
        #: Why the shadow skipped its last frames (a judging bug, which leaves the model connected).
        self.judge_error: str | None = None

    @property
    def detector(self) -> Detector | None:
        """The shadow's connected detector (None while it is down)."""
        return self.link.detector

    @property
    def last_error(self) -> str | None:
        """Why the shadow is down or skipped frames last."""
        return self.link.last_error or self.judge_error

    def offer(self, item: tuple[InferredFrame, InspectionResult]) -> None:
        """Queue a judged frame for the shadow without waiting; a full queue skips it (counted)."""
        if not self.inbox.put(item, timeout=0):
            self._skip("queue_full", 1)

    def _skip(self, cause: str, frames: int) -> None:
        self.record.skipped(cause, frames)
        self.metrics.shadow_skipped(self.line_id, self.spec.label, cause, frames)

    def run(self) -> None:
        """Judge queued frames until the queue is closed and drained (or stop is set)."""
        while not self.stop.is_set():
            try:
                first = self.inbox.get(timeout=0.1)
            except ChannelClosed:
                return
            if first is None:
                continue
            batch = [first]
            while len(batch) < self.max_batch and (item := self.inbox.get_nowait()) is not None:
                batch.append(item)
            self.process(batch)

    def process(self, batch: Sequence[tuple[InferredFrame, InspectionResult]]) -> None:
        """Infer ``batch`` with the shadow, judge each frame as the line would, compare."""
        detector = self.link.get()
        if detector is None:
            self._skip("unavailable", len(batch))
            return
        started = time.monotonic()
        try:
            answers = detector.detect([inferred.coded.frame.image for inferred, _ in batch])
            if len(answers) != len(batch):
                raise ValueError(f"{len(answers)} answers for {len(batch)} frames")
        except Exception as exc:  # a failing shadow skips its frames; the line's results are already out
            self.link.fail(f"inference failed: {type(exc).__name__}: {exc}")
            self._skip("error", len(batch))
            return
        latency_ms = (time.monotonic() - started) * 1000.0
        for (inferred, production), detections in zip(batch, answers, strict=True):
            shadowed = InferredFrame(
                coded=inferred.coded,
                detections=detections,
                model_name=self.spec.label,
                model_version=str(detector.model_version),
                latency_ms=latency_ms,
            )
            try:
                shadow = judge(shadowed, self.logic)
            except Exception as exc:  # per-frame boundary: a judging bug skips the frame for the shadow only
                log.exception("shadow %s on line %s: judging failed", self.spec.label, self.line_id)
                self._skip("error", 1)
                self.judge_error = f"judging failed: {type(exc).__name__}: {exc}"
                continue
            outcome = self.record.compared(production, shadow)
            self.metrics.shadow_compared(self.line_id, self.spec.label, outcome)

    def teardown(self) -> None:
        """Close the shadow's detector and write its summary."""
        self.link.close()
        self.record.flush()


def judged_for_shadow(result: InspectionResult) -> bool:
    """Whether the shadow should see the frame: the line judged it (pass or fail), not not_inspected."""
    return result.verdict is not Verdict.NOT_INSPECTED


def read_summaries(inspector_dir: Path) -> list[dict[str, Any]]:
    """Every shadow summary under ``inspector_dir`` (line, then shadow order)."""
    root = inspector_dir / SHADOW_FOLDER
    out = []
    for path in sorted(root.glob(f"*/*/{SUMMARY_FILE}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable shadow summary (%s)", path, exc)
            continue
        if isinstance(data, dict):
            out.append({**data, "folder": str(path.parent)})
    return out
