"""One interface for every frame source, and the URI scheme registry that opens them.

Built in:

==========================  ===============================================================
``synth://<kind>?seed=1``   a live simulated line (``rate`` fps, ``units`` limit): the synthetic
                            camera, registered as a ``linecheck.sources`` entry-point plug-in
``/path/to/folder``         the images of a folder, in name order (``file://`` optional)
``watch:///path/to/folder`` a hot folder: each image a camera program saves there, once it has
                            settled, oldest first; moved to ``done/`` (or deleted, or kept)
``/path/to/video.mp4``      a video file through OpenCV (FFmpeg)
``rtsp://``, ``http://``    a network camera through OpenCV, with open/read timeouts and
                            reconnect with exponential backoff on drop
``usb:0``                   a local (V4L2) camera by index, same reconnect behaviour
==========================  ===============================================================

Extension point: GigE Vision (and any vendor SDK such as Aravis, Vimba, Spinnaker) plugs in
by subclassing :class:`FrameSource` and calling :func:`register_scheme` with e.g. ``"gige"``;
``open()`` connects, ``read()`` returns one :class:`~linecheck.messages.Frame` (BGR uint8) or
None at the end, ``close()`` releases the camera. Nothing else in the inspector changes.
"""

from __future__ import annotations

import itertools
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlsplit

import numpy.typing as npt

from linecheck.config import LineConfig
from linecheck.errors import FrameSourceError
from linecheck.messages import Frame
from linecheck.pixel_depth import to_bgr8


class SourceQuery:
    """A source URI's query parameters, checked once, for every source that takes any.

    An unknown name, or a value that is not a number in range, is a :class:`FrameSourceError`
    naming the URI, the parameter and the value.

    The last of a repeated parameter wins; ``?name=`` (blank) is a value, so it is refused by a
    number parameter rather than taken silently as the default.
    """

    def __init__(self, uri: str, known: Collection[str]) -> None:
        self.uri = uri
        self.parts: SplitResult = urlsplit(uri)
        self.params = parse_qs(self.parts.query, keep_blank_values=True)
        unknown = sorted(set(self.params) - set(known))
        if unknown:
            raise self.error(f"unknown parameter(s) {unknown}; known: {sorted(known)}")

    def error(self, problem: str) -> FrameSourceError:
        """The error for ``problem`` with this URI, for the source's own checks."""
        return FrameSourceError(f"source uri={self.uri!r}: {problem}")

    def text(self, name: str, default: str, choices: Collection[str] | None = None) -> str:
        """A text parameter, one of ``choices`` when they are given."""
        value = self.params[name][-1] if name in self.params else default
        if choices is not None and value not in choices:
            raise self.error(f"{name}={value!r}; expected one of {list(choices)}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        """An integer parameter, >= ``minimum``."""
        if name not in self.params:
            return default
        raw = self.params[name][-1]
        try:
            value = int(raw)
        except ValueError:
            raise self.error(f"{name}={raw!r} is not an integer") from None
        if value < minimum:
            raise self.error(f"{name}={value} must be >= {minimum}")
        return value

    def number(self, name: str, default: float, *, positive: bool = False, unit: str = "") -> float:
        """A finite float parameter, > 0 when ``positive`` else >= 0."""
        if name not in self.params:
            return default
        raw = self.params[name][-1]
        what = f"a number of {unit}" if unit else "a number"
        try:
            value = float(raw)
        except ValueError:
            raise self.error(f"{name}={raw!r} is not {what}") from None
        if not math.isfinite(value) or (value <= 0 if positive else value < 0):
            raise self.error(f"{name}={raw} must be a finite number {'> 0' if positive else '>= 0'}")
        return value


@dataclass(frozen=True, kw_only=True)
class SourceContext:
    """What every source needs to stamp its frames, plus the capture tuning.

    Attributes:
        line: the line the camera belongs to.
        station: camera / station name.
        open_timeout_s: how long opening a stream may take before it counts as failed.
        read_timeout_s: how long one read may block before the stream counts as dropped.
        reconnect_min_s: first delay before reconnecting a dropped stream.
        reconnect_max_s: longest delay between reconnect attempts.
        max_reconnects: give up after this many failed attempts in a row (None: never).

    """

    line: LineConfig
    station: str = "cam1"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    max_reconnects: int | None = None

    @property
    def line_id(self) -> str:
        """Id of the line."""
        return self.line.id

    @property
    def bit_depth(self) -> int | None:
        """The bit depth of this station's camera in the line YAML (None: not given, or no such camera).

        Sources that deliver 16-bit pixels turn them into frames with
        ``linecheck.pixel_depth.to_bgr8(pixels, bit_depth=context.bit_depth)``.
        """
        return next((cam.bit_depth for cam in self.line.cameras if cam.station == self.station), None)


class FrameSource(ABC):
    """A camera, file or simulator that yields :class:`~linecheck.messages.Frame` objects.

    Use it as a context manager or call :meth:`open` / :meth:`close`; iterate it or call
    :meth:`read` until it returns None (end of stream). Sequence numbers are assigned here.
    """

    def __init__(self, uri: str, context: SourceContext) -> None:
        self.uri = uri
        self.context = context
        self._seq = itertools.count()
        self._interrupted = threading.Event()
        #: Inputs skipped because they could not be decoded (counted in the inspector's metrics).
        self.skipped = 0

    def interrupt(self) -> None:
        """Ask a blocked :meth:`read` (waiting to reconnect or pacing) to give up soon."""
        self._interrupted.set()

    @property
    def interrupted(self) -> bool:
        """True once :meth:`interrupt` was called."""
        return self._interrupted.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless interrupted; True when interrupted."""
        return self._interrupted.wait(max(0.0, seconds))

    def next_seq(self) -> int:
        """The next frame sequence number of this source."""
        return next(self._seq)

    def frame(
        self,
        pixels: npt.NDArray[Any],
        *,
        meta: Mapping[str, Any] | None = None,
        trigger_code: str | None = None,
    ) -> Frame:
        """The next :class:`~linecheck.messages.Frame` of this source, captured now, from ``pixels``.

        Grey, BGRA and 16-bit pixels (read with the camera's ``bit_depth``) become the HxWx3 uint8
        BGR a frame holds (:func:`linecheck.pixel_depth.to_bgr8`); the sequence number is the next one.
        """
        return Frame(
            line_id=self.context.line_id,
            station=self.context.station,
            seq=self.next_seq(),
            captured_at=datetime.now(UTC),
            image=to_bgr8(pixels, bit_depth=self.context.bit_depth),
            trigger_code=trigger_code,
            meta=dict(meta or {}),
        )

    @abstractmethod
    def open(self) -> None:
        """Connect to / open the source.

        Raises:
            FrameSourceError: naming the URI and what failed.

        """

    @abstractmethod
    def read(self) -> Frame | None:
        """Return the next frame, or None when the source has ended."""

    @abstractmethod
    def close(self) -> None:
        """Release the source (idempotent)."""

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


SourceFactory = Callable[[str, SourceContext], FrameSource]

_SCHEMES: dict[str, SourceFactory] = {}
#: Entry-point group of frame-source plug-ins: ``<scheme> = "package.module:SourceClass"``
#: (linecheck registers ``synth``, its simulated line, this way).
SOURCE_ENTRY_POINTS = "linecheck.sources"


def register_scheme(scheme: str, factory: SourceFactory) -> None:
    """Make ``<scheme>://...`` URIs open with ``factory(uri, context)`` (the extension point)."""
    _SCHEMES[scheme.lower()] = factory


@lru_cache(maxsize=1)
def _plugin_schemes() -> dict[str, SourceFactory]:
    """Sources registered by packages under the :data:`SOURCE_ENTRY_POINTS` group, by URI scheme."""
    found: dict[str, SourceFactory] = {}
    for ep in entry_points(group=SOURCE_ENTRY_POINTS):
        try:
            found[ep.name.lower()] = ep.load()
        except Exception as exc:  # a broken plug-in must say which one it is
            raise FrameSourceError(
                f"frame source plug-in {ep.name} = {ep.value} cannot be loaded: {exc}"
            ) from exc
    return found


VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm", ".mjpg", ".mjpeg", ".ts"})


def open_source(uri: str, context: SourceContext) -> FrameSource:
    """Build (not yet open) the source named by ``uri``.

    Raises:
        FrameSourceError: the scheme is unknown or the path does not name a folder or video.

    """
    # Imported here: each source module imports this one for the base class.
    from linecheck.inspect.sources.capture import CaptureSource
    from linecheck.inspect.sources.folder import ImageFolderSource
    from linecheck.inspect.sources.watch import SCHEME as WATCH_SCHEME
    from linecheck.inspect.sources.watch import WatchedFolderSource

    text = uri.strip()
    if not text:
        raise FrameSourceError("source uri='': expected synth://, a folder, a video file, rtsp://, usb:N")
    scheme = urlsplit(text).scheme.lower()
    factory = _SCHEMES.get(scheme) or _plugin_schemes().get(scheme)
    if factory is not None:
        return factory(text, context)
    if scheme == WATCH_SCHEME:
        return WatchedFolderSource(text, context)
    if scheme in {"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp"} or scheme == "usb":
        return CaptureSource(text, context)
    if scheme in {"", "file"} or len(scheme) == 1:  # len 1: a Windows drive letter
        path = Path(urlsplit(text).path if scheme == "file" else text).expanduser()
        if path.is_dir():
            return ImageFolderSource(str(path), context)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return CaptureSource(str(path), context)
        raise FrameSourceError(
            f"source uri={uri!r}: not a folder of images nor a video file "
            f"({', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    known = sorted({"rtsp", "http", "usb", "file", WATCH_SCHEME, *_SCHEMES, *_plugin_schemes()})
    raise FrameSourceError(f"source uri={uri!r}: unknown scheme {scheme!r}; known: {', '.join(known)}")
