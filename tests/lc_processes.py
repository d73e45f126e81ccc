"""Stopping a CLI subprocess in a test, with its Python stacks when it does not stop."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time


def stacks_then_kill(proc: subprocess.Popen, grace_s: float = 2.0) -> str:  # type: ignore[type-arg]
    """SIGUSR1 (``linecheck`` then prints every thread's stack to stderr), then SIGKILL.

    Returns what the process printed after that, so a test that gave up waiting shows where it hung.
    """
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGUSR1)
    time.sleep(grace_s)
    proc.kill()
    out, err = proc.communicate()
    return "\n".join(x.decode(errors="replace") if isinstance(x, bytes) else x for x in (out, err) if x)
