"""Schemathesis against the OpenAPI spec of a real API (uvicorn on loopback), on SQLite and on
PostgreSQL: no 5xx, whatever arrives (NUL and other control characters in strings included).

Non-finite numbers cannot be written in a JSON schema example, so ``test_rel_bad_input`` puts
``NaN`` / ``Infinity`` / ``1e400`` (and the rest of its list) into every JSON body of the same API.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rel_helpers import auth, inspection

from linecheck.serving.api.testing import create_key, run_api

pytest.importorskip("schemathesis", reason="schemathesis is not installed (test extra)")

MAX_EXAMPLES = 8


@pytest.mark.parametrize("role", ["textile", "reviewer"])
def test_openapi_fuzzing_finds_no_server_error(store_url: str, tmp_path: Path, role: str) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert exe is not None
    report = tmp_path / "report.json"
    keys = {
        "textile": create_key(store_url, "line", "textile-01"),
        "reviewer": create_key(store_url, "reviewer"),
    }
    with run_api(store_url, tmp_path / "api", settings={"rate_limit_per_s": 0}) as base:
        import httpx

        # something to find: an inspection with a defect, so ids in paths can hit real rows
        seed = inspection("textile-01", 1)
        httpx.post(f"{base}/v1/inspections", json=seed, headers=auth(keys["textile"]), timeout=30)
        cmd = [
            exe, "run", f"{base}/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", str(MAX_EXAMPLES),
            "--phases", "examples,coverage,fuzzing",
            "--seed", "9",
            "--generation-deterministic",
            "--generation-allow-x00", "true",
            "--generation-codec", "utf-8",
            "--request-timeout", "20",
            "--header", f"Authorization: Bearer {keys[role]}",
            "--report", "ndjson", "--report-ndjson-path", str(report),
            "--no-color",
        ]  # fmt: skip
        run = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=240,
        )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    tried = re.search(r"(\d+) generated, (\d+) passed", out)
    assert tried is not None, out[-2000:]
    assert int(tried.group(1)) == int(tried.group(2)) >= 200  # bounded, but a real number of cases
    print(json.dumps({"role": role, "schemathesis_cases": int(tried.group(1))}))
