"""Load: 32 concurrent line clients posting for a bounded time to the real API (its own process)."""

from __future__ import annotations

import json
from pathlib import Path

from rel_load import line_keys, run_load

from linecheck.serving.api.testing import create_key, run_api_process

CLIENTS = 32
SECONDS = 8.0


def test_32_line_clients_no_5xx_nothing_lost_or_duplicated(db_url: str, tmp_path: Path) -> None:
    keys = line_keys(lambda line: create_key(db_url, "line", line, name="load"), CLIENTS)
    with run_api_process(db_url, tmp_path / "api") as (base, _proc):
        figures = run_load(base, db_url, keys, seconds=SECONDS, resend_every=10)
    print("load:", json.dumps(figures))
    assert figures["requests"] > CLIENTS  # every client got answers
    assert figures["status_5xx"] == 0
    # a dropped connection is retried like the inspector does; it must stay rare on loopback
    assert figures["transport_errors"] <= figures["requests"] // 100, figures["transport_errors_by_type"]
    assert set(figures["statuses"]) <= {"200", "201"}, figures["statuses"]
    assert figures["events_created"] == figures["events_sent"] == figures["events_received"]
    assert (
        figures["events_lost"] == 0 and figures["events_duplicated"] == 0 and figures["unexpected_rows"] == 0
    )
    assert figures["resent"] > 0 and figures["resent_answered_duplicate"] == figures["resent"]
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
