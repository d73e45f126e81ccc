"""Challenge parts for tests: the shipped lines with bearing-01's verification, and a part's inspection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

LINES_DIR = Path(__file__).resolve().parents[1] / "configs" / "lines"
RABBIT, MASTER = "BR9900000001", "BR9900000002"


def challenge_lines(folder: Path, *, master: bool = True, auto_hold: bool = False) -> Path:
    """The shipped line YAMLs in ``folder``, bearing-01 with a red rabbit (must fail with a scratch)
    and, unless ``master=False``, a master part (must pass); 8 h interval; ``auto_hold`` as given."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = f"    - {{code: {RABBIT}, expect: fail, classes: [scratch]}}\n"
    if master:
        parts += f"    - {{code: {MASTER}, expect: pass}}\n"
    for path in LINES_DIR.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.stem == "bearing-01":
            text += f"verification:\n  every_h: 8\n  auto_hold: {str(auto_hold).lower()}\n  parts:\n" + parts
        (folder / path.name).write_text(text, encoding="utf-8")
    return folder


def qa_lines_in(folder: Path, *, auto_hold: bool = False) -> Path:
    """:func:`challenge_lines`, with pv-01 making two products (PV-6x10, PV-6x12)."""
    challenge_lines(folder, auto_hold=auto_hold)
    path = folder / "pv-01.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["products"] = [{"id": "PV-6x10"}, {"id": "PV-6x12", "pv": {"cols": 12}}]
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def part_inspection(code: str, *, minutes_ago: float, scratch: bool) -> dict[str, Any]:
    """An inspection of bearing-01 captured ``minutes_ago``: failed with a scratch, or passed."""
    defects = [
        {"class_name": "scratch", "confidence": 0.8, "bbox": [5, 5, 30, 30], "location": {"zone": "face"}}
    ]
    return {
        "id": f"{code}-{minutes_ago}-{scratch}".lower(),
        "line_id": "bearing-01",
        "station": "face",
        "code": code,
        "code_status": "read",
        "captured_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "model_name": "bearing",
        "model_version": "1",
        "verdict": "fail" if scratch else "pass",
        "frame_seq": 1,
        "image_width": 640,
        "image_height": 640,
        "defects": defects if scratch else [],
    }
