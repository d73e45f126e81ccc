"""Pass audits on the line: the passed units of the sample keep their frame, marked for a person to audit."""

from __future__ import annotations

import itertools

from insp_helpers import TableDetector, truth_table

from linecheck.audit import sampled
from linecheck.config import LineConfig
from linecheck.datasets.synth import iter_units
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind


def test_the_sampled_passed_units_keep_their_frames_and_say_so(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    data = lines["pv-01"].model_dump(mode="json")
    line = LineConfig.model_validate({**data, "audit": {"pass_sample": 0.5}})
    units = list(itertools.islice(iter_units("pv", seed=11, line=line), 24))
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, truth_table(line, seed=11, units=24))},
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=11&units=24&rate=0")],
    )
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    assert svc.outbox is not None
    rows = {r.payload["code"]: r for r in svc.outbox.rows()}
    counted = svc.status()["lines"]["pv-01"]["audit_samples"]
    metric = svc.metrics.registry.get_sample_value(
        "linecheck_inspector_audit_samples_total", {"line": "pv-01", "reason": "sample"}
    )
    svc.stop()
    assert sorted(rows) == sorted(u.code for u in units)
    passed = [code for code, row in rows.items() if row.payload["verdict"] == "pass"]
    expected = {code for code in passed if sampled(line.audit, line.id, code)}
    assert 0 < len(expected) < len(passed)  # a share of them, not all or none
    assert counted == {"sample": len(expected)} and metric == len(expected)
    for code, row in rows.items():
        audit = row.payload.get("audit_sample")
        assert audit is (True if code in expected else None), code
        if row.payload["verdict"] == "pass":  # a passed frame is uploaded only when it is in the sample
            assert bool(row.image_refs) is (code in expected), code
            assert (row.payload.get("image_ref") is not None) is (code in expected)
        else:
            assert row.image_refs  # failed frames are kept as before


def test_a_line_without_audit_uploads_no_passed_frame(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    line = lines["pv-01"]
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV)},  # knows no frame: every one passes
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=11&units=6&rate=0")],
    )
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    assert svc.outbox is not None
    rows = svc.outbox.rows()
    svc.stop()
    assert len(rows) == 6 and all(r.payload["verdict"] == "pass" for r in rows)
    assert all(not r.image_refs and "audit_sample" not in r.payload for r in rows)


def test_a_passed_frame_with_a_detection_just_under_its_threshold_is_kept_as_a_near_miss(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    data = lines["pv-01"].model_dump(mode="json")
    # the detector's 0.9 is under a 0.95 threshold: every drawn defect passes, 0.05 short of failing
    line = LineConfig.model_validate(
        {**data, "thresholds": {"default": 0.95}, "audit": {"pass_sample": 0.0, "borderline": 0.1}}
    )
    units = list(itertools.islice(iter_units("pv", seed=11, line=line), 8))
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, truth_table(line, seed=11, units=8), confidence=0.9)},
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=11&units=8&rate=0")],
    )
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    assert svc.outbox is not None
    rows = {r.payload["code"]: r for r in svc.outbox.rows()}
    svc.stop()
    drawn = {u.code for u in units if any(len(f.boxes) for f in u.frames)}
    assert drawn and drawn != set(rows)  # some units have defects drawn, some not
    for code, row in rows.items():
        assert row.payload["verdict"] == "pass" and "audit_sample" not in row.payload
        assert row.payload.get("audit_borderline") is (True if code in drawn else None), code
        assert bool(row.image_refs) is (code in drawn)  # only the near misses' frames are uploaded
