"""The attribute MSA rule (linecheck.msa): effectiveness, miss and false alarm rates with their intervals,
repeatability, Cohen's kappa, and AIAG's verdicts, on studies whose figures are worked out by hand."""

from __future__ import annotations

import pytest

from linecheck.audit import escape_rate
from linecheck.msa import PartTrials, attribute_study, cohen_kappa, trials_of


def part(code: str, expect: str, decisions: str) -> PartTrials:
    """``decisions``: one letter a trial, P (pass) or F (fail)."""
    return PartTrials(
        code=code, expect=expect, decisions=tuple("pass" if d == "P" else "fail" for d in decisions)
    )  # type: ignore[arg-type]


def test_a_station_that_decides_every_trial_right_is_acceptable() -> None:
    study = attribute_study([part("G1", "pass", "PPP"), part("G2", "pass", "PPP"), part("B1", "fail", "FFF")])
    assert (study.decisions, study.correct, study.effectiveness) == (9, 9, 1.0)
    assert (study.misses.rate, study.false_alarms.rate) == (0.0, 0.0)
    assert study.misses.high == pytest.approx(escape_rate(0, 3).high)  # 0 in 3 is not "never"
    assert (study.repeatability, study.kappa, study.verdict, study.problems) == (1.0, 1.0, "acceptable", ())


def test_kappa_and_the_rates_match_the_hand_worked_figures() -> None:
    # truth F F F F P P P P P P, decisions F F F P P P P P P F: 8 of 10 right
    pairs = [("fail", d) for d in ("fail", "fail", "fail", "pass")] + [
        ("pass", d) for d in ("pass", "pass", "pass", "pass", "pass", "fail")
    ]
    # observed 0.8; chance 0.4 * 0.4 + 0.6 * 0.6 = 0.52; kappa (0.8 - 0.52) / 0.48
    assert cohen_kappa(pairs) == pytest.approx(0.28 / 0.48)
    study = attribute_study([part("B1", "fail", "FF"), part("B2", "fail", "FP"), part("G1", "pass", "PPP"),
                             part("G2", "pass", "PPF")])  # fmt: skip
    assert study.effectiveness == pytest.approx(0.8)
    assert (study.misses.escapes, study.misses.audited) == (1, 4)
    assert (study.false_alarms.escapes, study.false_alarms.audited) == (1, 6)
    assert study.repeatability == pytest.approx(0.5)  # B1 and G1 decided alike every time
    assert study.kappa == pytest.approx(0.28 / 0.48)
    assert study.verdict == "unacceptable"
    assert any("miss rate 25.0% is over 5%" in p for p in study.problems)
    assert any("false alarm rate 16.7% is over 10%" in p for p in study.problems)


def test_the_marginal_band_between_the_criteria() -> None:
    good = [part(f"G{i}", "pass", "PPPPPPPPPP") for i in range(9)] + [part("G9", "pass", "PPPPPPPPPF")]
    bad = [part(f"B{i}", "fail", "FFFFFFFFFF") for i in range(4)]  # 40 decisions on bad parts, no miss
    study = attribute_study(good + bad)
    assert study.false_alarms.rate == pytest.approx(0.01)
    assert study.verdict == "acceptable"
    shaky = [part(f"G{i}", "pass", "PPPPPPPPPF") for i in range(8)] + [part("G9", "pass", "PPPPPPPPPP")]
    study = attribute_study(shaky + bad)  # 8 false alarms in 90: 8.9 %
    assert study.verdict == "marginal" and study.problems == ()


def test_a_study_without_bad_parts_or_repeats_is_insufficient() -> None:
    study = attribute_study([part("G1", "pass", "PPP")])
    assert study.verdict == "insufficient"
    assert any("no decision on a bad part" in p for p in study.problems)
    once = attribute_study([part("G1", "pass", "P"), part("B1", "fail", "FF")])
    assert once.verdict == "insufficient" and any(
        "G1" in p and "fewer than twice" in p for p in once.problems
    )


def test_stored_verdicts_become_trials_and_an_undecided_frame_is_no_decision() -> None:
    [bad, good] = trials_of({"B1": "fail", "G1": "pass"}, {"B1": ["fail", "not_inspected", "pass"], "G1": []})
    assert (bad.decisions, bad.undecided, bad.correct, bad.repeatable) == (("fail", "pass"), 1, 1, False)
    assert (good.decisions, good.repeatable) == ((), None)
