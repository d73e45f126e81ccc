"""``iter_units``: an endless synthetic production line, unit after unit, for the inspector.

Textile: one unit is a roll, a run of consecutive frames of the same fabric, a few of them
defective; the roll code is not in the image (textile lines get it from a trigger). Bearing and
PV: one unit is one frame with the code rendered in it. Unit ``serial`` is the same whatever
``start_serial`` the stream began at.

``challenge_unit``: one of a line's challenge parts (``verification.parts``) as its camera sees it.

``machine_fault``: a faulty machine's defect, the same class at the same place of every unit it marks (a
worn grinding wheel's scratch, a stringer's crack in one cell, a damaged reed's mark across the fabric):
what a line's run alarm ``repeat`` rule (:mod:`linecheck.alarms`) is there to catch.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linecheck.config import LineConfig
from linecheck.datasets.synth.frames import Rendered, SynthFrame, SynthUnit
from linecheck.datasets.synth.generators import LineGenerator, check_imgsz, make_generator
from linecheck.datasets.synth.seeding import Purpose, check_seed, draw_defect_count, rng_for
from linecheck.datasets.synth.textile import STYLES, TextileGenerator
from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind, get_kind, make_code, parse_kind
from linecheck.kinds.textile import TextileOptions
from linecheck.verification import ChallengePart

#: Share of units (rolls, rings, modules) with no defect at all.
DEFECT_FREE_UNITS = 0.3
#: Most defective frames on one defective roll.
MAX_DEFECTIVE_FRAMES = 4


def _frame(rendered: Rendered, index: int = 0, offset_m: float = 0.0) -> SynthFrame:
    return SynthFrame(
        image=rendered.image,
        boxes=rendered.boxes,
        class_ids=rendered.class_ids,
        index=index,
        offset_m=offset_m,
    )


def roll_frames(
    generator: TextileGenerator,
    rng: np.random.Generator,
    line: LineConfig,
    *,
    known: Sequence[int] | None = None,
) -> list[SynthFrame]:
    """The frames of one roll: consecutive crops of one fabric, a few frames defective (or none).

    ``known``: the roll's defects instead, their class ids (a challenge roll; empty: a good one), all on
    its first frame.
    """
    cfg = TextileOptions.model_validate(line.options)
    n_frames = max(1, math.ceil(cfg.roll_length_m / cfg.frame_length_m - 1e-9))
    fabric = generator.fabric(int(rng.integers(STYLES)))
    ox = int(rng.integers(fabric.size - generator.imgsz + 1))
    oy = int(rng.integers(fabric.size))
    gain = float(rng.uniform(0.88, 1.1))
    defective: set[int] = set()
    if known is not None:
        defective = {0} if known else set()
    elif rng.random() >= DEFECT_FREE_UNITS:
        k = int(rng.integers(1, min(MAX_DEFECTIVE_FRAMES, n_frames) + 1))
        defective = {int(i) for i in rng.choice(n_frames, size=k, replace=False)}
    frames = []
    for i in range(n_frames):
        n = (len(known) if known is not None else draw_defect_count(rng)) if i in defective else 0
        rendered = generator.frame(
            rng, fabric, ox=ox, oy=oy + i * generator.imgsz, gain=gain, n_defects=n, classes=known
        )
        frames.append(_frame(rendered, i, i * cfg.frame_length_m))
    return frames


def iter_units(
    kind: Kind | str, *, seed: int, imgsz: int = 640, start_serial: int = 1, line: LineConfig | None = None
) -> Iterator[SynthUnit]:
    """Endless units of ``kind`` from serial ``start_serial`` on (slice with ``itertools.islice``).

    ``line`` supplies the roll length and frame length (textile), the cell grid (PV) and the ring
    geometry (bearing); without it the kind's default line config is used.
    """
    kind = parse_kind(kind) if isinstance(kind, str) else kind
    check_seed(seed)
    check_imgsz(imgsz)
    if isinstance(start_serial, bool) or not isinstance(start_serial, int) or start_serial < 0:
        raise InvalidFieldError("start_serial", start_serial, "expected a non-negative integer")
    if line is None:
        line = LineConfig(id=f"synth-{kind.value}", kind=kind)
    elif line.kind != kind:
        raise InvalidFieldError("line.kind", line.kind, f"expected {kind.value} to match the kind asked for")
    generator: LineGenerator = make_generator(kind, seed=seed, imgsz=imgsz, line=line)
    serial = start_serial
    while True:
        code = make_code(kind, serial)
        rng = rng_for(seed, kind, Purpose.UNIT, serial)
        if isinstance(generator, TextileGenerator):
            frames = roll_frames(generator, rng, line)
        else:
            n = 0 if rng.random() < DEFECT_FREE_UNITS else draw_defect_count(rng)
            frames = [_frame(generator.sample(rng, n_defects=n, code=code))]
        yield SynthUnit(code=code, kind=kind, frames=frames)
        serial += 1


#: Defects drawn of each class a challenge part must show (a red rabbit's defect is plain to see).
CHALLENGE_DEFECTS_PER_CLASS = 2


def challenge_unit(
    part: ChallengePart,
    *,
    seed: int,
    line: LineConfig,
    imgsz: int = 640,
) -> SynthUnit:
    """One of ``line``'s challenge parts as its camera sees it: the part's code and its known defects.

    A part that must fail shows :data:`CHALLENGE_DEFECTS_PER_CLASS` defects of each of its classes that
    the kind draws (of random classes when it names none the kind draws); a part that must pass shows
    none. The part looks the same every time it runs (its rendering is seeded by ``seed`` and its code),
    as a physical red rabbit or master part does from one shift to the next.
    """
    kind = parse_kind(line.kind)
    generator = make_generator(kind, seed=seed, imgsz=imgsz, line=line)
    rng = rng_for(seed, kind, Purpose.CHALLENGE, zlib.crc32(part.code.encode()))
    drawn = get_kind(kind).classes
    known: list[int] = []
    if part.expect == "fail":
        ids = [drawn.index(name) for name in part.classes if name in drawn]
        if ids:
            known = ids * CHALLENGE_DEFECTS_PER_CLASS
        else:
            known = [int(i) for i in rng.integers(len(drawn), size=CHALLENGE_DEFECTS_PER_CLASS)]
    if isinstance(generator, TextileGenerator):
        frames = roll_frames(generator, rng, line, known=known)
    else:
        frames = [_frame(generator.sample(rng, n_defects=len(known), code=part.code, classes=known))]
    return SynthUnit(code=part.code, kind=kind, frames=frames)


@dataclass(frozen=True, kw_only=True, slots=True)
class MachineFault:
    """A defect a faulty machine leaves at one place of every unit: its class, box and change to the pixels.

    Attributes:
        class_id: the defect's class id (the kind's class order).
        box: ``x1, y1, x2, y2`` pixel box of the defect (whole pixels).
        delta: the change the defect makes to the pixels of ``box`` (float32, box-sized, BGR).

    """

    class_id: int
    box: tuple[int, int, int, int]
    delta: npt.NDArray[np.float32]

    def mark(self, frame: SynthFrame) -> SynthFrame:
        """``frame`` with the defect drawn at its place and added to its ground truth."""
        x1, y1, x2, y2 = self.box
        image = frame.image.copy()
        image[y1:y2, x1:x2] = np.clip(image[y1:y2, x1:x2].astype(np.float32) + self.delta, 0, 255).astype(
            np.uint8
        )
        box = np.asarray([self.box], np.float32)
        return SynthFrame(
            image=image,
            boxes=np.concatenate([frame.boxes.reshape(-1, 4), box]).astype(np.float32),
            class_ids=np.concatenate([frame.class_ids.reshape(-1), [self.class_id]]).astype(np.int64),
            index=frame.index,
            offset_m=frame.offset_m,
        )


def machine_fault(
    line: LineConfig, *, seed: int, class_name: str | None = None, imgsz: int = 640
) -> MachineFault:
    """The defect a faulty machine of ``line`` leaves on every unit (``class_name``: the kind's first class).

    It is drawn once, on a defect-free frame of the line's product, and its change to the pixels is kept:
    :meth:`MachineFault.mark` adds it at the same place of any frame of the line, as a worn tool does.
    """
    kind = parse_kind(line.kind)
    drawn = get_kind(kind).classes
    name = class_name or drawn[0]
    if name not in drawn:
        raise InvalidFieldError(
            "repeat_class", name, f"expected one of the classes the kind draws {list(drawn)}"
        )
    class_id = drawn.index(name)
    generator = make_generator(kind, seed=seed, imgsz=imgsz, line=line)
    rng = rng_for(seed, kind, Purpose.FAULT, class_id)
    if isinstance(generator, TextileGenerator):
        fabric = generator.fabric(int(rng.integers(STYLES)))
        rendered = generator.frame(rng, fabric, ox=0, oy=0, gain=1.0, n_defects=1, classes=[class_id])
    else:
        rendered = generator.sample(rng, n_defects=1, classes=[class_id])
    if not len(rendered.boxes):
        raise InvalidFieldError("repeat_class", name, "no place found to draw it on this line's product")
    x1, y1, x2, y2 = (int(v) for v in np.round(rendered.boxes[0]))
    delta = rendered.image[y1:y2, x1:x2].astype(np.float32) - rendered.clean[y1:y2, x1:x2].astype(np.float32)
    return MachineFault(class_id=class_id, box=(x1, y1, x2, y2), delta=delta)
