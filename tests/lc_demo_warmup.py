"""The demo's two trained models (anomaly model, PV cell classifier), trained in the background.

Training them takes about 100 s on one core. A session whose selected tests need them starts this
module as a child process before its first test (``tests/conftest.py``), so the training runs beside
the tests that come first instead of holding the session up when the first demo test asks; the
fixtures ``demo_anomaly_cache`` and ``demo_cells_cache`` wait for it.

``python tests/lc_demo_warmup.py WORKDIR`` trains both for seed 1 into ``WORKDIR/anomaly`` and
``WORKDIR/cells`` (what :func:`~linecheck.inspect.demo_anomaly.ensure_anomaly_model` and
:func:`~linecheck.inspect.demo_cells.ensure_cell_classifier` write).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The fixtures that use what this trains.
FIXTURES = frozenset({"demo_anomaly_cache", "demo_cells_cache"})


class DemoWarmup:
    """The child process training the demo's models into ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir.parent / f"{workdir.name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__)), str(workdir)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started = time.monotonic()

    def wait(self, timeout_s: float = 900.0) -> Path:
        """The workdir once both models are trained; raises with the child's log when it failed."""
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.close()
            raise RuntimeError(f"demo models not trained in {timeout_s:.0f} s: {self.tail()}") from None
        if code != 0:
            raise RuntimeError(f"training the demo models failed (exit {code}): {self.tail()}")
        return self.workdir

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        """Stop the child if it still runs (a session ending early)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def main(workdir: Path) -> None:
    from linecheck.config import load_lines
    from linecheck.inspect.demo_anomaly import ensure_anomaly_model
    from linecheck.inspect.demo_cells import ensure_cell_classifier

    lines_dir = ROOT / "configs" / "lines"
    lines = load_lines(lines_dir)
    ensure_anomaly_model(lines["textile-01"], workdir, seed=1, lines_dir=lines_dir)
    ensure_cell_classifier(lines["pv-01"], workdir, seed=1, lines_dir=lines_dir)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
