"""Pass audits: which passed units are kept for a person, and the escape rate with its interval."""

from __future__ import annotations

import math

import pytest

from linecheck.audit import AuditConfig, escape_rate, sample_point, sampled
from linecheck.config import LineConfig, load_lines
from linecheck.contract import InspectionPayload, build
from linecheck.errors import InvalidFieldError


def test_the_sample_is_the_share_asked_for_and_the_same_on_every_run() -> None:
    config = AuditConfig(pass_sample=0.05)
    codes = [f"BR{i:010d}" for i in range(20_000)]
    chosen = [c for c in codes if sampled(config, "bearing-01", c)]
    assert abs(len(chosen) / len(codes) - 0.05) < 0.006  # binomial sd 0.0015
    assert chosen == [c for c in codes if sampled(AuditConfig(pass_sample=0.05), "bearing-01", c)]
    # another line samples other units; a larger share keeps every unit of the smaller one
    other = {c for c in codes if sampled(config, "bearing-02", c)}
    assert len(other & set(chosen)) < len(chosen) * 0.2
    assert set(chosen) <= {c for c in codes if sampled(AuditConfig(pass_sample=0.2), "bearing-01", c)}


def test_no_code_no_share_or_no_config_samples_nothing_and_one_samples_everything() -> None:
    assert not sampled(None, "pv-01", "PV000000000001")
    assert not sampled(AuditConfig(), "pv-01", "PV000000000001")
    assert not sampled(AuditConfig(pass_sample=1.0), "pv-01", None)
    assert all(sampled(AuditConfig(pass_sample=1.0), "pv-01", f"PV{i:012d}") for i in range(200))


def test_web_units_are_sampled_frame_by_frame() -> None:
    config = AuditConfig(pass_sample=0.1)
    frames = [sampled(config, "textile-01", "RL0000000001", seq) for seq in range(2000)]
    assert 0.07 < sum(frames) / len(frames) < 0.13  # a share of one roll's frames, not all or none
    assert 0.0 <= sample_point("textile-01", "RL0000000001", 3) < 1.0


@pytest.mark.parametrize(
    ("escapes", "audited", "low", "high"),
    [
        (0, 200, 0.0, 0.0188),  # no escape found in 200: the rate may still be up to 1.9 %
        (2, 200, 0.00275, 0.0357),
        (50, 100, 0.4038, 0.5962),
        (100, 100, 0.9630, 1.0),
    ],
)
def test_the_escape_rate_carries_its_wilson_interval(
    escapes: int, audited: int, low: float, high: float
) -> None:
    rate = escape_rate(escapes, audited)
    assert rate.rate == escapes / audited and (rate.audited, rate.escapes) == (audited, escapes)
    assert rate.low is not None and rate.high is not None
    assert math.isclose(rate.low, low, abs_tol=1e-4) and math.isclose(rate.high, high, abs_tol=1e-4)


def test_nothing_audited_has_no_rate_and_impossible_counts_are_refused() -> None:
    assert escape_rate(0, 0).rate is None and escape_rate(0, 0).high is None
    with pytest.raises(ValueError, match="escapes=3"):
        escape_rate(3, 2)


def test_the_line_yaml_takes_an_audit_share_in_range() -> None:
    line = load_lines()["bearing-01"]
    data = line.model_dump(mode="json")
    assert LineConfig.model_validate({**data, "audit": {"pass_sample": 0.02}}).audit == AuditConfig(
        pass_sample=0.02
    )
    for bad in ({"pass_sample": 1.5}, {"pass_sample": -0.1}, {"share": 0.1}):
        with pytest.raises(ValueError, match="audit"):
            LineConfig.model_validate({**data, "audit": bad})


def test_only_a_passed_unit_with_a_code_is_an_audit_sample() -> None:
    base = {
        "id": "a" * 32,
        "line_id": "bearing-01",
        "station": "face",
        "code": "BR0000000001",
        "code_status": "read",
        "captured_at": "2026-12-01T08:00:00+00:00",
        "model_name": "bearing",
        "model_version": "1",
        "verdict": "pass",
        "image_width": 640,
        "image_height": 640,
        "audit_sample": True,
    }
    assert build(InspectionPayload, base).audit_sample is True
    assert "audit_sample" not in build(InspectionPayload, {**base, "audit_sample": None}).model_dump()
    with pytest.raises(InvalidFieldError) as err:
        build(InspectionPayload, {**base, "verdict": "fail"})
    assert err.value.field == "audit_sample"
    with pytest.raises(InvalidFieldError) as err:
        build(InspectionPayload, {**base, "audit_sample": False})
    assert err.value.field == "audit_sample"


def test_a_near_miss_is_the_best_score_under_its_threshold_within_the_margin() -> None:
    from linecheck.audit import borderline_gap, near_miss

    assert borderline_gap([0.2, 0.42, 0.9], [0.5, 0.5, 0.95]) == pytest.approx(0.05)  # 0.9 of 0.95
    assert borderline_gap([0.6], [0.5]) is None  # over its threshold: a defect, not a near miss
    assert borderline_gap([], []) is None
    config = AuditConfig(borderline=0.1)
    assert near_miss(config, 0.05) and near_miss(config, 0.1) and not near_miss(config, 0.11)
    assert not near_miss(AuditConfig(), 0.01) and not near_miss(None, 0.01) and not near_miss(config, None)
