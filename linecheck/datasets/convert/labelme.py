r"""labelme (and X-AnyLabeling) JSON -> YOLO detection: one JSON file per labelled image.

labelme is the annotation tool most factory teams label defects with. It saves, beside each
image it was used on, ``<image>.json``::

    {"shapes": [{"label": "划痕", "points": [[x1, y1], [x2, y2]], "shape_type": "rectangle"}, ...],
     "imagePath": "..\\images\\0001.jpg", "imageData": null | "<base64>", "imageHeight": 480,
     "imageWidth": 640}

Boxes: a ``rectangle`` (its two corners), a ``polygon`` / ``rotation`` / ``mask`` (the box around
its points) and a ``circle`` (centre and a point on its rim) each give one box; ``point``,
``line`` and ``linestrip`` shapes have no area and are reported, not converted. Points are
pixel coordinates; boxes are clipped to the image. The image is ``imagePath`` (Windows
back-slashes and all) next to the JSON, else the one image of that name under the source folder,
else the picture embedded as ``imageData``. JSON files that are not labelme's (no ``shapes``)
and images with no JSON (labelme saves none for an image nobody labelled) are reported and left
out.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.datasets.convert.detection import (
    DetectionRecord,
    SplitOptions,
    clipped_boxes,
    pair_with_images,
    write_detection_dataset,
)
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.convert.sources import ImageIndex, output_stem, relative_key
from linecheck.datasets.convert.text import read_source_text
from linecheck.datasets.images import image_size
from linecheck.errors import ConversionError, DatasetError
from linecheck.image_files import list_files

#: Shape types converted to a box; every other type (point, line, linestrip, ...) has no area.
AREA_SHAPES = frozenset({"rectangle", "polygon", "rotation", "mask", "circle"})


@dataclass(frozen=True, kw_only=True, slots=True)
class LabelmeShape:
    """One shape: its label, type and points (pixels)."""

    label: str
    shape_type: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class LabelmeAnnotation:
    """One parsed labelme JSON file."""

    path: Path
    image_path: str | None
    image_data: str | None
    width: int | None
    height: int | None
    shapes: tuple[LabelmeShape, ...]
    guessed_encoding: bool = False


def _shape(item: object, where: str, path: Path) -> LabelmeShape:
    if not isinstance(item, dict):
        raise ConversionError(f"{where} must be an object, got {type(item).__name__}", path=path)
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ConversionError(f"{where}.label={label!r}: expected a non-empty name", path=path)
    shape_type = item.get("shape_type") or "polygon"  # labelme's own default
    if not isinstance(shape_type, str):
        raise ConversionError(f"{where}.shape_type={shape_type!r}: expected a name", path=path)
    points = item.get("points")
    valid = isinstance(points, list) and all(
        isinstance(p, list | tuple)
        and len(p) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p)
        for p in points
    )
    if not valid or not points:
        raise ConversionError(f"{where}.points={points!r}: expected a list of [x, y] numbers", path=path)
    return LabelmeShape(
        label=label.strip(), shape_type=shape_type, points=tuple((float(x), float(y)) for x, y in points)
    )


def parse_labelme(path: Path, *, encoding: str | None = None) -> LabelmeAnnotation | None:
    """One labelme file, or None when the JSON is not labelme's (it has no ``shapes`` list).

    Raises:
        ConversionError: naming the file (and the field) when it is malformed.

    """
    source = read_source_text(path, encoding=encoding)
    try:
        data: Any = json.loads(source.text)
    except json.JSONDecodeError as exc:
        raise ConversionError(f"malformed JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        return None
    shapes = tuple(_shape(item, f"shapes[{i}]", path) for i, item in enumerate(data["shapes"]))
    image_path, image_data = data.get("imagePath"), data.get("imageData")
    width, height = data.get("imageWidth"), data.get("imageHeight")
    return LabelmeAnnotation(
        path=path,
        image_path=image_path if isinstance(image_path, str) and image_path.strip() else None,
        image_data=image_data if isinstance(image_data, str) and image_data else None,
        width=width if isinstance(width, int) and not isinstance(width, bool) else None,
        height=height if isinstance(height, int) and not isinstance(height, bool) else None,
        shapes=shapes,
        guessed_encoding=source.guessed,
    )


def shape_box(shape: LabelmeShape) -> tuple[float, float, float, float] | None:
    """``(x1, y1, x2, y2)`` around ``shape``, or None when it has no area (a point, a line)."""
    if shape.shape_type not in AREA_SHAPES:
        return None
    xs = [x for x, _ in shape.points]
    ys = [y for _, y in shape.points]
    if shape.shape_type == "circle":
        if len(shape.points) < 2:
            return None
        (cx, cy), (ex, ey) = shape.points[0], shape.points[1]
        radius = math.hypot(ex - cx, ey - cy)
        return cx - radius, cy - radius, cx + radius, cy + radius
    return min(xs), min(ys), max(xs), max(ys)


def _embedded(annotation: LabelmeAnnotation) -> npt.NDArray[np.uint8] | None:
    if annotation.image_data is None:
        return None
    try:
        data = base64.b64decode(annotation.image_data, validate=True)
    except (binascii.Error, ValueError):
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)


def _image_of(
    annotation: LabelmeAnnotation, index: ImageIndex
) -> tuple[Path | npt.NDArray[np.uint8] | None, str]:
    """The annotation's image: ``imagePath`` beside the JSON, else by name under the source, else embedded."""
    why = "no imagePath and no imageData"
    if annotation.image_path is not None:
        relative = PurePosixPath(annotation.image_path.replace("\\", "/"))
        beside = (annotation.path.parent / relative).resolve()
        if beside.is_file():
            return beside, ""
        found, why = index.find(relative.name)
        if found is not None:
            return found, ""
    embedded = _embedded(annotation)
    if embedded is not None:
        return embedded, ""
    if annotation.image_data is not None:
        why += "; imageData is not a readable picture"
    return None, why


def convert_labelme(
    src: Path,
    dst: Path,
    *,
    classes: Sequence[str] | None = None,
    split: SplitOptions | None = None,
    encoding: str | None = None,
    rename: Mapping[str, str] | None = None,
) -> ConversionReport:
    """Convert the labelme JSON files under ``src`` (a folder) into a YOLO dataset at ``dst``.

    Args:
        src: folder holding the JSON files and their images (any sub-folders).
        dst: new dataset folder (absent or empty).
        classes: class names in id order; shapes of other labels are left out. Default: every
            label found, sorted.
        split: split the result into train/val/test; None keeps one unsplit set.
        encoding: the JSON files' encoding, overriding the UTF-8 / GB18030 reading.
        rename: source class name -> the name written (names renamed alike merge), after ``classes``.

    """
    if not src.is_dir():
        raise ConversionError("labelme source must be a folder", path=src)
    report = ConversionReport(source=src, dst=dst, source_format="labelme", task="detect")
    index = ImageIndex(src)

    def image_of(annotation: LabelmeAnnotation) -> tuple[Path | npt.NDArray[np.uint8] | None, str]:
        return _image_of(annotation, index)

    parsed: list[tuple[LabelmeAnnotation, Path | npt.NDArray[np.uint8]]] = pair_with_images(
        (p for p in list_files(src) if p.suffix.lower() == ".json"),
        lambda path: parse_labelme(path, encoding=encoding),
        image_of,
        index,
        report,
        not_this_format="not a labelme file (no 'shapes' list)",
        no_annotation="no labelme JSON for this image (labelme saves none for an image never labelled)",
    )
    labels = {shape.label for a, _ in parsed for shape in a.shapes if shape_box(shape) is not None}
    names = tuple(classes) if classes else tuple(sorted(labels))
    if not names and parsed:  # (with nothing parsed, the writer says why nothing was converted)
        raise ConversionError("no class names: no shapes found and no --classes given", path=src)
    class_id = {name: i for i, name in enumerate(names)}
    records = [r for a, image in parsed if (r := _record(a, image, src, class_id, report)) is not None]
    return write_detection_dataset(records, names, report, split=split, rename=rename)


def _record(
    annotation: LabelmeAnnotation,
    image: Path | npt.NDArray[np.uint8],
    src: Path,
    class_id: dict[str, int],
    report: ConversionReport,
) -> DetectionRecord | None:
    """YOLO record of one labelme file, or None (reported) when its image cannot be read."""
    if isinstance(image, Path):
        try:
            width, height = image_size(image)
        except DatasetError as exc:
            report.skip_error(exc, image)
            return None
    else:
        height, width = image.shape[:2]
    if annotation.width is not None and (annotation.width, annotation.height) != (width, height):
        report.note(
            annotation.path,
            f"imageWidth x imageHeight {annotation.width}x{annotation.height} differs from the image's "
            f"{width}x{height}: image size used",
        )
    kept: list[tuple[str, int, tuple[float, float, float, float]]] = []
    for number, shape in enumerate(annotation.shapes):
        box = shape_box(shape)
        if box is None:
            report.skip(
                annotation.path, f"shapes[{number}] ({shape.label}): a {shape.shape_type} has no area"
            )
        elif shape.label not in class_id:
            report.skip(annotation.path, f"shapes[{number}]: label {shape.label!r} not in --classes")
        else:
            kept.append((f"shapes[{number}] ({shape.label})", class_id[shape.label], box))
    boxes = clipped_boxes(kept, width, height, report, annotation.path)
    stem = output_stem(relative_key(annotation.path, src))
    return DetectionRecord(stem=stem, image=image, boxes=boxes)
