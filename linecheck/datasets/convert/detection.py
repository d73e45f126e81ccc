"""The output step shared by the detection converters: records -> YOLO dataset (+ optional split)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from linecheck.datasets.boxes import YoloBoxes, xyxy_to_yolo
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.convert.sources import ImageIndex
from linecheck.datasets.convert.text import guessed_note
from linecheck.datasets.split import split_dataset, split_sizes
from linecheck.datasets.writer import YoloWriter, check_destination
from linecheck.errors import ConversionError, InvalidFieldError


@dataclass(frozen=True, kw_only=True, slots=True)
class DetectionRecord:
    """One converted image: its file (copied as it is) or pixels (written as PNG), output stem, YOLO boxes."""

    stem: str
    image: Path | npt.NDArray[np.uint8]
    boxes: YoloBoxes


@dataclass(frozen=True, kw_only=True, slots=True)
class SplitOptions:
    """Fractions and seed for splitting a converted dataset (see ``split_dataset``)."""

    val: float = 0.2
    test: float = 0.1
    seed: int = 0


class Annotation(Protocol):
    """What :func:`pair_with_images` needs of a parsed annotation file."""

    @property
    def guessed_encoding(self) -> bool:
        """True when the file was not UTF-8 and was read as GB18030."""
        ...


A = TypeVar("A", bound=Annotation)
ImageT = TypeVar("ImageT", bound=Path | npt.NDArray[np.uint8])  # an image file, or decoded pixels


def pair_with_images(
    files: Iterable[Path],
    parse: Callable[[Path], A | None],
    image_of: Callable[[A], tuple[ImageT | None, str]],
    index: ImageIndex,
    report: ConversionReport,
    *,
    not_this_format: str = "",
    no_annotation: str,
) -> list[tuple[A, ImageT]]:
    """Each annotation file parsed and paired with its image; the rest reported.

    ``parse`` returns None for a file of another format (reported with ``not_this_format``);
    ``image_of`` finds an annotation's image or says why not. Images under ``index`` that no
    annotation names are reported with ``no_annotation``; files read as GB18030 get one note.
    """
    pairs: list[tuple[A, ImageT]] = []
    used: set[Path] = set()
    guessed: list[Path] = []
    for path in files:
        annotation = parse(path)
        if annotation is None:
            report.skip(path, not_this_format)
            continue
        if annotation.guessed_encoding:
            guessed.append(path)
        image, why = image_of(annotation)
        if image is None:
            report.skip(path, f"image not found ({why})")
            continue
        pairs.append((annotation, image))
        if isinstance(image, Path):
            used.add(image.resolve())
    for listed in index.paths:
        if listed.resolve() not in used:
            report.skip(listed, no_annotation)
    if guessed:
        report.note(guessed[0].parent, guessed_note(len(guessed), guessed[0]))
    return pairs


def clipped_boxes(
    boxes: Sequence[tuple[str, int, tuple[float, float, float, float]]],
    width: int,
    height: int,
    report: ConversionReport,
    path: Path,
) -> YoloBoxes:
    """``(where, class id, (x1, y1, x2, y2) in pixels)`` as YOLO rows clipped to the image.

    A box with no area left after clipping is left out and reported against ``path`` by its ``where``.
    """
    xyxy = np.array([box for _, _, box in boxes], dtype=np.float64).reshape(-1, 4)
    rows, keep = xyxy_to_yolo(xyxy, [class_id for _, class_id, _ in boxes], width, height)
    for (where, _, _), ok in zip(boxes, keep.tolist(), strict=True):
        if not ok:
            report.skip(path, f"{where}: no area left after clipping to {width}x{height}")
    return rows


def parse_rename(text: str) -> dict[str, str]:
    """``'划痕=scratch,scratches=scratch'`` as ``{source name: new name}`` (several may share a new name)."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise InvalidFieldError("rename", text, f"entry {part.strip()!r}: expected SOURCE=NEW")
        if old.strip() in mapping:
            raise InvalidFieldError("rename", text, f"{old.strip()!r} is renamed twice")
        mapping[old.strip()] = new.strip()
    return mapping


def renamed(
    names: Sequence[str], rename: Mapping[str, str], report: ConversionReport
) -> tuple[tuple[str, ...], list[int]]:
    """Class names after ``rename``, and for each old class id its new one.

    A renamed class keeps the place of its first source name; names renamed alike merge into one
    class. A ``rename`` entry for a name the source does not have is noted in ``report``.
    """
    new_names: list[str] = []
    new_id: list[int] = []
    for name in names:
        target = rename.get(name, name)
        if target not in new_names:
            new_names.append(target)
        new_id.append(new_names.index(target))
    note_unknown_renames(rename, names, report, report.source)
    return tuple(new_names), new_id


def note_unknown_renames(
    rename: Mapping[str, str], source_names: Iterable[str], report: ConversionReport, path: Path
) -> None:
    """Note each ``rename`` entry for a class the source does not have (a typo, most often)."""
    for unknown in sorted(set(rename) - set(source_names)):
        report.note(path, f"rename {unknown}={rename[unknown]}: no class {unknown!r} in the source")


def write_detection_dataset(
    records: Sequence[DetectionRecord],
    names: Sequence[str],
    report: ConversionReport,
    *,
    split: SplitOptions | None = None,
    rename: Mapping[str, str] | None = None,
) -> ConversionReport:
    """Write ``records`` as a YOLO dataset at ``report.dst``, then split it when asked; fill ``report``.

    ``rename`` maps source class names to the ones written (see :func:`renamed`).
    """
    if rename:
        names, new_id = renamed(names, rename, report)
        lookup = np.asarray(new_id, dtype=np.float64)
        records = [
            replace(r, boxes=np.column_stack([lookup[r.boxes[:, 0].astype(int)], r.boxes[:, 1:]]))
            if len(r.boxes)
            else r
            for r in records
        ]
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
