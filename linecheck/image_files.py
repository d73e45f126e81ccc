"""Which files are images, and listing them: one rule for data sets, training and the folder frame source."""

from __future__ import annotations

import os
from pathlib import Path

#: Suffixes (lower case) read as images; the same set OpenCV decodes and Ultralytics trains on.
IMAGE_SUFFIXES: frozenset[str] = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})


def is_image_file(path: Path) -> bool:
    """True when ``path`` has an image suffix (case-insensitive) and is not hidden."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_files(folder: Path) -> list[Path]:
    """Every non-hidden regular file under ``folder`` (recursive), sorted.

    Linked folders are followed (a data set is often assembled from links into a shared copy);
    a link back to a folder already being walked is not, so a cycle ends. Hidden files and
    folders (``.DS_Store``, macOS ``._*`` copies, ``.git``) are left out.
    """
    found: list[Path] = []
    walking: set[str] = set()

    def walk(here: Path) -> None:
        real = os.path.realpath(here)
        if real in walking:
            return
        walking.add(real)
        with os.scandir(here) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = here / entry.name
                if entry.is_dir():  # follows links
                    walk(path)
                elif entry.is_file():
                    found.append(path)
        walking.discard(real)

    if folder.is_dir():
        walk(folder)
    return sorted(found)


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted."""
    return [p for p in list_files(folder) if is_image_file(p)]


def evenly_spaced(paths: list[Path], most: int) -> list[Path]:
    """At most ``most`` of ``paths``, spread evenly over them in order.

    All of them when they are fewer, or ``most`` is 0: a sample of a sorted listing that keeps every
    part of it (every class, every roll).
    """
    if most <= 0 or len(paths) <= most:
        return paths
    return [paths[i * len(paths) // most] for i in range(most)]
