"""Stop signals of the long-running commands (``serve triton``, ``inspect``, ``demo``).

While such a command runs, both SIGINT (Ctrl-C, ``kill -INT``) and SIGTERM (``kill``, a supervisor,
``docker stop``) raise :class:`KeyboardInterrupt` in the main thread, so either stops it as cleanly
as Ctrl-C. The SIGINT handler is installed explicitly because a process started as a background job
of a script inherits SIGINT *ignored*, and Python then never turns it into KeyboardInterrupt: such a
service would only stop on SIGTERM or SIGKILL.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_stop_signals() -> Callable[[], None]:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt (main thread only); returns the undo."""
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
