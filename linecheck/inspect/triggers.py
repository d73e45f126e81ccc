"""External unit-identity triggers: where a line's current code comes from when it is not printed.

A :class:`TriggerBoard` holds the current code per line. It is fed by

* the frame source itself (``Frame.trigger_code``, e.g. the synthetic textile line),
* a :class:`FileTrigger` watching a file that a PLC / label scanner rewrites with the code,
* the HTTP hook ``POST /trigger {"line_id": ..., "code": ...}`` on the inspector's metrics
  server (see :mod:`linecheck.inspect.metrics_server`).

OPC UA is the extension point for PLC-driven lines: a subscription to the PLC's "current roll /
part id" node (e.g. with ``asyncua``) whose data-change handler calls
``board.set(line_id, value)``; nothing else in the inspector changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from linecheck.errors import InvalidFieldError
from linecheck.kinds import check_code
from linecheck.text_files import decode_problem, decode_text

log = logging.getLogger(__name__)


class TriggerBoard:
    """Thread-safe "current code" and "current product" per line, with optional checks per line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, str] = {}
        self._patterns: dict[str, str] = {}
        self._products: dict[str, tuple[str, ...]] = {}
        self._current_product: dict[str, str] = {}
        self.changeovers: dict[str, int] = {}

    def expect(
        self, line_id: str, pattern: str, *, products: Sequence[str] = (), default_product: str | None = None
    ) -> None:
        """Validate codes set for ``line_id`` against ``pattern`` (the line's ``code_pattern``).

        ``products``: the line's product ids, the only ones :meth:`set_product` takes;
        ``default_product``: the one the line is on until a changeover.
        """
        with self._lock:
            self._patterns[line_id] = pattern
            self._products[line_id] = tuple(products)
            if default_product is not None:
                self._current_product[line_id] = default_product

    def set_product(self, line_id: str, product: str | None) -> str | None:
        """Change ``line_id`` over to ``product`` (None: the line's own config); returns the one before.

        Units whose frames are read from now on are judged as ``product``; those already read keep theirs.

        Raises:
            InvalidFieldError: unknown line, or a product the line's YAML does not list.

        """
        with self._lock:
            self._check_product(line_id, product)
            previous = self._current_product.get(line_id)
            if product is None:
                self._current_product.pop(line_id, None)
            else:
                self._current_product[line_id] = product
            if previous != product:
                self.changeovers[line_id] = self.changeovers.get(line_id, 0) + 1
        if previous != product:
            log.info("changeover: line %s from product %s to %s", line_id, previous, product)
        return previous

    def check_product(self, line_id: str, product: str | None) -> None:
        """Raise :class:`InvalidFieldError` unless :meth:`set_product` would take ``product``."""
        with self._lock:
            self._check_product(line_id, product)

    def _check_product(self, line_id: str, product: str | None) -> None:
        if line_id not in self._patterns:
            raise InvalidFieldError("line_id", line_id, f"expected one of {sorted(self._patterns)}")
        known = self._products.get(line_id, ())
        if product is not None and product not in known:
            raise InvalidFieldError(
                "product", product, f"not a product of line {line_id}; its products are {list(known)}"
            )

    def product(self, line_id: str) -> str | None:
        """The product ``line_id`` is on (None: its own config)."""
        with self._lock:
            return self._current_product.get(line_id)

    @property
    def line_ids(self) -> list[str]:
        """Lines the board validates codes for."""
        with self._lock:
            return sorted(self._patterns)

    def set(self, line_id: str, code: str) -> None:
        """Make ``code`` the current unit of ``line_id``.

        Raises:
            InvalidFieldError: unknown line (when lines are declared) or a code not matching its pattern.

        """
        code = code.strip()
        with self._lock:
            if self._patterns and line_id not in self._patterns:
                raise InvalidFieldError("line_id", line_id, f"expected one of {sorted(self._patterns)}")
            pattern = self._patterns.get(line_id)
            if pattern is not None:
                check_code(code, pattern)
            previous = self._codes.get(line_id)
            self._codes[line_id] = code
        if previous != code:
            log.info("trigger: line %s now on unit %s", line_id, code)

    def current(self, line_id: str) -> str | None:
        """The current code of ``line_id``, if a trigger set one."""
        with self._lock:
            return self._codes.get(line_id)


class FileTrigger:
    """Polls a text file (one code, e.g. written by a label scanner) and posts changes to a board."""

    def __init__(self, board: TriggerBoard, line_id: str, path: Path, *, poll_s: float = 0.2) -> None:
        self.board = board
        self.line_id = line_id
        self.path = Path(path)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[float, int] | None = None
        self.unreadable = 0

    def poll(self) -> str | None:
        """Read the file if it changed; returns the code set on the board, if any.

        The file is read as :func:`linecheck.text_files.decode_text` says (UTF-8, or the encoding
        of its byte-order mark: PowerShell 5 writes UTF-16). A file that cannot be read now (locked
        by its writer, gone) is tried again at the next poll; one that is not text is logged and
        left until it changes.
        """
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._last:
            return None
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            log.warning("file trigger %s: cannot read it now (%s); trying again", self.path, exc)
            return None
        self._last = stamp
        try:
            text = decode_text(data).strip()
        except UnicodeDecodeError as exc:
            self.unreadable += 1
            log.warning(
                "file trigger %s: not UTF-8 text at %s (ignored until the file changes)",
                self.path,
                decode_problem(exc, data),
            )
            return None
        if not text:
            return None
        code = text.splitlines()[-1].strip()
        try:
            self.board.set(self.line_id, code)
        except InvalidFieldError as exc:
            log.warning("file trigger %s: %s (ignored)", self.path, exc)
            return None
        return code

    def start(self) -> None:
        """Poll on a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._loop, name=f"trigger-{self.line_id}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                self.poll()
            except Exception:  # a watcher that dies leaves the line without codes: log and go on
                log.exception("file trigger %s: poll failed; polling on", self.path)
            if self._stop.wait(self.poll_s):
                return

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
