"""The output step shared by the detection converters: records -> YOLO dataset (+ optional split)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from linecheck.datasets.boxes import YoloBoxes
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.split import split_dataset, split_sizes
from linecheck.datasets.writer import YoloWriter, check_destination
from linecheck.errors import ConversionError


@dataclass(frozen=True, kw_only=True, slots=True)
class DetectionRecord:
    """One converted image: where it comes from, its output stem and its YOLO boxes."""

    stem: str
    image: Path
    boxes: YoloBoxes


@dataclass(frozen=True, kw_only=True, slots=True)
class SplitOptions:
    """Fractions and seed for splitting a converted dataset (see ``split_dataset``)."""

    val: float = 0.2
    test: float = 0.1
    seed: int = 0


def write_detection_dataset(
    records: Sequence[DetectionRecord],
    names: Sequence[str],
    report: ConversionReport,
    *,
    split: SplitOptions | None = None,
) -> ConversionReport:
    """Write ``records`` as a YOLO dataset at ``report.dst``, then split it when asked; fill ``report``."""
    if not records:
        reasons = "; ".join(f"{i.path.name}: {i.reason}" for i in report.skipped[:3])
        detail = f" ({reasons})" if reasons else ""
        raise ConversionError(f"nothing to convert{detail}", path=report.source)
    stems = [r.stem for r in records]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        message = f"several source images map to the output stems {duplicates[:5]}"
        raise ConversionError(message, path=report.source)
    check_destination(report.dst)
    if split is not None:
        split_sizes(len(records), split.val, split.test)  # too few images: fail before writing
    with YoloWriter(report.dst, names) as writer:
        for record in sorted(records, key=lambda r: r.stem):
            writer.add(record.stem, record.image, record.boxes)
        writer.commit()
    report.names = tuple(names)
    report.images = writer.images
    report.backgrounds = writer.backgrounds
    report.boxes = int(sum(r.boxes.shape[0] for r in records))
    report.per_class = {name: writer.boxes_per_class.get(name, 0) for name in names}
    if split is not None:
        result = split_dataset(report.dst, val=split.val, test=split.test, seed=split.seed)
        report.splits = result.counts
    return report
