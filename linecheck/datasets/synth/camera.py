"""A live simulated line: synthetic units with known defects, paced at a set frame rate.

A camera plug-in of the inspector: registered for ``synth://`` URIs through the ``linecheck.sources``
entry point (``pyproject.toml``), so the inspector itself never imports the synthetic renderer.

URI: ``synth://<kind>?seed=1&rate=4&units=20&start=1&unreadable=0&dark=0&blurred=0&challenge=0&repeat=0``

* ``kind``: textile, bearing or pv (default: the line's kind; must match it).
* ``seed``: generator seed (default 0). ``start``: first unit serial (default 1).
* ``rate``: frames per second (default: the camera's ``fps``; 0 = as fast as consumed).
* ``units``: stop after this many units (default: run forever).
* ``unreadable``: make every N-th unit's printed code unreadable (0 = never), to exercise
  the ``code_unread`` path.
* ``dark``: image every N-th unit with the light off (2 % of its level, the camera's noise
  left): a failed lamp, or a PV module the EL tester did not contact (0 = never).
* ``blurred``: image every N-th unit out of focus (a Gaussian blur of sigma 6 px; 0 = never).
  Both exercise the frame checks (:mod:`linecheck.frame_checks`), which make such frames
  ``not_inspected`` instead of judging them.
* ``challenge``: run the line's challenge parts (``verification.parts`` of its default product,
  :mod:`linecheck.verification`) before the first unit and again after every N units, as an
  operator does at the start of a shift (0 = never; the line must list parts). A part that must fail
  shows its classes' defects, a part that must pass none; each part looks the same every run
  (:func:`linecheck.datasets.synth.streams.challenge_unit`). They come on top of ``units``.
* ``repeat``: a machine goes wrong at the N-th unit: from it on, every frame shows the same defect at the
  same place of the product (``repeat_class``, default the kind's first class: a bearing's scratch, a
  module's crack, a fabric's hole), as a worn tool or a damaged roller leaves it; what a line's run
  alarms catch (:mod:`linecheck.alarms`; 0 = never;
  :func:`linecheck.datasets.synth.streams.machine_fault`).

The ground truth travels in ``Frame.meta`` (``unit_code``, ``gt_xyxy``, ``gt_class_ids``,
``unit_frame``, ``unit_frames``, ``roll_offset_m``, ``challenge``: whether the unit is a challenge
part; ``fault``: ``dark``, ``blurred`` or ``repeat``) so a demo or test can score recall. For
trigger-coded lines (textile) the roll id is passed as ``Frame.trigger_code``, as a doffing
trigger would; for frame-coded lines it is only printed in the image.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError
from linecheck.inspect.frame_source import FrameSource, SourceContext, SourceQuery
from linecheck.kinds import get_kind, parse_kind
from linecheck.messages import Frame
from linecheck.verification import ChallengePart

_PARAMS = {
    "seed",
    "rate",
    "units",
    "start",
    "unreadable",
    "dark",
    "blurred",
    "challenge",
    "repeat",
    "repeat_class",
}
#: Level left by the light going off (``dark=N``), and the defocus of ``blurred=N``, in pixels.
DARK_GAIN, BLUR_SIGMA = 0.02, 6.0


def smear_codes(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Return a copy of ``image`` with every readable QR / DataMatrix code painted over.

    Used to simulate a damaged or dirty code mark; the rest of the image (and its defects)
    is unchanged.
    """
    import zxingcpp

    out = image.copy()
    formats = zxingcpp.barcode_formats_from_str("DataMatrix,QRCode")
    for barcode in zxingcpp.read_barcodes(image, formats=formats):
        pos = barcode.position
        pts = np.array(
            [[p.x, p.y] for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)], np.int32
        )
        x, y, w, h = cv2.boundingRect(pts)
        pad = max(4, w // 6)
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(out.shape[1], x + w + pad), min(out.shape[0], y + h + pad)
        region = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = np.uint8(region.mean())
    return out


class SyntheticSource(FrameSource):
    """Frames of :func:`linecheck.datasets.synth.iter_units`, paced like a running line."""

    def __init__(self, uri: str, context: SourceContext) -> None:
        super().__init__(uri, context)
        query = SourceQuery(uri, _PARAMS)
        try:
            self.kind = parse_kind(query.parts.netloc) if query.parts.netloc else context.line.kind
        except InvalidFieldError as exc:
            raise query.error(str(exc)) from None
        if self.kind != context.line.kind:
            line = f"line {context.line_id} kind {context.line.kind}"
            raise query.error(f"kind {self.kind} does not match {line}")
        self.web = get_kind(self.kind).unit == "web"  # a web kind's frames carry their place on the roll
        self.seed = query.integer("seed", 0)
        self.start = query.integer("start", 1)
        self.units = query.integer("units", 0) or None
        self.unreadable = query.integer("unreadable", 0)
        self.dark = query.integer("dark", 0)
        self.blurred = query.integer("blurred", 0)
        self.challenge = query.integer("challenge", 0)
        self.parts = self._challenge_parts(query) if self.challenge else []
        self._challenges: dict[str, Any] = {}  # code -> SynthUnit, rendered once
        self.repeat = query.integer("repeat", 0)
        self.fault = self._machine_fault(query) if self.repeat else None
        camera = context.line.camera(context.station)
        self.rate = query.number("rate", camera.fps if camera else 0.0, unit="frames per second")
        self._frames: Iterator[tuple[Any, Any, int | None]] | None = None
        self._next_at = 0.0
        self.units_started = 0

    def _machine_fault(self, query: SourceQuery) -> Any:
        from linecheck.datasets.synth.streams import machine_fault

        name = query.text("repeat_class", "") or None
        try:
            return machine_fault(self.context.line, seed=self.seed, class_name=name)
        except InvalidFieldError as exc:
            raise query.error(f"repeat_class={name}: {exc.reason}") from None

    def _challenge_parts(self, query: SourceQuery) -> list[ChallengePart]:
        line = self.context.line
        if line.verification is None:
            raise query.error(
                f"challenge={self.challenge}: line {self.context.line_id} lists no verification.parts"
            )
        product = line.default_product
        parts = [p for p in line.verification.parts if p.applies_to(product)]
        if not parts:
            raise query.error(
                f"challenge={self.challenge}: no challenge part of line {self.context.line_id} applies to "
                f"its default product {product}"
            )
        return parts

    def open(self) -> None:
        """Start the generator."""
        from linecheck.datasets.synth.streams import iter_units

        units = iter_units(self.kind, seed=self.seed, start_serial=self.start, line=self.context.line)
        self._frames = self._flatten(units)
        self._next_at = time.monotonic()

    def _flatten(self, units: Iterator[Any]) -> Iterator[tuple[Any, Any, int | None]]:
        for number, unit in enumerate(units, start=1):
            if self.units is not None and number > self.units:
                return
            if self.parts and (number - 1) % self.challenge == 0:
                for part in self.parts:
                    challenge = self._challenge_unit(part)
                    for frame in challenge.frames:
                        yield challenge, frame, None
            self.units_started = number
            for frame in unit.frames:
                yield unit, frame, number

    def _challenge_unit(self, part: ChallengePart) -> Any:
        from linecheck.datasets.synth.streams import challenge_unit

        if part.code not in self._challenges:
            self._challenges[part.code] = challenge_unit(part, seed=self.seed, line=self.context.line)
        return self._challenges[part.code]

    def read(self) -> Frame | None:
        """Next simulated frame at the configured rate; None after ``units`` units."""
        if self._frames is None:
            self.open()
        assert self._frames is not None
        if self.rate > 0:
            now = time.monotonic()
            if self._next_at > now and self.sleep(self._next_at - now):
                return None
            # A consumer that fell behind does not earn a burst of catch-up frames.
            self._next_at = max(self._next_at, time.monotonic() - 1.0 / self.rate) + 1.0 / self.rate
        elif self.interrupted:
            return None
        item = next(self._frames, None)
        if item is None:
            return None
        unit, sframe, number = item
        repeated = False
        if self.fault is not None and number is not None and number >= self.repeat:
            sframe, repeated = self.fault.mark(sframe), True
        image = np.ascontiguousarray(sframe.image, dtype=np.uint8)
        smeared = self._every(self.unreadable, number) and not self.web
        if smeared:
            image = smear_codes(image)
        dark = self._every(self.dark, number)
        blurred = self._every(self.blurred, number)
        if blurred:
            image = np.asarray(cv2.GaussianBlur(image, (0, 0), BLUR_SIGMA), np.uint8)
        if dark and number is not None:
            noise = np.random.default_rng(self.seed * 100_003 + number).normal(0.0, 0.6, image.shape)
            image = np.clip(image * DARK_GAIN + noise, 0, 255).astype(np.uint8)
        trigger = unit.code if self.context.line.code_source == "trigger" else None
        meta: dict[str, Any] = {
            "unit_code": unit.code,
            "unit_number": number,
            "unit_frame": int(sframe.index),
            "unit_frames": len(unit.frames),
            "gt_xyxy": np.asarray(sframe.boxes, np.float32).reshape(-1, 4),
            "gt_class_ids": np.asarray(sframe.class_ids, np.int64).reshape(-1),
            "code_smeared": smeared,
            "fault": "dark" if dark else "blurred" if blurred else "repeat" if repeated else None,
            "challenge": number is None,
        }
        if self.web:
            meta["roll_offset_m"] = float(sframe.offset_m)
        return self.frame(image, meta=meta, trigger_code=trigger)

    @staticmethod
    def _every(every: int, number: int | None) -> bool:
        """Whether production unit ``number`` is an N-th one (never a challenge part, ``number`` None)."""
        return bool(every) and number is not None and number % every == 0

    def close(self) -> None:
        """Stop the generator."""
        self._frames = None
