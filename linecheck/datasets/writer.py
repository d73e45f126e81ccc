"""Writing a new YOLO dataset in the standard layout, all or nothing.

``YoloWriter`` builds the dataset in a hidden staging folder beside the destination and moves it
into place on :meth:`YoloWriter.commit`, so a failed conversion never leaves half a dataset and an
existing non-empty folder is never written into.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.datasets.boxes import check_yolo_boxes
from linecheck.datasets.datayaml import parse_names, write_data_yaml
from linecheck.datasets.labels import check_row, write_label_file
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.image_files import IMAGE_SUFFIXES


def check_destination(dst: Path) -> None:
    """Raise unless ``dst`` is absent or an empty folder (nothing already there is overwritten)."""
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise DatasetError("destination exists and is not an empty folder; choose a new one", path=dst)


def new_staging_folder(dst: Path) -> Path:
    """Create (empty) the hidden folder beside ``dst`` where a new dataset is built."""
    check_destination(dst)
    staging = dst.parent / f".{dst.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, dst: Path) -> None:
    """Move a finished staging folder to ``dst`` (absent or empty)."""
    check_destination(dst)
    if dst.exists():
        dst.rmdir()
    os.replace(staging, dst)


class YoloWriter:
    """Write images and boxes into ``dst/images[/<split>]`` and ``dst/labels[/<split>]``.

    Args:
        dst: destination folder; must be absent or empty.
        names: class names in class-id order.
        splits: split names to write into (``add(..., split=...)`` required), or None for an
            unsplit dataset (``images/`` and ``labels/`` directly; train and val both point there).
        extra: further ``data.yaml`` keys to keep (e.g. ``kind``).

    Use as a context manager; leaving it without :meth:`commit` (or by an exception) removes
    the staging folder.

    """

    def __init__(
        self,
        dst: Path,
        names: Sequence[str],
        *,
        splits: Sequence[str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            self.names = parse_names(list(names))
        except ValueError as exc:
            raise InvalidFieldError("names", list(names), str(exc)) from None
        self.dst = dst
        self.splits = tuple(splits) if splits is not None else None
        self.extra = dict(extra or {})
        self.staging = new_staging_folder(dst)
        self.images = 0
        self.backgrounds = 0
        self.boxes_per_class: Counter[str] = Counter()
        self._stems: set[str] = set()
        self._done = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.abort()

    def _folder(self, kind: str, split: str | None) -> Path:
        if self.splits is None:
            if split is not None:
                raise InvalidFieldError("split", split, "this dataset is written without splits")
            return self.staging / kind
        if split not in self.splits:
            raise InvalidFieldError("split", split, f"expected one of {list(self.splits)}")
        return self.staging / kind / split

    def add(
        self,
        stem: str,
        image: Path | npt.NDArray[np.uint8],
        boxes: npt.ArrayLike,
        *,
        split: str | None = None,
        suffix: str = ".png",
    ) -> Path:
        """Add one image with its (N, 5) ``class cx cy w h`` boxes; return the written image's path.

        ``image`` is a file (copied byte for byte, its suffix kept) or a BGR/grey array (encoded
        with ``suffix``). Stems must be unique across the whole dataset.
        """
        if self._done:
            raise DatasetError("writer already committed or aborted", path=self.dst)
        if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
            raise InvalidFieldError("stem", stem, "expected a plain, non-hidden file name without suffix")
        if stem in self._stems:
            raise InvalidFieldError("stem", stem, "already written: stems must be unique in a dataset")
        rows = check_yolo_boxes(boxes, field=f"boxes of {stem}")
        for row in rows.tolist():
            if not float(row[0]).is_integer():
                raise InvalidFieldError(f"boxes of {stem}", row, "class id is not an integer")
            problem = check_row(int(row[0]), row[1:], len(self.names))
            if problem is not None:
                raise InvalidFieldError(f"boxes of {stem}", row, problem[1])
        images, labels = self._folder("images", split), self._folder("labels", split)
        images.mkdir(parents=True, exist_ok=True)
        if isinstance(image, Path):
            out_suffix = image.suffix.lower()
            if out_suffix not in IMAGE_SUFFIXES:
                raise InvalidFieldError("image", str(image), f"expected one of {sorted(IMAGE_SUFFIXES)}")
            target = images / f"{stem}{out_suffix}"
            shutil.copyfile(image, target)
        else:
            if suffix.lower() not in IMAGE_SUFFIXES:
                raise InvalidFieldError("suffix", suffix, f"expected one of {sorted(IMAGE_SUFFIXES)}")
            target = images / f"{stem}{suffix.lower()}"
            if not cv2.imwrite(str(target), image):
                raise DatasetError("OpenCV could not encode the image", path=target)
        write_label_file(labels / f"{stem}.txt", rows)
        self._stems.add(stem)
        self.images += 1
        self.backgrounds += int(rows.shape[0] == 0)
        self.boxes_per_class.update(self.names[int(c)] for c in rows[:, 0].tolist())
        return self.dst / target.relative_to(self.staging)

    def commit(self) -> Path:
        """Write ``data.yaml`` and move the dataset to ``dst``; return the ``data.yaml`` path there."""
        if self._done:
            raise DatasetError("writer already committed or aborted", path=self.dst)
        for kind in ("images", "labels"):
            for split in self.splits or ():
                (self.staging / kind / split).mkdir(parents=True, exist_ok=True)
            (self.staging / kind).mkdir(exist_ok=True)
        write_data_yaml(self.staging, self.names, splits=self.splits, extra=self.extra, root_path=self.dst)
        publish(self.staging, self.dst)
        self._done = True
        return self.dst / "data.yaml"

    def abort(self) -> None:
        """Remove the staging folder; nothing is written to ``dst``."""
        self._done = True
        shutil.rmtree(self.staging, ignore_errors=True)
