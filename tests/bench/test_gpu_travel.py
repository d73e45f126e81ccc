"""What travels to the GPU host: the tracked tree must leave room for the full ``.gpu_pack``.

The device tool copies the tracked files and what ``carry`` names, 64 MiB in all (``bench/gpu_travel.md``).
The prepared calls carry the wheels, the bearing graph and the Triton server (about 40 MiB), so every
screenshot, table and test added to the tree eats the little that is left. This fails when the tree
grows past it, before a lent GPU finds out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from bench_scripts import load_bench_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not (ROOT / ".git").exists() or shutil.which("git") is None,
    reason="not a git checkout: nothing to measure",
)
def test_the_tracked_tree_leaves_room_for_the_full_gpu_pack() -> None:
    pack = load_bench_script("gpu_pack")
    tracked = pack.tree_bytes()["tracked"]
    assert tracked > 1_000_000, "git listed (almost) nothing: the measure is wrong"
    mib = 1024 * 1024
    total = tracked + pack.FULL_PACK_BYTES
    assert total <= pack.LIMIT, (
        f"tracked tree {tracked / mib:.1f} MiB + full .gpu_pack {pack.FULL_PACK_BYTES / mib:.1f} MiB = "
        f"{total / mib:.1f} MiB, over the device tool's 64: slim the tree (bench/gpu_travel.md)"
    )
