"""Pascal VOC XML -> YOLO (e.g. NEU-DET steel-surface defects: ``ANNOTATIONS/*.xml`` + ``IMAGES/*.jpg``).

Accepted layouts of SRC: ``Annotations/`` + ``JPEGImages/`` (VOC), ``ANNOTATIONS/`` + ``IMAGES/``
(NEU-DET, any case), or XML files beside the images. VOC boxes are 1-based inclusive pixel
indices, so ``xmin..xmax`` covers ``[xmin - 1, xmax]``; boxes are clipped to the image. The image's
real size is used (the XML ``<size>`` only when it agrees). An XML without objects is a
background image; an image without XML is left out (it was never annotated).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from linecheck.datasets.convert.detection import (
    DetectionRecord,
    SplitOptions,
    clipped_boxes,
    pair_with_images,
    write_detection_dataset,
)
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.convert.sources import ImageIndex, find_folder, output_stem, relative_key
from linecheck.datasets.convert.text import read_source_text
from linecheck.datasets.images import image_size
from linecheck.errors import ConversionError, DatasetError
from linecheck.image_files import list_files

ANNOTATION_FOLDERS = ("Annotations", "ANNOTATIONS", "annotation", "xml", "xmls")
IMAGE_FOLDERS = ("JPEGImages", "IMAGES", "images", "imgs")
_FORBIDDEN = ("<!doctype", "<!entity")


@dataclass(frozen=True, kw_only=True, slots=True)
class VocObject:
    """One ``<object>``: class name and VOC pixel box."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


@dataclass(frozen=True, kw_only=True, slots=True)
class VocAnnotation:
    """One parsed VOC XML file."""

    path: Path
    filename: str | None
    width: int | None
    height: int | None
    objects: tuple[VocObject, ...]
    guessed_encoding: bool = False


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return child.text.strip()


def _number(element: ET.Element, tag: str, where: str, path: Path) -> float:
    text = _text(element, tag)
    if text is None:
        raise ConversionError(f"{where}: <{tag}> is missing", path=path)
    try:
        value = float(text)
    except ValueError:
        raise ConversionError(f"{where}: <{tag}>{text}</{tag}> is not a number", path=path) from None
    if not np.isfinite(value):
        raise ConversionError(f"{where}: <{tag}>{text}</{tag}> is not a finite number", path=path)
    return value


def _size(root: ET.Element, path: Path) -> tuple[int | None, int | None]:
    size = root.find("size")
    if size is None:
        return None, None
    values: list[int | None] = []
    for tag in ("width", "height"):
        text = _text(size, tag)
        try:
            values.append(int(float(text)) if text is not None else None)
        except ValueError:
            raise ConversionError(f"<size><{tag}>{text}</{tag}> is not a number", path=path) from None
    return values[0], values[1]


def annotation_files(annotations_dir: Path) -> list[Path]:
    """The ``.xml`` files under ``annotations_dir`` (recursive, linked folders followed), sorted."""
    return [p for p in list_files(annotations_dir) if p.suffix.lower() == ".xml"]


def parse_voc_xml(path: Path, *, encoding: str | None = None) -> VocAnnotation:
    """Parse one VOC annotation; raises :class:`ConversionError` naming the file (and line) on bad XML.

    The file is read in its declared encoding (GBK and GB2312 included), else UTF-8, else GB18030,
    or in ``encoding`` when given (:mod:`linecheck.datasets.convert.text`).
    """
    source = read_source_text(path, encoding=encoding, xml=True)
    lowered = source.text.lower()
    if any(marker in lowered for marker in _FORBIDDEN):
        raise ConversionError("XML with a DOCTYPE or entity declaration is refused (unsafe)", path=path)
    try:
        root = ET.fromstring(source.text)
    except ET.ParseError as exc:
        line, _column = exc.position
        raise ConversionError(f"malformed XML: {exc}", path=path, line=line) from None
    if root.tag != "annotation":
        raise ConversionError(f"root element is <{root.tag}>, expected <annotation>", path=path)
    objects: list[VocObject] = []
    for index, element in enumerate(root.findall("object"), start=1):
        name = _text(element, "name")
        where = f"object {index}" + (f" ({name})" if name else "")
        if name is None:
            raise ConversionError(f"{where}: <name> is missing", path=path)
        box = element.find("bndbox")
        if box is None:
            raise ConversionError(f"{where}: <bndbox> is missing", path=path)
        coords = {tag: _number(box, tag, where, path) for tag in ("xmin", "ymin", "xmax", "ymax")}
        objects.append(VocObject(name=name, **coords))
    width, height = _size(root, path)
    return VocAnnotation(
        path=path,
        filename=_text(root, "filename"),
        width=width,
        height=height,
        objects=tuple(objects),
        guessed_encoding=source.guessed,
    )


def voc_layout(src: Path) -> tuple[Path, Path]:
    """(annotation folder, image folder) of a VOC-style source (see the module docstring)."""
    if not src.is_dir():
        raise ConversionError("VOC source must be a folder", path=src)
    annotations = find_folder(src, ANNOTATION_FOLDERS)
    images = find_folder(src, IMAGE_FOLDERS)
    if annotations is None:
        if not any(src.glob("*.xml")):
            raise ConversionError(
                "no VOC annotations found: expected Annotations/ + JPEGImages/, ANNOTATIONS/ + IMAGES/, "
                "or *.xml beside the images",
                path=src,
            )
        annotations = src
    return annotations, images or annotations


def voc_image(annotation: VocAnnotation, index: ImageIndex) -> tuple[Path | None, str]:
    """The image of ``annotation``: by its ``<filename>``, else by the XML's own name; or why not found."""
    image, why = index.find(annotation.filename) if annotation.filename else (None, "")
    if image is None:
        image, why_stem = index.find(annotation.path.stem)
        why = why or why_stem
    return image, why


def convert_voc(
    src: Path,
    dst: Path,
    *,
    classes: Sequence[str] | None = None,
    split: SplitOptions | None = None,
    encoding: str | None = None,
    rename: Mapping[str, str] | None = None,
) -> ConversionReport:
    """Convert the VOC dataset at ``src`` into a YOLO dataset at ``dst``.

    Args:
        src: source folder (see the module docstring for the layouts).
        dst: new dataset folder (absent or empty).
        classes: class names in id order; objects of other classes are left out. Default: every
            class name found, sorted.
        split: split the result into train/val/test; None keeps one unsplit set.
        encoding: the annotation files' encoding, overriding their declaration and the guess.
        rename: source class name -> the name written (names renamed alike merge), after ``classes``.

    """
    annotations_dir, images_dir = voc_layout(src)
    report = ConversionReport(source=src, dst=dst, source_format="voc", task="detect")
    index = ImageIndex(images_dir)
    parsed = pair_with_images(
        annotation_files(annotations_dir),
        lambda path: parse_voc_xml(path, encoding=encoding),
        partial(voc_image, index=index),
        index,
        report,
        no_annotation="no annotation XML for this image",
    )

    names = tuple(classes) if classes else tuple(sorted({o.name for a, _ in parsed for o in a.objects}))
    if not names:
        raise ConversionError("no class names: no objects found and no --classes given", path=src)
    class_id = {name: i for i, name in enumerate(names)}
    records = [r for a, image in parsed if (r := _record(a, image, images_dir, class_id, report)) is not None]
    return write_detection_dataset(records, names, report, split=split, rename=rename)


def _record(
    annotation: VocAnnotation,
    image: Path,
    images_dir: Path,
    class_id: dict[str, int],
    report: ConversionReport,
) -> DetectionRecord | None:
    """YOLO record of one annotation, or None (reported) when its image cannot be read."""
    try:
        width, height = image_size(image)
    except DatasetError as exc:
        report.skip_error(exc, image)
        return None
    if annotation.width is not None and (annotation.width, annotation.height) != (width, height):
        report.note(
            annotation.path,
            f"<size> {annotation.width}x{annotation.height} differs from the image's {width}x{height}: "
            "image size used",
        )
    kept: list[tuple[str, int, tuple[float, float, float, float]]] = []
    for number, obj in enumerate(annotation.objects, start=1):
        if obj.name not in class_id:
            report.skip(annotation.path, f"object {number}: class {obj.name!r} not in --classes")
        elif obj.xmax < obj.xmin or obj.ymax < obj.ymin:
            report.skip(annotation.path, f"object {number} ({obj.name}): inverted box")
        else:  # VOC pixels are 1-based and inclusive
            box = (obj.xmin - 1, obj.ymin - 1, obj.xmax, obj.ymax)
            kept.append((f"object {number} ({obj.name})", class_id[obj.name], box))
    boxes = clipped_boxes(kept, width, height, report, annotation.path)
    stem = output_stem(relative_key(image, images_dir))
    return DetectionRecord(stem=stem, image=image, boxes=boxes)
