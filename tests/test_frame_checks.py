"""Frame checks: what makes a frame unfit to judge (dark, bright, flat, over-exposed, blurred, frozen)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import yaml

from linecheck.config import load_line
from linecheck.errors import ConfigError
from linecheck.frame_checks import FrameChecker, FrameChecks, measure, problems, suggest, summarise


def _scene(seed: int = 0, size: tuple[int, int] = (240, 320), level: int = 110) -> npt.NDArray[np.uint8]:
    """A textured frame (noise over a checkerboard): sharp, mid-grey, no clipping."""
    rng = np.random.default_rng(seed)
    h, w = size
    board = ((np.indices((h, w)) // 32).sum(axis=0) % 2).astype(np.float64) * 60 - 30
    grey = np.clip(level + board + rng.normal(0, 8, (h, w)), 0, 254).astype(np.uint8)
    return _u8(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))


def _u8(image: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    return np.asarray(image, np.uint8)


def _names(image: npt.NDArray[np.generic], checks: FrameChecks) -> list[str]:
    return [name for name, _text in problems(measure(_u8(image)), checks)]


def test_measures_follow_the_frame() -> None:
    flat = np.full((100, 200, 3), 77, np.uint8)
    q = measure(flat)
    assert (
        q.brightness == pytest.approx(77)
        and q.contrast == pytest.approx(0)
        and q.sharpness == pytest.approx(0)
    )
    sharp = _scene()
    blurred = _u8(cv2.GaussianBlur(sharp, (0, 0), 4))
    assert measure(sharp).sharpness > 20 * measure(blurred).sharpness
    white = np.full((50, 50, 3), 255, np.uint8)
    white[:10] = 0
    assert measure(white).saturated == pytest.approx(0.8)


def test_a_large_frame_is_measured_scaled_down_with_the_same_levels() -> None:
    small = _scene(size=(256, 256))
    large = _u8(cv2.resize(small, (4096, 4096), interpolation=cv2.INTER_NEAREST))  # 16 Mpx
    qs, ql = measure(small), measure(large)
    assert ql.brightness == pytest.approx(qs.brightness, abs=0.5)
    assert ql.contrast == pytest.approx(qs.contrast, rel=0.1)


def test_the_defaults_refuse_black_white_and_flat_frames_and_pass_a_real_one() -> None:
    checks = FrameChecks()
    assert _names(_scene(), checks) == []
    assert _names(cv2.GaussianBlur(_scene(), (0, 0), 6), checks) == []  # focus is off until calibrated
    noise = np.random.default_rng(1).normal(0, 0.6, (240, 320, 3))
    lamp_off = np.clip(_scene() * 0.02 + noise, 0, 255).astype(np.uint8)
    assert _names(lamp_off, checks) == ["brightness", "contrast"]
    assert _names(np.full((240, 320, 3), 255, np.uint8), checks) == ["brightness", "contrast"]
    assert _names(np.full((240, 320, 3), 128, np.uint8), checks) == ["contrast"]


def test_each_problem_names_its_check_the_value_and_the_limit() -> None:
    checks = FrameChecks(brightness=(40, 200), min_contrast=5, max_saturated=0.05, min_sharpness=100)
    dark = measure(_u8(_scene() * 0.2))
    text = dict(problems(dark, checks))
    assert (
        text["brightness"].startswith("too dark: mean level ")
        and "< 40 (checks.brightness)" in text["brightness"]
    )
    assert "sharpness" not in text  # a dark frame is named dark, not also blurred
    bright = np.clip(_scene().astype(np.int32) + 150, 0, 255).astype(np.uint8)
    text = dict(problems(measure(bright), checks))
    assert "too bright" in text["brightness"] and "> 200" in text["brightness"]
    assert "of pixels at 255 > 5.0% (checks.max_saturated)" in text["saturated"]
    text = dict(problems(measure(_u8(cv2.GaussianBlur(_scene(), (0, 0), 5))), checks))
    assert list(text) == ["sharpness"] and "out of focus: sharpness " in text["sharpness"]
    assert problems(dark, checks.model_copy(update={"enabled": False})) == []


def test_a_frozen_camera_is_caught_at_the_nth_identical_frame_and_released_by_a_new_one() -> None:
    checker = FrameChecker(FrameChecks(frozen_frames=3))
    a, b = _scene(1), _scene(2)
    runs = []
    for image in (a, a.copy(), a.copy(), a.copy(), b, b.copy()):
        quality, found = checker.check(image)
        runs.append((quality.frozen, [name for name, _ in found]))
    assert runs == [(1, []), (2, []), (3, ["frozen"]), (4, ["frozen"]), (1, []), (2, [])]
    frozen = FrameChecker(FrameChecks(frozen_frames=2))
    frozen.check(a)
    assert (
        dict(frozen.check(a)[1])["frozen"]
        == "frozen camera: 2 identical frames in a row (checks.frozen_frames=2)"
    )
    off = FrameChecker(FrameChecks())
    assert all(off.check(a)[0].frozen == 1 for _ in range(3))  # off: not even counted
    two = FrameChecker(FrameChecks(frozen_frames=2))
    two.check(a)
    assert two.check(a[:, :160].copy())[1] == []  # another shape is another frame


def test_suggested_checks_pass_every_good_frame_and_refuse_the_faults() -> None:
    good = [_scene(seed, level=level) for seed, level in enumerate((90, 110, 130, 100))]
    checks = suggest([measure(image) for image in good])
    assert checks.frozen_frames == 2 and checks.min_sharpness > 0
    assert all(_names(image, checks) == [] for image in good)
    assert _names(cv2.GaussianBlur(good[0], (0, 0), 3), checks) == ["sharpness"]
    assert "brightness" in _names((good[0] * 0.3).astype(np.uint8), checks)
    summary = summarise([measure(image) for image in good])
    assert summary["brightness"]["min"] < summary["brightness"]["median"] < summary["brightness"]["max"]
    with pytest.raises(ValueError, match="at least one good frame"):
        suggest([])


@pytest.mark.parametrize(
    ("checks", "named"),
    [
        ({"brightness": [200, 100]}, "cameras.0.checks.brightness"),
        ({"brightness": [10, 300]}, "brightness=[10.0, 300.0]"),
        ({"frozen_frames": 1}, "frozen_frames=1"),
        ({"min_sharpness": -1}, "cameras.0.checks.min_sharpness"),
        ({"max_saturated": 2}, "cameras.0.checks.max_saturated"),
        ({"focus": 3}, "cameras.0.checks.focus"),
    ],
)
def test_a_bad_check_in_a_line_yaml_is_refused_naming_it(tmp_path: Path, checks: dict, named: str) -> None:
    path = tmp_path / "l.yaml"
    camera = {"station": "face", "source": "synth://bearing", "checks": checks}
    path.write_text(yaml.safe_dump({"id": "b-1", "kind": "bearing", "cameras": [camera]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_line(path)


def test_a_line_yaml_carries_its_checks_per_camera(tmp_path: Path) -> None:
    path = tmp_path / "l.yaml"
    cameras = [
        {"station": "el", "checks": {"brightness": [20, 200], "min_sharpness": 35, "frozen_frames": 2}},
        {"station": "side"},
    ]
    path.write_text(yaml.safe_dump({"id": "pv-9", "kind": "pv", "cameras": cameras}), encoding="utf-8")
    line = load_line(path)
    assert line.cameras[0].checks == FrameChecks(brightness=(20, 200), min_sharpness=35, frozen_frames=2)
    assert line.cameras[1].checks == FrameChecks()


def test_a_camera_slowly_dimming_is_reported_drifting_and_its_frames_still_judged() -> None:
    from linecheck.frame_checks import FrameBaseline

    good = [_scene(seed) for seed in range(9)]
    suggested = suggest([measure(image) for image in good])
    assert suggested.baseline is not None and suggested.baseline.tolerance == 0.2
    assert suggested.baseline.brightness == pytest.approx(
        summarise(map(measure, good))["brightness"]["median"], abs=0.01
    )
    checks = suggested.model_copy(update={"baseline": suggested.baseline.model_copy(update={"window": 20})})
    checker = FrameChecker(checks)
    assert checker.drift is not None
    for i in range(19):
        checker.check(good[i % 9])
    assert checker.drift.drifts() == []  # not before a window of frames
    checker.check(good[1])  # (good[0] again would be a frozen camera: refused, not counted)
    assert [(d.measure, d.drifting) for d in checker.drift.drifts()] == [("brightness", False)]
    level = 110.0
    reported = []
    while level > 70:  # a lamp losing light: 2 grey levels every 5 frames
        level -= 2
        for seed in range(5):
            _quality, refused = checker.check(_scene(seed, level=int(level)))
            assert refused == []  # a drift is a warning, the frames are judged
        reported.append({d.measure: d for d in checker.drift.drifts()}["brightness"])
    first = next(i for i, d in enumerate(reported) if d.drifting)
    assert all(not d.drifting for d in reported[:first]) and all(d.drifting for d in reported[first:])
    assert -0.3 < reported[first].change < -0.2  # flagged once the running level is a fifth down
    assert reported[first].as_dict()["drifting"] is True
    with pytest.raises(ValueError):
        FrameBaseline(brightness=120, tolerance=1.5)


def test_refused_frames_do_not_move_the_running_levels() -> None:
    good = [_scene(seed) for seed in range(4)]
    checks = suggest([measure(image) for image in good])
    assert checks.baseline is not None
    checker = FrameChecker(
        checks.model_copy(update={"baseline": checks.baseline.model_copy(update={"window": 10})})
    )
    for i in range(10):
        checker.check(good[i % 4])
    before = dict(checker.drift.levels) if checker.drift else {}
    for _ in range(30):
        _quality, refused = checker.check(np.zeros_like(good[0]))  # a black frame: refused, not a drift
        assert "brightness" in [name for name, _text in refused]
    assert checker.drift is not None and checker.drift.levels == before and checker.drift.frames == 10
