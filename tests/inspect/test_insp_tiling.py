"""Wide line-scan fabric frames through real Triton and the inspector, on native tiles.

An anomaly model is trained on good 4096 x 256 line-scan frames with ``--tile 256`` (the training
task itself), served by the session's embedded Triton, and run by a line whose YAML sets no
``tile:`` (the served card's tile is used). A frame's 19 tiles reach Triton as one batch (Triton's
own statistics), and defects painted into a frame come back from the inspector at their place on
the roll in metres: one inside a tile, one straddling two tiles as one defect.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from linecheck.config import CameraConfig, LineConfig, ModelRef
from linecheck.datasets.synth.line_scan import line_scan_frames
from linecheck.inspect.detectors import triton_factories
from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.triggers import TriggerBoard
from linecheck.model.registry import ModelVersion
from linecheck.model.tiling import TiledDetector, tile_origins
from linecheck.serving.triton.client import TritonDetector
from linecheck.serving.triton.repository import RepositoryOptions, add_model_version
from linecheck.training.anomaly import AnomalyOptions, train_anomaly
from linecheck.training.targets import Target

pytestmark = [pytest.mark.slow, pytest.mark.triton]

MODEL = "fabric-ls-anomaly"
WIDTH, HEIGHT, TILE = 4096, 256, 256
#: Metres per pixel across (1.6 m of fabric over 4096 px) and along (0.1 m per 256-row frame).
ACROSS_M, ALONG_M = 1.6 / WIDTH, 0.1 / HEIGHT
#: Inside tile 2 only (448-704).
INSIDE = (600, 40, 640, 80)
#: Across the seam of tile 8 (1792-2048) and tile 9 (2016-2272): each sees a piece, cut at its edge.
STRADDLING = (1980, 100, 2090, 150)


def _paint_hole(image: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x1, y1, x2, y2 = box
    centre, axes = ((x1 + x2) // 2, (y1 + y2) // 2), ((x2 - x1) // 2, (y2 - y1) // 2)
    cv2.ellipse(image, centre, axes, 0, 0, 360, (18, 14, 12), thickness=-1)


@pytest.fixture(scope="module")
def served(triton_server, triton_repository, registry, tmp_path_factory) -> ModelVersion:
    """The anomaly model trained on good line-scan frames (--tile 256), loaded with room for 32 tiles."""
    work = tmp_path_factory.mktemp("line-scan")
    good = work / "good"
    good.mkdir()
    for frame in line_scan_frames(seed=21, count=6, width=WIDTH, height=HEIGHT):
        cv2.imwrite(str(good / f"{frame.index:03d}.png"), frame.image)
    target = Target(
        name=MODEL, kind="textile", classes=("anomaly",), thresholds={"anomaly": 0.5}, line_id=None
    )
    version, _, _ = train_anomaly(
        target,
        good,
        AnomalyOptions(imgsz=TILE, tile=TILE, coreset=512),
        registry=registry,
        command="test",
        runs_dir=work / "runs",
        promote="production",
    )
    options = RepositoryOptions(max_batch_size=32, preferred_batch_sizes=(32,), max_queue_delay_us=0)
    add_model_version(triton_repository, version, options)
    triton_server.load(MODEL)
    return version


def _stats(server) -> dict:
    reply = httpx.get(f"http://{server.http_url}/v2/models/{MODEL}/stats", timeout=10)
    reply.raise_for_status()
    (stats,) = reply.json()["model_stats"]
    return {
        "requests": stats["inference_stats"]["success"]["count"],
        "images": stats["inference_count"],
        "executions": stats["execution_count"],
        "batches": {b["batch_size"]: b["compute_infer"]["count"] for b in stats.get("batch_stats", [])},
    }


def test_the_tiles_of_a_wide_frame_reach_triton_as_one_batch(served, triton_server) -> None:
    (frame,) = line_scan_frames(seed=21, count=1, width=WIDTH, height=HEIGHT)
    tiles = len(tile_origins(WIDTH, HEIGHT, TILE, overlap=32))
    with TritonDetector(MODEL, url=triton_server.grpc_url, expected_classes=["anomaly"]) as remote:
        assert remote.native_tile == TILE == served.card.native_tile  # the card's tile, as served
        tiled = TiledDetector(remote, tile=remote.native_tile)
        before = _stats(triton_server)
        (found,) = tiled.detect([frame.image])
        after = _stats(triton_server)
    assert tiles == 19
    assert after["requests"] - before["requests"] == 1
    assert after["executions"] - before["executions"] == 1
    assert after["images"] - before["images"] == tiles
    assert after["batches"].get(tiles, 0) - before["batches"].get(tiles, 0) == 1
    assert len(found) == 0, "a training frame is good"


def test_defects_in_tiles_of_a_line_scan_frame_land_at_their_place_on_the_roll(
    served, triton_server, settings: InspectorSettings, tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    shots = list(line_scan_frames(seed=21, count=8, width=WIDTH, height=HEIGHT))[6:]  # not trained on
    good, defective = shots[0].image, shots[1].image.copy()
    _paint_hole(defective, INSIDE)
    _paint_hole(defective, STRADDLING)
    cv2.imwrite(str(frames / "000.png"), good)
    cv2.imwrite(str(frames / "001.png"), defective)
    line = LineConfig(
        id="fabric-ls",
        kind="textile",
        classes=["anomaly"],
        thresholds={"anomaly": 0.5},
        code_source="trigger",
        speed_m_per_min=6.0,  # 0.1 m a second: one frame length per frame at 1 fps
        cameras=[CameraConfig(station="ls1", width=WIDTH, height=HEIGHT, fps=1.0)],
        model=ModelRef(name=MODEL),  # no tile: the served card's
        textile={"roll_width_m": 1.6, "frame_width_m": 1.6, "frame_length_m": 0.1, "roll_length_m": 5.0},
    )
    board = TriggerBoard()
    seen: list[tuple[InspectionResult, InferredFrame]] = []
    service = InspectorService(
        [line],
        detectors=triton_factories([line], url=triton_server.grpc_url, timeout_s=60),
        settings=settings.model_copy(update={"infer_timeout_s": 90.0, "deadline_s": 180.0}),
        client=None,
        sources=[SourceSpec(line_id=line.id, station="ls1", uri=str(frames))],
        board=board,
        observers=[lambda result, inferred: seen.append((result, inferred))],
    )
    board.set(line.id, "RL0000000042")
    service.start()
    try:
        assert service.wait_sources(60) and service.drain(180)
    finally:
        service.stop()

    first, second = sorted((r for r, _ in seen), key=lambda r: r.frame_seq)
    assert (first.code, first.verdict.value, first.roll_offset_m) == ("RL0000000042", "pass", 0.0)
    assert second.verdict.value == "fail" and second.roll_offset_m == pytest.approx(0.1)
    for painted in (INSIDE, STRADDLING):
        x1, y1, x2, y2 = painted
        (defect,) = [d for d in second.defects if d.bbox[0] < x2 and d.bbox[2] > x1]
        assert defect.class_name == "anomaly"
        # the box covers the painted hole (a piece cut at a tile edge would stop at 2016 or 2048)
        bx1, _, bx2, _ = defect.bbox
        assert bx1 <= x1 + 8 and bx2 >= x2 - 8, (defect.bbox, painted)
        loc = defect.location
        assert loc["across_m"] == pytest.approx((x1 + x2) / 2 * ACROSS_M, abs=0.01)
        assert loc["along_m"] == pytest.approx(0.1 + (y1 + y2) / 2 * ALONG_M, abs=0.01)
        assert loc["width_m"] >= (x2 - x1 - 16) * ACROSS_M and loc["length_m"] >= (y2 - y1 - 16) * ALONG_M
    assert len(second.defects) == 2
