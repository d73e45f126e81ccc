"""A folder of images, read in file-name order (re-inspection of saved frames, tests)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from linecheck.errors import FrameSourceError, InvalidFieldError
from linecheck.image_files import IMAGE_SUFFIXES, is_image_file
from linecheck.inspect.frame_source import FrameSource, SourceContext
from linecheck.messages import Frame
from linecheck.pixel_depth import depth_problem, read_deep, to_bgr8

log = logging.getLogger(__name__)


class ImageFolderSource(FrameSource):
    """Every image file of a folder once, sorted by name; unreadable files are reported and skipped.

    A skipped file is not a frame (there is no image to inspect); it is logged, listed in
    :attr:`unreadable` and counted in ``linecheck_inspector_source_unreadable_files_total``.
    16-bit images are read with the camera's ``bit_depth`` (:mod:`linecheck.pixel_depth`); the
    first one that does not fit it (nearly black, or clipped) is logged and kept in
    :attr:`depth_warning`.
    """

    def __init__(self, uri: str, context: SourceContext, *, path: Path | None = None) -> None:
        super().__init__(uri, context)
        self.path = Path(uri) if path is None else path
        self._files: list[Path] = []
        self._next = 0
        self.unreadable: list[Path] = []
        self.depth_warning: str | None = None

    def open(self) -> None:
        """List the folder's images."""
        if not self.path.is_dir():
            raise FrameSourceError(f"source uri={self.uri!r}: folder does not exist")
        self._files = sorted(p for p in self.path.iterdir() if is_image_file(p) and p.is_file())
        self._next = 0
        if not self._files:
            raise FrameSourceError(
                f"source uri={self.uri!r}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder"
            )

    def read(self) -> Frame | None:
        """Next readable image of the folder, None after the last one."""
        while self._next < len(self._files) and not self.interrupted:
            path = self._files[self._next]
            self._next += 1
            image = self._decode(path)
            if image is None:
                self.unreadable.append(path)
                self.skipped += 1
                continue
            return self.frame(image, meta={"file": str(path)})
        return None

    def _decode(self, path: Path) -> npt.NDArray[np.uint8] | None:
        pixels = read_deep(path)
        if pixels is None:
            log.warning("source %s: cannot decode %s, skipped", self.uri, path)
            return None
        bit_depth = self.context.bit_depth
        try:
            image = to_bgr8(pixels, bit_depth=bit_depth, field=str(path))
        except InvalidFieldError as exc:
            log.warning("source %s: %s: %s (%s), skipped", self.uri, path, exc.reason, exc.value)
            return None
        problem = depth_problem(pixels, bit_depth) if self.depth_warning is None else None
        if problem is not None:
            self.depth_warning = f"{path.name}: {problem} (the camera's bit_depth in the line YAML)"
            log.warning("source %s: %s", self.uri, self.depth_warning)
        return image

    def close(self) -> None:
        """Nothing to release."""
        self._files = []
