"""Evaluate a registered model on a dataset split: detection metrics, plots and unit-level QA metrics.

Writes into ``out_dir``: ``report.json``, ``confusion_matrix.png`` and ``pr_curve.png``.
Detection metrics (mAP50, mAP50-95, per-class precision / recall) come from Ultralytics'
validator; escape and false-reject rates from :mod:`linecheck.training.unit_metrics` over the
same split with the line's per-class thresholds. Ultralytics result objects stay in here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from linecheck.errors import InvalidFieldError, TrainingError
from linecheck.messages import Detections
from linecheck.model.registry import ModelVersion
from linecheck.training.dataset import YoloDataset
from linecheck.training.offline import prepare_ultralytics
from linecheck.training.unit_metrics import UnitMetrics, threshold_vector, unit_metrics

Runtime = Literal["onnx", "torch"]
REPORT_FILE = "report.json"
CONFUSION_PNG = "confusion_matrix.png"
PR_CURVE_PNG = "pr_curve.png"
_PREDICT_CHUNK = 32
#: NMS IoU for unit metrics: the serving decoder's default, so QA numbers match what runs on the line.
NMS_IOU = 0.45


@dataclass(frozen=True, kw_only=True)
class EvalReport:
    """What ``linecheck val`` reports for one model version on one split."""

    model: str
    version: int
    runtime: str
    split: str
    images: int
    dataset_sha256: str
    map50: float
    map50_95: float
    per_class: dict[str, dict[str, float | int | None]]
    confusion_matrix: list[list[int]]
    units: UnitMetrics
    plots: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def card_metrics(self) -> dict[str, Any]:
        """The subset recorded in the model card's ``metrics``."""
        return {
            "split": self.split,
            "runtime": self.runtime,
            "images": self.images,
            "dataset_sha256": self.dataset_sha256,
            "mAP50": round(self.map50, 4),
            "mAP50_95": round(self.map50_95, 4),
            "per_class": self.per_class,
            "escape_rate": round(self.units.escape_rate, 4),
            "false_reject_rate": round(self.units.false_reject_rate, 4),
            "defective_units": self.units.defective_units,
            "good_units": self.units.good_units,
            "class_unit_recall": self.units.class_recall,
            "thresholds": self.units.thresholds,
            "evaluated_at": self.created_at,
        }


def _model_file(version: ModelVersion, runtime: Runtime) -> Path:
    path = version.onnx if runtime == "onnx" else version.weights
    if not path.is_file():
        raise TrainingError(f"model {version.card.name} v{version.card.version} has no {runtime} file {path}")
    return path


def _to_detections(result: Any, names: tuple[str, ...]) -> Detections:
    boxes = result.boxes
    return Detections(
        xyxy=np.asarray(boxes.xyxy.cpu().numpy(), np.float32).reshape(-1, 4),
        confidence=np.asarray(boxes.conf.cpu().numpy(), np.float32).reshape(-1),
        class_id=np.asarray(boxes.cls.cpu().numpy(), np.int64).reshape(-1),
        class_names=names,
    )


def _chunks(items: list[Path], size: int) -> Iterable[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_images(
    model_file: Path,
    images: list[Path],
    *,
    names: tuple[str, ...],
    imgsz: int,
    conf: float,
    device: str,
    iou: float = NMS_IOU,
) -> list[Detections]:
    """Detections for each image (Ultralytics predictor; boxes in the image's pixels)."""
    prepare_ultralytics()
    from ultralytics import YOLO

    model = YOLO(str(model_file), task="detect")
    out: list[Detections] = []
    for chunk in _chunks(images, _PREDICT_CHUNK):
        results = model.predict(
            [str(p) for p in chunk], imgsz=imgsz, conf=conf, iou=iou, device=device, verbose=False
        )
        out.extend(_to_detections(r, names) for r in results)
    return out


def _per_class(metrics: Any, names: tuple[str, ...]) -> dict[str, dict[str, float | int | None]]:
    counts = metrics.nt_per_class if metrics.nt_per_class is not None else np.zeros(len(names), int)
    table: dict[str, dict[str, float | int | None]] = {
        name: {
            "instances": int(counts[i]),
            "precision": None,
            "recall": None,
            "mAP50": None,
            "mAP50_95": None,
        }
        for i, name in enumerate(names)
    }
    for row, class_id in enumerate(metrics.ap_class_index):
        p, r, ap50, ap = metrics.box.class_result(row)
        table[names[int(class_id)]].update(
            precision=round(float(p), 4), recall=round(float(r), 4), mAP50=round(float(ap50), 4),
            mAP50_95=round(float(ap), 4),
        )  # fmt: skip
    return table


def evaluate(
    version: ModelVersion,
    dataset: YoloDataset,
    *,
    thresholds: Mapping[str, float],
    out_dir: Path,
    split: str = "test",
    runtime: Runtime = "onnx",
    device: str = "cpu",
    batch: int = 16,
) -> EvalReport:
    """Evaluate ``version`` on ``dataset``'s ``split`` and write the report files into ``out_dir``."""
    card = version.card
    names = tuple(card.classes)
    if dataset.names != names:
        raise InvalidFieldError(
            "dataset.names", list(dataset.names), f"model {card.name} has classes {list(names)}"
        )
    images = dataset.images(split)
    if not images:
        raise TrainingError(f"split {split!r} of {dataset.yaml_path} has no images")
    model_file = _model_file(version, runtime)
    imgsz = card.onnx.imgsz if (runtime == "onnx" and card.onnx) else card.imgsz
    prepare_ultralytics()
    from ultralytics import YOLO

    out_dir = Path(out_dir).resolve()  # Ultralytics puts a relative project under its own runs dir
    out_dir.mkdir(parents=True, exist_ok=True)
    data_yaml = dataset.write_resolved_yaml(out_dir / "data.yaml")
    try:
        metrics = YOLO(str(model_file), task="detect").val(
            data=str(data_yaml), split=split, imgsz=imgsz, batch=batch, device=device, plots=True,
            project=str(out_dir), name="ultralytics", exist_ok=True, verbose=False,
        )  # fmt: skip
    except Exception as exc:  # Ultralytics raises plain exceptions for data and model problems
        raise TrainingError(f"validation of {model_file} on {data_yaml} ({split}) failed: {exc}") from exc
    save_dir = Path(metrics.save_dir)
    plots: dict[str, str] = {}
    for source, target in (("confusion_matrix.png", CONFUSION_PNG), ("BoxPR_curve.png", PR_CURVE_PNG)):
        if (save_dir / source).is_file():
            shutil.copyfile(save_dir / source, out_dir / target)
            plots[target.removesuffix(".png")] = str(out_dir / target)
    floor = float(threshold_vector(names, thresholds).min())
    predictions = predict_images(model_file, images, names=names, imgsz=imgsz, conf=floor, device=device)
    truth = [dataset.classes_in(image) for image in images]
    report = EvalReport(
        model=card.name,
        version=card.version,
        runtime=runtime,
        split=split,
        images=len(images),
        dataset_sha256=dataset.fingerprint(),
        map50=float(metrics.box.map50),
        map50_95=float(metrics.box.map),
        per_class=_per_class(metrics, names),
        confusion_matrix=np.asarray(metrics.confusion_matrix.matrix, dtype=np.int64).tolist(),
        units=unit_metrics(predictions, truth, thresholds),
        plots=plots,
    )
    (out_dir / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report
