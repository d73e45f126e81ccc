"""Challenge parts on the line: the inspector says at once whether the station judged them as it must."""

from __future__ import annotations

import itertools
import logging

import pytest
from insp_helpers import TableDetector, truth_table

from linecheck.config import LineConfig
from linecheck.datasets.synth import iter_units
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind


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
