"""Finding things in a source dataset: folders by conventional names, images by relative path."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from linecheck.image_files import list_images


def find_folder(parent: Path, names: Iterable[str]) -> Path | None:
    """The first sub-folder of ``parent`` whose name matches one of ``names`` (case-insensitive)."""
    if not parent.is_dir():
        return None
    children = {p.name.lower(): p for p in sorted(parent.iterdir()) if p.is_dir()}
    for name in names:
        if name.lower() in children:
            return children[name.lower()]
    return None


def relative_key(path: Path, top: Path) -> str:
    """``path`` relative to ``top`` without its suffix, as a POSIX string (``crack/000``)."""
    return PurePosixPath(path.relative_to(top).with_suffix("").as_posix()).as_posix()


def output_stem(key: str) -> str:
    """A flat output stem from a relative key: sub-folders joined with ``__`` (``crack__000``)."""
    return key.replace("/", "__")


class ImageIndex:
    """The images under a folder, found by relative path, file name or stem."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.paths = list_images(top) if top.is_dir() else []
        self.by_key: dict[str, list[Path]] = {}
        self.by_name: dict[str, list[Path]] = {}
        self.by_stem: dict[str, list[Path]] = {}
        for path in self.paths:
            self.by_key.setdefault(relative_key(path, top), []).append(path)
            self.by_name.setdefault(path.name.lower(), []).append(path)
            self.by_stem.setdefault(path.stem.lower(), []).append(path)

    def find(self, name: str) -> tuple[Path | None, str]:
        """The image named ``name`` (a relative path, a file name or a stem) and, if none, why."""
        relative = PurePosixPath(name.replace("\\", "/"))
        direct = self.top / relative
        if relative.suffix and direct.is_file() and direct.resolve().is_relative_to(self.top.resolve()):
            return direct, ""
        for table, key in (
            (self.by_name, relative.name.lower()),
            (self.by_stem, relative.stem.lower() if relative.suffix else relative.name.lower()),
        ):
            matches = table.get(key, [])
            if len(matches) == 1:
                return matches[0], ""
            if len(matches) > 1:
                return None, f"{len(matches)} images match {name!r}: {', '.join(p.name for p in matches[:3])}"
        return None, f"no image {name!r} under {self.top}"
