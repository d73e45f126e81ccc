"""``linecheck db prune-images``, a run that fails or is killed half-way, and bad retention settings.

The store stays consistent whatever happens: no record points at a deleted file without saying
the image expired, and the next run finishes what a broken one left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from api_payloads import T0, pv
from retention_plant import Plant, days_ago, inconsistencies, running_plant
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.errors import ImageStoreError
from linecheck.serving.store.db import sqlite_url

ROOT = Path(__file__).resolve().parents[3]
RETENTION = {
    "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS": "30",
    "LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS": "90",
}
runner = CliRunner()


@pytest.fixture
def plant(any_db_url: str, tmp_path: Path) -> Iterator[Plant]:
    with running_plant(any_db_url, tmp_path) as running:
        yield running


def _files(images: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(images))


def test_a_deletion_that_fails_leaves_a_consistent_store_and_the_next_run_finishes(plant: Plant) -> None:
    refs = [plant.pass_frame(T0 + timedelta(minutes=i))[1] for i in range(4)]
    broken = plant.images.path(refs[2])
    data = broken.read_bytes()
    broken.unlink()
    broken.mkdir()  # the disk refuses to delete it (unlink: EISDIR)
    (broken / "x").write_bytes(b"x")

    with pytest.raises(ImageStoreError, match=f"cannot delete image {refs[2]}"):
        plant.prune(T0 + timedelta(days=31))
    assert inconsistencies(plant.db, plant.images) == []
    assert all(plant.status(ref) == 410 for ref in refs)  # every record says so, deleted or not yet

    (broken / "x").unlink()
    broken.rmdir()
    broken.write_bytes(data)  # the fault mended
    report = plant.prune(T0 + timedelta(days=31))
    assert report.expired == 0 and report.files_deleted == 2  # the rest of the batch that failed
    assert not any(plant.stored(ref) for ref in refs)
    assert inconsistencies(plant.db, plant.images) == []


def test_a_killed_run_leaves_a_consistent_store_and_the_next_run_finishes(
    plant: Plant, any_db_url: str, tmp_path: Path
) -> None:
    count = 120
    refs = [plant.upload(who="pv") for _ in range(count)]
    bodies = [
        pv(f"PV{i:012d}", captured_at=days_ago(40).isoformat(), image_ref=ref) for i, ref in enumerate(refs)
    ]
    posted = plant.post("/v1/inspections", "pv", {"inspections": bodies})
    assert posted.status_code == 200 and posted.json()["created"] == count, posted.text
    images = tmp_path / "images"
    assert _files(images) == count
    env = {
        **os.environ,
        **RETENTION,
        "LINECHECK_DATA_DIR": str(tmp_path),
        "LINECHECK_API_IMAGE_PRUNE_BATCH": "1",
    }
    command = [sys.executable, "-m", "linecheck.cli.main", "db", "prune-images", "--database-url", any_db_url]
    run = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _files(images) == count:  # kill it as soon as it has deleted a file
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run deleted nothing"
        time.sleep(0.001)
    run.send_signal(signal.SIGKILL)
    run.communicate()
    assert run.returncode == -signal.SIGKILL
    left = _files(images)
    assert 0 < left < count, "the run was not stopped half-way"
    assert inconsistencies(plant.db, plant.images) == []

    finished = runner.invoke(app, command[3:], env=env)
    assert finished.exit_code == 0, finished.output
    assert _files(images) == 0
    assert all(plant.status(ref) == 410 for ref in refs)
    assert inconsistencies(plant.db, plant.images) == []


def test_prune_images_command(plant: Plant, any_db_url: str, tmp_path: Path) -> None:
    _, old = plant.pass_frame(days_ago(40))
    young_at = days_ago(1).replace(microsecond=0)
    _, young = plant.pass_frame(young_at)
    fail_id, frame, crop = plant.fail_frame(days_ago(100))
    plant.review(fail_id)
    size = sum(plant.images.path(ref).stat().st_size for ref in (old, frame, crop))
    args = ["db", "prune-images", "--database-url", any_db_url]
    env = {**RETENTION, "LINECHECK_DATA_DIR": str(tmp_path)}

    dry = runner.invoke(app, [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"would expire 3 image(s), would free {size} bytes" in dry.stdout
    assert f"oldest image kept: captured {young_at.isoformat()}" in dry.stdout
    assert "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS=30" in dry.stdout
    assert all(plant.stored(ref) and plant.status(ref) == 200 for ref in (old, young, frame, crop))

    done = runner.invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    assert f"expired 3 image(s), freed {size} bytes" in done.stdout
    assert all(plant.status(ref) == 410 and not plant.stored(ref) for ref in (old, frame, crop))
    assert plant.status(young) == 200

    nothing = runner.invoke(app, args, env={"LINECHECK_DATA_DIR": str(tmp_path)})
    assert nothing.exit_code == 0 and "no image retention set" in nothing.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"LINECHECK_API_IMAGE_RETENTION_PASS_DAYS": "thirty"},
            "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS='thirty': Input should be a valid integer",
            id="not-a-number",
        ),
        pytest.param(
            {"LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS": "0"},
            "LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS='0': Input should be greater than or equal to 1",
            id="zero-days",
        ),
        pytest.param(
            {
                "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS": "90",
                "LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS": "30",
            },
            "LINECHECK_API_IMAGE_RETENTION_DEFECT_DAYS=30 is shorter than "
            "LINECHECK_API_IMAGE_RETENTION_PASS_DAYS=90",
            id="defects-kept-shorter-than-pass-frames",
        ),
        pytest.param(
            {"LINECHECK_API_IMAGE_PRUNE_INTERVAL_S": "-1"},
            "LINECHECK_API_IMAGE_PRUNE_INTERVAL_S='-1': Input should be greater than or equal to 0",
            id="negative-interval",
        ),
    ],
)
def test_a_bad_retention_setting_stops_with_one_line_naming_it(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LINECHECK_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "linecheck.cli.main",
            "db",
            "prune-images",
            "--database-url",
            sqlite_url(tmp_path / "x.db"),
        ],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
