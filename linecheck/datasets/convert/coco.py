"""COCO detection JSON -> YOLO.

``bbox`` is ``[x, y, width, height]`` in pixels. Category ids are arbitrary: they map to contiguous
class ids in ascending id order. Crowd annotations (``iscrowd: 1``) are left out (reported);
segmentations are ignored; images without annotations become background images. The image's real
size is used to normalise (the JSON's ``width``/``height`` are not trusted).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from linecheck.datasets.boxes import xyxy_to_yolo
from linecheck.datasets.convert.detection import DetectionRecord, SplitOptions, write_detection_dataset
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.convert.sources import ImageIndex, output_stem
from linecheck.datasets.convert.text import SourceText, guessed_note, read_source_text
from linecheck.datasets.images import image_size
from linecheck.errors import ConversionError, DatasetError


def find_coco_json(src: Path) -> Path:
    """``src`` when it is a JSON file, else the one JSON file in ``src`` or ``src/annotations``."""
    if src.is_file():
        return src
    if not src.is_dir():
        raise ConversionError("COCO source not found", path=src)
    found = sorted(src.glob("*.json")) or sorted(src.glob("annotations/*.json"))
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise ConversionError(f"expected exactly one COCO .json file, found {listed}: name one", path=src)
    return found[0]


def _field(item: Mapping[str, Any], key: str, where: str, path: Path, types: tuple[type, ...]) -> Any:
    if key not in item:
        raise ConversionError(f"{where}.{key} is missing", path=path)
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types)
        raise ConversionError(f"{where}.{key}={value!r}: expected {names}", path=path)
    return value


def _items(data: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list):
        raise ConversionError(f"'{key}' must be a list, got {type(value).__name__}", path=path)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConversionError(f"{key}[{i}] must be an object, got {type(item).__name__}", path=path)
    return value


def load_coco(path: Path, *, encoding: str | None = None) -> tuple[dict[str, Any], SourceText]:
    """Read and structurally check a COCO JSON file (raises :class:`ConversionError` naming the field).

    Returns the mapping and how the file was decoded (:mod:`linecheck.datasets.convert.text`).
    """
    source = read_source_text(path, encoding=encoding)
    try:
        data = json.loads(source.text)
    except json.JSONDecodeError as exc:
        raise ConversionError(f"malformed JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise ConversionError(f"expected a JSON object at the top, got {type(data).__name__}", path=path)
    for key in ("images", "annotations", "categories"):
        _items(data, key, path)
    return data, source


def _categories(data: Mapping[str, Any], path: Path) -> tuple[tuple[str, ...], dict[int, int]]:
    """Class names and COCO category id -> contiguous class id (ascending category id)."""
    by_id: dict[int, str] = {}
    for i, item in enumerate(data["categories"]):
        cat_id = _field(item, "id", f"categories[{i}]", path, (int,))
        name = _field(item, "name", f"categories[{i}]", path, (str,)).strip()
        if cat_id in by_id:
            raise ConversionError(f"categories[{i}].id={cat_id} is used twice", path=path)
        if not name or name in by_id.values():
            raise ConversionError(f"categories[{i}].name={name!r} is empty or used twice", path=path)
        by_id[cat_id] = name
    if not by_id:
        raise ConversionError("'categories' is empty", path=path)
    ordered = sorted(by_id)
    return tuple(by_id[c] for c in ordered), {c: i for i, c in enumerate(ordered)}


def convert_coco(
    src: Path,
    dst: Path,
    *,
    images_dir: Path | None = None,
    split: SplitOptions | None = None,
    encoding: str | None = None,
    rename: Mapping[str, str] | None = None,
) -> ConversionReport:
    """Convert the COCO detection annotations at ``src`` into a YOLO dataset at ``dst``.

    Args:
        src: the JSON file, or a folder holding exactly one (directly or in ``annotations/``).
        dst: new dataset folder (absent or empty).
        images_dir: folder ``file_name`` is relative to; default: the JSON's folder, or an
            ``images/`` folder beside it or beside ``annotations/``.
        split: split the result into train/val/test; None keeps one unsplit set.
        encoding: the JSON file's encoding, overriding the UTF-8 / GB18030 reading.
        rename: category name -> the class name written (names renamed alike merge).

    """
    json_path = find_coco_json(src)
    data, source = load_coco(json_path, encoding=encoding)
    names, class_of = _categories(data, json_path)
    report = ConversionReport(source=json_path, dst=dst, source_format="coco", task="detect")
    if source.guessed:
        report.note(json_path, guessed_note(1, json_path))
    candidates = [images_dir] if images_dir else _image_folders(json_path)
    indexes = [ImageIndex(folder) for folder in candidates]

    images: dict[Any, str] = {}
    for i, item in enumerate(data["images"]):
        where = f"images[{i}]"
        image_id = _field(item, "id", where, json_path, (int, str))
        if image_id in images:
            raise ConversionError(f"{where}.id={image_id!r} is used twice", path=json_path)
        images[image_id] = _field(item, "file_name", where, json_path, (str,))

    boxes_of: dict[Any, list[tuple[int, list[float]]]] = defaultdict(list)
    for i, item in enumerate(data["annotations"]):
        where = f"annotations[{i}]"
        image_id = _field(item, "image_id", where, json_path, (int, str))
        if image_id not in images:
            raise ConversionError(f"{where}.image_id={image_id!r} is not in 'images'", path=json_path)
        category = _field(item, "category_id", where, json_path, (int,))
        if category not in class_of:
            raise ConversionError(f"{where}.category_id={category} is not in 'categories'", path=json_path)
        bbox = _field(item, "bbox", where, json_path, (list,))
        if len(bbox) != 4 or not all(isinstance(v, int | float) and np.isfinite(v) for v in bbox):
            raise ConversionError(f"{where}.bbox={bbox!r}: expected [x, y, width, height]", path=json_path)
        if item.get("iscrowd", 0):
            report.skip(json_path, f"{where}: crowd annotation (iscrowd=1) left out")
        elif bbox[2] <= 0 or bbox[3] <= 0:
            report.skip(json_path, f"{where}: bbox {bbox} has no area")
        else:
            boxes_of[image_id].append((class_of[category], [float(v) for v in bbox]))

    records: list[DetectionRecord] = []
    for image_id, file_name in images.items():
        record = _record(file_name, boxes_of.get(image_id, []), indexes, json_path, report)
        if record is not None:
            records.append(record)
    return write_detection_dataset(records, names, report, split=split, rename=rename)


def _image_folders(json_path: Path) -> list[Path]:
    folder = json_path.parent
    found = [folder, folder / "images", folder.parent / "images"]
    return [f for i, f in enumerate(found) if f.is_dir() and f not in found[:i]]


def _record(
    file_name: str,
    boxes: Sequence[tuple[int, list[float]]],
    indexes: Sequence[ImageIndex],
    json_path: Path,
    report: ConversionReport,
) -> DetectionRecord | None:
    image, top, why = None, None, ""
    for index in indexes:
        image, why = index.find(file_name)
        if image is not None:
            top = index.top
            break
    if image is None or top is None:
        report.skip(json_path, f"image {file_name!r} not found ({why or 'no image folder'})")
        return None
    try:
        width, height = image_size(image)
    except DatasetError as exc:
        report.skip_error(exc, image)
        return None
    xywh = np.array([b for _, b in boxes], dtype=np.float64).reshape(-1, 4)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    rows, keep = xyxy_to_yolo(xyxy, [c for c, _ in boxes], width, height)
    for (_, bbox), ok in zip(boxes, keep.tolist(), strict=True):
        if not ok:
            report.skip(image, f"bbox {bbox} lies outside the {width}x{height} image")
    stem = output_stem(image.relative_to(top).with_suffix("").as_posix())
    return DetectionRecord(stem=stem, image=image, boxes=rows)
