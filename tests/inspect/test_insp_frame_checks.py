"""A lamp that fails, a lens out of focus: such frames are not inspected, never judged and passed.

The whole inspector with the real API; the synthetic camera images some units dark (``dark=N``) or
blurred (``blurred=N``). The test detector finds nothing in an image it does not know, so without the
checks those units would pass: the second test shows it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import yaml
from insp_helpers import LiveApi, TableDetector, truth_table
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.config import LineConfig
from linecheck.datasets.synth.camera import SyntheticSource
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.frame_source import SourceContext
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind

URI = "synth://bearing?seed=5&units=6&rate=0&dark=3&blurred=5"  # units 3 and 6 dark, unit 5 blurred


def _line(lines: dict[str, LineConfig], checks: dict[str, Any]) -> LineConfig:
    base = lines["bearing-01"].model_dump(mode="json")
    camera = {**base["cameras"][0], "checks": checks}
    return LineConfig.model_validate({**base, "cameras": [camera]})


def _run(
    line: LineConfig, settings: InspectorSettings, api: LiveApi
) -> tuple[dict, TableDetector, dict[str, float | None]]:
    detector = TableDetector(Kind.BEARING, truth_table(line, seed=5, units=6))
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: detector},
        settings=settings,
        client=ApiClient(api.url, api.line_key),
        sources=[SourceSpec(line_id=line.id, station="face", uri=URI)],
    )
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60) and svc.wait_delivered(30)
    status = svc.status()
    sample = svc.metrics.registry.get_sample_value
    labels = {"line": line.id, "station": "face"}
    metrics = {
        **{
            check: sample("linecheck_inspector_frame_check_failures_total", {**labels, "check": check})
            for check in ("brightness", "sharpness")
        },
        "level": sample("linecheck_inspector_frame_quality", {**labels, "measure": "brightness"}),
        "refused": sample(
            "linecheck_inspector_frames_not_inspected_total", {"line": line.id, "cause": "frame_check"}
        ),
    }
    svc.stop()
    return status, detector, metrics


def test_dark_and_blurred_frames_are_not_inspected_naming_the_check(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    line = _line(lines, {"min_sharpness": 50, "frozen_frames": 2})
    status, detector, metrics = _run(line, settings, live_api)
    stored = sorted(live_api.inspections(line_id="bearing-01"), key=lambda i: i["frame_seq"])
    assert len(stored) == 6
    refused = {i["frame_seq"]: i["reason"] for i in stored if i["verdict"] == "not_inspected"}
    assert sorted(refused) == [stored[2]["frame_seq"], stored[4]["frame_seq"], stored[5]["frame_seq"]]
    for unit in (2, 5):
        reason = refused[stored[unit]["frame_seq"]]
        assert reason.startswith("frame check: too dark: mean level ") and "(checks.brightness)" in reason
        assert "flat frame: contrast" in reason
    assert "out of focus: sharpness " in refused[stored[4]["frame_seq"]]
    assert all(i["image_ref"] for i in stored)  # the refused frame is kept for a person to look at
    assert {i["verdict"] for i in stored if i["frame_seq"] not in refused} <= {"pass", "fail"}
    assert sum(detector.calls) == 3  # a refused frame never reaches the model

    bearing = status["lines"]["bearing-01"]
    assert bearing["not_inspected_causes"] == {"frame_check": 3}
    face = bearing["cameras"]["face"]
    assert face["frame_checks_failed"] == {
        "brightness": 2,
        "contrast": 2,
        "sharpness": 1,
    }  # dark: not blurred
    assert face["last_frame"]["brightness"] < 4  # unit 6 was dark
    assert metrics["brightness"] == 2 and metrics["sharpness"] == 1 and metrics["refused"] == 3
    assert metrics["level"] is not None and metrics["level"] < 4


def test_without_the_checks_a_dark_frame_passes(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    """What the checks prevent: the model sees nothing in a black frame, so the unit passes."""
    status, detector, _metrics = _run(_line(lines, {"enabled": False}), settings, live_api)
    stored = sorted(live_api.inspections(line_id="bearing-01"), key=lambda i: i["frame_seq"])
    assert [i["verdict"] for i in (stored[2], stored[5])] == ["pass", "pass"]
    assert (
        sum(detector.calls) == 6
        and "frame_check" not in status["lines"]["bearing-01"]["not_inspected_causes"]
    )


def test_check_frames_measures_a_folder_and_suggests_checks_that_refuse_the_faults(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    good, faulty = tmp_path / "good", tmp_path / "faulty"
    good.mkdir()
    faulty.mkdir()
    line = lines["bearing-01"]
    source = SyntheticSource(URI, SourceContext(line=line, station="face"))
    while (frame := source.read()) is not None:
        folder = faulty if frame.meta["fault"] else good
        cv2.imwrite(str(folder / f"{frame.seq:03d}-{frame.meta['fault'] or 'ok'}.png"), frame.image)
    runner = CliRunner()
    result = runner.invoke(app, ["lines", "check-frames", str(good), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["frames"] == 3 and report["failed"] == []
    suggested = report["suggested_checks"]
    assert suggested["min_sharpness"] > 50 and suggested["frozen_frames"] == 2
    baseline = suggested["baseline"]  # the good frames' medians, for the drift watch
    assert baseline["brightness"] == round(report["measures"]["brightness"]["median"], 2)
    assert baseline["tolerance"] == 0.2 and baseline["sharpness"] is None  # scene-dependent: not by default
    lo, hi = suggested["brightness"]
    assert lo < report["measures"]["brightness"]["min"] <= report["measures"]["brightness"]["max"] < hi

    yaml_path = tmp_path / "bearing-01.yaml"
    data = line.model_dump(mode="json")
    data["cameras"][0]["checks"] = suggested
    yaml_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    for image in sorted(good.iterdir()):  # a good frame saved twice in a row: a frozen camera
        (faulty / f"{image.stem}-again.png").write_bytes(image.read_bytes())
        (faulty / f"{image.stem}-bgain.png").write_bytes(image.read_bytes())
    result = runner.invoke(app, ["lines", "check-frames", str(faulty), "--line", str(yaml_path), "--json"])
    assert result.exit_code == 1, result.output
    failed = {row["file"]: " ".join(row["problems"]) for row in json.loads(result.output)["failed"]}
    assert {name for name in failed if "dark" in name or "blurred" in name} == {
        p.name for p in faulty.iterdir() if "ok" not in p.name
    }
    assert "too dark" in failed["002-dark.png"] and "out of focus" in failed["004-blurred.png"]
    frozen = [name for name, text in failed.items() if "frozen camera" in text]
    assert len(frozen) == 3 and all(name.endswith("-bgain.png") for name in frozen)

    result = runner.invoke(app, ["lines", "check-frames", str(tmp_path / "none")])
    assert (
        result.exit_code != 0
        and "frames=" in result.output
        and "expected a folder of images" in result.output
    )


def test_a_camera_drifting_from_its_baseline_is_reported_while_its_frames_are_judged(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path, caplog: Any
) -> None:
    import logging

    import numpy as np

    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(3)
    board = ((np.indices((240, 320)) // 32).sum(axis=0) % 2) * 60.0 - 30
    for i in range(80):  # 40 frames as calibrated, then the lamp loses a third of its light
        level = 110 if i < 40 else 110 - (i - 39) * 1.2
        grey = np.clip(level + board + rng.normal(0, 8, board.shape), 0, 254).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:03d}.png"), grey)
    base = lines["bearing-01"].model_dump(mode="json")
    checks = {"brightness": [10, 250], "baseline": {"brightness": 110, "window": 20, "tolerance": 0.2}}
    camera = {**base["cameras"][0], "checks": checks}
    line = LineConfig.model_validate({**base, "cameras": [camera], "code_source": "trigger"})
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: TableDetector(Kind.BEARING)},
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="face", uri=str(folder))],
    )
    with caplog.at_level(logging.WARNING, logger="linecheck.inspect.stages"):
        svc.start()
        assert svc.wait_sources(60) and svc.drain(60)
        status = svc.status()["lines"][line.id]
        sample = svc.metrics.registry.get_sample_value
        labels = {"line": line.id, "station": "face", "measure": "brightness"}
        drifting, change = (
            sample("linecheck_inspector_frame_drifting", labels),
            sample("linecheck_inspector_frame_drift", labels),
        )
        svc.stop()
    drift = status["cameras"]["face"]["drift"]["brightness"]
    assert drift["drifting"] is True and drift["baseline"] == 110 and drift["change"] < -0.2
    assert drifting == 1 and change is not None and change < -0.2
    assert status["verdicts"].get("not_inspected", 0) == 0  # every frame judged: a warning, not a refusal
    warnings = [r.getMessage() for r in caplog.records if "brightness drifting" in r.getMessage()]
    assert len(warnings) == 1 and "check the lighting" in warnings[0]  # once, when it starts


def _dark_rings(folder: Path, n: int = 6) -> None:
    import numpy as np

    folder.mkdir()
    rng = np.random.default_rng(4)
    board = ((np.indices((240, 320)) // 32).sum(axis=0) % 2) * 30.0 - 15
    for i in range(n):  # a black-oxide ring: a mean grey level near 45, textured, in focus
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.clip(45 + board + rng.normal(0, 6, board.shape), 0, 255))


def _product_line(lines: dict[str, LineConfig], **extra: Any) -> LineConfig:
    base = lines["bearing-01"].model_dump(mode="json")
    camera = {**base["cameras"][0], "checks": {"brightness": [80, 240]}}  # calibrated on bright rings
    products = [{"id": "black-oxide", "checks": {"face": {"brightness": [15, 120]}}}, {"id": "bright"}]
    return LineConfig.model_validate(
        {**base, "cameras": [camera], "code_source": "trigger", "products": products, **extra}
    )


def test_a_products_frame_checks_judge_its_frames_while_the_line_is_on_it(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path
) -> None:
    """A darker product's frames: refused by checks calibrated on a bright one, judged under its own."""
    _dark_rings(tmp_path / "frames")
    refused = {}
    for on in (None, "black-oxide"):
        line = _product_line(lines, default_product=on)
        svc = InspectorService(
            [line],
            detectors={"bearing": lambda: TableDetector(Kind.BEARING)},
            settings=settings.model_copy(update={"inspector_dir": tmp_path / f"insp-{on}"}),
            client=None,
            sources=[SourceSpec(line_id=line.id, station="face", uri=str(tmp_path / "frames"))],
        )
        svc.start()
        assert svc.wait_sources(60) and svc.drain(60)
        status = svc.status()["lines"][line.id]
        svc.stop()
        refused[on] = status["not_inspected_causes"].get("frame_check", 0)
        assert status["cameras"]["face"]["checks_product"] == on  # what the operator's status shows
    assert refused == {None: 6, "black-oxide": 0}


def test_a_changeover_switches_the_cameras_checks_for_the_frames_read_after_it(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    import threading

    from linecheck.frame_checks import META_KEY
    from linecheck.inspect.metrics import InspectorMetrics
    from linecheck.inspect.stages import SourceWorker
    from linecheck.inspect.workers import Channel

    _dark_rings(tmp_path / "frames", n=4)
    line = _product_line(lines)
    source = SyntheticSource("synth://bearing?units=1", SourceContext(line=line, station="face"))
    on: list[str | None] = [None]
    worker = SourceWorker(
        source=source,
        out=Channel("frames", 4),
        metrics=InspectorMetrics(),
        stop=threading.Event(),
        product=lambda: on[0],
    )
    frames = [source.frame(cv2.imread(str(f))) for f in sorted((tmp_path / "frames").iterdir())]

    def failed(frame: Any) -> list[str]:
        return [name for name, _text in worker.check(frame).meta[META_KEY].found]

    assert "brightness" in failed(frames[0])  # the bright product's range
    on[0] = "black-oxide"  # the PLC's changeover
    assert failed(frames[1]) == []
    assert worker.checker.checks.brightness == (15.0, 120.0) and worker.checks_product == "black-oxide"
    on[0] = "bright"
    assert "brightness" in failed(frames[2])


def test_check_frames_checks_a_products_frames_with_its_checks(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    _dark_rings(tmp_path / "frames")
    yaml_path = tmp_path / "bearing-01.yaml"
    yaml_path.write_text(yaml.safe_dump(_product_line(lines).model_dump(mode="json")), encoding="utf-8")
    runner = CliRunner()
    base = ["lines", "check-frames", str(tmp_path / "frames"), "--line", str(yaml_path), "--json"]
    assert runner.invoke(app, base).exit_code == 1  # the line's own checks refuse the black rings
    result = runner.invoke(app, [*base, "--product", "black-oxide"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["failed"] == []
    result = runner.invoke(app, [*base, "--product", "6300"])
    assert result.exit_code != 0 and "product='6300'" in result.output
    result = runner.invoke(
        app, ["lines", "check-frames", str(tmp_path / "frames"), "--product", "black-oxide"]
    )
    assert result.exit_code != 0 and "--product 'black-oxide': give the line" in result.output


def test_a_unit_whose_code_names_another_product_is_checked_with_that_products_checks(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path
) -> None:
    """A mixed-model line: the line is on no product, and each unit's code says which it is."""
    _dark_rings(tmp_path / "rings", n=2)
    folder = tmp_path / "rings"
    (folder / "000.png").rename(folder / "BR7700000001.png")  # a black-oxide ring, by its code
    (folder / "001.png").rename(folder / "BR0000000002.png")  # a bright ring's code on a dark frame
    base = _product_line(lines).model_dump(mode="json")
    base["products"][0]["code_pattern"] = "BR77\\d{8}"
    line = LineConfig.model_validate({**base, "code_source": "frame"})
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: TableDetector(Kind.BEARING)},
        settings=settings.model_copy(update={"inspector_dir": tmp_path / "insp"}),
        client=None,
        sources=[
            SourceSpec(line_id=line.id, station="face", uri=f"watch://{folder}?code=name&settle=0&idle=1")
        ],
    )
    seen: list[tuple[str | None, str | None, str]] = []
    svc.observers.append(lambda r, _i: seen.append((r.code, r.product, r.verdict.value)))
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    sample = svc.metrics.registry.get_sample_value
    failures = sample(
        "linecheck_inspector_frame_check_failures_total",
        {"line": line.id, "station": "face", "check": "brightness"},
    )
    svc.stop()
    assert sorted(seen) == [
        ("BR0000000002", None, "not_inspected"),  # the line's own checks: too dark
        ("BR7700000001", "black-oxide", "pass"),  # its product's checks: a usable frame
    ]
    assert failures == 1  # counted once, as the unit's product decided
