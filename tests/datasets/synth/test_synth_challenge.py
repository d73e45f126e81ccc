"""Challenge parts on a simulated line: a red rabbit shows its classes, a master none, the same every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp

from linecheck.config import LineConfig, load_line
from linecheck.datasets.synth.camera import SyntheticSource
from linecheck.datasets.synth.streams import CHALLENGE_DEFECTS_PER_CLASS, challenge_unit
from linecheck.errors import FrameSourceError
from linecheck.inspect.frame_source import SourceContext
from linecheck.kinds import Kind, get_kind
from linecheck.kinds.textile import TextileOptions
from linecheck.verification import ChallengePart

ROOT = Path(__file__).resolve().parents[3]
RABBIT = {"code": "BR9900000001", "expect": "fail", "classes": ["crack", "dent"]}
MASTER = {"code": "BR9900000002", "expect": "pass"}


def _bearing_line(**verification: Any) -> LineConfig:
    line = load_line(ROOT / "configs" / "lines" / "bearing-01.yaml")
    data = line.model_dump(mode="json")
    if verification:
        data["verification"] = verification
    return LineConfig.model_validate(data)


def _ids(names: list[str], kind: str) -> list[int]:
    return [get_kind(kind).classes.index(n) for n in names]


def test_a_red_rabbit_shows_its_classes_and_a_master_none_the_same_every_run() -> None:
    line = _bearing_line()
    rabbit, master = ChallengePart(**RABBIT), ChallengePart(**MASTER)
    unit = challenge_unit(rabbit, seed=3, line=line, imgsz=640)
    (frame,) = unit.frames
    assert unit.code == rabbit.code
    assert sorted(frame.class_ids.tolist()) == sorted(
        _ids(["crack", "dent"], "bearing") * CHALLENGE_DEFECTS_PER_CLASS
    )
    assert any(r.text == rabbit.code for r in zxingcpp.read_barcodes(frame.image)), "the line must read it"
    again = challenge_unit(rabbit, seed=3, line=line, imgsz=640).frames[0]
    np.testing.assert_array_equal(again.image, frame.image)  # one physical part, shift after shift
    (good,) = challenge_unit(master, seed=3, line=line, imgsz=640).frames
    assert good.boxes.shape == (0, 4) and good.image.tobytes() != frame.image.tobytes()
    other_seed = challenge_unit(rabbit, seed=4, line=line, imgsz=640).frames[0]
    assert other_seed.image.tobytes() != frame.image.tobytes()


def test_a_part_naming_no_drawn_class_gets_random_defects_and_a_pv_rabbit_its_own() -> None:
    line = LineConfig(id="pv", kind=Kind.PV, classes=[*get_kind("pv").classes, "defective_cell"])
    unit = challenge_unit(
        ChallengePart(code="PV000099000001", expect="fail", classes=["defective_cell"]),
        seed=1,
        line=line,
        imgsz=320,
    )
    assert len(unit.frames[0].class_ids) == CHALLENGE_DEFECTS_PER_CLASS
    cracked = challenge_unit(
        ChallengePart(code="PV000099000002", expect="fail", classes=["crack"]), seed=1, line=line, imgsz=320
    )
    assert cracked.frames[0].class_ids.tolist() == _ids(["crack"], "pv") * CHALLENGE_DEFECTS_PER_CLASS


def test_a_challenge_roll_has_its_defects_on_its_first_frame_and_a_master_roll_none() -> None:
    line = LineConfig(id="t", kind=Kind.TEXTILE, textile=TextileOptions(roll_length_m=2.0))  # 4 frames
    rabbit = challenge_unit(
        ChallengePart(code="RL9900000001", expect="fail", classes=["hole"]), seed=2, line=line, imgsz=160
    )
    assert [len(f.class_ids) for f in rabbit.frames] == [CHALLENGE_DEFECTS_PER_CLASS, 0, 0, 0]
    assert set(rabbit.frames[0].class_ids.tolist()) == set(_ids(["hole"], "textile"))
    master = challenge_unit(ChallengePart(code="RL9900000002", expect="pass"), seed=2, line=line, imgsz=160)
    assert len(master.frames) == 4 and all(len(f.class_ids) == 0 for f in master.frames)


def test_the_camera_runs_the_parts_first_and_after_every_n_units_never_darkened() -> None:
    line = _bearing_line(parts=[RABBIT, MASTER])
    uri = "synth://bearing?seed=5&units=5&rate=0&challenge=3&dark=1"  # every production unit dark
    source = SyntheticSource(uri, SourceContext(line=line, station="face"))
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    codes = [f.meta["unit_code"] for f in frames]
    production = [c for c in codes if not c.startswith("BR99")]
    assert codes == [
        RABBIT["code"],
        MASTER["code"],
        *production[:3],
        RABBIT["code"],
        MASTER["code"],
        *production[3:],
    ]
    assert len(production) == 5 and source.units_started == 5
    for frame in frames:
        assert frame.meta["challenge"] is (frame.meta["unit_code"] in (RABBIT["code"], MASTER["code"]))
        assert (frame.meta["fault"] == "dark") is not frame.meta["challenge"]
        if frame.meta["challenge"]:
            assert frame.meta["unit_number"] is None and frame.image.mean() > 20  # lit, as a part is run
    rabbits = [f for f in frames if f.meta["unit_code"] == RABBIT["code"]]
    np.testing.assert_array_equal(rabbits[0].image, rabbits[1].image)


@pytest.mark.parametrize(
    ("verification", "needle"),
    [
        (None, "challenge=2: line bearing-01 lists no verification.parts"),
        (
            {"parts": [{**MASTER, "products": ["6205"]}]},
            "challenge=2: no challenge part of line bearing-01 applies to its default product None",
        ),
    ],
)
def test_challenge_on_a_line_without_parts_is_refused_naming_it(verification: Any, needle: str) -> None:
    line = _bearing_line()
    if verification is not None:
        line = LineConfig.model_validate(
            {**line.model_dump(mode="json"), "products": [{"id": "6205"}], "verification": verification}
        )
    with pytest.raises(FrameSourceError, match="challenge=2") as caught:
        SyntheticSource("synth://bearing?challenge=2", SourceContext(line=line, station="face"))
    assert needle in str(caught.value)
