"""What each model of a line found in the demo: a detector and an anomaly model side by side.

A line with ``extra_models`` fails a frame when any of its models reports a defect (the union
verdict). :class:`ModelTally` observes the inspector's results and counts, per line and model,
the defects the model reported, the frames it failed, and of those the frames the synthetic line
drew without any defect (its false rejects) and with defects (caught).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence

from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.messages import Verdict

#: Figures of one model, in the order the summary lists them.
FIGURES = ("frames", "defects", "frames_failed", "good_frames_failed", "defective_frames_failed")


class ModelTally:
    """Per line and model: defects and failed frames (thread-safe; use :meth:`observe` as an observer)."""

    def __init__(self, models: Mapping[str, Sequence[tuple[str, Sequence[str]]]]) -> None:
        """``models``: line id -> its models in order, each ``(model name, its classes)``."""
        self._models = {line: [name for name, _ in pairs] for line, pairs in models.items()}
        self._owner = {
            line: {cls: name for name, classes in pairs for cls in classes} for line, pairs in models.items()
        }
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def observe(self, result: InspectionResult, inferred: InferredFrame) -> None:
        """Count one inspected frame (frames not inspected have no model answer and are skipped)."""
        owner = self._owner.get(result.line_id)
        if owner is None or result.verdict is Verdict.NOT_INSPECTED:
            return
        meta = inferred.coded.frame.meta
        defective = len(meta["gt_class_ids"]) > 0 if "gt_class_ids" in meta else None
        per_model = Counter(owner.get(d.class_name, "?") for d in result.defects)
        with self._lock:
            for model in self._models[result.line_id]:
                key = (result.line_id, model)
                self._counts[(*key, "frames")] += 1
                if not per_model[model]:
                    continue
                self._counts[(*key, "defects")] += per_model[model]
                self._counts[(*key, "frames_failed")] += 1
                if defective is not None:
                    which = "defective_frames_failed" if defective else "good_frames_failed"
                    self._counts[(*key, which)] += 1

    def summary(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{line: {model: {figure: count}}}`` for lines running more than one model."""
        with self._lock:
            return {
                line: {m: {f: self._counts[(line, m, f)] for f in FIGURES} for m in models}
                for line, models in self._models.items()
                if len(models) > 1
            }


def render_rows(per_line: Mapping[str, Mapping[str, Mapping[str, int]]]) -> list[tuple[str, ...]]:
    """Table rows ``(line, model, frames, defects, failed, on good frames, on defective frames)``."""
    rows: list[tuple[str, ...]] = []
    for line, models in per_line.items():
        for model, figures in models.items():
            rows.append((line, model, *(str(figures[f]) for f in FIGURES)))
    return rows
