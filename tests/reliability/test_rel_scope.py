"""Line scope on every write, and genealogy without cycles, on SQLite and PostgreSQL.

A unit belongs to the line that first inspected it (or whose frame a reviewer gave its code). A
line key writes process events and genealogy only for its own lines' units and for codes no line
owns; a link between two codes no line owns needs a reviewer key; a link that would close a cycle
is refused with 409 naming the codes.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from rel_helpers import Served, auth, code_for, inspection

from linecheck.serving.api.testing import create_key

ROLL = code_for("textile-01", 11)
RING = code_for("bearing-01", 12)


def _own_units(served: Served) -> None:
    for who, body in (("textile", inspection("textile-01", 11)), ("bearing", inspection("bearing-01", 12))):
        answer = httpx.post(f"{served.base}/v1/inspections", json=body, headers=auth(served.keys[who]))
        assert answer.status_code == 201, answer.text


def _post(served: Served, who: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(served.base + path, json=body, headers=auth(served.keys[who]), timeout=30)


def _trace(served: Served, code: str) -> dict:
    answer = httpx.get(f"{served.base}/v1/trace/{code}", headers=auth(served.keys["viewer"]), timeout=30)
    return answer.json() if answer.status_code == 200 else {}


SHIPPED = {"type": "shipped", "at": "2026-11-24T08:00:00Z"}


@pytest.mark.parametrize(
    ("who", "code", "body", "status"),
    [
        ("textile", RING, SHIPPED, 403),  # another line's unit, no line_id: refused
        ("textile", RING, {**SHIPPED, "line_id": "textile-01"}, 403),  # naming its own line does not help
        ("bearing", RING, SHIPPED, 201),
        ("textile", ROLL, SHIPPED, 201),
        ("textile", "LOT-77", SHIPPED, 201),  # a code no line owns: any line key, and it claims nothing
        ("reviewer", ROLL, SHIPPED, 403),  # events are written by line keys
        ("viewer", ROLL, SHIPPED, 403),
    ],
    ids=[
        "textile-on-bearing",
        "textile-on-bearing-own-line",
        "bearing",
        "textile",
        "unowned",
        "reviewer",
        "viewer",
    ],
)
def test_process_events_stay_within_the_keys_lines(served: Served, who, code, body, status) -> None:
    _own_units(served)
    answer = _post(served, who, f"/v1/units/{code}/events", body)
    assert answer.status_code == status, answer.text
    events = _trace(served, code).get("events", [])
    assert len(events) == (1 if status == 201 else 0)
    if status == 403:
        assert answer.json()["error"]["type"] == "forbidden"
    if code == "LOT-77" and status == 201:
        assert _trace(served, code)["unit"] is None  # writing an event did not make the lot a unit


@pytest.mark.parametrize(
    ("who", "link", "status"),
    [
        ("textile", {"parent": "BOX-1", "child": RING, "relation": "packed_in"}, 403),
        ("textile", {"parent": RING, "child": "LOT-1", "relation": "made_from"}, 403),
        ("textile", {"parent": ROLL, "child": RING, "relation": "contains"}, 403),
        ("bearing", {"parent": "BOX-1", "child": RING, "relation": "packed_in"}, 201),
        ("textile", {"parent": ROLL, "child": "LOT-1", "relation": "made_from"}, 201),
        (
            "textile",
            {"parent": "BOX-1", "child": "LOT-1", "relation": "packed_in"},
            403,
        ),  # neither is its unit
        ("reviewer", {"parent": "BOX-1", "child": "LOT-1", "relation": "packed_in"}, 201),
        ("reviewer", {"parent": "BOX-1", "child": RING, "relation": "packed_in"}, 201),
        ("viewer", {"parent": "BOX-1", "child": "LOT-1", "relation": "packed_in"}, 403),
    ],
    ids=[
        "textile-packs-bearing",
        "textile-bearing-parent",
        "textile-links-both",
        "bearing-packs-own",
        "textile-own-roll",
        "line-key-two-unowned",
        "reviewer-two-unowned",
        "reviewer-any",
        "viewer",
    ],
)
def test_genealogy_stays_within_the_keys_lines(served: Served, who, link, status) -> None:
    _own_units(served)
    answer = _post(served, who, "/v1/genealogy", link)
    assert answer.status_code == status, answer.text
    parents = _trace(served, link["child"]).get("genealogy", {}).get("parents", [])
    assert len(parents) == (1 if status == 201 else 0)
    if status == 403:
        error = answer.json()["error"]
        assert error["type"] == "forbidden"


def test_a_scoped_reviewer_stays_within_its_lines(served: Served) -> None:
    _own_units(served)
    scoped = create_key(served.url, "reviewer", "textile-01", name="textile qa")
    link = {"parent": "BOX-2", "child": RING, "relation": "packed_in"}
    answer = httpx.post(f"{served.base}/v1/genealogy", json=link, headers=auth(scoped))
    assert answer.status_code == 403, answer.text
    link = {"parent": "BOX-2", "child": ROLL, "relation": "packed_in"}
    assert httpx.post(f"{served.base}/v1/genealogy", json=link, headers=auth(scoped)).status_code == 201


@pytest.mark.parametrize(
    "chain",
    [
        ["A-1", "B-1"],  # A contains B, B contains A
        ["A-2", "B-2", "C-2"],
        [
            "A-3",
            "B-3",
            "C-3",
            "D-3",
            "E-3",
            "F-3",
            "G-3",
            "H-3",
            "I-3",
            "J-3",
            "K-3",
            "L-3",
        ],  # deeper than a trace
    ],
    ids=["two", "three", "twelve"],
)
@pytest.mark.parametrize("closing", ["contains", "made_from", "packed_in"])
def test_genealogy_refuses_cycles_naming_the_codes(served: Served, chain, closing) -> None:
    for parent, child in itertools.pairwise(chain):
        link = {"parent": parent, "child": child, "relation": "contains"}
        assert _post(served, "reviewer", "/v1/genealogy", link).status_code == 201
    back = {"parent": chain[-1], "child": chain[0], "relation": closing}
    answer = _post(served, "reviewer", "/v1/genealogy", back)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["type"] == "conflict"
    assert chain[0] in error["message"] and chain[-1] in error["message"]
    assert " -> ".join(chain) in error["message"]  # the path that would close
    parents = _trace(served, chain[0])["genealogy"]["parents"]
    assert parents == []
    # the same link again (a retry of an accepted one) is still a duplicate, not a cycle
    first = {"parent": chain[0], "child": chain[1], "relation": "contains"}
    assert _post(served, "reviewer", "/v1/genealogy", first).json() == {"status": "duplicate"}


def test_cycles_through_any_relation_are_refused(served: Served) -> None:
    assert (
        _post(
            served, "reviewer", "/v1/genealogy", {"parent": "P-9", "child": "Q-9", "relation": "made_from"}
        ).status_code
        == 201
    )
    assert (
        _post(
            served, "reviewer", "/v1/genealogy", {"parent": "Q-9", "child": "R-9", "relation": "packed_in"}
        ).status_code
        == 201
    )
    answer = _post(
        served, "reviewer", "/v1/genealogy", {"parent": "R-9", "child": "P-9", "relation": "contains"}
    )
    assert answer.status_code == 409, answer.text


def test_two_writers_cannot_close_a_cycle_together(served: Served) -> None:
    """A -> B and B -> A posted at the same moment: at most one is stored (the writers take turns)."""

    def post(link: dict) -> int:
        return _post(served, "reviewer", "/v1/genealogy", link).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        for n in range(15):
            a, b = f"CA-{n}", f"CB-{n}"
            statuses = sorted(
                pool.map(
                    post,
                    [
                        {"parent": a, "child": b, "relation": "contains"},
                        {"parent": b, "child": a, "relation": "packed_in"},
                    ],
                )
            )
            assert statuses == [201, 409], (n, statuses)
