"""Image retention through the real API (uvicorn) on SQLite and PostgreSQL: images expire, records stay.

Each test stores images and inspections over HTTP at fixed capture times and runs the retention at
chosen "now"s (the same function the API's background task and ``linecheck db prune-images`` run).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_payloads import T0, textile
from retention_plant import POLICY, Plant, days_ago, inconsistencies, running_plant

from linecheck.datasets.from_reviews import export_reviews
from linecheck.datasets.review_sources import ApiReviewSource
from linecheck.serving.api.services.retention import (
    KEEP_AUDIT,
    KEEP_CODE,
    KEEP_FOREVER,
    KEEP_GOLDEN,
    KEEP_REVIEW,
    KEEP_YOUNG,
    RetentionPolicy,
    decide,
)
from linecheck.serving.store.repositories.retention import RefHolders


@pytest.fixture
def plant(any_db_url: str, tmp_path: Path) -> Iterator[Plant]:
    with running_plant(any_db_url, tmp_path) as running:
        yield running


def day(n: float) -> timedelta:
    return timedelta(days=n)


def test_images_expire_by_age_and_the_records_say_so(plant: Plant) -> None:
    pass_id, pass_ref = plant.pass_frame(T0)
    fail_id, frame, crop = plant.fail_frame(T0)
    plant.review(fail_id)  # decided: no longer waits for a reviewer
    size = plant.images.path(pass_ref).stat().st_size

    early = plant.prune(T0 + day(29))
    assert (early.expired, early.bytes_freed, early.oldest_kept) == (0, 0, T0)
    assert all(plant.stored(ref) for ref in (pass_ref, frame, crop))

    passed = plant.prune(T0 + day(31))
    assert (passed.expired, passed.bytes_freed, passed.files_deleted) == (1, size, 1)
    assert passed.oldest_kept == T0  # the failed frame and its crop
    assert not plant.stored(pass_ref) and plant.stored(frame) and plant.stored(crop)
    gone = plant.get(f"/v1/images/{pass_ref}")
    assert gone.status_code == 410, gone.text
    error = gone.json()["error"]
    assert error["type"] == "gone" and "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS=30" in error["message"]
    record = plant.get(f"/v1/inspections/{pass_id}").json()
    assert record["image_ref"] == pass_ref and record["image_expired_at"] is not None
    assert plant.status(frame) == plant.status(crop) == 200

    failed = plant.prune(T0 + day(91))
    assert failed.expired == 2 and failed.oldest_kept is None
    assert plant.status(frame) == plant.status(crop) == 410
    assert "LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS=90" in plant.get(f"/v1/images/{crop}").text
    trace = plant.get("/v1/trace/RL0000000042").json()
    (inspection,) = trace["inspections"]
    (defect,) = inspection["defects"]
    assert inspection["image_expired_at"] is not None and inspection["image_ref"] == frame
    assert defect["crop_expired_at"] is not None and defect["crop_ref"] == crop
    assert defect["review_state"] == "confirmed" and len(defect["reviews"]) == 1  # the record is whole
    assert trace["audit"]["ok"]

    again = plant.prune(T0 + day(200))
    assert (again.expired, again.files_deleted) == (0, 0)
    assert plant.status("cd" * 32) == 404  # never stored: still not found, not gone
    assert inconsistencies(plant.db, plant.images) == []


def test_what_is_still_needed_is_never_deleted(plant: Plant) -> None:
    pending_id, pending_frame, pending_crop = plant.fail_frame(T0)
    golden_id, golden = plant.pass_frame(T0)
    chosen = plant.post("/v1/lines/pv-01/golden", "reviewer", {"inspection_id": golden_id})
    assert chosen.status_code == 201, chosen.text
    unread = plant.upload()  # a good frame whose code no one has typed in yet
    unread_body = textile(at=T0, image_ref=unread, code=None, code_status="code_unread", verdict="pass")
    unread_id = plant.inspect({**unread_body, "defects": []})
    shared = plant.upload(who="pv")  # the same bytes as two units' frames, 70 days apart
    old_id, _ = plant.pass_frame(T0, shared)
    young_id, _ = plant.pass_frame(T0 + day(70), shared)
    across = plant.upload()  # a pass frame's bytes that a failed frame (kept longer) holds too
    plant.pass_frame(T0, across)
    plant.inspect(textile(at=T0 + day(10), image_ref=across, defects=[], verdict="fail"))

    kept = plant.prune(T0 + day(91))  # past both retentions for everything at T0
    assert kept.expired == 0, kept
    assert kept.kept[KEEP_REVIEW] == 2  # the pending defect's frame and crop
    assert (kept.kept[KEEP_GOLDEN], kept.kept[KEEP_CODE], kept.kept[KEEP_YOUNG]) == (1, 1, 2)
    assert kept.oldest_kept == T0
    assert all(
        plant.status(ref) == 200 for ref in (pending_frame, pending_crop, golden, unread, shared, across)
    )

    plant.review(pending_id, "reject")
    assigned = plant.post(f"/v1/inspections/{unread_id}/code", "reviewer", {"code": "RL0000000099"})
    assert assigned.status_code == 200, assigned.text
    later = plant.prune(T0 + day(101))
    assert later.expired == 5 and set(later.kept) == {KEEP_GOLDEN}
    assert plant.status(golden) == 200 and plant.stored(golden)
    for ref in (pending_frame, pending_crop, unread, shared, across):
        assert plant.status(ref) == 410 and not plant.stored(ref)
    for inspection_id in (old_id, young_id):  # both holders of the shared file say so
        assert plant.get(f"/v1/inspections/{inspection_id}").json()["image_expired_at"] is not None
    assert plant.get(f"/v1/inspections/{golden_id}").json()["image_expired_at"] is None
    assert inconsistencies(plant.db, plant.images) == []


def test_a_pass_audit_sample_is_kept_until_a_person_audited_it(plant: Plant) -> None:
    sample_id, sample = plant.pass_frame(T0, audit_sample=True)
    _plain_id, plain = plant.pass_frame(T0)
    first = plant.prune(T0 + day(91))
    assert first.expired == 1 and first.kept[KEEP_AUDIT] == 1
    assert plant.status(plain) == 410 and plant.status(sample) == 200 and plant.stored(sample)
    audited = plant.post(f"/v1/inspections/{sample_id}/audit", "reviewer", {"outcome": "ok"})
    assert audited.status_code == 201, audited.text
    later = plant.prune(T0 + day(92))
    assert later.expired == 1 and KEEP_AUDIT not in later.kept
    assert plant.status(sample) == 410 and not plant.stored(sample)
    assert inconsistencies(plant.db, plant.images) == []


def test_a_near_miss_is_kept_until_a_person_audited_it_like_a_sample(plant: Plant) -> None:
    near_id, near = plant.pass_frame(T0, audit_borderline=True)
    _plain_id, plain = plant.pass_frame(T0)
    first = plant.prune(T0 + day(91))
    assert first.expired == 1 and first.kept[KEEP_AUDIT] == 1
    assert plant.status(plain) == 410 and plant.status(near) == 200 and plant.stored(near)
    audited = plant.post(f"/v1/inspections/{near_id}/audit", "reviewer", {"outcome": "ok"})
    assert audited.status_code == 201, audited.text
    later = plant.prune(T0 + day(92))
    assert later.expired == 1 and KEEP_AUDIT not in later.kept
    assert plant.status(near) == 410 and not plant.stored(near)
    assert inconsistencies(plant.db, plant.images) == []


def test_a_dry_run_changes_nothing_and_tells_what_a_run_will_do(plant: Plant) -> None:
    shared = plant.upload(who="pv")
    ids = [plant.pass_frame(T0 + timedelta(minutes=i), shared)[0] for i in range(3)]  # one file, 3 records
    _, other = plant.pass_frame(T0)
    _, young = plant.pass_frame(T0 + day(40))
    sizes = sum(plant.images.path(ref).stat().st_size for ref in (shared, other))

    dry = plant.prune(T0 + day(31), dry_run=True, batch=1)  # the shared file is seen in three batches
    assert (dry.dry_run, dry.expired, dry.bytes_freed, dry.files_deleted) == (True, 2, sizes, 0)
    assert dry.oldest_kept == T0 + day(40)
    assert "would expire 2 image(s), would free" in dry.summary()
    assert all(plant.stored(ref) and plant.status(ref) == 200 for ref in (shared, other, young))
    assert all(plant.get(f"/v1/inspections/{i}").json()["image_expired_at"] is None for i in ids)

    real = plant.prune(T0 + day(31), batch=1)
    assert (real.expired, real.bytes_freed, real.oldest_kept) == (
        dry.expired,
        dry.bytes_freed,
        dry.oldest_kept,
    )
    assert not plant.stored(shared) and not plant.stored(other) and plant.stored(young)


def test_bytes_that_expired_are_stored_again_when_uploaded_again(plant: Plant) -> None:
    data = plant.image()
    ref = plant.upload(data, who="pv")
    old_id, _ = plant.pass_frame(T0, ref)
    assert plant.prune(T0 + day(31)).expired == 1 and plant.status(ref) == 410

    again = httpx.post(
        f"{plant.base}/v1/images", content=data, headers={**plant.headers("pv"), "Content-Type": "image/png"}
    )
    assert (again.status_code, again.json()["status"]) == (201, "created")
    assert plant.status(ref) == 200 and plant.stored(ref)
    new_id, _ = plant.pass_frame(days_ago(1), ref)
    assert plant.get(f"/v1/inspections/{new_id}").json()["image_expired_at"] is None
    assert plant.get(f"/v1/inspections/{old_id}").json()["image_expired_at"] is not None  # it had expired
    assert inconsistencies(plant.db, plant.images) == []


def test_an_upload_nothing_refers_to_expires_and_a_late_inspection_says_so(plant: Plant) -> None:
    frame, crop = plant.upload(), plant.upload()  # the inspection that holds them arrives months later
    now = days_ago(-91)  # 91 days after the uploads: past the longer retention
    assert plant.prune(now - day(2)).expired == 0
    report = plant.prune(now)
    assert report.expired == 2 and not plant.stored(frame) and not plant.stored(crop)
    assert "unreferenced upload" in plant.get(f"/v1/images/{frame}").json()["error"]["message"]

    body = textile(at=days_ago(100), image_ref=frame)
    body["defects"][0]["crop_ref"] = crop
    late = plant.inspect(body)
    record = plant.get(f"/v1/inspections/{late}").json()
    assert record["image_expired_at"] is not None and record["defects"][0]["crop_expired_at"] is not None
    queue = plant.get("/v1/review/queue").json()["items"]
    assert [i["image_expired_at"] is not None for i in queue if i["defect"]["inspection_id"] == late] == [
        True
    ]
    assert inconsistencies(plant.db, plant.images) == []


def test_a_frame_that_expired_cannot_be_chosen_as_golden_sample(plant: Plant) -> None:
    inspection_id, _ = plant.pass_frame(T0)
    plant.prune(T0 + day(31))
    chosen = plant.post("/v1/lines/pv-01/golden", "reviewer", {"inspection_id": inspection_id})
    assert chosen.status_code == 422 and "image retention" in chosen.text
    assert plant.get("/v1/lines/pv-01/golden", station="el").status_code == 404  # no frame to fall back on


def test_a_dataset_export_skips_the_frames_whose_image_expired(plant: Plant, tmp_path: Path) -> None:
    old_id, _, _ = plant.fail_frame(T0)
    new_id, _, _ = plant.fail_frame(T0 + day(80))
    for inspection_id in (old_id, new_id):
        plant.review(inspection_id)
    assert plant.prune(T0 + day(91)).expired == 2  # the old frame and its crop

    with ApiReviewSource(plant.base, plant.keys["viewer"]) as source:
        report = export_reviews(source, tmp_path / "retrain", line_ids=["textile-01"])
    assert [s.inspection_id for s in report.skipped] == [old_id]
    assert "410" in report.skipped[0].reason and "image retention" in report.skipped[0].reason
    assert len(list((tmp_path / "retrain").rglob("images/**/*.png"))) == 1


def test_the_api_prunes_by_itself_counts_it_and_keeps_answering(any_db_url: str, tmp_path: Path) -> None:
    settings = {
        "image_retention_pass_days": 30,
        "image_retention_defect_days": 90,
        "image_prune_interval_s": 0.2,
    }
    with running_plant(any_db_url, tmp_path, settings) as plant:
        data = plant.image()
        size, old = len(data), plant.upload(data, who="pv")
        plant.pass_frame(days_ago(31), old)  # the next run (within 0.2 s) expires it
        _, young = plant.pass_frame(days_ago(29))
        deadline = time.monotonic() + 30
        while plant.status(old) != 410:
            assert time.monotonic() < deadline, "the API's retention did not expire the old frame"
            assert httpx.get(f"{plant.base}/healthz").status_code == 200
            time.sleep(0.1)
        assert plant.status(young) == 200 and not plant.stored(old)
        metrics = httpx.get(f"{plant.base}/metrics").text
        assert "linecheck_images_pruned_total 1.0" in metrics
        assert f"linecheck_image_bytes_pruned_total {float(size)}" in metrics
        assert 'linecheck_image_prune_runs_total{outcome="ok"}' in metrics


@pytest.mark.parametrize(
    ("held", "policy", "keep", "rule"),
    [
        pytest.param(RefHolders(ref="a", newest_pass_frame=T0), POLICY, None, "PASS_DAYS=30", id="old-pass"),
        pytest.param(RefHolders(ref="a", newest_pass_frame=T0 + day(2)), POLICY, KEEP_YOUNG, "", id="young"),
        pytest.param(RefHolders(ref="a", newest_other=T0), POLICY, KEEP_YOUNG, "", id="fail-kept-longer"),
        pytest.param(
            RefHolders(ref="a", newest_pass_frame=T0, newest_other=T0 - day(60)),
            POLICY, None, "DEFECT_DAYS=90", id="shared-expires-by-the-longer-setting",
        ),
        pytest.param(
            RefHolders(ref="a", newest_pass_frame=T0), RetentionPolicy(defect_days=10), KEEP_FOREVER, "",
            id="pass-retention-unset",
        ),
        pytest.param(
            RefHolders(ref="a", newest_other=T0 - day(99), awaiting_review=True), POLICY, KEEP_REVIEW, "",
            id="pending-review",
        ),
        pytest.param(
            RefHolders(ref="a", newest_pass_frame=T0 - day(99), awaiting_code=True), POLICY, KEEP_CODE, "",
            id="unread-code",
        ),
        pytest.param(RefHolders(ref="a", golden=True), POLICY, KEEP_GOLDEN, "", id="golden"),
        pytest.param(
            RefHolders(ref="a", stored_at=T0 - day(60)), POLICY, None, "unreferenced upload", id="orphan"
        ),
        pytest.param(RefHolders(ref="a", stored_at=T0), POLICY, KEEP_YOUNG, "", id="young-orphan"),
        pytest.param(
            RefHolders(ref="a", stored_at=T0 - day(999)), RetentionPolicy(pass_days=1), KEEP_FOREVER, "",
            id="orphan-with-one-retention-unset",
        ),
    ],
)  # fmt: skip
def test_decide(held: RefHolders, policy: RetentionPolicy, keep: str | None, rule: str) -> None:
    decision = decide(held, policy, now=T0 + day(31))
    assert decision.keep == keep
    assert rule in decision.rule and bool(decision.rule) == (keep is None)
