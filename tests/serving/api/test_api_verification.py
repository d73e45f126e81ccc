"""``GET /v1/lines/{id}/verification``: the challenge parts' latest inspections, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_payloads import bearing
from lc_challenge import MASTER, RABBIT, challenge_lines

from linecheck.serving.api.testing import create_key, run_api


@pytest.fixture(scope="module")
def verified_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return challenge_lines(tmp_path_factory.mktemp("lines"))


class Client:
    def __init__(self, base: str, db_url: str) -> None:
        self.base = base
        self.line = {"Authorization": f"Bearer {create_key(db_url, 'line', 'bearing-01')}"}
        self.viewer = {"Authorization": f"Bearer {create_key(db_url, 'viewer')}"}

    def inspect(self, code: str, minutes_ago: float, defects: list[tuple[str, str]] | None = None) -> None:
        at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        body = bearing(code, defects, captured_at=at.isoformat())
        response = httpx.post(self.base + "/v1/inspections", json=body, headers=self.line, timeout=30)
        assert response.status_code == 201, response.text

    def verification(self, line_id: str = "bearing-01") -> httpx.Response:
        return httpx.get(self.base + f"/v1/lines/{line_id}/verification", headers=self.viewer, timeout=30)


@pytest.fixture
def client(any_db_url: str, verified_lines: Path, tmp_path: Path) -> Iterator[Client]:
    with run_api(any_db_url, tmp_path / "api", lines_dir=verified_lines) as base:
        yield Client(base, any_db_url)


def _state(client: Client) -> dict[str, Any]:
    response = client.verification()
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_verification_follows_the_challenge_parts_latest_inspections(client: Client) -> None:
    status = _state(client)
    assert status["state"] == "due" and status["every_h"] == 8
    assert [(p["code"], p["met"], p["current"]) for p in status["parts"]] == [
        (RABBIT, None, False),
        (MASTER, None, False),
    ]

    client.inspect(RABBIT, 30, [("scratch", "face"), ("dent", "bore")])
    client.inspect(MASTER, 20)
    status = _state(client)
    assert status["state"] == "verified" and status["problem"] is None
    rabbit = status["parts"][0]
    assert rabbit["met"] and rabbit["verdict"] == "fail" and rabbit["found_classes"] == ["dent", "scratch"]
    due = datetime.fromisoformat(status["due_at"])
    assert timedelta(hours=7, minutes=25) < due - datetime.now(UTC) < timedelta(hours=7, minutes=35)

    client.inspect(RABBIT, 5)  # the red rabbit passed: the station no longer catches it
    status = _state(client)
    assert status["state"] == "failed" and status["due_at"] is None
    assert status["problem"] == f"challenge part {RABBIT} was judged pass, expected fail with scratch"
    client.inspect(RABBIT, 1, [("scratch", "face")])  # fixed, run again
    assert _state(client)["state"] == "verified"


def test_a_part_run_before_the_interval_no_longer_counts_and_a_line_without_parts_is_404(
    client: Client,
) -> None:
    client.inspect(RABBIT, 9 * 60, [("scratch", "face")])
    client.inspect(MASTER, 10)
    status = _state(client)
    assert status["state"] == "due" and status["problem"] == (
        f"challenge part(s) {RABBIT} not run within the verification interval"
    )
    missing = client.verification("pv-01")
    assert missing.status_code == 404 and "lists no challenge parts" in missing.text
    assert client.verification("nope-01").status_code == 404


def test_challenge_parts_are_not_production_in_the_line_statistics(client: Client) -> None:
    client.inspect("BR0000000101", 40, [("dent", "face")])
    client.inspect("BR0000000102", 35)
    client.inspect(RABBIT, 30, [("scratch", "face")])
    client.inspect(MASTER, 20)
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    response = httpx.get(
        client.base + "/v1/lines/bearing-01/stats", params={"since": since}, headers=client.viewer, timeout=30
    )
    assert response.status_code == 200, response.text
    totals = response.json()["totals"]
    assert totals["units"] == 2 and totals["failed_units"] == 1 and totals["inspections"] == 2
    assert totals["defects_by_class"] == {"dent": 1}  # the red rabbit's scratch is not a production defect


def test_challenge_parts_do_not_wait_in_the_review_queue(client: Client) -> None:
    client.inspect("BR0000000101", 40, [("dent", "face")])
    client.inspect(RABBIT, 30, [("scratch", "face")])

    def queue(**params: Any) -> list[tuple[str, str]]:
        response = httpx.get(
            client.base + "/v1/review/queue", params=params, headers=client.viewer, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["items"])
        return [(i["code"], i["defect"]["class_name"]) for i in body["items"]]

    assert queue() == [("BR0000000101", "dent")]  # the red rabbit's known scratch is not a reviewer's work
    assert queue(line_id="bearing-01") == [("BR0000000101", "dent")]
    assert queue(code=RABBIT) == [(RABBIT, "scratch")]  # asked for by its code, it is there


def test_after_a_changeover_the_new_products_parts_must_run_again(any_db_url: str, tmp_path: Path) -> None:
    import yaml
    from lc_challenge import LINES_DIR

    folder = tmp_path / "lines"
    folder.mkdir()
    for path in LINES_DIR.glob("*.yaml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if config["id"] == "bearing-01":
            config["products"] = [{"id": "6204"}, {"id": "6205"}]
            config["verification"] = {
                "every_h": 8,
                "parts": [
                    {"code": RABBIT, "expect": "fail", "classes": ["scratch"], "products": ["6204"]},
                    {"code": "BR9900000005", "expect": "fail", "classes": ["scratch"], "products": ["6205"]},
                    {"code": MASTER, "expect": "pass"},
                ],
            }
        (folder / path.name).write_text(yaml.safe_dump(config), encoding="utf-8")
    with run_api(any_db_url, tmp_path / "api", lines_dir=folder) as base:
        client = Client(base, any_db_url)

        def inspect(code: str, minutes_ago: float, product: str, scratch: bool = False) -> None:
            at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
            defects = [("scratch", "face")] if scratch else None
            body = bearing(code, defects, captured_at=at.isoformat(), product=product)
            response = httpx.post(base + "/v1/inspections", json=body, headers=client.line, timeout=30)
            assert response.status_code == 201, response.text

        inspect("BR0000000100", 60, "6204")  # production of 6204
        inspect(RABBIT, 50, "6204", scratch=True)
        inspect(MASTER, 49, "6204")
        inspect("BR0000000101", 40, "6204")
        status = _state(client)
        assert (status["state"], status["product"]) == ("verified", "6204")
        assert [p["code"] for p in status["parts"]] == [RABBIT, MASTER]

        inspect("BR0000000200", 30, "6205")  # the changeover: the first 6205 unit
        status = _state(client)
        assert status["state"] == "due" and status["product"] == "6205"
        assert datetime.fromisoformat(status["changeover_at"]) < datetime.now(UTC) - timedelta(minutes=29)
        assert [p["code"] for p in status["parts"]] == ["BR9900000005", MASTER]
        assert "not run since the changeover to product 6205" in status["problem"]

        inspect("BR9900000005", 20, "6205", scratch=True)
        inspect(MASTER, 19, "6205")
        inspect("BR0000000201", 10, "6205")
        status = _state(client)
        assert status["state"] == "verified" and status["product"] == "6205"
        assert datetime.fromisoformat(status["verified_at"]) < datetime.now(UTC) - timedelta(minutes=18)
