"""A third-party kind, installed through the ``linecheck.kinds`` entry point, runs end to end.

The plug-in (``tests/data/plugin_kind``: float-glass panes located in millimetres, graded
first / second / cullet) is found by ``importlib.metadata`` from its ``.dist-info`` folder, as a
``pip install`` would leave it; nothing inside ``linecheck/`` names it. Its line YAML is validated
with its own options model, the inspector locates and grades with it, and the real API (under
uvicorn, in a child process that sees the plug-in on ``PYTHONPATH``) validates its locations,
stores them, traces the unit and grades it with the plug-in's rules.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from linecheck.config import LineConfig, load_line
from linecheck.errors import ConfigError
from linecheck.inspect.kinds import logic_for
from linecheck.inspect.messages import CodedFrame, InferredFrame
from linecheck.inspect.verdict import judge
from linecheck.kinds import get_kind, kind_names, reload_kinds
from linecheck.messages import CodeStatus, Detections, Frame
from linecheck.serving.api.testing import create_key, run_api_process
from linecheck.serving.store.db import sqlite_url

PLUGIN = Path(__file__).resolve().parents[1] / "data" / "plugin_kind"
LINE_YAML = PLUGIN / "glass-01.yaml"


@pytest.fixture
def glass_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(PLUGIN))
    reload_kinds()
    yield
    monkeypatch.undo()
    reload_kinds()


def test_without_the_plugin_the_kind_is_unknown(tmp_path: Path) -> None:
    reload_kinds()
    assert "glass" not in kind_names()
    with pytest.raises(
        ConfigError, match=r"kind.*unknown kind 'glass'; expected one of textile, bearing, pv"
    ):
        load_line(LINE_YAML)


def test_plugin_kind_is_registered_with_its_defaults(glass_installed: None) -> None:
    assert kind_names()[:3] == ["textile", "bearing", "pv"]
    spec = get_kind("glass")
    assert spec.classes == ("bubble", "scratch", "chip")
    assert spec.make_code(42) == "GL00000042"
    line = load_line(LINE_YAML)
    assert line.classes == ["bubble", "scratch", "chip"]
    assert line.code_pattern == "^GL[0-9]{8}$"
    assert line.options.pane_width_mm == 1200  # type: ignore[attr-defined]
    dumped = line.model_dump(mode="json")
    assert dumped["glass"] == {"pane_width_mm": 1200.0, "pane_height_mm": 720.0, "max_bubbles": 1}
    assert LineConfig.model_validate(dumped) == line


def test_plugin_options_are_validated_by_the_plugin(glass_installed: None, tmp_path: Path) -> None:
    bad = tmp_path / "glass-02.yaml"
    bad.write_text(LINE_YAML.read_text().replace("max_bubbles: 1", "max_bubbles: -3"))
    with pytest.raises(ConfigError, match=r"glass\.max_bubbles: Input should be greater than or equal to 0"):
        load_line(bad)
    other = tmp_path / "glass-03.yaml"
    other.write_text(LINE_YAML.read_text() + "pv: {rows: 6}\n")
    with pytest.raises(ConfigError, match="section 'pv' belongs to pv lines; this line's kind is glass"):
        load_line(other)


def _frame_result(line: LineConfig, code: str, rows: list[tuple[str, float, tuple[float, ...]]]) -> dict:
    frame = Frame(
        line_id=line.id,
        station="coldend",
        seq=1,
        captured_at=datetime.now(UTC),
        image=np.zeros((480, 800, 3), np.uint8),
    )
    coded = CodedFrame(
        frame=frame, line=line, code=code, code_status=CodeStatus.READ, received_at=time.monotonic()
    )
    names = tuple(line.classes)
    detections = Detections(
        xyxy=np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
        confidence=np.array([r[1] for r in rows], np.float32),
        class_id=np.array([names.index(r[0]) for r in rows], np.int64),
        class_names=names,
    )
    inferred = InferredFrame(
        coded=coded, detections=detections, model_name="glass", model_version="1", latency_ms=3.0
    )
    result = judge(inferred, logic_for(line))
    return result.to_payload()


def test_inspector_locates_and_grades_with_the_plugin(glass_installed: None) -> None:
    line = load_line(LINE_YAML)
    payload = _frame_result(
        line,
        "GL00000001",
        [("bubble", 0.9, (380, 220, 420, 260)), ("bubble", 0.8, (0, 0, 40, 40)), ("chip", 0.1, (1, 1, 2, 2))],
    )
    assert payload["verdict"] == "fail"
    assert [d["location"] for d in payload["defects"]] == [
        {"x_mm": 600.0, "y_mm": 360.0},
        {"x_mm": 30.0, "y_mm": 30.0},
    ]
    assert payload["reason"].startswith("pane second: bubble at")


@pytest.fixture
def glass_api(glass_installed: None, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """The real API (uvicorn child) with the plug-in on its path: (base URL, line key, reviewer key)."""
    lines_dir = tmp_path / "lines"
    lines_dir.mkdir()
    shutil.copy(LINE_YAML, lines_dir)
    db = sqlite_url(tmp_path / "api.db")
    path = os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with run_api_process(db, tmp_path / "data", lines_dir=lines_dir, env={"PYTHONPATH": path}) as (base, _):
        yield base, create_key(db, "line", "glass-01"), create_key(db, "reviewer", name="qa")


def test_plugin_kind_through_the_real_api(glass_api: tuple[str, str, str]) -> None:
    base, line_key, reviewer_key = glass_api
    line = load_line(LINE_YAML)
    rows = [("bubble", 0.9, (380, 220, 420, 260)), ("bubble", 0.7, (0, 0, 8, 8))]
    payload = _frame_result(line, "GL00000007", rows)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {line_key}"}, timeout=10) as client:
        created = client.post("/v1/inspections", json=payload)
        assert created.status_code == 201, created.text

        bad = dict(payload, id="glass-bad-location-1")
        bad["defects"] = [dict(payload["defects"][0], location={"x_mm": 5000.0, "y_mm": 1.0})]
        refused = client.post("/v1/inspections", json=bad)
        assert refused.status_code == 422
        assert "defects[0].location.x_mm" in refused.text and "pane_width_mm=1200" in refused.text
        unknown = dict(bad, defects=[dict(payload["defects"][0], location={"zone": "bore"})])
        assert client.post("/v1/inspections", json=unknown).status_code == 422

    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {reviewer_key}"}, timeout=10
    ) as client:
        trace = client.get("/v1/trace/GL00000007")
        assert trace.status_code == 200, trace.text
        body = trace.json()
        assert body["unit"]["kind"] == "glass"
        (inspection,) = body["inspections"]
        assert [d["location"] for d in inspection["defects"]] == [
            {"x_mm": 600.0, "y_mm": 360.0},
            {"x_mm": 6.0, "y_mm": 6.0},
        ]

        grade = client.get("/v1/units/GL00000007/grade").json()
        assert grade["kind"] == "glass"
        assert (grade["grade"], grade["accepted"]) == ("second", False)
        assert grade["detail"]["bubbles"] == 2
        assert grade["facts"] == [["bubbles", "2 (limit 1)"]]

        first_bubble = inspection["defects"][0]["id"]
        decided = client.post(f"/v1/defects/{first_bubble}/review", json={"decision": "reject"})
        assert decided.status_code == 201, decided.text
        regraded = client.get("/v1/units/GL00000007/grade").json()
    assert (regraded["grade"], regraded["accepted"]) == ("first", True)
