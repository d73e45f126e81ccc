"""Error-proofing verification: challenge parts, the rule that judges them, and their place in a line YAML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from linecheck.config import load_line
from linecheck.errors import ConfigError
from linecheck.verification import ChallengePart, PartRun, VerificationConfig, evaluate, met

NOW = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)
CONFIG = VerificationConfig(
    every_h=8,
    parts=[
        ChallengePart(code="BR9900000001", expect="fail", classes=["scratch"]),
        ChallengePart(code="BR9900000002", expect="pass"),
    ],
)


def _run(hours_ago: float, verdict: str, *classes: str) -> PartRun:
    return PartRun(captured_at=NOW - timedelta(hours=hours_ago), verdict=verdict, classes=frozenset(classes))


def test_a_red_rabbit_must_fail_with_its_classes_and_a_master_must_pass() -> None:
    rabbit, master = CONFIG.parts
    assert met(rabbit, "fail", {"scratch", "dent"}) and not met(rabbit, "fail", {"dent"})
    assert not met(rabbit, "pass", set()) and not met(rabbit, "not_inspected", set())
    assert met(master, "pass", set()) and not met(master, "fail", {"dent"})
    assert met(ChallengePart(code="X", expect="fail"), "fail", {"rust"})  # any defect, when no class is named


def test_verified_until_the_first_part_is_older_than_the_interval() -> None:
    status = evaluate(
        CONFIG, {"BR9900000001": _run(2, "fail", "scratch"), "BR9900000002": _run(1, "pass")}, NOW
    )
    assert status.state == "verified" and status.problem() is None
    assert status.verified_at == NOW - timedelta(hours=1) and status.due_at == NOW + timedelta(hours=6)
    late = evaluate(
        CONFIG, {"BR9900000001": _run(9, "fail", "scratch"), "BR9900000002": _run(1, "pass")}, NOW
    )
    assert late.state == "due" and late.problem() == (
        "challenge part(s) BR9900000001 not run within the verification interval"
    )
    assert evaluate(CONFIG, {}, NOW).state == "due"  # never run


def test_a_red_rabbit_that_passed_fails_the_verification_naming_it() -> None:
    status = evaluate(CONFIG, {"BR9900000001": _run(0.1, "pass"), "BR9900000002": _run(0.1, "pass")}, NOW)
    assert status.state == "failed" and status.due_at is None
    assert status.problem() == "challenge part BR9900000001 was judged pass, expected fail with scratch"
    wrong_class = evaluate(CONFIG, {"BR9900000001": _run(0.1, "fail", "dent")}, NOW)
    assert wrong_class.problem() == (
        "challenge part BR9900000001 was judged fail with dent, expected fail with scratch"
    )
    again = evaluate(
        CONFIG, {"BR9900000001": _run(0.05, "fail", "scratch"), "BR9900000002": _run(0.1, "pass")}, NOW
    )
    assert again.state == "verified"  # the latest run counts: caught again, verified again


def _line(tmp_path: Path, verification: object) -> Path:
    path = tmp_path / "b.yaml"
    path.write_text(
        yaml.safe_dump({"id": "b-1", "kind": "bearing", "verification": verification}), encoding="utf-8"
    )
    return path


@pytest.mark.parametrize(
    ("verification", "named"),
    [
        ({"parts": []}, "verification.parts"),
        ({"parts": [{"code": "BR9900000001", "expect": "maybe"}]}, "verification.parts.0.expect"),
        ({"every_h": 0, "parts": [{"code": "BR9900000001", "expect": "pass"}]}, "verification.every_h"),
        ({"parts": [{"code": "XX1", "expect": "fail"}]}, "verification.parts.0.code='XX1' does not match"),
        ({"parts": [{"code": "BR9900000001", "expect": "fail", "classes": ["hole"]}]}, "names ['hole']"),
        (
            {"parts": [{"code": "BR9900000001", "expect": "pass", "classes": ["dent"]}]},
            "a part that must pass",
        ),
        (
            {
                "parts": [
                    {"code": "BR9900000001", "expect": "pass"},
                    {"code": "BR9900000001", "expect": "fail"},
                ]
            },
            "more than once",
        ),
    ],
)
def test_bad_challenge_parts_are_refused_naming_the_field(
    tmp_path: Path, verification: object, named: str
) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_line(_line(tmp_path, verification))


def test_a_line_yaml_lists_its_challenge_parts(tmp_path: Path) -> None:
    line = load_line(_line(tmp_path, CONFIG.model_dump(mode="json")))
    assert line.verification == CONFIG and line.verification.part("BR9900000002") == CONFIG.parts[1]
    assert line.verification.part("BR0000000001") is None


PRODUCT_CONFIG = VerificationConfig(
    every_h=8,
    parts=[
        ChallengePart(code="BR9900000001", expect="fail", classes=["scratch"], products=["6204"]),
        ChallengePart(code="BR9900000005", expect="fail", classes=["scratch"], products=["6205"]),
        ChallengePart(code="BR9900000002", expect="pass"),  # every product
    ],
)


def test_the_parts_of_the_product_the_line_is_on_count_and_only_since_its_changeover() -> None:
    runs = {
        "BR9900000001": _run(3, "fail", "scratch"),
        "BR9900000005": _run(2, "fail", "scratch"),
        "BR9900000002": _run(2, "pass"),
    }
    on_6204 = evaluate(PRODUCT_CONFIG, runs, NOW, product="6204")
    assert on_6204.state == "verified" and [s.part.code for s in on_6204.parts] == [
        "BR9900000001",
        "BR9900000002",
    ]
    # the line changed over to 6205 an hour ago: parts run before it do not count
    changed = evaluate(PRODUCT_CONFIG, runs, NOW, product="6205", changeover_at=NOW - timedelta(hours=1))
    assert changed.state == "due" and [s.part.code for s in changed.parts] == ["BR9900000005", "BR9900000002"]
    assert changed.problem() == (
        "challenge part(s) BR9900000005, BR9900000002 not run since the changeover to product 6205 at "
        f"{(NOW - timedelta(hours=1)).isoformat(timespec='seconds')}"
    )
    rerun = {**runs, "BR9900000005": _run(0.5, "fail", "scratch"), "BR9900000002": _run(0.4, "pass")}
    again = evaluate(PRODUCT_CONFIG, rerun, NOW, product="6205", changeover_at=NOW - timedelta(hours=1))
    assert again.state == "verified" and again.verified_at == NOW - timedelta(hours=0.4)
    # the 6204 red rabbit passing does not fail a line that runs 6205
    broken = {**rerun, "BR9900000001": _run(0.2, "pass")}
    assert evaluate(PRODUCT_CONFIG, broken, NOW, product="6205").state == "verified"
    assert evaluate(PRODUCT_CONFIG, broken, NOW, product="6204").state == "failed"


def test_a_product_with_no_challenge_part_is_never_verified() -> None:
    config = VerificationConfig(parts=[ChallengePart(code="BR9900000001", expect="pass", products=["6204"])])
    status = evaluate(config, {"BR9900000001": _run(1, "pass")}, NOW, product="6300")
    assert status.state == "due" and status.parts == []
    assert status.problem() == "no challenge part is listed for product 6300 (verification.parts[].products)"


def test_a_part_naming_a_product_the_line_does_not_make_is_refused(tmp_path: Path) -> None:
    line = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/lines/bearing-01.yaml").read_text())
    line["products"] = [{"id": "6204"}]
    line["verification"] = {"parts": [{"code": "BR9900000001", "expect": "pass", "products": ["6205"]}]}
    path = tmp_path / "bearing.yaml"
    path.write_text(yaml.safe_dump(line), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"verification.parts.0.products names \['6205'\]"):
        load_line(path)
