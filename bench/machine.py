"""What a benchmark ran on: CPU model, cores, memory, load, Python and package versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

PACKAGES = (
    "numpy",
    "opencv-python-headless",
    "torch",
    "ultralytics",
    "onnxruntime",
    "nvidia-pytriton",
    "tritonclient",
    "fastapi",
    "uvicorn",
    "SQLAlchemy",
    "psycopg",
    "httpx",
    "pydantic",
)


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    """Total RAM in GiB from /proc/meminfo (NaN when unreadable)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return float("nan")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ('-' when absent)."""
    found: dict[str, str] = {}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def describe() -> dict[str, Any]:
    """A JSON-friendly description of this machine and its load right now."""
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "ram_gib": round(memory_gib(), 1),
        "python": platform.python_version(),
        "load_avg_1m": round(load_average()[0], 2),
        "versions": versions(),
    }


def header() -> str:
    """One human-readable line: CPU, cores, RAM, Python, current load."""
    d = describe()
    return (
        f"machine: {d['cpu']}, {d['cores']} cores, {d['ram_gib']} GiB RAM, Python {d['python']}, "
        f"load {d['load_avg_1m']} (1 min)"
    )
