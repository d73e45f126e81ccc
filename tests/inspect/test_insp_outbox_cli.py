"""`linecheck outbox list|requeue|drop` on a real outbox file, as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from linecheck.cli.main import app
from linecheck.inspect.messages import InspectionResult
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.settings import get_inspector_settings
from linecheck.messages import CodeStatus, Verdict

runner = CliRunner()


def _result(code: str, seq: int, verdict: Verdict = Verdict.PASS) -> InspectionResult:
    image = np.full((32, 48, 3), 7, np.uint8)  # the same frame each time: one shared image file
    return InspectionResult(
        line_id="bearing-01",
        station="face",
        code=code,
        code_status=CodeStatus.READ,
        captured_at=datetime.now(UTC),
        model_name="bearing",
        model_version="1",
        verdict=verdict,
        reason="no inference" if verdict is Verdict.NOT_INSPECTED else None,
        frame_seq=seq,
        image_width=48,
        image_height=32,
        image=image,
    )


@pytest.fixture()
def outbox_file(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An outbox with one pending row and two rejected ones, all three keeping the same frame."""
    path = tmp_path / "inspector" / "outbox.sqlite"
    outbox = Outbox(path)
    ids = {
        "pending": outbox.add(_result("BR0000000001", 1, Verdict.NOT_INSPECTED)),
        "bad_code": outbox.add(_result("BR12", 2, Verdict.NOT_INSPECTED)),
        "no_line": outbox.add(_result("BR0000000003", 3, Verdict.NOT_INSPECTED)),
    }
    outbox.mark_rejected(ids["bad_code"], "422: code 'BR12' does not match the line's pattern")
    outbox.mark_rejected(ids["no_line"], "422: line 'bearing-01' is not registered")
    outbox.close()
    yield path, ids


def _run(*args: str | Path) -> Result:
    return runner.invoke(app, ["outbox", *map(str, args)])


def _states(path: Path) -> dict[str, str]:
    outbox = Outbox(path)
    try:
        return {row.id: row.state for row in outbox.rows()}
    finally:
        outbox.close()


def test_list_prints_one_line_per_rejected_row_with_the_api_error(
    outbox_file: tuple[Path, dict[str, str]],
) -> None:
    path, ids = outbox_file
    result = _run("list", "--outbox", path)  # not a terminal: plain
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows] == [
        (ids["bad_code"], "bearing-01", "BR12", "rejected", "1"),
        (ids["no_line"], "bearing-01", "BR0000000003", "rejected", "1"),
    ]
    assert rows[0][6] == "422: code 'BR12' does not match the line's pattern"
    everything = _run("list", "--outbox", path, "--state", "all", "--format", "plain")
    assert [line.split("\t")[0] for line in everything.stdout.splitlines()] == list(ids.values())


def test_list_as_json_and_as_a_table(outbox_file: tuple[Path, dict[str, str]]) -> None:
    path, ids = outbox_file
    listed = json.loads(_run("list", "--outbox", path, "--format", "json").stdout)
    assert [row["id"] for row in listed] == [ids["bad_code"], ids["no_line"]]
    assert listed[1] == {**listed[1], "code": "BR0000000003", "state": "rejected", "attempts": 1}
    assert listed[1]["last_error"] == "422: line 'bearing-01' is not registered"
    table = _run("list", "--outbox", path, "--format", "table", "--limit", "1")
    assert table.exit_code == 0, table.output
    assert "1 pending, 0 sent, 2 rejected" in table.stdout and "... and 1 more" in table.stdout


def test_requeue_makes_named_rejected_rows_pending(outbox_file: tuple[Path, dict[str, str]]) -> None:
    path, ids = outbox_file
    result = _run("requeue", ids["no_line"], "--outbox", path)
    assert result.exit_code == 0, result.output
    assert "requeued 1 row(s)" in result.output
    assert _states(path) == {
        ids["pending"]: "pending",
        ids["bad_code"]: "rejected",
        ids["no_line"]: "pending",
    }
    assert "requeued 1 row(s)" in _run("requeue", "--all", "--outbox", path).output
    assert set(_states(path).values()) == {"pending"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["requeue"], "or --all"),
        (["drop", "--all", "ID"], "or --all"),
        (["drop", "PENDING"], "(pending)"),
        (["requeue", "nope"], "nope (no such row)"),
    ],
)
def test_refuses_rows_that_are_not_rejected_and_changes_nothing(
    outbox_file: tuple[Path, dict[str, str]], args: list[str], needle: str
) -> None:
    path, ids = outbox_file
    before = _states(path)
    result = _run(
        *[ids["pending"] if a == "PENDING" else ids["bad_code"] if a == "ID" else a for a in args],
        "--outbox",
        path,
    )
    assert result.exit_code == 1
    assert "error:" in result.output and needle in result.output
    assert _states(path) == before


def test_drop_deletes_rejected_rows_and_only_images_no_row_needs(
    outbox_file: tuple[Path, dict[str, str]],
) -> None:
    path, ids = outbox_file
    images = list((path.parent / "images").rglob("*.png"))
    assert len(images) == 1  # one frame, shared by the three rows
    result = _run("drop", ids["bad_code"], "--outbox", path)
    assert result.exit_code == 0, result.output
    assert "dropped 1 row(s)" in result.output
    assert _run("drop", "--all", "--outbox", path).exit_code == 0
    assert _states(path) == {ids["pending"]: "pending"}
    assert images[0].exists()  # the pending row still needs it
    outbox = Outbox(path)
    outbox.mark_rejected(ids["pending"], "422: bad")
    outbox.close()
    assert "dropped 1 row(s)" in _run("drop", "--all", "--outbox", path).output
    assert not images[0].exists()


def test_default_outbox_is_the_inspectors(
    outbox_file: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path, _ = outbox_file
    monkeypatch.setenv("LINECHECK_INSPECTOR_DIR", str(path.parent))
    get_inspector_settings.cache_clear()
    try:
        assert len(_run("list").stdout.splitlines()) == 2
        monkeypatch.setenv("LINECHECK_INSPECTOR_DIR", str(tmp_path / "elsewhere"))
        get_inspector_settings.cache_clear()
        missing = _run("list")
        assert missing.exit_code == 1 and "no outbox at" in missing.output
        assert not (tmp_path / "elsewhere").exists()  # looking never creates an outbox
    finally:
        get_inspector_settings.cache_clear()
