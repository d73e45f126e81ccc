"""Failed authentication is rate limited per client address; a revoked key stops within the key-cache time."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import ValidationError
from rel_helpers import auth, metric_value

from linecheck.serving.api import auth as auth_module
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import parse_key, revoke_key

WRONG = "lc_000000000000_" + "A" * 43  # well-formed, so each try would be a store lookup


def test_failed_logins_from_one_address_get_429_without_touching_the_store(
    api_server, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real = auth_module.verify_key

    def counting(session, key):  # type: ignore[no-untyped-def]
        lookups.append(key)
        return real(session, key)

    monkeypatch.setattr(auth_module, "verify_key", counting)
    settings = {"auth_failure_rate_per_s": 1.0, "auth_failure_burst": 5, "key_cache_seconds": 60}
    with api_server(**settings) as base, httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/v1/lines", headers=auth(keys["viewer"])).status_code == 200  # cached from now on
        codes = [http.get("/v1/lines", headers=auth(WRONG)).status_code for _ in range(5)]
        assert codes == [401] * 5
        assert len(lookups) == 6
        started = time.monotonic()
        burst = [http.get("/v1/lines", headers=auth(WRONG)) for _ in range(200)]
        refilled = int(time.monotonic() - started) + 1  # tokens the bucket got back meanwhile, at 1/s
        statuses = [r.status_code for r in burst]
        assert set(statuses) <= {401, 429} and statuses.count(401) <= refilled, statuses
        assert len(lookups) == 6 + statuses.count(401)  # a 429 is refused before any lookup
        refused = next(r for r in reversed(burst) if r.status_code == 429)
        assert refused.json()["error"]["type"] == "rate_limited"
        assert "failed authentications" in refused.json()["error"]["message"]
        assert int(refused.headers["Retry-After"]) == 1
        # a key the API already trusts is not locked out by a neighbour's guessing; unknown ones wait
        assert http.get("/v1/lines", headers=auth(keys["viewer"])).status_code == 200
        while http.get("/v1/lines", headers=auth(WRONG)).status_code != 429:  # a token refilled just now
            statuses.append(401)
        statuses.append(429)
        assert http.get("/v1/lines", headers=auth(keys["reviewer"])).status_code == 429
        # once a token is back, a right key goes through
        time.sleep(int(refused.headers["Retry-After"]))
        assert http.get("/v1/lines", headers=auth(keys["reviewer"])).status_code == 200
        scrape = http.get("/metrics").text
        refused_total = 5 + statuses.count(401)
        limited_total = 1 + statuses.count(429)  # and the reviewer's
        assert metric_value(scrape, "linecheck_auth_failures_total", outcome="refused") == refused_total
        assert metric_value(scrape, "linecheck_auth_failures_total", outcome="rate_limited") == limited_total


def test_revoked_key_stops_working_within_the_key_cache_time(api_server, keys, db_url: str) -> None:
    with api_server(key_cache_seconds=1.0) as base, httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/v1/lines", headers=auth(keys["viewer"])).status_code == 200
        db = Database.from_url(db_url)
        try:
            with db.writer() as session:
                revoke_key(session, parse_key(keys["viewer"])[0])
                session.commit()
        finally:
            db.dispose()
        revoked_at = time.monotonic()
        # trusted from the cache for at most key_cache_seconds, then refused for good
        while http.get("/v1/lines", headers=auth(keys["viewer"])).status_code == 200:
            assert time.monotonic() - revoked_at < 1.5
            time.sleep(0.05)
        answer = http.get("/v1/lines", headers=auth(keys["viewer"]))
        assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]


def test_key_cache_time_is_bounded() -> None:
    assert ApiSettings(key_cache_seconds=600).key_cache_seconds == 600
    with pytest.raises(ValidationError, match="key_cache_seconds"):
        ApiSettings(key_cache_seconds=3600)
