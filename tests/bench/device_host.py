"""The GPU host as the device tool presents it, rebuilt here: the working tree it copies, and its python3."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_device_tree(dst: Path) -> Path:
    """What the device tool copies without ``carry``: tracked files and untracked ones git does not ignore."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gpu_pack import tree_files

    for path in [*tree_files(), *tree_files("--others", "--exclude-standard")]:
        (dst / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst / path.relative_to(ROOT))
    return dst


def host_python3(bin_dir: Path, *, isolated: bool = False) -> Path:
    """A ``python3`` for PATH that runs this venv's interpreter (``-S`` when ``isolated``: no site-packages,
    so only what ``PYTHONPATH`` names is importable, as on the host with bench/gpu_host_env.py's folder)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}"{" -S" if isolated else ""} "$@"\n')
    python3.chmod(0o755)
    return python3
