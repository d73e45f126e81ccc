"""``linecheck export-int8``: quantize a version's FP32 graph, and keep it only if it stays accurate.

The INT8 graph (:func:`linecheck.training.quantize.quantize_int8`, calibrated on a deterministic
sample of the train split) and the FP32 graph it came from are both evaluated on the same split
with the ONNX Runtime path of :func:`linecheck.training.evaluate.evaluate`. The gate refuses the
INT8 graph when mAP50 drops by more than ``max_map_drop`` or the unit-level escape rate (at the
line's thresholds) rises by more than ``max_escape_rise`` (both 0.02 by default). Registering
happens only after the gate passed, and never promotes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from linecheck.errors import ExportError, InvalidFieldError
from linecheck.model.card import ONNX_FILE, OnnxInfo
from linecheck.model.registry import ModelVersion, Registry
from linecheck.training.dataset import YoloDataset
from linecheck.training.evaluate import EvalReport, evaluate
from linecheck.training.pipeline import display_path, register_derived
from linecheck.training.quantize import (
    DEFAULT_CALIBRATION_IMAGES,
    RECIPE,
    calibration_paths,
    quantize_int8,
    read_images,
)

DEFAULT_MAX_MAP_DROP = 0.02
#: Largest rise of the unit-level escape rate an INT8 graph may bring (a share of defective units).
DEFAULT_MAX_ESCAPE_RISE = 0.02
CALIBRATION_SPLIT = "train"
#: Float slack when comparing a difference with its limit (0.90 - 0.88 is 0.02000000000000002).
_SLACK = 1e-9


@dataclass(frozen=True, kw_only=True)
class Int8Gate:
    """FP32 vs INT8 on one split, and the limits the INT8 graph must stay within."""

    split: str
    fp32_map50: float
    int8_map50: float
    fp32_escape_rate: float
    int8_escape_rate: float
    max_map_drop: float
    max_escape_rise: float = DEFAULT_MAX_ESCAPE_RISE

    @property
    def map_drop(self) -> float:
        """How much mAP50 the INT8 graph lost (negative when it gained)."""
        return self.fp32_map50 - self.int8_map50

    @property
    def escape_rise(self) -> float:
        """How much the escape rate rose with the INT8 graph (negative when it fell)."""
        return self.int8_escape_rate - self.fp32_escape_rate

    def problems(self) -> list[str]:
        """Why the INT8 graph is refused; empty when it passes."""
        found: list[str] = []
        if self.map_drop > self.max_map_drop + _SLACK:
            found.append(
                f"mAP50 on the {self.split} split went from {self.fp32_map50:.4f} (FP32) to "
                f"{self.int8_map50:.4f} (INT8), a drop of {self.map_drop:.4f} over the allowed "
                f"max_map_drop={self.max_map_drop:g}"
            )
        if self.escape_rise > self.max_escape_rise + _SLACK:
            found.append(
                f"escape rate on the {self.split} split went from {self.fp32_escape_rate:.4f} (FP32) to "
                f"{self.int8_escape_rate:.4f} (INT8), a rise of {self.escape_rise:.4f} over the allowed "
                f"max_escape_rise={self.max_escape_rise:g}"
            )
        return found

    @property
    def passed(self) -> bool:
        """True when the INT8 graph stays within both limits."""
        return not self.problems()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the model card)."""
        data = asdict(self) | {"map_drop": self.map_drop, "escape_rise": self.escape_rise}
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in data.items()} | {
            "passed": self.passed
        }


@dataclass(frozen=True, kw_only=True)
class Int8Export:
    """A quantized graph that passed the gate, and how it was made."""

    path: Path
    info: OnnxInfo
    gate: Int8Gate
    fp32: EvalReport
    int8: EvalReport
    calibration: dict[str, Any]


def _check_source(version: ModelVersion) -> OnnxInfo:
    card = version.card
    where = f"model {card.name} v{card.version}"
    if card.onnx is None or not version.onnx.is_file():
        raise ExportError(f"{where} has no ONNX graph ({version.onnx}); export it first")
    if card.onnx.int8:
        raise InvalidFieldError(f"{where} onnx.int8", True, "it is already INT8; pick its FP32 version")
    if card.onnx.fp16:
        raise InvalidFieldError(f"{where} onnx.fp16", True, "INT8 is quantized from an FP32 graph")
    if card.onnx.output_layout != "raw":
        raise InvalidFieldError(
            f"{where} onnx.output_layout", card.onnx.output_layout, "INT8 needs the raw layout (no NMS)"
        )
    return card.onnx


def int8_architecture(architecture: str) -> str:
    """The architecture note an INT8 version's card carries."""
    return f"{architecture} (INT8 static, QDQ)"


def export_int8(
    version: ModelVersion,
    dataset: YoloDataset,
    *,
    thresholds: Mapping[str, float],
    out_dir: Path,
    split: str = "val",
    calib_images: int = DEFAULT_CALIBRATION_IMAGES,
    max_map_drop: float = DEFAULT_MAX_MAP_DROP,
    max_escape_rise: float = DEFAULT_MAX_ESCAPE_RISE,
    device: str = "cpu",
) -> Int8Export:
    """Quantize ``version``'s FP32 graph into ``out_dir`` and gate it against the FP32 graph on ``split``.

    Writes ``out_dir/model.onnx``, ``out_dir/eval-fp32/`` and ``out_dir/eval-int8/`` (the two
    evaluation reports) and ``out_dir/gate.json``.

    Raises:
        InvalidFieldError: the version is not an FP32 raw-layout graph, or a bad option value.
        ExportError: quantization failed, or the INT8 graph fails the gate (message names both values).

    """
    source_info = _check_source(version)
    for field, limit in (("max_map_drop", max_map_drop), ("max_escape_rise", max_escape_rise)):
        if not math.isfinite(limit):
            raise InvalidFieldError(field, limit, "expected a finite number")
    dataset.images(split)  # an unknown split fails here, before any work
    out_dir = Path(out_dir)
    calibration = calibration_paths(dataset.images(CALIBRATION_SPLIT), calib_images)
    if not calibration:
        raise InvalidFieldError(
            f"{CALIBRATION_SPLIT} split images", 0, f"calibration needs images in {dataset.yaml_path}"
        )
    target = out_dir / ONNX_FILE
    quantize_int8(version.onnx, target, read_images(calibration), source_info.imgsz)
    info = replace(source_info, int8=True)
    card = replace(version.card, architecture=int8_architecture(version.card.architecture), onnx=info)
    candidate = ModelVersion(card=card, path=out_dir)  # not registered: evaluated where it was written
    reports: dict[str, EvalReport] = {}
    for precision, graph in (("fp32", version), ("int8", candidate)):
        reports[precision] = evaluate(
            graph, dataset, thresholds=thresholds, out_dir=out_dir / f"eval-{precision}", split=split,
            runtime="onnx", device=device,
        )  # fmt: skip
    gate = Int8Gate(
        split=split,
        fp32_map50=reports["fp32"].map50,
        int8_map50=reports["int8"].map50,
        fp32_escape_rate=reports["fp32"].units.escape_rate,
        int8_escape_rate=reports["int8"].units.escape_rate,
        max_map_drop=max_map_drop,
        max_escape_rise=max_escape_rise,
    )
    (out_dir / "gate.json").write_text(json.dumps(gate.to_dict(), indent=2) + "\n", encoding="utf-8")
    if not gate.passed:
        raise ExportError(
            f"INT8 graph of {card.name} v{card.version} refused, nothing registered: "
            + "; ".join(gate.problems())
        )
    return Int8Export(
        path=target,
        info=info,
        gate=gate,
        fp32=reports["fp32"],
        int8=reports["int8"],
        calibration={
            "split": CALIBRATION_SPLIT,
            "images": len(calibration),
            "dataset_sha256": reports["fp32"].dataset_sha256,
            "data_yaml": display_path(dataset.yaml_path),
        },
    )


def register_int8(registry: Registry, source: ModelVersion, exported: Int8Export) -> ModelVersion:
    """Register a gated INT8 graph as ``source``'s model's next version (never promoted).

    The card says INT8 in ``onnx.int8`` and its architecture note; ``training.derived_from`` holds
    the source version, the recipe and the calibration sample; ``metrics`` are the INT8 graph's
    evaluation on the gate's split, with the gate (both graphs' numbers) under ``metrics.quantization``.
    """
    return register_derived(
        registry,
        source,
        exported.path,
        exported.info,
        derived_from={
            "precision": "int8",
            "quantization": {"recipe": RECIPE, "calibration": exported.calibration},
        },
        metrics=exported.int8.card_metrics() | {"quantization": exported.gate.to_dict()},
        architecture=int8_architecture(source.card.architecture),
    )
