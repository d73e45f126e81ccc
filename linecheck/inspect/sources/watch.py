"""A hot folder: the images a camera program saves into a folder, inspected as they arrive.

Most line-scan, EL and smart-camera acquisition programs (and a PLC-triggered capture station on
Windows) save each frame as a file into a folder, often a network share. This source polls the
folder (``os.scandir``: works on SMB and NFS shares, where change notifications do not) and
takes a file once its size and modification time have stayed the same for ``settle`` seconds,
so a frame still being written is never read half-way. Files are taken oldest first.

URI: ``watch:///data/el?done=move&settle=0.5&poll=0.1&idle=0``

* ``done``: what happens to a file once read: ``move`` (default) into ``<folder>/done/``,
  ``delete``, or ``keep`` (left in place and remembered; only files that arrive after the
  source opens are taken, and the folder keeps growing). With ``move`` and ``delete`` the
  images already waiting when the inspector starts (frames saved while it was down) are
  inspected first, so a restart loses nothing.
* ``settle``: seconds a file must stay unchanged before it is read (default 0.5).
* ``poll``: seconds between looks at the folder (default 0.1).
* ``code``: ``name`` takes each frame's unit code from its file name (EL testers and many
  capture programs name the image after the serial they scanned): the part of the name that
  matches the line's ``code_pattern`` travels as the frame's trigger code, which the code reader
  checks like any other (default: none; the code comes from the image or a trigger).
* ``idle``: end the source once nothing has arrived or changed for this many seconds and no
  file is waiting to settle (default 0: never; for re-inspecting a batch, or a test).

A file that still cannot be decoded once settled (an empty one after at least five seconds) is
counted as unreadable (as the folder source does) and, with ``move`` / ``delete``, moved into
``<folder>/unreadable/`` for a person to look at, never deleted. 16-bit images are read with the
camera's ``bit_depth``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from linecheck.errors import FrameSourceError
from linecheck.image_files import is_image_file
from linecheck.inspect.frame_source import SourceContext, SourceQuery
from linecheck.inspect.sources.folder import ImageFolderSource
from linecheck.messages import Frame

log = logging.getLogger(__name__)

SCHEME = "watch"
DONE_ACTIONS = ("move", "delete", "keep")
DONE_FOLDER, UNREADABLE_FOLDER = "done", "unreadable"
#: An empty file is given this long (at least) to get its first bytes before it counts as unreadable:
#: a program may create a file well before it writes it.
EMPTY_GRACE_S = 5.0
_PARAMS = {"done", "settle", "poll", "idle", "code"}
CODE_FROM = ("", "name")


@dataclass(frozen=True, slots=True)
class _Seen:
    """A file's size and modification time, and when they were first seen as they are."""

    size: int
    mtime_ns: int
    since: float


def code_in_name(stem: str, pattern: str) -> str | None:
    """The part of a file name ``stem`` that is a unit code of ``pattern``, or None.

    The whole stem first, then each part of it between ``_``, ``-``, ``.`` and spaces
    (``EL_PV000000000123_2``), then anywhere in it (the pattern's ``^`` / ``$`` dropped).
    """
    if not pattern:
        return stem or None
    try:
        for candidate in (stem, *re.split(r"[_\-.\s]+", stem)):
            if candidate and re.fullmatch(pattern, candidate):
                return candidate
        found = re.search(pattern.removeprefix("^").removesuffix("$"), stem)
    except re.error:
        return None
    return found.group(0) if found and found.group(0) else None


class WatchedFolderSource(ImageFolderSource):
    """Images saved into a folder, each read once it has settled (see the module docstring)."""

    def __init__(self, uri: str, context: SourceContext) -> None:
        query = SourceQuery(uri, _PARAMS)
        folder = query.parts.netloc + query.parts.path
        if not folder:
            raise query.error("expected watch:///path/to/folder")
        super().__init__(uri, context, path=Path(folder).expanduser())
        self.done = query.text("done", "move", DONE_ACTIONS)
        self.code_from = query.text("code", "")
        if self.code_from not in CODE_FROM:
            raise query.error(f"code={self.code_from!r}; expected code=name")
        self.settle_s = query.number("settle", 0.5, unit="seconds")
        self.poll_s = query.number("poll", 0.1, positive=True, unit="seconds")
        self.idle_s = query.number("idle", 0.0, unit="seconds")
        self._seen: dict[str, _Seen] = {}
        #: name -> modification time of the version already read (done=keep, or a file that could not
        #: be moved or deleted); a file written again under the same name is read again.
        self._taken: dict[str, int] = {}
        self._last_change = 0.0
        #: Images in the folder not read yet (the inspector's ``source_waiting_files`` gauge).
        self.waiting = 0

    def open(self) -> None:
        """Check the folder (and make ``done/``, ``unreadable/`` when files are moved)."""
        if not self.path.is_dir():
            raise FrameSourceError(f"source uri={self.uri!r}: folder {self.path} does not exist")
        if self.done != "keep":
            for name in (DONE_FOLDER, UNREADABLE_FOLDER):
                try:
                    (self.path / name).mkdir(exist_ok=True)
                except OSError as exc:
                    raise FrameSourceError(
                        f"source uri={self.uri!r}: cannot create {self.path / name}: {exc}"
                    ) from exc
        self._seen.clear()
        self._taken = {}
        if self.done == "keep":  # what is there already was there before this inspector: not taken
            for entry in self._images():
                try:
                    self._taken[entry.name] = entry.stat().st_mtime_ns
                except OSError:
                    continue
        self._last_change = time.monotonic()

    def _images(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.path) as entries:
                return [e for e in entries if is_image_file(Path(e.name)) and e.is_file()]
        except OSError as exc:  # a share that went away: said, and looked at again next poll
            log.warning("source %s: cannot list %s: %s", self.uri, self.path, exc)
            return []

    def _settled(self, now: float) -> list[Path]:
        """The images whose size and mtime have not changed for ``settle`` seconds, oldest first."""
        current: dict[str, _Seen] = {}
        ready: list[tuple[int, str]] = []
        listed = self._images()
        names = {entry.name for entry in listed}
        self._taken = {name: mtime for name, mtime in self._taken.items() if name in names}
        for entry in listed:
            try:
                stat = entry.stat()
            except OSError:
                continue  # gone between the listing and now
            if self._taken.get(entry.name) == stat.st_mtime_ns:
                continue
            before = self._seen.get(entry.name)
            if before is not None and (before.size, before.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                seen = before
            else:
                seen = _Seen(stat.st_size, stat.st_mtime_ns, now)
                self._last_change = now
            current[entry.name] = seen
            wait = self.settle_s if stat.st_size > 0 else max(self.settle_s, EMPTY_GRACE_S)
            if now - seen.since >= wait:
                ready.append((stat.st_mtime_ns, entry.name))
        self._seen = current
        self.waiting = len(current)
        return [self.path / name for _, name in sorted(ready)]

    def read(self) -> Frame | None:
        """The next settled image; waits for one; None when interrupted (or idle for ``idle`` s)."""
        while not self.interrupted:
            now = time.monotonic()
            for path in self._settled(now):
                image = self._decode(path)
                self._seen.pop(path.name, None)
                self.waiting = len(self._seen)
                if image is None and not path.exists():  # taken by another program between look and read
                    log.warning("source %s: %s went away before it could be read", self.uri, path)
                    continue
                if image is None:
                    self.unreadable.append(path)
                    self.skipped += 1
                    self._finish(path, UNREADABLE_FOLDER)
                    continue
                code = code_in_name(path.stem, self.context.line.code_pattern) if self.code_from else None
                return self.frame(
                    image, meta={"file": str(self._finish(path, DONE_FOLDER))}, trigger_code=code
                )
            if self.idle_s and not self._seen and now - self._last_change >= self.idle_s:
                return None
            if self.sleep(self.poll_s):
                return None
        return None

    def _remember(self, path: Path) -> None:
        try:
            self._taken[path.name] = path.stat().st_mtime_ns
        except OSError:
            self._taken.pop(path.name, None)  # gone: nothing to remember

    def _finish(self, path: Path, folder: str) -> Path:
        """Move, delete or remember a read file; where it is now (a failed move leaves it, remembered)."""
        if self.done == "keep":
            self._remember(path)
            return path
        if self.done == "delete" and folder == DONE_FOLDER:
            try:
                path.unlink()
            except OSError as exc:
                log.warning("source %s: cannot delete %s (%s); left in place", self.uri, path, exc)
                self._remember(path)
            return path
        target = self.path / folder / path.name
        if target.exists():  # a camera that reuses its file names: the earlier frame is kept too
            target = target.with_name(f"{path.stem}-{time.time_ns()}{path.suffix}")
        try:
            os.replace(path, target)
        except OSError as exc:
            log.warning(
                "source %s: cannot move %s to %s (%s); left in place", self.uri, path, target.parent, exc
            )
            self._remember(path)
            return path
        return target

    def close(self) -> None:
        """Forget what was seen (files stay where they are)."""
        self._seen.clear()
