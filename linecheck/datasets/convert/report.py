"""What a conversion wrote and what it left out, for the CLI to print and tests to check."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from linecheck.errors import DatasetError


@dataclass(frozen=True, kw_only=True, slots=True)
class SkippedItem:
    """One source item left out (or adjusted) and why."""

    path: Path
    reason: str


@dataclass(kw_only=True)
class ConversionReport:
    """Summary of one conversion.

    Attributes:
        source: what was converted (folder or annotation file).
        dst: the dataset written.
        source_format: ``voc``, ``coco``, ``labelme``, ``mask`` or ``csv``.
        task: ``detect`` (YOLO detection layout) or ``classify`` (Ultralytics classification layout).
        names: class names in class-id order.
        images: images written.
        boxes: boxes written (0 for classification).
        backgrounds: images written without boxes.
        per_class: class -> boxes (detect) or images (classify).
        splits: split -> images, when the output is split.
        skipped: source items left out, with the reason.
        notes: items converted with an adjustment worth knowing (e.g. the real image size used).

    """

    source: Path
    dst: Path
    source_format: str
    task: Literal["detect", "classify"]
    names: tuple[str, ...] = ()
    images: int = 0
    boxes: int = 0
    backgrounds: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    skipped: list[SkippedItem] = field(default_factory=list)
    notes: list[SkippedItem] = field(default_factory=list)

    def skip(self, path: Path, reason: str) -> None:
        """Record a source item left out."""
        self.skipped.append(SkippedItem(path=path, reason=reason))

    def skip_error(self, error: DatasetError, default: Path) -> None:
        """Record the item named by ``error`` (else ``default``) as left out, with the error's message."""
        path = error.path if isinstance(error.path, Path) else default
        where = f"{error.path}:{error.line}: " if error.line is not None else f"{error.path}: "
        self.skip(path, str(error).removeprefix(where))

    def note(self, path: Path, reason: str) -> None:
        """Record an adjustment made while converting ``path``."""
        self.notes.append(SkippedItem(path=path, reason=reason))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        data = asdict(self)
        for key in ("source", "dst"):
            data[key] = str(data[key])
        data["names"] = list(self.names)
        for key in ("skipped", "notes"):
            data[key] = [{"path": str(i.path), "reason": i.reason} for i in getattr(self, key)]
        return data
