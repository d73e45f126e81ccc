"""Converters into YOLO format from the formats public defect datasets use.

``voc`` (Pascal VOC XML, e.g. NEU-DET), ``coco`` (COCO JSON), ``mask`` (a defect mask per image,
boxes from connected components) and ``csv`` (image-level labels such as ELPV, written as an
Ultralytics classification dataset). Each converter writes a new dataset all or nothing and returns
a :class:`ConversionReport`; bad input raises :class:`linecheck.errors.ConversionError` naming the
file (and line or field).
"""

from __future__ import annotations

from enum import StrEnum

from linecheck.datasets.convert.detection import SplitOptions
from linecheck.datasets.convert.report import ConversionReport, SkippedItem


class SourceFormat(StrEnum):
    """Source formats ``linecheck data convert --from`` accepts."""

    VOC = "voc"
    COCO = "coco"
    MASK = "mask"
    CSV = "csv"
    LABELME = "labelme"


__all__ = ["ConversionReport", "SkippedItem", "SourceFormat", "SplitOptions"]
