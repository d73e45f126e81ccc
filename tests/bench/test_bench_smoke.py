"""Each benchmark script at its smallest size: it runs, and its last line is the documented JSON.

The scripts start real servers (embedded Triton, uvicorn) and stop them; a smoke run checks the
plumbing and the figures' consistency, not the speed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench_scripts import load_bench_script

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


timing = load_bench_script("timing")


def run_script(script: str, *args: str, timeout: float = 150.0) -> tuple[int, str]:
    env = dict(os.environ)
    env.setdefault("YOLO_OFFLINE", "1")
    env.setdefault("YOLO_CONFIG_DIR", str(ROOT / "var" / "ultralytics"))
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stderr + done.stdout  # stdout last: its last line is the JSON


def last_json(output: str) -> dict[str, Any]:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


def close(a: float, b: float, rel: float = 0.02) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.002)


def check_pipeline(figures: dict[str, Any]) -> None:
    for path in ("ultralytics", "onnxruntime", "linecheck"):
        assert figures[f"fps_{path}"] > 0
        assert figures["cpu_ms_per_frame"][path] > 0
    assert close(figures["ratio_vs_ultralytics"], figures["fps_linecheck"] / figures["fps_ultralytics"])
    assert close(figures["ratio_vs_onnxruntime"], figures["fps_linecheck"] / figures["fps_onnxruntime"])
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert figures["frames"] == 8
    assert figures["settings"]["triton_instances"] >= 1


def check_pipeline_int8(figures: dict[str, Any]) -> None:
    assert figures["precision"] == "int8"
    assert figures["fps_onnxruntime"] > 0
    agreed = figures["int8_agreement"]
    assert 0 <= agreed["matched"] <= min(agreed["fp32_detections"], agreed["int8_detections"])
    total = agreed["fp32_detections"] + agreed["int8_detections"]
    assert close(agreed["f1"], 2 * agreed["matched"] / total if total else 1.0)


def check_api_ingest(figures: dict[str, Any]) -> None:
    assert figures["sqlite_events_per_s"] > 0
    assert figures["sqlite_defects_per_s"] > 0
    assert (figures["sqlite_errors"], figures["sqlite_duplicates"], figures["sqlite_lost"]) == (0, 0, 0)
    sqlite = figures["details"]["sqlite"]
    assert sqlite["consistent"] is True
    assert sqlite["duplicate_answers"] == sqlite["resent_events"] > 0


def check_trace(figures: dict[str, Any]) -> None:
    assert figures["errors"] == 0
    assert figures["lookups"] == 40
    assert (figures["defects"], figures["codes"]) == (2000, 400)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


def check_holds(figures: dict[str, Any]) -> None:
    assert figures["errors"] == 0
    assert figures["hold_units"] == 40  # the store's first hour: 120 codes, every third a bearing
    assert 0 < figures["grade_held_p50_ms"] <= figures["grade_held_p99_ms"]
    assert figures["grade_free_p50_ms"] > 0 and figures["grade_p50_ratio"] > 0


def check_hot_folder(figures: dict[str, Any]) -> None:
    assert figures["frames"] == 6 and figures["size"] == "320x240"
    settled = figures["per_settle"]["0.3"]
    assert settled["read"] == 6 and settled["half_read"] == 0  # settled: every frame whole, none lost
    assert 300 <= settled["p50_ms"] <= settled["p99_ms"] <= settled["max_ms"]
    eager = figures["per_settle"]["0"]
    assert eager["read"] + eager["half_read"] == 6  # each file once: read, or set aside as unreadable


def check_frame_checks(figures: dict[str, Any]) -> None:
    assert set(figures["cost_ms"]) == {"640x640", "2048x2048", "4096x256", "5120x5120"}
    assert all(row["measure_ms"] > 0 for row in figures["cost_ms"].values())
    assert figures["real_root"] is None  # the root given does not exist: the synthetic lines only
    assert sorted(figures["sets"]) == ["synthetic-bearing", "synthetic-pv", "synthetic-textile"]
    for row in figures["sets"].values():
        assert row["refused_by_defaults"] == 0 and row["false_refusals"] == 0
        assert row["caught"]["dark"] == 1.0 and row["caught"]["frozen"] == 1.0
        drift = row["drift"]  # a lamp dimming to half is flagged, somewhere past the 20 % tolerance
        assert drift["flagged_at_dim"] is not None and 0.1 < drift["flagged_at_dim"] < 0.5, drift


def check_gpu_skip(figures: dict[str, Any]) -> None:
    if figures["skipped"]:
        assert "CUDA" in figures["reason"]
    else:
        assert figures["fps_end_to_end"] > 0 and figures["fps_raw"] > 0


def check_gpu_cpu(figures: dict[str, Any]) -> None:
    assert figures["skipped"] is False and figures["device"] == "cpu"
    assert set(figures["per_batch"]) == {"1", "2"}
    for result in figures["per_batch"].values():
        assert close(result["ratio"], result["fps_end_to_end"] / result["fps_raw"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "check"),
    [
        (
            "pipeline.py",
            ["--frames", "8", "--rounds", "1", "--batch", "4", "--paced-load", "0.5"],
            check_pipeline,
        ),
        (
            "pipeline.py",
            [
                "--frames",
                "8",
                "--rounds",
                "1",
                "--paths",
                "onnxruntime",
                "--precision",
                "int8",
                "--calib-frames",
                "4",
            ],
            check_pipeline_int8,
        ),
        (
            "api_ingest.py",
            ["--events", "240", "--batch", "20", "--resend", "0.25", "--db", "sqlite"],
            check_api_ingest,
        ),
        ("trace_lookup.py", ["--defects", "2000", "--lookups", "40", "--clients", "2"], check_trace),
        ("holds.py", ["--defects", "2000", "--hours", "1", "--lookups", "30"], check_holds),
        (
            "hot_folder.py",
            ["--frames", "6", "--size", "320x240", "--rate", "10", "--settle", "0,0.3", "--chunk-ms", "40"],
            check_hot_folder,
        ),
        (
            "frame_checks.py",
            ["--root", "no-such-folder", "--units", "2", "--repeats", "2"],
            check_frame_checks,
        ),
        ("gpu.py", ["--frames", "4", "--batches", "1"], check_gpu_skip),
        (
            "gpu.py",
            ["--device", "cpu", "--fp32", "--frames", "2", "--batches", "1,2", "--imgsz", "320"],
            check_gpu_cpu,
        ),
    ],
    ids=[
        "pipeline",
        "pipeline_int8",
        "api_ingest",
        "trace_lookup",
        "holds",
        "hot_folder",
        "frame_checks",
        "gpu",
        "gpu_code_on_cpu",
    ],
)
def test_script_smallest_size(script: str, args: list[str], check: Any) -> None:
    code, output = run_script(script, *args)
    assert code == 0, output[-3000:]
    check(last_json(output))


@pytest.mark.parametrize(
    ("script", "args", "named"),
    [
        ("api_ingest.py", ["--events", "0"], "--events=0"),
        ("api_ingest.py", ["--resend", "1.5"], "--resend=1.5"),
        ("trace_lookup.py", ["--lookups", "0"], "--lookups=0"),
        ("holds.py", ["--hours", "0"], "--hours=0"),
        ("gpu.py", ["--batches", "8,x"], "--batches='8,x'"),
        ("hot_folder.py", ["--settle", "0,x"], "--settle='0,x'"),
        ("hot_folder.py", ["--size", "64"], "--size='64'"),
    ],
)
def test_bad_size_flag_is_named(script: str, args: list[str], named: str) -> None:
    code, output = run_script(script, *args, timeout=60)
    assert code == 2
    assert named in output


@pytest.mark.parametrize(
    ("values", "q"),
    [([3.0], 50), ([1.0, 2.0], 50), ([5.0, 1.0, 4.0, 2.0, 3.0], 99), (list(np.linspace(0, 1, 101)), 99.5)],
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert math.isclose(timing.percentile(values, q), float(np.percentile(values, q)), rel_tol=1e-12)


def test_percentile_of_nothing_is_nan_and_json_gets_null() -> None:
    assert math.isnan(timing.percentile([], 50))
    assert timing.rounded({"a": float("nan"), "b": [1.23456, float("inf")]}, 2) == {
        "a": None,
        "b": [1.23, None],
    }


@pytest.mark.slow
@pytest.mark.postgres
def test_api_ingest_on_postgres_counts_every_event_once() -> None:
    from linecheck.serving.store.testing import find_postgres

    server, why = find_postgres()
    if server is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI: {why}")
        pytest.skip(f"no PostgreSQL server: {why}")
    code, output = run_script(
        "api_ingest.py", "--events", "240", "--batch", "20", "--resend", "0.25", "--db", "postgres"
    )
    assert code == 0, output[-3000:]
    figures = last_json(output)
    assert figures["postgres_defects_per_s"] > 0
    assert (figures["postgres_errors"], figures["postgres_duplicates"], figures["postgres_lost"]) == (0, 0, 0)
    details = figures["details"]["postgresql"]
    assert details["duplicate_answers"] == details["resent_events"] > 0
    assert "sqlite" not in figures["details"]
