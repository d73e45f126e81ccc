"""CPU seconds used by this process and by a server's process group (Linux ``/proc``).

On a machine shared with other work, wall-clock frames/s moves with the neighbours' load; the CPU
time a path spends per frame does not (much). The pipeline benchmark reports both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid_dir: Path) -> list[str] | None:
    try:
        raw = (pid_dir / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return raw[raw.rfind(")") + 2 :].split()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid``."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry)
        # After the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
        if fields is not None and len(fields) > 12 and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its live descendants."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is not None and len(fields) > 12:
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    wanted = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in wanted and child not in wanted:
                wanted.add(child)
                changed = True
    return sum(ticks.get(p, 0) for p in wanted) / _TICKS


class CpuMeter:
    """CPU seconds of this process (all threads) and, optionally, of a server's process group."""

    def __init__(self, server_pgid: int | None = None) -> None:
        self.server_pgid = server_pgid
        self._own = time.process_time()
        self._server = group_cpu_seconds(server_pgid) if server_pgid else 0.0

    def read(self) -> tuple[float, float]:
        """(own CPU seconds, server CPU seconds) since the meter was created."""
        own = time.process_time() - self._own
        server = group_cpu_seconds(self.server_pgid) - self._server if self.server_pgid else 0.0
        return own, server
