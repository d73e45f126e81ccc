"""Reliability soak: the faults of tests/reliability, longer and repeated, with figures.

Phases (each on a fresh SQLite store, the API in its own process as in production):

* ``load``   - ``--clients`` concurrent line clients (own keys, 10 % resends) for ``--seconds``;
               the database is counted afterwards: events sent / received / lost / duplicated,
               5xx, p50 / p99.
* ``kills``  - a simulated inspector line of ``--units`` units while the API is SIGKILLed and
               restarted ``--kills`` times; sent / received / lost / duplicated.
* ``triton`` - a dedicated embedded Triton SIGKILLed and restarted ``--triton-kills`` times under
               a running inspector; frames not_inspected vs passed during outages (must be 0).
* ``disk``   - a 1 MiB tmpfs image store filled ``--disk-rounds`` times (root only; skipped
               otherwise): 507 answers, the alert metric, inspections still recorded.
* ``fuzz``   - schemathesis (coverage + fuzzing) against the OpenAPI spec with ``--examples``
               examples per operation, one line key and one reviewer key: cases tried, 5xx.

    .venv/bin/python bench/soak.py --size small      # ~1 minute
    .venv/bin/python bench/soak.py --size large      # ~10 minutes

Reuses the drivers of ``tests/reliability`` (``rel_load``, ``rel_helpers``) and the tiny test model
of ``tests/serving/triton``. Last line: one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "reliability"), str(ROOT / "tests" / "serving" / "triton")]
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / "var" / "ultralytics"))

import httpx  # noqa: E402
import machine  # noqa: E402
from rel_helpers import (  # noqa: E402
    BlankDetector,
    auth,
    fast_settings,
    inspection,
    metric_value,
    noise_png,
    stored_inspections,
)
from rel_load import line_keys, run_load  # noqa: E402
from timing import print_result  # noqa: E402

from linecheck.config import load_lines  # noqa: E402
from linecheck.inspect.api_client import ApiClient  # noqa: E402
from linecheck.inspect.service import InspectorService, SourceSpec  # noqa: E402
from linecheck.kinds import Kind  # noqa: E402
from linecheck.serving.api.testing import create_key, free_port, run_api_process  # noqa: E402
from linecheck.serving.store.testing import copy_sqlite, migrated_sqlite_template  # noqa: E402

_KNOBS = ("seconds", "clients", "units", "kills", "triton_kills", "disk_rounds", "examples")
SIZES: dict[str, dict[str, int]] = {
    "small": dict(zip(_KNOBS, (10, 32, 150, 2, 1, 1, 8), strict=True)),
    "medium": dict(zip(_KNOBS, (60, 32, 600, 5, 3, 3, 25), strict=True)),
    "large": dict(zip(_KNOBS, (300, 32, 2400, 12, 6, 5, 60), strict=True)),
}
LINES = load_lines(ROOT / "configs" / "lines")
PHASES = ("load", "kills", "triton", "disk", "fuzz")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size", choices=sorted(SIZES), default="small", help="how long and how often (size flag)"
    )
    p.add_argument("--phases", default=",".join(PHASES), help=f"subset of {','.join(PHASES)}")
    for name in ("seconds", "clients", "units", "kills", "triton_kills", "disk_rounds", "examples"):
        p.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=None, help="override the size's value"
        )
    args = p.parse_args(argv)
    for name, value in SIZES[args.size].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        if getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)}: expected >= 0")
    args.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    unknown = sorted(set(args.phases) - set(PHASES))
    if unknown:
        p.error(f"--phases: unknown {unknown}; expected some of {list(PHASES)}")
    return args


class Store:
    """Fresh migrated SQLite copies under one scratch directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = migrated_sqlite_template(root)
        self.count = 0

    def new(self) -> tuple[str, Path]:
        self.count += 1
        data_dir = self.root / f"run{self.count}"
        return copy_sqlite(self.template, data_dir / "linecheck.db"), data_dir


def phase_load(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    url, data_dir = store.new()
    keys = line_keys(lambda line: create_key(url, "line", line, name="soak"), args.clients)
    with run_api_process(url, data_dir) as (base, _proc):
        return run_load(base, url, keys, seconds=args.seconds)


def phase_kills(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    url, data_dir = store.new()
    key = create_key(url, "line", "bearing-01")
    viewer = create_key(url, "viewer")
    port = free_port()
    rate = max(15.0, args.units / max(1.0, 6.0 * (args.kills + 1)))
    svc = InspectorService(
        [LINES["bearing-01"]],
        detectors={"bearing": lambda: BlankDetector(Kind.BEARING)},
        settings=fast_settings(data_dir / "inspector"),
        client=ApiClient(f"http://127.0.0.1:{port}", key),
        sources=[
            SourceSpec(
                line_id="bearing-01",
                station="face",
                uri=f"synth://bearing?seed=3&units={args.units}&rate={rate:g}",
            )
        ],
    )
    kills, started = 0, False
    try:
        for _ in range(args.kills):
            with run_api_process(url, data_dir, port=port) as (_base, proc):
                if not started:
                    svc.start()
                    started = True
                time.sleep(1.5)
                proc.kill()
                proc.wait(timeout=10)
                kills += 1
            time.sleep(0.5)
        with run_api_process(url, data_dir, port=port) as (base, _proc):
            if not started:
                svc.start()
            ok = svc.wait_sources(args.units / rate + 120) and svc.drain(60) and svc.wait_delivered(120)
            stored = stored_inspections(base, viewer)
    finally:
        with contextlib.suppress(Exception):
            svc.stop(deliver_timeout_s=1)
    ids = [s["id"] for s in stored]
    return {
        "api_kills": kills,
        "events_sent": args.units,
        "events_received": len(set(ids)),
        "events_lost": args.units - len(set(ids)),
        "events_duplicated": len(ids) - len(set(ids)),
        "delivered_in_time": bool(ok),
        "connection_failures_seen": svc.metrics.by_key("send_failures").get("connection", 0),
    }


def phase_triton(store: Store, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from lc_tiny_model import REPO_OPTIONS, register_tiny

    from linecheck.model.registry import Registry
    from linecheck.serving.triton.embedded import EmbeddedTriton
    from linecheck.serving.triton.repository import build_repository

    registry = Registry(scratch / "registry")
    register_tiny(registry, "textile", layout="raw", kind="textile")
    repo = scratch / "triton-repo"
    build_repository(registry, repo, REPO_OPTIONS, names=["textile"])
    ports = {"grpc_port": free_port(), "http_port": free_port(), "metrics_port": free_port()}
    url, data_dir = store.new()
    key = create_key(url, "line", "textile-01")
    seen: list[Any] = []
    outages: list[tuple[datetime, datetime]] = []
    line = LINES["textile-01"]
    units = max(2, args.triton_kills * 2 + 1)  # rolls of 20 frames
    server = EmbeddedTriton(repo, ["textile"], stop_timeout_s=5, **ports).start()
    from linecheck.inspect.detectors import triton_factories

    with run_api_process(url, data_dir) as (base, _proc):
        svc = InspectorService(
            [line],
            detectors=triton_factories([line], url=f"127.0.0.1:{ports['grpc_port']}", timeout_s=5),
            settings=fast_settings(data_dir / "inspector", infer_timeout_s=5, deadline_s=30),
            client=ApiClient(base, key),
            sources=[
                SourceSpec(
                    line_id="textile-01", station="cam1", uri=f"synth://textile?seed=4&units={units}&rate=10"
                )
            ],
            observers=[lambda result, _inferred: seen.append(result)],
        )
        svc.start()
        try:
            for _ in range(args.triton_kills):
                goal = len(seen) + 8
                deadline = time.monotonic() + 60
                while len(seen) < goal and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert server.pid is not None
                os.killpg(server.pid, signal.SIGKILL)
                killed = datetime.now(UTC)
                server.stop()
                time.sleep(1.5)
                back = datetime.now(UTC)
                outages.append((killed, back))
                server = EmbeddedTriton(repo, ["textile"], stop_timeout_s=5, **ports).start()
            svc.wait_sources(units * 2 + 120)
            svc.drain(60)
            svc.wait_delivered(60)
        finally:
            with contextlib.suppress(Exception):
                svc.stop()
            server.stop()
        stored = stored_inspections(base, create_key(url, "viewer"))
    during = [r for r in seen if any(a < r.captured_at < b for a, b in outages)]
    return {
        "triton_kills": len(outages),
        "frames": len(seen),
        "frames_stored": len(stored),
        "not_inspected": sum(r.verdict.value == "not_inspected" for r in seen),
        "frames_during_outages": len(during),
        "passed_during_outages": sum(r.verdict.value != "not_inspected" for r in during),
        "resumed": bool(seen) and seen[-1].verdict.value != "not_inspected",
    }


def phase_disk(store: Store, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    refused = stored_images = recorded = 0
    metric = 0.0
    for round_ in range(args.disk_rounds):
        url, data_dir = store.new()
        mount = scratch / f"tiny-{round_}"
        mount.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], capture_output=True
        )
        if done.returncode != 0:
            return {"disk_skipped": f"cannot mount tmpfs: {done.stderr.decode().strip()}"}
        try:
            key, viewer = create_key(url, "line", "textile-01"), create_key(url, "viewer")
            env = {"LINECHECK_API_IMAGES_DIR": str(mount)}
            with (
                run_api_process(url, data_dir, env=env) as (base, _proc),
                httpx.Client(base_url=base) as http,
            ):
                for seed in range(12):
                    png = noise_png(1000 * round_ + seed)
                    answer = http.post(
                        "/v1/images", content=png, headers={**auth(key), "Content-Type": "image/png"}
                    )
                    refused += answer.status_code == 507
                    stored_images += answer.status_code == 201
                    body = inspection("textile-01", seed + 1, image_ref=hashlib.sha256(png).hexdigest())
                    recorded += http.post("/v1/inspections", json=body, headers=auth(key)).status_code == 201
                metric += metric_value(
                    http.get("/metrics").text, "linecheck_image_store_errors_total", reason="full"
                )
                assert len(stored_inspections(base, viewer)) == 12
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
    return {
        "disk_full_rounds": args.disk_rounds,
        "images_stored": stored_images,
        "images_refused_507": refused,
        "image_store_errors_metric": metric,
        "inspections_recorded_while_full": recorded,
    }


def phase_fuzz(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        return {"fuzz_skipped": "schemathesis is not installed"}
    url, data_dir = store.new()
    keys = {"line": create_key(url, "line", "textile-01"), "reviewer": create_key(url, "reviewer")}
    cases = failures = 0
    env = {"LINECHECK_API_RATE_LIMIT_PER_S": "0"}
    with run_api_process(url, data_dir, env=env) as (base, _proc):
        httpx.post(f"{base}/v1/inspections", json=inspection("textile-01", 1), headers=auth(keys["line"]))
        for key in keys.values():
            run = subprocess.run(
                [exe, "run", f"{base}/openapi.json", "--checks", "not_a_server_error", "--max-examples",
                 str(args.examples), "--phases", "examples,coverage,fuzzing", "--generation-deterministic",
                 "--request-timeout", "30", "--header", f"Authorization: Bearer {key}", "--no-color"],
                capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            out = run.stdout + run.stderr
            generated = re.search(r"(\d+) generated", out)
            unique = re.search(r"(\d+) unique failures?", out)
            cases += int(generated.group(1)) if generated else 0
            failures += int(unique.group(1)) if unique else int(run.returncode != 0)
            if run.returncode != 0:
                print(out[-3000:])
    return {"fuzz_cases": cases, "fuzz_failures": failures}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.header())
    scratch = Path(tempfile.mkdtemp(prefix="soak-", dir=ROOT / "var"))
    figures: dict[str, Any] = {"size": args.size, "phases": args.phases}
    started = time.monotonic()
    try:
        store = Store(scratch)
        for phase in args.phases:
            t0 = time.monotonic()
            if phase == "load":
                result = phase_load(store, args)
            elif phase == "kills":
                result = phase_kills(store, args)
            elif phase == "triton":
                result = phase_triton(store, args, scratch)
            elif phase == "disk":
                result = phase_disk(store, args, scratch)
            else:
                result = phase_fuzz(store, args)
            result[f"{phase}_seconds"] = round(time.monotonic() - t0, 1)
            print(f"{phase}: {result}", flush=True)
            figures.update({k if k.startswith(phase) else f"{phase}_{k}": v for k, v in result.items()})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures["total_seconds"] = round(time.monotonic() - started, 1)
    figures["machine"] = machine.describe()
    print_result(figures)
    bad = (
        figures.get("load_status_5xx", 0)
        + figures.get("load_events_lost", 0)
        + figures.get("load_events_duplicated", 0)
        + figures.get("kills_events_lost", 0)
        + figures.get("kills_events_duplicated", 0)
        + figures.get("triton_passed_during_outages", 0)
        + figures.get("fuzz_failures", 0)
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
