"""The image-level (classification) layout, and checking it: what ``data check`` says of a cell or tile set.

``DIR/{train,val,test}/<class>/*.png`` (what ``data convert --from csv`` writes, Ultralytics'
classification layout) or plain ``DIR/<class>/*.png`` (split when training). The good class is the
folder named one of :data:`GOOD_NAMES` unless training is told otherwise (``--good-class``); the
rest reject a unit. Training (``linecheck.training.classify``) reads the layout with the same
:func:`class_folders` and names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from linecheck.datasets.datayaml import DATA_YAML, SPLITS
from linecheck.datasets.images import check_image
from linecheck.datasets.issues import DatasetIssue, IssueList, Severity
from linecheck.image_files import list_images

#: Folder names taken for the good class, in this order.
GOOD_NAMES = ("functional", "good", "ok", "pass", "normal", "no_defect", "defect_free")


def class_folders(folder: Path) -> dict[str, list[Path]]:
    """``{class: images}`` of the non-hidden sub-folders of ``folder``, sorted by name."""
    return {
        d.name: list_images(d) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")
    }


def is_classification_layout(root: Path) -> bool:
    """True for a folder without ``data.yaml`` holding split class folders or two or more class folders."""
    if not root.is_dir() or (root / DATA_YAML).is_file():
        return False
    if (root / "train").is_dir():
        return any(d.is_dir() for d in (root / "train").iterdir())
    with_images = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and list_images(d)]
    return len(with_images) >= 2 and not (root / "images").is_dir()


@dataclass(kw_only=True)
class ClassificationSummary:
    """Images per split and class, and the good class found (None: none of :data:`GOOD_NAMES`)."""

    classes: tuple[str, ...] = ()
    images: dict[str, dict[str, int]] = field(default_factory=dict)
    good_class: str | None = None

    @property
    def total(self) -> int:
        """Images in every split."""
        return sum(sum(per.values()) for per in self.images.values())


def validate_classification(
    root: Path, *, check_images: bool = True
) -> tuple[IssueList, ClassificationSummary]:
    """Every problem of the classification set at ``root``, and what it holds."""
    issues = IssueList()

    def issue(code: str, path: Path, message: str, severity: Severity = Severity.ERROR) -> None:
        issues(DatasetIssue(code=code, severity=severity, path=path, message=message))

    split = (root / "train").is_dir()
    per_split = (
        {s: class_folders(root / s) for s in SPLITS if (root / s).is_dir()}
        if split
        else {"all": class_folders(root)}
    )
    first = "train" if split else "all"
    classes = tuple(sorted({c for folders in per_split.values() for c in folders}))
    summary = ClassificationSummary(
        classes=classes,
        images={s: {c: len(files) for c, files in folders.items()} for s, folders in per_split.items()},
        good_class=next((c for c in GOOD_NAMES if c in classes), None),
    )
    if len(classes) < 2:
        issue("classify.classes", root, f"expected at least two class folders, found {list(classes)}")
    for cls in classes:
        if not per_split[first].get(cls):
            folder = root / first / cls if split else root / cls
            issue("classify.empty_class", folder, f"class {cls!r} has no images")
    for name in ("val", "test"):
        for cls in classes if name in per_split else ():
            if per_split[first].get(cls) and not per_split[name].get(cls):
                issue(
                    "classify.split_class_missing",
                    root / name,
                    f"{name} has no {cls!r} images: that class is not scored on {name}",
                    Severity.WARNING,
                )
    if classes and summary.good_class is None:
        issue(
            "classify.good_class",
            root,
            f"no class folder is named one of {list(GOOD_NAMES)}: name the good one with train --good-class",
            Severity.WARNING,
        )
    if check_images:
        for folders in per_split.values():
            for files in folders.values():
                for image in files:
                    for found in check_image(image):
                        issues(found)
    return issues, summary
