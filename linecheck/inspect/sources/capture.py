"""Video files, network cameras (RTSP / HTTP MJPEG) and USB cameras through OpenCV.

OpenCV's FFmpeg capture can block forever on a dead stream, so every open and read runs
with ``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC``. A live stream that
drops (read fails or times out) is released and reopened with exponential backoff; a video
file that ends is the end of the source.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

import cv2

from linecheck.errors import FrameSourceError
from linecheck.inspect.frame_source import FrameSource, SourceContext
from linecheck.messages import Frame

log = logging.getLogger(__name__)


class CaptureSource(FrameSource):
    """A source read through ``cv2.VideoCapture`` (file, ``rtsp://``, ``http://``, ``usb:N``).

    Attributes:
        live: True for cameras and streams (reconnect on drop), False for files (end on EOF).
        reconnects: successful reopenings after a drop.
        last_error: the most recent open/read failure, for status displays.

    """

    def __init__(self, uri: str, context: SourceContext) -> None:
        super().__init__(uri, context)
        scheme = urlsplit(uri).scheme.lower()
        self._device: int | None = None
        if scheme == "usb":
            index = urlsplit(uri).path
            if not index.isdigit():
                raise FrameSourceError(f"source uri={uri!r}: expected usb:<camera index>, e.g. usb:0")
            self._device = int(index)
        self.live = self._device is not None or (scheme not in {"", "file"} and len(scheme) > 1)
        self._target = urlsplit(uri).path if scheme == "file" else uri
        self._cap: Any = None
        self.reconnects = 0
        self.last_error: str | None = None

    def _open_capture(self) -> Any:
        ms_open = int(self.context.open_timeout_s * 1000)
        ms_read = int(self.context.read_timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms_open, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms_read]
        if self._device is not None:
            cap = cv2.VideoCapture(self._device, cv2.CAP_ANY, params)
        else:
            cap = cv2.VideoCapture(self._target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _connect(self, *, first: bool) -> None:
        """Open the capture, retrying live sources with exponential backoff."""
        delay = self.context.reconnect_min_s
        attempts = 0
        while True:
            started = time.monotonic()
            cap = self._open_capture()
            if cap is not None:
                self._cap = cap
                if not first:
                    self.reconnects += 1
                    log.info("source %s reconnected after %d attempt(s)", self.uri, attempts + 1)
                return
            attempts += 1
            self.last_error = f"cannot open (attempt {attempts}, {time.monotonic() - started:.1f}s)"
            limit = self.context.max_reconnects
            if not self.live or (limit is not None and attempts > limit):
                raise FrameSourceError(
                    f"source uri={self.uri!r}: cannot open after {attempts} attempt(s) "
                    f"(open timeout {self.context.open_timeout_s}s)"
                )
            log.warning("source %s: %s; retrying in %.1fs", self.uri, self.last_error, delay)
            if self.sleep(delay):
                raise FrameSourceError(f"source uri={self.uri!r}: interrupted while reconnecting")
            delay = min(delay * 2, self.context.reconnect_max_s)

    def open(self) -> None:
        """Open the file or connect to the camera (live sources retry with backoff)."""
        if self._cap is None:
            self._connect(first=True)

    def read(self) -> Frame | None:
        """Next frame; None at the end of a file or when interrupted."""
        if self._cap is None:
            self.open()
        while not self.interrupted:
            ok, image = self._cap.read()
            if ok and image is not None:
                return self.frame(image)
            if not self.live:
                return None
            self.last_error = "stream dropped (read failed or timed out)"
            log.warning("source %s: %s; reconnecting", self.uri, self.last_error)
            self._cap.release()
            self._cap = None
            try:
                self._connect(first=False)
            except FrameSourceError:
                if self.interrupted:
                    return None
                raise
        return None

    def close(self) -> None:
        """Release the capture."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
