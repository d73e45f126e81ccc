"""The demo's textile line: its detector and the anomaly model trained from its good frames, through Triton.

The anomaly model (trained once per session, as ``linecheck demo`` trains it at its first start) is
served next to the starter detector by real embedded Triton; simulated rolls go through the
inspector to the real API, which must store ``anomaly`` defects with their heat maps, under the
union's model version, without failing the line's defect-free frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from demo_helpers import api_get, demo_line_stack, inspect_all

from linecheck.config import LineConfig, load_lines
from linecheck.inspect.demo_anomaly import ANOMALY_MODEL, with_anomaly_model, write_lines
from linecheck.inspect.demo_models import ModelTally
from linecheck.inspect.demo_stack import DemoStack
from linecheck.inspect.service import SourceSpec

pytestmark = [pytest.mark.slow, pytest.mark.triton]

ROOT = Path(__file__).resolve().parents[2]
ROLLS = 6  # of 4 frames each


@pytest.fixture(scope="module")
def textile_line(lines: dict[str, LineConfig]) -> LineConfig:
    short_rolls = lines["textile-01"].options.model_copy(update={"roll_length_m": 2.0})
    return with_anomaly_model(lines["textile-01"].model_copy(update={"options": short_rolls}))


@pytest.fixture(scope="module")
def stack(
    textile_line: LineConfig, demo_anomaly_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoStack]:
    workdir = tmp_path_factory.mktemp("demo-anomaly-stack")
    with demo_line_stack(textile_line, demo_anomaly_cache / "seed-1" / "models", workdir) as running:
        yield running


def test_written_demo_line_loads_with_the_anomaly_model_as_an_extra_model(
    textile_line: LineConfig, tmp_path: Path
) -> None:
    write_lines([textile_line], ROOT / "configs" / "lines", tmp_path)
    written = load_lines(tmp_path)
    assert set(written) == set(load_lines(ROOT / "configs" / "lines"))
    line = written["textile-01"]
    assert line.classes[-1] == "anomaly" and line.threshold("anomaly") == 0.5
    assert [m.name for m in line.extra_models] == [ANOMALY_MODEL] and line.extra_models[0].tile == 0


def test_demo_textile_line_stores_anomaly_defects_with_heat_maps(
    stack: DemoStack, textile_line: LineConfig, tmp_path: Path
) -> None:
    assert stack.models[ANOMALY_MODEL] == "1" and stack.model_classes[ANOMALY_MODEL] == ("anomaly",)
    tally = ModelTally({textile_line.id: [(m, stack.model_classes[m]) for m in ("textile", ANOMALY_MODEL)]})
    source = SourceSpec(
        line_id=textile_line.id, station="cam1", uri=f"synth://textile?seed=1&units={ROLLS}&rate=0"
    )
    inspect_all(stack, textile_line, source, tmp_path / "inspector", [tally.observe])

    headers = {"Authorization": f"Bearer {stack.viewer_key}"}
    stored = api_get(stack, "/v1/inspections", line_id=textile_line.id, limit=500)["items"]
    assert len(stored) == ROLLS * 4 and {s["verdict"] for s in stored} <= {"pass", "fail"}
    assert all(s["model_version"] == f"textile:2+{ANOMALY_MODEL}:1" for s in stored)
    failed = [s["id"] for s in stored if s["verdict"] == "fail"]
    defects = [
        d for inspection_id in failed for d in api_get(stack, f"/v1/inspections/{inspection_id}")["defects"]
    ]
    anomalies = [d for d in defects if d["class_name"] == "anomaly"]
    assert anomalies, "the anomaly model found nothing on the demo's defective frames"
    assert all(d["heatmap_ref"] and d["heatmap_ref"] != d["crop_ref"] for d in anomalies)
    assert all(d["heatmap_ref"] is None for d in defects if d["class_name"] != "anomaly")
    heat = httpx.get(f"{stack.api_url}/v1/images/{anomalies[0]['heatmap_ref']}", headers=headers, timeout=10)
    assert heat.status_code == 200 and heat.content[:2] == b"\xff\xd8"  # a JPEG
    figures = tally.summary()[textile_line.id][ANOMALY_MODEL]
    assert figures["frames"] == ROLLS * 4 and figures["defects"] == len(anomalies)
    assert figures["defective_frames_failed"] >= 1 and figures["good_frames_failed"] == 0
