"""Test-wide settings: Ultralytics stays offline and writes its settings inside var/."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / "var" / "ultralytics"))

# One real embedded Triton server per session, shared by every test folder that asks for it.
pytest_plugins = ["lc_triton_fixtures"]
