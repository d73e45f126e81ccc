"""Challenge parts on the line: the inspector says at once whether the station judged them as it must."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import httpx
import pytest
from insp_helpers import LiveApi, TableDetector, truth_table, wait_until
from lc_challenge import RABBIT, challenge_lines, part_inspection

from linecheck.config import LineConfig, load_line
from linecheck.datasets.synth import iter_units
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.outputs.opcua_client import OpcUaWatcher
from linecheck.inspect.outputs.peers import free_port
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind
from linecheck.serving.store.testing import copy_sqlite

ROOT = Path(__file__).resolve().parents[2]


def test_a_challenge_part_judged_wrong_is_reported_at_once(
    lines: dict[str, LineConfig], settings: InspectorSettings, caplog: pytest.LogCaptureFixture
) -> None:
    base = lines["bearing-01"]
    units = list(itertools.islice(iter_units("bearing", seed=5, line=base), 6))
    defective = next(u for u in units if any(len(f.boxes) for f in u.frames))
    good = next(u for u in units if not any(len(f.boxes) for f in u.frames))
    verification = {
        "every_h": 8,
        "parts": [
            {"code": defective.code, "expect": "pass"},  # the station rejects it: the expectation is missed
            {"code": good.code, "expect": "pass"},
        ],
    }
    line = LineConfig.model_validate({**base.model_dump(mode="json"), "verification": verification})
    detector = TableDetector(Kind.BEARING, truth_table(line, seed=5, units=6))
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: detector},
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="face", uri="synth://bearing?seed=5&units=6&rate=0")],
    )
    with caplog.at_level(logging.ERROR, logger="linecheck.inspect.service"):
        svc.start()
        assert svc.wait_sources(60) and svc.drain(60)
        status = svc.status()
        sample = svc.metrics.registry.get_sample_value
        counts = {
            (code, outcome): sample(
                "linecheck_inspector_challenge_parts_total",
                {"line": line.id, "code": code, "outcome": outcome},
            )
            for code in (defective.code, good.code)
            for outcome in ("met", "missed")
        }
        svc.stop()
    parts = status["lines"]["bearing-01"]["challenge_parts"]
    assert sorted(parts) == sorted([defective.code, good.code])
    assert parts[good.code]["met"] is True and parts[good.code]["verdict"] == "pass"
    assert parts[defective.code]["met"] is False and parts[defective.code]["verdict"] == "fail"
    assert counts[(defective.code, "missed")] == 1 and counts[(good.code, "met")] == 1
    assert counts[(defective.code, "met")] is None and counts[(good.code, "missed")] is None
    assert any(
        f"challenge part {defective.code} was judged fail" in r.getMessage() for r in caplog.records
    )  # the operator's log names it


def test_the_line_pc_shows_the_apis_verification_to_the_operator_and_the_plc(
    lines: dict[str, LineConfig], settings: InspectorSettings, api_template: Path, tmp_path: Path
) -> None:
    folder = challenge_lines(tmp_path / "lines", master=False)
    line = _opcua(load_line(folder / "bearing-01.yaml"))
    api = LiveApi(
        copy_sqlite(api_template, tmp_path / "api" / "linecheck.db"),
        tmp_path / "api",
        free_port("127.0.0.1"),
        lines_dir=folder,
    )
    api.start()
    endpoint = f"opc.tcp://127.0.0.1:{free_port('127.0.0.1')}/linecheck"
    s = settings.model_copy(
        update={"verification_poll_s": 0.2, "opcua_endpoint": endpoint, "opcua_users": {"plc": "pw"}}
    )
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: TableDetector(Kind.BEARING)},
        settings=s,
        client=ApiClient(api.url, api.line_key),
        sources=[SourceSpec(line_id=line.id, station="face", uri="synth://bearing?seed=5&units=200&rate=2")],
    )
    svc.start()
    watcher = OpcUaWatcher(endpoint, [line.id], username="plc", password="pw").start()

    def state() -> str | None:
        answer = svc.status()["lines"][line.id]["verification"]
        return None if answer is None else answer["state"]

    def plc() -> tuple[str, bool]:
        return watcher.read(f"{line.id}.Verification.State"), watcher.read(f"{line.id}.Verification.Ok")

    def gauge() -> float | None:
        return svc.metrics.registry.get_sample_value(
            "linecheck_inspector_verification_state", {"line": line.id}
        )

    try:
        assert wait_until(lambda: state() == "due")  # never run
        assert wait_until(lambda: watcher.wait_connected(1) and plc() == ("due", False))
        _post(api, RABBIT, minutes_ago=10, scratch=True)
        assert wait_until(lambda: state() == "verified") and gauge() == 1.0
        assert wait_until(lambda: plc() == ("verified", True))
        _post(api, RABBIT, minutes_ago=1, scratch=False)  # the red rabbit passed
        assert wait_until(lambda: state() == "failed") and gauge() == -1.0
        assert wait_until(lambda: plc() == ("failed", False))
        failed = svc.status()["lines"][line.id]["verification"]
        assert "was judged pass, expected fail with scratch" in failed["problem"]
        assert failed["suspect_since"] == api_verification(api)["suspect_since"] is not None  # the last catch
        api.stop()  # the API gone: not known, the last answer kept beside the reason
        assert wait_until(lambda: state() == "unknown")
        answer = svc.status()["lines"][line.id]["verification"]
        assert answer["last_known"]["state"] == "failed" and answer["error"]
        assert wait_until(lambda: plc() == ("unknown", False))
    finally:
        watcher.stop()
        svc.stop(drain_timeout_s=10, deliver_timeout_s=0)
        api.stop()


def _opcua(line: LineConfig) -> LineConfig:
    outputs = {"reject_deadline_ms": 5000, "opcua": {"vision_system": "Rings"}}
    return LineConfig.model_validate({**line.model_dump(mode="json"), "outputs": outputs})


def _post(api: LiveApi, code: str, *, minutes_ago: float, scratch: bool) -> None:
    response = httpx.post(
        api.url + "/v1/inspections",
        json=part_inspection(code, minutes_ago=minutes_ago, scratch=scratch),
        headers={"Authorization": f"Bearer {api.line_key}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def api_verification(api: LiveApi, line_id: str = "bearing-01") -> dict[str, object]:
    """What the API answers of the line's verification (a viewer's read)."""
    response = httpx.get(
        f"{api.url}/v1/lines/{line_id}/verification",
        headers={"Authorization": f"Bearer {api.viewer_key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
