"""``linecheck data from-reviews``: reviewed defects -> YOLO dataset (rules, then the real API and store)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
import yaml
from review_seed import BEARING_CODE, PV_CODE, TEXTILE_CODE, Stack
from typer.testing import CliRunner

from linecheck.cli.data_reviews import register
from linecheck.datasets.from_reviews import (
    ReviewedDefect,
    ReviewedFrame,
    ReviewSource,
    assign_splits,
    export_reviews,
    frame_labels,
)
from linecheck.datasets.review_sources import ApiReviewSource, StoreReviewSource
from linecheck.datasets.yolo import validate_yolo
from linecheck.errors import ConfigError, DatasetError, InvalidFieldError, NotFoundError

NAMES = ("hole", "stain", "knot")
W, H = 200, 100


def defect(
    i: int, model: str, final: str, state: str, bbox: tuple[float, ...] = (20, 10, 60, 30)
) -> ReviewedDefect:
    x1, y1, x2, y2 = bbox
    return ReviewedDefect(
        id=i, class_name=model, final_class=final, review_state=state, bbox=(x1, y1, x2, y2)
    )


def frame(*defects: ReviewedDefect) -> ReviewedFrame:
    from datetime import UTC, datetime

    return ReviewedFrame(
        inspection_id="insp0001",
        line_id="textile-01",
        code="RL0000000001",
        captured_at=datetime(2026, 11, 23, tzinfo=UTC),
        image_ref=None,
        image_width=W,
        image_height=H,
        defects=defects,
    )


def yolo_row(class_id: int, bbox: tuple[float, ...]) -> list[float]:
    x1, y1, x2, y2 = bbox
    return [class_id, (x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H]


@pytest.mark.parametrize(
    ("defects", "pending", "classes", "decisions"),
    [
        ([defect(1, "stain", "stain", "confirmed")], "skip", ["stain"], {"confirmed": 1}),
        ([defect(1, "hole", "knot", "reclassified")], "skip", ["knot"], {"reclassified": 1}),
        ([defect(1, "hole", "hole", "rejected")], "skip", [], {"rejected": 1}),
        (
            [defect(1, "hole", "hole", "rejected"), defect(2, "knot", "knot", "confirmed", (0, 0, 200, 100))],
            "skip",
            ["knot"],
            {"rejected": 1, "confirmed": 1},
        ),
        (
            [defect(1, "stain", "stain", "confirmed"), defect(2, "hole", "hole", "pending", (5, 5, 9, 9))],
            "keep",
            ["stain", "hole"],
            {"confirmed": 1, "pending_kept": 1},
        ),
        ([defect(1, "hole", "hole", "confirmed", (-10, -5, 30, 20))], "skip", ["hole"], {"confirmed": 1}),
    ],
)
def test_labels_follow_the_decisions(
    defects: list[ReviewedDefect], pending: Any, classes: list[str], decisions: dict[str, int]
) -> None:
    outcome = frame_labels(frame(*defects), NAMES, pending=pending)
    assert not isinstance(outcome, str), outcome
    rows, counted = outcome
    kept = [d for d in defects if d.review_state != "rejected"]
    expected = []
    for d in kept:
        x1, y1, x2, y2 = d.bbox
        clipped = (max(0, x1), max(0, y1), min(W, x2), min(H, y2))
        expected.append(yolo_row(NAMES.index(d.final_class), clipped))
    assert [NAMES[int(r[0])] for r in rows] == classes
    np.testing.assert_allclose(rows, np.array(expected).reshape(-1, 5))
    assert dict(counted) == decisions


@pytest.mark.parametrize(
    ("defects", "names", "reason"),
    [
        (
            [defect(1, "stain", "stain", "confirmed"), defect(2, "hole", "hole", "pending")],
            NAMES,
            "1 defect(s) not reviewed",
        ),
        ([defect(7, "hole", "burn", "reclassified")], NAMES, "defect 7 has class 'burn'"),
        (
            [defect(9, "hole", "hole", "confirmed", (300, 10, 320, 20))],
            NAMES,
            "defect(s) [9]: box has no area",
        ),
    ],
)
def test_frames_that_cannot_be_labelled_say_why(
    defects: list[ReviewedDefect], names: Any, reason: str
) -> None:
    outcome = frame_labels(frame(*defects), names, pending="skip")
    assert isinstance(outcome, str)
    assert reason in outcome


def test_an_unknown_review_state_is_refused() -> None:
    with pytest.raises(InvalidFieldError, match="review_state"):
        defect(3, "hole", "hole", "maybe")


def test_splits_keep_groups_together_and_are_stable() -> None:
    groups = [f"RL{i:010d}" for i in range(2000)]
    first = assign_splits(groups, val=0.2, seed=1)
    assert first == assign_splits(list(reversed(groups)), val=0.2, seed=1)
    assert first is not None and first != assign_splits(groups, val=0.2, seed=2)
    share = sum(split == "val" for split in first.values()) / len(groups)
    assert 0.17 < share < 0.23


@pytest.mark.parametrize("groups", [["a", "b"], ["a", "b", "c"], [f"g{i}" for i in range(5)]])
@pytest.mark.parametrize("val", [0.01, 0.5, 0.99])
def test_small_exports_still_get_both_splits(groups: list[str], val: float) -> None:
    splits = assign_splits(groups, val=val, seed=0)
    assert splits is not None and set(splits.values()) == {"train", "val"}


@pytest.mark.parametrize(("groups", "val"), [(["a", "b"], 0.0), (["a", "a", "a"], 0.2), ([], 0.2)])
def test_unsplit_when_there_is_nothing_to_split(groups: list[str], val: float) -> None:
    assert assign_splits(groups, val=val, seed=0) is None


@pytest.mark.parametrize("val", [-0.1, 1.0, 2.0])
def test_a_bad_validation_fraction_is_named(val: float) -> None:
    with pytest.raises(InvalidFieldError, match=r"^val="):
        assign_splits(["a", "b"], val=val, seed=0)


# ---- against the real API and store ------------------------------------------------------------


@pytest.fixture(scope="module")
def reviewed(stack: Stack) -> dict[str, Any]:
    """Decisions made through the API: what each seeded frame should become."""
    trace = {code: stack.get(f"/v1/trace/{code}") for code in (TEXTILE_CODE, PV_CODE, BEARING_CODE)}
    roll = trace[TEXTILE_CODE]["inspections"]
    by_class = {d["class_name"]: d for i in roll for d in i["defects"]}
    decisions = [
        (by_class["stain"]["id"], {"decision": "confirm"}),
        (
            by_class["hole"]["id"],
            {"decision": "reclassify", "new_class": "knot"},
        ),  # frame 1, knot stays pending
        (by_class["broken_yarn"]["id"], {"decision": "reject", "comment": "a warp line"}),
    ]
    for inspection in trace[BEARING_CODE]["inspections"]:
        decisions += [(d["id"], {"decision": "reject"}) for d in inspection["defects"]]
    for defect_id, body in decisions:
        response = stack.post(f"/v1/defects/{defect_id}/review", "reviewer", json=body)
        assert response.status_code == 201, response.text
    frames = {d["class_name"]: i for i in roll for d in i["defects"]}
    return {"roll": roll, "frames": frames, "bearing": trace[BEARING_CODE]["inspections"]}


def labels_of(dst: Path) -> dict[str, list[tuple[str, ...]]]:
    names = yaml.safe_load((dst / "data.yaml").read_text())["names"]
    found: dict[str, list[tuple[str, ...]]] = {}
    for label in sorted(dst.rglob("labels/**/*.txt")):
        rows = [line.split() for line in label.read_text().splitlines() if line.strip()]
        found[label.stem] = sorted((names[int(r[0])], *(f"{float(v):.4f}" for v in r[1:])) for r in rows)
    return found


def expected_rows(inspection: dict[str, Any], *, keep_pending: bool) -> list[tuple[str, ...]]:
    rows = []
    for d in inspection["defects"]:
        if d["review_state"] == "rejected" or (d["review_state"] == "pending" and not keep_pending):
            continue
        x1, y1, x2, y2 = d["bbox"]
        w, h = inspection["image_width"], inspection["image_height"]
        values = ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
        rows.append((d["final_class"], *(f"{v:.4f}" for v in values)))
    return sorted(rows)


def open_source(kind: str, stack: Stack) -> ApiReviewSource | StoreReviewSource:
    if kind == "api":
        return ApiReviewSource(stack.base_url, stack.keys["viewer"])
    return StoreReviewSource(stack.db_url, stack.data_dir / "images")


@pytest.mark.parametrize("kind", ["api", "store"])
@pytest.mark.parametrize("pending", ["skip", "keep"])
def test_export_writes_confirmed_and_corrected_labels(
    stack: Stack, reviewed: dict[str, Any], tmp_path: Path, kind: str, pending: Any
) -> None:
    fresh = {i["id"]: i for i in stack.get(f"/v1/trace/{TEXTILE_CODE}")["inspections"]}
    dst = tmp_path / "retrain"
    with open_source(kind, stack) as source:
        typed: ReviewSource = source
        report = export_reviews(typed, dst, line_ids=["textile-01"], val=0.2, pending=pending)
    assert validate_yolo(dst).errors == []
    reviewed_frames = [i for i in fresh.values() if any(d["review_state"] != "pending" for d in i["defects"])]
    waiting = {i["id"] for i in reviewed_frames if any(d["review_state"] == "pending" for d in i["defects"])}
    written = [i for i in reviewed_frames if pending == "keep" or i["id"] not in waiting]
    assert labels_of(dst) == {
        f"textile-01_{i['id']}": expected_rows(i, keep_pending=pending == "keep") for i in written
    }
    assert [s.inspection_id for s in report.skipped] == ([] if pending == "keep" else sorted(waiting))
    assert report.images == len(written)
    assert report.backgrounds == sum(not expected_rows(i, keep_pending=True) for i in written)
    assert report.splits == {}  # one roll: every frame of a unit stays in one split, so no split
    data = yaml.safe_load((dst / "data.yaml").read_text())
    assert (data["train"], data["val"], data["kind"], data["lines"]) == (
        "images",
        "images",
        "textile",
        ["textile-01"],
    )
    assert list(data["names"].values()) == stack.get("/v1/lines/textile-01")["config"]["classes"]
    for image in (dst / "images").iterdir():  # the stored full frame, byte for byte
        inspection = fresh[image.stem.removeprefix("textile-01_")]
        assert hashlib.sha256(image.read_bytes()).hexdigest() == inspection["image_ref"]


def test_rejected_everywhere_gives_background_frames(
    stack: Stack, reviewed: dict[str, Any], tmp_path: Path
) -> None:
    with ApiReviewSource(stack.base_url, stack.keys["viewer"]) as source:
        report = export_reviews(source, tmp_path / "bearing", line_ids=["bearing-01"], val=0)
    assert report.images == report.backgrounds == len(reviewed["bearing"])
    assert report.decisions["rejected"] == sum(len(i["defects"]) for i in reviewed["bearing"])
    assert all(rows == [] for rows in labels_of(tmp_path / "bearing").values())


@pytest.mark.parametrize(
    ("lines", "kwargs", "error", "match"),
    [
        (["textile-01", "pv-01"], {}, InvalidFieldError, "lines need the same classes"),
        (["nope-01"], {}, NotFoundError, "nope-01"),
        ([], {}, InvalidFieldError, "at least one line"),
        (["pv-01"], {}, DatasetError, "no reviewed frame of lines"),  # nothing of pv-01 was reviewed
        (["textile-01"], {"pending": "maybe"}, InvalidFieldError, "pending"),
        (["textile-01"], {"val": 1.5}, InvalidFieldError, "val"),
    ],
)
def test_export_errors_name_what_is_wrong(
    stack: Stack,
    reviewed: dict[str, Any],
    tmp_path: Path,
    lines: list[str],
    kwargs: Any,
    error: Any,
    match: str,
) -> None:
    dst = tmp_path / "out"
    with ApiReviewSource(stack.base_url, stack.keys["viewer"]) as source, pytest.raises(error, match=match):
        export_reviews(source, dst, line_ids=lines, **kwargs)
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging or image folder left behind


def test_an_existing_dataset_is_never_written_into(
    stack: Stack, reviewed: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with (
        ApiReviewSource(stack.base_url, stack.keys["viewer"]) as source,
        pytest.raises(DatasetError, match="exists"),
    ):
        export_reviews(source, tmp_path / "out", line_ids=["textile-01"])
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_store_source_refuses_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no SQLite file"):
        StoreReviewSource(f"sqlite+pysqlite:///{tmp_path / 'absent.db'}", tmp_path)
    assert not (tmp_path / "absent.db").exists()


# ---- the command ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """linecheck data (only from-reviews, as wired by the lead)."""

    register(app)
    return app


def test_command_exports_through_the_api_and_the_store(
    cli: typer.Typer, stack: Stack, reviewed: dict[str, Any], tmp_path: Path
) -> None:
    runner = CliRunner()
    via_api = runner.invoke(
        cli,
        [
            "from-reviews",
            str(tmp_path / "a"),
            "--api",
            stack.base_url,
            "--line",
            "textile-01",
            "--pending",
            "keep",
        ],
        env={"LINECHECK_REVIEWS_API_KEY": stack.keys["viewer"]},
    )
    assert via_api.exit_code == 0, via_api.output
    assert f"wrote {tmp_path / 'a' / 'data.yaml'}" in via_api.output
    via_store = runner.invoke(
        cli,
        ["from-reviews", str(tmp_path / "b"), "--database-url", stack.db_url,
         "--images-dir", str(stack.data_dir / "images"), "--line", "textile-01", "--pending", "keep"],
    )  # fmt: skip
    assert via_store.exit_code == 0, via_store.output
    assert labels_of(tmp_path / "a") == labels_of(tmp_path / "b") != {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--line", "textile-01"], "--api/--database-url"),
        (["--line", "textile-01", "--api", "API", "--database-url", "sqlite:///x.db"], "give exactly one"),
        (["--line", "textile-01", "--api", "API", "--since", "yesterday"], "--since='yesterday'"),
        (["--line", "textile-01", "--api", "API", "--until", "2026-11-23T10:00:00"], "UTC offset"),
        (["--line", "textile-01", "--api", "API", "--key", "lc_000000000000_" + "x" * 43], "401"),
        (["--line", "textile-01", "--api", "ftp://host"], "http:// or https://"),
        (
            ["--line", "textile-01", "--database-url", "sqlite+pysqlite:////nonexistent/l.db"],
            "no SQLite file",
        ),
    ],
)
def test_command_errors_are_one_line_and_exit_1(
    cli: typer.Typer, stack: Stack, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [stack.base_url if a == "API" else a for a in args]
    result = CliRunner().invoke(
        cli,
        ["from-reviews", str(tmp_path / "out"), *args],
        env={"LINECHECK_REVIEWS_API_KEY": stack.keys["viewer"]},
    )
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["api", "store"])
def test_boxes_moved_drawn_and_merged_by_reviewers_become_the_labels(
    stack: Stack, tmp_path: Path, kind: str
) -> None:
    """A moved box is written where the reviewer put it, a drawn one is a label, a merged one goes."""
    module = stack.get(f"/v1/trace/{PV_CODE}")["inspections"][0]
    if not any(d["source"] == "reviewer" for d in module["defects"]):  # once for both parametrizations
        crack, dark = (d for d in module["defects"])
        moved = [crack["bbox"][0] + 4, crack["bbox"][1] + 2, crack["bbox"][2] + 9, crack["bbox"][3] + 6]
        drawn_path = f"/v1/inspections/{module['id']}/defects"
        stack_post = [
            (f"/v1/defects/{crack['id']}/review", {"decision": "confirm", "bbox": moved}),
            (drawn_path, {"class_name": "finger_interruption", "bbox": [250, 90, 290, 110]}),
            (drawn_path, {"class_name": "finger_interruption", "bbox": [280, 95, 300, 118]}),
        ]
        for path, body in stack_post:
            assert stack.post(path, "reviewer", json=body).status_code == 201
        drawn = [
            d["id"]
            for d in stack.get(f"/v1/inspections/{module['id']}")["defects"]
            if d["source"] == "reviewer"
        ]
        merged = stack.post(f"/v1/inspections/{module['id']}/merge", "reviewer", json={"defect_ids": drawn})
        assert merged.status_code == 201, merged.text
        assert (
            stack.post(
                f"/v1/defects/{dark['id']}/review", "reviewer", json={"decision": "reject"}
            ).status_code
            == 201
        )
    frame = stack.get(f"/v1/inspections/{module['id']}")
    w, h = frame["image_width"], frame["image_height"]
    expected = []
    for d in frame["defects"]:
        if d["review_state"] == "rejected":
            continue
        x1, y1, x2, y2 = d["final_bbox"] or d["bbox"]
        values = ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
        expected.append((d["final_class"], *(f"{v:.4f}" for v in values)))
    assert sorted(c for c, *_ in expected) == ["crack", "finger_interruption"]
    dst = tmp_path / "pv"
    with open_source(kind, stack) as source:
        report = export_reviews(source, dst, line_ids=["pv-01"], val=0)
    assert labels_of(dst) == {f"pv-01_{module['id']}": sorted(expected)}
    assert (report.decisions["added"], report.decisions["box_corrected"]) == (1, 1)
    assert report.decisions["rejected"] == 2  # the dark cell and the second drawn box, merged away
