"""The demo's two trained models (anomaly model, PV cell classifier), trained in the background.

Training them takes about 100 s on one core. A session whose selected tests need them starts this
module as a child process before its first test (``tests/conftest.py``), so the training runs beside
the tests that come first instead of holding the session up when the first demo test asks; the
fixtures ``demo_anomaly_cache`` and ``demo_cells_cache`` wait for it.

``python tests/lc_demo_warmup.py WORKDIR`` trains both for seed 1 into ``WORKDIR/anomaly`` and
``WORKDIR/cells`` (what :func:`~linecheck.inspect.demo_anomaly.ensure_anomaly_model` and
:func:`~linecheck.inspect.demo_cells.ensure_cell_classifier` write), then writes ``ok`` to ``WORKDIR.status``
(or the error that stopped it).

Under pytest-xdist every worker collects every test, so each would train its own copy. Instead the workers
share one child (:meth:`DemoWarmup.shared`): the first to ask starts it in the run's shared temporary folder,
the others wait for its status file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The fixtures that use what this trains.
FIXTURES = frozenset({"demo_anomaly_cache", "demo_cells_cache"})


class DemoWarmup:
    """The child process training the demo's models into ``workdir``, or, for a process that did not start
    it (another xdist worker's), the same child seen through its files."""

    def __init__(self, workdir: Path, *, start: bool = True) -> None:
        self.workdir = workdir
        self.log = workdir.parent / f"{workdir.name}.log"
        self.status = workdir.parent / f"{workdir.name}.status"
        self.pid_file = workdir.parent / f"{workdir.name}.pid"
        self.process: subprocess.Popen[bytes] | None = None
        if start:
            with self.log.open("wb") as out:
                self.process = subprocess.Popen(
                    [sys.executable, str(Path(__file__)), str(workdir)],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self.pid_file.write_text(str(self.process.pid))
        self.started = time.monotonic()

    @classmethod
    def shared(cls, root: Path) -> DemoWarmup:
        """The one child of a run whose processes share ``root``: started by the first to ask."""
        workdir = root / "demo-models"
        try:
            os.close(os.open(root / "demo-models.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return cls(workdir, start=False)
        return cls(workdir)

    def wait(self, timeout_s: float = 900.0) -> Path:
        """The workdir once both models are trained; raises with the child's log when it failed."""
        deadline = time.monotonic() + timeout_s
        while not self.status.exists():
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"demo models not trained in {timeout_s:.0f} s: {self.tail()}")
            if not self._running():
                if self.status.exists():
                    break
                raise RuntimeError(f"training the demo models stopped without a status: {self.tail()}")
            time.sleep(0.5)
        status = self.status.read_text(errors="replace")
        if status != "ok":
            raise RuntimeError(f"training the demo models failed: {status[-2000:]}\n{self.tail()}")
        return self.workdir

    def _running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return time.monotonic() - self.started < 30.0  # its starter has not written the pid yet
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"

    def close(self, *, others: bool = False) -> None:
        """Stop the child if it still runs (a session ending early). With ``others`` (other processes may
        still wait for it), let it finish first."""
        if self.process is None or self.process.poll() is not None:
            return
        if others:
            try:
                self.process.wait(900.0)
                return
            except subprocess.TimeoutExpired:
                pass
        self.process.kill()
        self.process.wait(10)


def main(workdir: Path) -> None:
    from linecheck.config import load_lines
    from linecheck.inspect.demo_anomaly import ensure_anomaly_model
    from linecheck.inspect.demo_cells import ensure_cell_classifier

    lines_dir = ROOT / "configs" / "lines"
    status = workdir.parent / f"{workdir.name}.status"
    try:
        lines = load_lines(lines_dir)
        ensure_anomaly_model(lines["textile-01"], workdir, seed=1, lines_dir=lines_dir)
        ensure_cell_classifier(lines["pv-01"], workdir, seed=1, lines_dir=lines_dir)
    except BaseException:
        status.write_text(traceback.format_exc())
        raise
    status.write_text("ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
