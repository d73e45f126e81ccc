"""Binary / label masks -> YOLO boxes (e.g. fabric-defect sets that ship one mask per image).

SRC holds ``images/`` and ``masks/`` (also ``ground_truth/`` or ``gt/``), matched by relative path
and stem; a mask may carry a suffix (``000_mask.png`` for ``000.png``). Each connected component
(8-connected) of defect pixels becomes one box. Either every pixel above ``threshold`` is the one
class ``class_name``, or ``value_map`` maps pixel values to classes (components are found per
value). An image without a mask, or with an empty one, is a background image.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.datasets.boxes import YoloBoxes, empty_boxes
from linecheck.datasets.convert.detection import DetectionRecord, SplitOptions, write_detection_dataset
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.convert.sources import ImageIndex, find_folder, output_stem, relative_key
from linecheck.datasets.images import image_size
from linecheck.errors import ConversionError, DatasetError, InvalidFieldError

IMAGE_FOLDERS = ("images", "imgs", "img")
MASK_FOLDERS = ("masks", "mask", "ground_truth", "groundtruth", "gt")
#: Suffixes tried after the image stem to find its mask, in order.
MASK_SUFFIXES = ("", "_mask", "_label", "_gt", "-mask")
_ASPECT_TOLERANCE = 0.01


def parse_value_map(text: str) -> dict[int, str]:
    """Parse ``1=hole,2=stain`` into ``{1: 'hole', 2: 'stain'}``."""
    mapping: dict[int, str] = {}
    for part in (p.strip() for p in text.split(",")):
        value, sep, name = part.partition("=")
        if not sep or not value.strip().isdigit() or not name.strip():
            raise InvalidFieldError("value_map", text, f"entry {part!r}: expected VALUE=CLASS, VALUE > 0")
        if int(value) == 0 or int(value) in mapping:
            raise InvalidFieldError("value_map", text, f"value {int(value)} is 0 or listed twice")
        mapping[int(value)] = name.strip()
    return mapping


def mask_boxes(
    mask: npt.NDArray[np.integer], class_of_value: Mapping[int, int] | None, *, threshold: int, min_area: int
) -> tuple[YoloBoxes, int, list[int]]:
    """Boxes of the connected components of ``mask`` (normalised by the mask's own size).

    Args:
        mask: HxW single-channel mask.
        class_of_value: pixel value -> class id, or None for one class (id 0) of pixels > threshold.
        threshold: defect pixels are ``mask > threshold`` in single-class mode.
        min_area: components with fewer pixels are dropped.

    Returns:
        (N, 5) YOLO rows, the number of components dropped for ``min_area``, and the non-zero pixel
        values found that ``class_of_value`` does not map.

    """
    height, width = mask.shape
    layers: list[tuple[int, npt.NDArray[np.uint8]]]
    unmapped: list[int] = []
    if class_of_value is None:
        layers = [(0, (mask > threshold).astype(np.uint8))]
    else:
        present = [int(v) for v in np.unique(mask) if v != 0]
        unmapped = [v for v in present if v not in class_of_value]
        layers = [(class_of_value[v], (mask == v).astype(np.uint8)) for v in present if v in class_of_value]
    rows: list[list[float]] = []
    dropped = 0
    for class_id, layer in layers:
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(layer, connectivity=8)
        for x, y, w, h, area in stats[1:count].tolist():
            if area < min_area:
                dropped += 1
                continue
            rows.append([class_id, (x + w / 2) / width, (y + h / 2) / height, w / width, h / height])
    boxes = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    return boxes, dropped, unmapped


def read_mask(path: Path) -> npt.NDArray[np.integer]:
    """Read a single-channel mask (a 3/4-channel file is accepted when its colour channels are equal)."""
    if path.stat().st_size == 0:
        raise DatasetError("mask file is empty (0 bytes)", path=path)
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DatasetError("mask cannot be decoded (corrupt or not an image)", path=path)
    if mask.ndim == 3:
        colour = mask[:, :, :3]
        first = colour[:, :, :1]
        if not np.array_equal(np.broadcast_to(first, colour.shape), colour):
            raise DatasetError("colour mask: expected one channel (or equal channels)", path=path)
        mask = colour[:, :, 0]
    return np.asarray(mask)


def _layout(src: Path) -> tuple[Path, Path]:
    images = find_folder(src, IMAGE_FOLDERS)
    masks = find_folder(src, MASK_FOLDERS)
    if images is None or masks is None:
        raise ConversionError(
            f"expected an images folder ({'/'.join(IMAGE_FOLDERS)}) "
            f"and a masks folder ({'/'.join(MASK_FOLDERS)})",
            path=src,
        )
    return images, masks


def convert_mask(
    src: Path,
    dst: Path,
    *,
    class_name: str = "defect",
    value_map: Mapping[int, str] | None = None,
    threshold: int = 0,
    min_area: int = 4,
    split: SplitOptions | None = None,
) -> ConversionReport:
    """Convert the image + mask dataset at ``src`` into a YOLO dataset at ``dst``.

    Args:
        src: folder with ``images/`` and ``masks/``.
        dst: new dataset folder (absent or empty).
        class_name: the one class name when ``value_map`` is None.
        value_map: pixel value -> class name (several values may share a name).
        threshold: single-class mode: pixels above it are defect.
        min_area: components smaller than this many pixels are left out.
        split: split the result into train/val/test; None keeps one unsplit set.

    """
    if min_area < 1:
        raise InvalidFieldError("min_area", min_area, "expected >= 1 pixel")
    images_dir, masks_dir = _layout(src)
    if value_map:
        names = tuple(dict.fromkeys(value_map[v] for v in sorted(value_map)))
        class_of_value: dict[int, int] | None = {v: names.index(n) for v, n in value_map.items()}
    else:
        names, class_of_value = (class_name,), None
    report = ConversionReport(source=src, dst=dst, source_format="mask", task="detect")
    masks = ImageIndex(masks_dir)
    used: set[Path] = set()
    records: list[DetectionRecord] = []
    for image in ImageIndex(images_dir).paths:
        key = relative_key(image, images_dir)
        mask_path = next((m[0] for s in MASK_SUFFIXES if len(m := masks.by_key.get(key + s, [])) == 1), None)
        if mask_path is not None:
            used.add(mask_path)
        try:
            width, height = image_size(image)
            boxes: YoloBoxes | None = empty_boxes()
            if mask_path is not None:
                boxes = _boxes_from(mask_path, (width, height), class_of_value, threshold, min_area, report)
        except DatasetError as exc:
            report.skip_error(exc, image)
            continue
        if boxes is not None:
            records.append(DetectionRecord(stem=output_stem(key), image=image, boxes=boxes))
    for mask_path in masks.paths:
        if mask_path not in used:
            report.skip(mask_path, "no image for this mask")
    return write_detection_dataset(records, names, report, split=split)


def _boxes_from(
    mask_path: Path,
    image_wh: tuple[int, int],
    class_of_value: Mapping[int, int] | None,
    threshold: int,
    min_area: int,
    report: ConversionReport,
) -> YoloBoxes | None:
    mask = read_mask(mask_path)
    mask_h, mask_w = mask.shape
    width, height = image_wh
    if abs(mask_w / mask_h - width / height) > _ASPECT_TOLERANCE * width / height:
        report.skip(mask_path, f"mask is {mask_w}x{mask_h} but its image is {width}x{height}")
        return None
    boxes, dropped, unmapped = mask_boxes(mask, class_of_value, threshold=threshold, min_area=min_area)
    if dropped:
        report.skip(mask_path, f"{dropped} component(s) smaller than {min_area} px left out")
    if unmapped:
        report.skip(mask_path, f"pixel values {unmapped} not in the value map left out")
    return boxes
