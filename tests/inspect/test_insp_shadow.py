"""Shadow models: a candidate judges the line's frames beside production, compared, never acted on."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from insp_helpers import LiveApi, TableDetector, Truth, bearing_result, truth_table
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.config import LineConfig, load_line
from linecheck.errors import ConfigError
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.shadow import (
    DISAGREEMENTS_FILE,
    SUMMARY_FILE,
    ShadowLog,
    ShadowSpec,
    read_summaries,
    shadow_dir,
)
from linecheck.kinds import Kind
from linecheck.model.registry import served_name

URI = "synth://bearing?seed=5&units=6&rate=0"
LABEL = "bearing@staging"


def _candidate_table(table: dict[str, Truth]) -> dict[str, Truth]:
    """The production truth with the first defective frame missed and a dent put on the first good one."""
    candidate = dict(table)
    missed = next(key for key, (boxes, _ids) in table.items() if len(boxes))
    flagged = next(key for key, (boxes, _ids) in table.items() if not len(boxes))
    candidate[missed] = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    candidate[flagged] = (np.array([[300, 60, 340, 100]], np.float32), np.array([1], np.int64))
    return candidate


def _run(
    lines: dict[str, LineConfig],
    settings: InspectorSettings,
    api: LiveApi | None,
    shadow: TableDetector,
) -> tuple[dict[str, Any], dict[str, float | None]]:
    line = lines["bearing-01"]
    production = TableDetector(Kind.BEARING, truth_table(line, seed=5, units=6))
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: production},
        settings=settings,
        client=ApiClient(api.url, api.line_key) if api else None,
        sources=[SourceSpec(line_id=line.id, station="face", uri=URI)],
        shadows={line.id: [ShadowSpec(LABEL, lambda: shadow)]},
    )
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    if api is not None:
        assert svc.wait_delivered(30)
    status = svc.status()
    sample = svc.metrics.registry.get_sample_value
    metrics = {
        outcome: sample(
            "linecheck_inspector_shadow_frames_total", {"line": line.id, "shadow": LABEL, "outcome": outcome}
        )
        for outcome in ("both_pass", "both_fail", "production_only", "shadow_only")
    }
    svc.stop()
    return status, metrics


def test_a_shadow_model_is_compared_frame_by_frame_and_never_acted_on(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    table = truth_table(lines["bearing-01"], seed=5, units=6)
    candidate = _candidate_table(table)
    status, metrics = _run(lines, settings, live_api, TableDetector(Kind.BEARING, candidate))

    stored = live_api.inspections(line_id="bearing-01")
    defective = sum(bool(len(boxes)) for boxes, _ids in table.values())
    assert len(stored) == 6 and sum(i["verdict"] == "fail" for i in stored) == defective  # production's
    shadow = status["lines"]["bearing-01"]["shadow"][LABEL]
    assert shadow["state"] == "stopped" and shadow["model_version"] == "7"  # the status after the drain
    assert shadow["compared"] == 6 and shadow["production_only"] == 1 and shadow["shadow_only"] == 1
    assert shadow["both_fail"] == defective - 1 and shadow["both_pass"] == 6 - defective - 1
    assert {k: v or 0 for k, v in metrics.items()} == {
        "both_pass": 6 - defective - 1,
        "both_fail": defective - 1,
        "production_only": 1,
        "shadow_only": 1,
    }

    folder = shadow_dir(settings.inspector_dir, "bearing-01", LABEL)
    summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert {k: summary[k] for k in ("compared", "production_only", "shadow_only")} == {
        "compared": 6,
        "production_only": 1,
        "shadow_only": 1,
    }
    rows = [json.loads(r) for r in (folder / DISAGREEMENTS_FILE).read_text(encoding="utf-8").splitlines()]
    assert sorted(r["outcome"] for r in rows) == ["production_only", "shadow_only"]
    by_id = {i["id"]: i for i in stored}
    for row in rows:
        api_row = by_id[row["inspection_id"]]  # the disagreement names the unit the API recorded
        assert row["production"]["verdict"] == api_row["verdict"] != row["shadow"]["verdict"]
        assert row["code"] == api_row["code"] and (folder / row["image"]).is_file()
    flagged = next(r for r in rows if r["outcome"] == "shadow_only")
    assert [d["class_name"] for d in flagged["shadow"]["defects"]] == ["dent"]

    runner = CliRunner()
    result = runner.invoke(
        app, ["models", "shadow", "--inspector-dir", str(settings.inspector_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [(s["line_id"], s["shadow"], s["compared"]) for s in json.loads(result.output)] == [
        ("bearing-01", LABEL, 6)
    ]
    result = runner.invoke(
        app, ["models", "shadow", "--inspector-dir", str(settings.inspector_dir)], terminal_width=200
    )
    assert result.exit_code == 0 and "66.7%" in result.output and "disagreements.jsonl" in result.output


def test_a_failing_or_slow_shadow_never_touches_the_line(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path
) -> None:
    broken = threading.Event()
    broken.set()
    status, _ = _run(lines, settings, None, TableDetector(Kind.BEARING, broken=broken))
    line = status["lines"]["bearing-01"]
    assert line["verdicts"].get("not_inspected", 0) == 0 and sum(line["verdicts"].values()) == 6
    shadow = line["shadow"][LABEL]
    assert shadow["compared"] == 0 and sum(shadow["skipped"].values()) == 6
    assert "server down" in shadow["last_error"]

    slow = settings.model_copy(update={"queue_size": 1, "inspector_dir": tmp_path / "slow"})
    status, _ = _run(lines, slow, None, TableDetector(Kind.BEARING, delay_s=0.4))
    line = status["lines"]["bearing-01"]
    shadow = line["shadow"][LABEL]
    assert sum(line["verdicts"].values()) == 6 and line["verdicts"].get("not_inspected", 0) == 0
    assert shadow["skipped"].get("queue_full", 0) >= 1  # skipped and counted, the line never waited
    assert shadow["compared"] + shadow["skipped"]["queue_full"] == 6


def test_the_log_keeps_counting_across_restarts_and_starts_afresh_for_a_new_version(tmp_path: Path) -> None:
    folder = tmp_path / "shadow"
    log = ShadowLog(folder, line_id="bearing-01", label=LABEL, keep_images=1)
    log.version("4")
    good, bad = bearing_result(seq=1), bearing_result(seq=2, defects=1)
    assert log.compared(good, good) == "both_pass"
    assert log.compared(good, bad) == "shadow_only"
    assert log.compared(bad, good) == "production_only"
    log.flush()
    assert len(list((folder / "images").iterdir())) == 1  # keep_images=1
    rows = (folder / DISAGREEMENTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["image"] is not None for r in rows] == [True, False]

    again = ShadowLog(folder, line_id="bearing-01", label=LABEL, keep_images=1)
    again.version("4")
    again.compared(bad, bad)
    again.flush()
    assert again.snapshot()["compared"] == 4 and again.snapshot()["both_fail"] == 1
    again.version("5")
    assert again.snapshot()["compared"] == 0 and again.snapshot()["model_version"] == "5"
    archived = json.loads((folder / "summary.4.json").read_text(encoding="utf-8"))
    assert archived["compared"] == 4 and archived["model_version"] == "4"
    assert [s["shadow"] for s in read_summaries(tmp_path)] == []  # not under <dir>/shadow/<line>/<label>


def test_a_line_yaml_names_its_shadows_and_bad_ones_are_refused(tmp_path: Path) -> None:
    def line(shadow: list[dict[str, Any]]) -> LineConfig:
        path = tmp_path / "b.yaml"
        data = {"id": "b-1", "kind": "bearing", "model": {"name": "bearing"}, "shadow": shadow}
        path.write_text(json.dumps(data), encoding="utf-8")
        return load_line(path)

    ok = line([{"name": "bearing", "version": "staging"}, {"name": "bearing-v2"}])
    assert [(r.name, r.version) for r in ok.shadow] == [("bearing", "staging"), ("bearing-v2", "production")]
    with pytest.raises(ConfigError, match="shadow bearing@production is the line's own model"):
        line([{"name": "bearing"}])
    with pytest.raises(ConfigError, match="shadow bearing@4 is listed twice"):
        line([{"name": "bearing", "version": "4"}, {"name": "bearing", "version": "4"}])
    assert served_name("bearing") == "bearing" and served_name("bearing", "staging") == "bearing--staging"
    assert served_name("bearing", 4) == "bearing--4"


def test_shadow_specs_build_each_lines_candidates_from_the_registry(lines: dict[str, LineConfig]) -> None:
    from linecheck.datasets.synth import iter_units
    from linecheck.inspect.detectors import shadow_specs

    base = lines["bearing-01"].model_dump(mode="json")
    line = LineConfig.model_validate({**base, "shadow": [{"name": "bearing", "version": "1"}]})
    specs = shadow_specs([line, lines["pv-01"]], "onnx")
    assert list(specs) == ["bearing-01"] and [s.label for s in specs["bearing-01"]] == ["bearing@1"]
    detector = specs["bearing-01"][0].factory()
    try:
        frame = next(iter_units("bearing", seed=1, line=line)).frames[0].image
        (answer,) = detector.detect([frame])
        assert str(detector.model_version) == "1" and answer.class_names == tuple(line.classes)
    finally:
        detector.close()
    with pytest.raises(ConfigError, match="runtime='gpu'"):
        shadow_specs([line], "gpu")  # type: ignore[arg-type]
