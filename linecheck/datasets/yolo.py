"""The YOLO detection dataset: ``data.yaml`` + ``images/<split>/`` + ``labels/<split>/``.

``load_yolo`` parses a dataset and raises :class:`DatasetError` naming the file and line of the
first problem; ``validate_yolo`` runs the same checks and returns every problem found.
A missing label file means "no objects" (as in Ultralytics) and is only a warning.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from linecheck.datasets.boxes import YoloBoxes, check_yolo_boxes, empty_boxes
from linecheck.datasets.datayaml import SPLITS, DataYaml, read_data_yaml
from linecheck.datasets.images import check_image
from linecheck.datasets.issues import DatasetIssue, IssueList, IssueSink, Severity, raise_on_error
from linecheck.datasets.labels import read_label_file
from linecheck.errors import DatasetError
from linecheck.image_files import is_image_file, list_files
from linecheck.text_files import decode_text

_IGNORED_SUFFIXES = frozenset({".txt", ".cache", ".yaml", ".yml", ".json"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Sample:
    """One image and its boxes.

    Attributes:
        image: the image file.
        label: its label file, or None when there is none (no objects).
        boxes: (N, 5) float64 rows ``class cx cy w h``, normalised.

    """

    image: Path
    label: Path | None
    boxes: YoloBoxes

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", check_yolo_boxes(self.boxes, field=f"boxes of {self.image}"))

    @property
    def classes(self) -> npt.NDArray[np.int64]:
        """Class id of each box."""
        return self.boxes[:, 0].astype(np.int64)

    @property
    def is_background(self) -> bool:
        """True when the image has no boxes (empty or missing label file)."""
        return self.boxes.shape[0] == 0


@dataclass(frozen=True, kw_only=True)
class YoloDataset:
    """A loaded YOLO dataset.

    Attributes:
        root: dataset root folder.
        yaml_file: its ``data.yaml``.
        names: class names in class-id order.
        splits: split name -> samples, sorted by image path. Two splits may share samples
            (an unsplit dataset lists the same folder for train and val).

    """

    root: Path
    yaml_file: Path
    names: tuple[str, ...]
    splits: Mapping[str, tuple[Sample, ...]]

    @property
    def nc(self) -> int:
        """Number of classes."""
        return len(self.names)

    def samples(self) -> list[Sample]:
        """Every distinct sample, each once, in split order."""
        seen: dict[Path, Sample] = {}
        for split in self.splits.values():
            for sample in split:
                seen.setdefault(sample.image, sample)
        return list(seen.values())

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples())

    def __len__(self) -> int:
        return len(self.samples())


def label_path_for(image: Path) -> Path:
    """Label file of ``image``: the last ``images`` folder in its path becomes ``labels``, suffix ``.txt``.

    This is Ultralytics' rule; an image with no ``images`` folder in its path has its label beside it.
    """
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _label_folder_for(image_folder: Path) -> Path:
    """Folder holding the labels of the images under ``image_folder``."""
    return label_path_for(image_folder / "x.png").parent


class _Scanner:
    """Walks a dataset once, reporting every problem to a sink."""

    def __init__(self, spec: DataYaml, sink: IssueSink, check_images: bool) -> None:
        self.spec = spec
        self.sink = sink
        self.check_images = check_images
        self.samples: dict[Path, Sample] = {}
        self.label_owner: dict[Path, Path] = {}
        self.label_folders: set[Path] = set()

    def report(
        self, code: str, path: Path, message: str, *, line: int | None = None, warn: bool = False
    ) -> None:
        """Send one issue to the sink."""
        severity = Severity.WARNING if warn else Severity.ERROR
        self.sink(DatasetIssue(code=code, severity=severity, path=path, line=line, message=message))

    def split_images(self, split: str, sources: tuple[Path, ...]) -> list[Path]:
        """Image paths listed by one split's sources, reported problems aside."""
        line = self.spec.key_lines.get(split)
        images: list[Path] = []
        for source in sources:
            if source.is_dir():
                self.label_folders.add(_label_folder_for(source))
                for path in list_files(source):
                    if is_image_file(path):
                        images.append(path)
                    elif path.suffix.lower() not in _IGNORED_SUFFIXES:
                        self.report("image.suffix", path, "not an image suffix; file ignored", warn=True)
            elif source.is_file() and source.suffix == ".txt":
                images.extend(self.listed_images(source))
            else:
                moved = (
                    ""
                    if self.spec.root.is_dir()
                    else f" (the root {self.spec.root} does not exist: fix 'path')"
                )
                self.report(
                    "split.not_found",
                    self.spec.file,
                    f"{split}: {source} is neither a folder nor a .txt list of images{moved}",
                    line=line,
                )
        if not images and all(s.exists() for s in sources):
            self.report(
                "split.empty",
                self.spec.file,
                f"{split}: no images under {', '.join(str(s) for s in sources)}",
                line=line,
                warn=split not in ("train", "val"),
            )
        return sorted(set(images))

    def listed_images(self, listing: Path) -> list[Path]:
        """Images named in a ``.txt`` list (relative lines are relative to the list's folder)."""
        found: list[Path] = []
        try:
            rows = decode_text(listing.read_bytes()).splitlines()
        except UnicodeDecodeError as exc:
            self.report(
                "list.encoding", listing, f"image list is not text ({exc.reason} at byte {exc.start})"
            )
            return found
        for number, raw in enumerate(rows, start=1):
            entry = raw.strip()
            if not entry:
                continue
            path = Path(entry) if os.path.isabs(entry) else (listing.parent / entry)
            path = Path(os.path.normpath(path))
            if not path.is_file():
                self.report("image.missing", listing, f"listed image {entry!r} not found", line=number)
            else:
                found.append(path)
        return found

    def sample(self, image: Path) -> Sample | None:
        """The sample of ``image`` (scanned once, however many splits list it)."""
        if image in self.samples:
            return self.samples[image]
        label = label_path_for(image)
        owner = self.label_owner.setdefault(label, image)
        if owner != image:
            self.report("image.label_clash", image, f"shares its label file {label.name} with {owner.name}")
            return None
        if self.check_images:
            for issue in check_image(image):
                self.sink(issue)
        if label.is_file():
            boxes = read_label_file(label, len(self.spec.names), self.sink)
            sample = Sample(image=image, label=label, boxes=boxes)
        else:
            self.report("label.missing", image, f"no label file {label}: counted as a background", warn=True)
            sample = Sample(image=image, label=None, boxes=empty_boxes())
        self.samples[image] = sample
        return sample

    def orphan_labels(self) -> None:
        """Report label files that no image owns."""
        for folder in sorted(self.label_folders):
            if not folder.is_dir():
                continue
            for path in list_files(folder):
                if path.suffix == ".txt" and path not in self.label_owner:
                    self.report("label.orphan", path, "label file has no image with the same name")

    def run(self) -> YoloDataset:
        """Scan every split, then look for orphan labels."""
        splits: dict[str, tuple[Sample, ...]] = {}
        for split in SPLITS:
            if split not in self.spec.sources:
                continue
            images = self.split_images(split, self.spec.sources[split])
            samples = [self.sample(image) for image in images]
            splits[split] = tuple(s for s in samples if s is not None)
        self.orphan_labels()
        spec = self.spec
        return YoloDataset(root=spec.root, yaml_file=spec.file, names=spec.names, splits=splits)


def load_yolo(location: Path | str, *, check_images: bool = False) -> YoloDataset:
    """Load the dataset at ``location`` (its folder or its data.yaml).

    Raises:
        DatasetError: naming the file (and line) of the first problem found.

    """
    spec = read_data_yaml(Path(location), raise_on_error)
    assert spec is not None  # raise_on_error raised otherwise
    return _Scanner(spec, raise_on_error, check_images).run()


def validate_yolo(location: Path | str, *, check_images: bool = True) -> IssueList:
    """Every problem in the dataset at ``location``, errors and warnings, in the order found."""
    issues = IssueList()
    location = Path(location)
    try:
        spec = read_data_yaml(location, issues)
    except DatasetError as exc:
        message = str(exc).removeprefix(f"{location}: ")
        issues(DatasetIssue(code="yaml.missing", severity=Severity.ERROR, path=location, message=message))
        return issues
    if spec is not None:
        _Scanner(spec, issues, check_images).run()
    return issues
