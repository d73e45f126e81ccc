"""An 8-bit copy of a set whose images are 16-bit (Mono10 / Mono12 / Mono14 cameras): ``data depth``.

Training reads 16-bit files from 16 bits (Ultralytics does, and so does every linecheck loader
without a bit depth), which leaves a 12-bit image nearly black. The copy keeps every file name,
folder and label file, and writes each 16-bit image as an 8-bit one of the same format, scaled by
the one rule in :mod:`linecheck.pixel_depth`, so the set converts, trains and checks like any
other; the line then reads its camera with the same ``bit_depth``.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from linecheck.datasets.datayaml import DATA_YAML
from linecheck.datasets.writer import new_staging_folder, publish
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.image_files import evenly_spaced, is_image_file, list_files, list_images
from linecheck.pixel_depth import (
    DIM_BITS,
    check_bit_depth,
    depth_problem,
    suggested_depth,
    to_8bit,
    used_bits,
)
from linecheck.text_files import decode_text


@dataclass(kw_only=True)
class DepthReport:
    """What ``data depth`` wrote.

    Attributes:
        dst: the copy.
        bit_depth: the depth the 16-bit images were read with.
        converted: 16-bit images written as 8-bit.
        copied: other files (8-bit images, labels, lists) copied byte for byte.
        max_bits: the most bits any 16-bit image's values use (0: none was 16-bit).
        clipped: images with values above the bit depth, with what was clipped.
        skipped: images copied as they are because they cannot be read as 8- or 16-bit, with why.
        rerooted: the copy's ``data.yaml`` had its ``path`` moved from the source to the copy.

    """

    dst: Path
    bit_depth: int
    converted: int = 0
    copied: int = 0
    max_bits: int = 0
    clipped: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    rerooted: bool = False


@dataclass(kw_only=True)
class DepthSurvey:
    """What depth a set's images are: counts by pixel type, and the bits the 16-bit ones use.

    Attributes:
        eight_bit: 8-bit images.
        sixteen_bit: 16-bit images, by the bits their largest value needs (``{12: 40, 11: 3}``).
        other: images of another pixel type (float), with it.
        unreadable: images that do not decode.

    """

    eight_bit: int = 0
    sixteen_bit: Counter[int] = field(default_factory=Counter)
    other: list[tuple[Path, str]] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)

    @property
    def suggested(self) -> int | None:
        """The camera depth that holds every 16-bit image's values (None: no 16-bit image)."""
        return suggested_depth(max(self.sixteen_bit)) if self.sixteen_bit else None


def survey_depth(src: Path, *, limit: int | None = None) -> DepthSurvey:
    """How deep the images under ``src`` are, to choose ``--bit-depth``.

    Every image is decoded, or with ``limit`` that many spread evenly over the sorted names.
    """
    if not src.is_dir():
        raise DatasetError("source folder not found", path=src)
    survey = DepthSurvey()
    for path in evenly_spaced(list_images(src), limit or 0):
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            survey.unreadable.append(path)
        elif pixels.dtype == np.uint8:
            survey.eight_bit += 1
        elif pixels.dtype == np.uint16:
            survey.sixteen_bit[used_bits(pixels)] += 1
        else:
            survey.other.append((path, str(pixels.dtype)))
    return survey


def dim_training_images(data: Path, *, limit: int = 64) -> str | None:
    """Why training on ``data`` would learn from nearly black images, or None.

    ``data`` is what ``linecheck train --data`` takes (a folder, or a dataset's ``data.yaml``); up to
    ``limit`` of its images are decoded. Training reads 16-bit files from 16 bits, so a set from a
    Mono10/12/14 camera needs its 8-bit copy first (:func:`eight_bit_copy`).
    """
    folder = data.parent if data.is_file() else data
    if not folder.is_dir():
        return None  # the trainer names a missing dataset itself
    survey = survey_depth(folder, limit=limit)
    dim = sum(n for bits, n in survey.sixteen_bit.items() if 0 < bits <= DIM_BITS)
    if not dim:
        return None
    checked = survey.eight_bit + sum(survey.sixteen_bit.values()) + len(survey.other)
    depth = survey.suggested
    bits = max(survey.sixteen_bit)
    return (
        f"{dim} of {checked} images checked under {folder} are 16-bit with values of at most {bits} bits: "
        "read from 16 bits, as training reads them, they are nearly black. Train on the 8-bit copy "
        f"(`linecheck data depth {folder} DST --bit-depth {depth}`) and give the line's camera "
        f"bit_depth: {depth}"
    )


def _reroot_data_yaml(file: Path, src: Path, dst: Path) -> bool:
    """Point a copied ``data.yaml`` whose ``path`` is the source folder at the copy instead."""
    try:
        data = yaml.safe_load(decode_text(file.read_bytes()))
    except (yaml.YAMLError, UnicodeDecodeError):
        return False  # copied as it is; `data check` on the copy names the problem
    if not isinstance(data, dict) or not isinstance(data.get("path"), str):
        return False
    root = Path(data["path"])
    if not root.is_absolute() or root.resolve() != src.resolve():
        return False
    data["path"] = str(dst.resolve())
    file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return True


def eight_bit_copy(src: Path, dst: Path, *, bit_depth: int) -> DepthReport:
    """Copy the folder ``src`` to ``dst`` (absent or empty) with its 16-bit images made 8-bit.

    Raises:
        InvalidFieldError: ``bit_depth`` is not 8..16.
        DatasetError: ``src`` is not a folder, ``dst`` is not empty, or an image cannot be written.

    """
    depth = check_bit_depth(bit_depth)
    if depth is None:
        raise InvalidFieldError("bit_depth", bit_depth, "expected the bit depth the images were taken with")
    if not src.is_dir():
        raise DatasetError("source folder not found", path=src)
    report = DepthReport(dst=dst, bit_depth=depth)
    staging = new_staging_folder(dst)
    try:
        for path in list_files(src):
            target = staging / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if is_image_file(path) else None
            if pixels is None or pixels.dtype != np.uint16:  # not an image, 8-bit, or not readable as one
                if pixels is None and is_image_file(path):
                    report.skipped.append((path, "cannot be decoded"))
                elif pixels is not None and pixels.dtype != np.uint8:
                    report.skipped.append((path, f"{pixels.dtype} pixels: expected 8- or 16-bit unsigned"))
                shutil.copyfile(path, target)
                report.copied += 1
                continue
            report.max_bits = max(report.max_bits, used_bits(pixels))
            problem = depth_problem(pixels, depth)
            if problem is not None:
                report.clipped.append((path, problem))
            if not cv2.imwrite(str(target), to_8bit(pixels, bit_depth=depth, field=str(path))):
                raise DatasetError("OpenCV could not write the 8-bit image", path=target)
            report.converted += 1
        data_yaml = staging / DATA_YAML
        if data_yaml.is_file():
            report.rerooted = _reroot_data_yaml(data_yaml, src, dst)
        publish(staging, dst)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report
