"""The YOLO dataset as training sees it: ``data.yaml``, its splits, labels and a content hash.

Layout (Ultralytics' own): ``data.yaml`` with ``path``, ``train``, ``val``, optional ``test``
and ``names``; images under ``images/<split>/``, one label file per image under
``labels/<split>/<stem>.txt`` with rows ``class cx cy w h`` (normalised).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from linecheck.errors import DatasetError
from linecheck.image_files import list_images
from linecheck.text_files import decode_problem, decode_text

SPLITS = ("train", "val", "test")


def _names(raw: Any, source: Path) -> tuple[str, ...]:
    if isinstance(raw, list) and raw:
        return tuple(str(n) for n in raw)
    if isinstance(raw, dict) and raw:
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DatasetError(f"'names' keys must be class ids, got {list(raw)}", path=source) from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"'names' ids must be 0..{len(ids) - 1}, got {ids}", path=source)
        return tuple(str(raw[k] if k in raw else raw[str(k)]) for k in ids)
    raise DatasetError(f"'names' must be a non-empty list or id->name mapping, got {raw!r}", path=source)


@dataclass(frozen=True, kw_only=True)
class YoloDataset:
    """A parsed ``data.yaml``.

    Attributes:
        yaml_path: the ``data.yaml`` file.
        root: dataset root (``path`` resolved against the YAML's folder).
        names: class names in class-id order.
        splits: split name -> image directory, for the splits the YAML defines.
        generator: how the data was generated (the ``synth`` block ``linecheck data synth`` writes:
            kind, seed, images, imgsz, split fractions), empty for other datasets.

    """

    yaml_path: Path
    root: Path
    names: tuple[str, ...]
    splits: dict[str, Path]
    generator: dict[str, Any] = field(default_factory=dict)

    def images(self, split: str) -> list[Path]:
        """Image files of ``split``, sorted by name."""
        if split not in self.splits:
            raise DatasetError(
                f"dataset has no {split!r} split; it has {sorted(self.splits)}", path=self.yaml_path
            )
        folder = self.splits[split]
        return list_images(folder)

    @staticmethod
    def label_for(image: Path) -> Path:
        """Label file of ``image`` (Ultralytics' rule: last ``images`` path part becomes ``labels``)."""
        parts = list(image.parts)
        for i in range(len(parts) - 1, -1, -1):
            if parts[i] == "images":
                parts[i] = "labels"
                return Path(*parts).with_suffix(".txt")
        raise DatasetError("image is not under an 'images' folder, so its label file is unknown", path=image)

    def classes_in(self, image: Path) -> list[int]:
        """Class ids labelled in ``image`` (empty for a defect-free image or a missing label file)."""
        label = self.label_for(image)
        if not label.is_file():
            return []
        ids: list[int] = []
        try:
            rows = decode_text(label.read_bytes()).splitlines()
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"label file is not text ({exc.reason} at byte {exc.start})", path=label
            ) from None
        for number, row in enumerate(rows, start=1):
            fields = row.split()
            if not fields:
                continue
            try:
                class_id = int(fields[0])
            except ValueError:
                raise DatasetError(
                    f"class id {fields[0]!r} is not an integer", path=label, line=number
                ) from None
            if not 0 <= class_id < len(self.names):
                raise DatasetError(
                    f"class id {class_id} outside 0..{len(self.names) - 1}", path=label, line=number
                )
            ids.append(class_id)
        return ids

    def fingerprint(self) -> str:
        """sha256 over every split's label bytes and image names and sizes (stable across machines)."""
        digest = hashlib.sha256()
        digest.update("\n".join(self.names).encode())
        for split in SPLITS:
            if split not in self.splits:
                continue
            for image in self.images(split):
                rel = image.relative_to(self.root) if image.is_relative_to(self.root) else image.name
                digest.update(f"{split}\0{rel}\0{image.stat().st_size}\0".encode())
                label = self.label_for(image)
                digest.update(label.read_bytes() if label.is_file() else b"<none>")
        return digest.hexdigest()

    def write_resolved_yaml(self, target: Path) -> Path:
        """Write a copy of ``data.yaml`` with absolute paths (Ultralytics resolves relative ones oddly)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        content: dict[str, Any] = {"path": str(self.root), "names": dict(enumerate(self.names))}
        content.update({split: str(folder) for split, folder in self.splits.items()})
        target.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return target

    def summary(self) -> dict[str, Any]:
        """Card-ready description: source, hash, classes and image counts per split."""
        summary: dict[str, Any] = {
            "data_yaml": str(self.yaml_path),
            "sha256": self.fingerprint(),
            "names": list(self.names),
            "images": {split: len(self.images(split)) for split in self.splits},
        }
        if self.generator:
            summary["generator"] = dict(self.generator)
        return summary


def load_dataset(path: Path) -> YoloDataset:
    """Load a dataset from its folder (holding ``data.yaml``) or from the YAML file itself."""
    path = Path(path)
    yaml_path = path / "data.yaml" if path.is_dir() else path
    if not yaml_path.is_file():
        raise DatasetError("no data.yaml here (expected a dataset folder or its data.yaml)", path=path)
    try:
        data = yaml_path.read_bytes()
        raw = yaml.safe_load(decode_text(data))
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read data.yaml: {exc}", path=yaml_path) from exc
    except UnicodeDecodeError as exc:
        where = decode_problem(exc, data)
        raise DatasetError(
            f"data.yaml is not UTF-8 text at {where}; save it as UTF-8", path=yaml_path
        ) from None
    if not isinstance(raw, dict):
        raise DatasetError(f"expected a mapping, got {type(raw).__name__}", path=yaml_path)
    base = yaml_path.parent.resolve()
    root = Path(str(raw.get("path") or base))
    root = root if root.is_absolute() else (base / root).resolve()
    if not root.is_dir():
        # A data set copied or moved (to a GPU server, another disk) keeps the absolute ``path`` of
        # where it was written; its own folder is where it is now.
        root = base
    names = _names(raw.get("names"), yaml_path)
    splits: dict[str, Path] = {}
    for split in SPLITS:
        value = raw.get(split)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise DatasetError(f"'{split}' must be one folder path, got {value!r}", path=yaml_path)
        folder = Path(value) if Path(value).is_absolute() else root / value
        if not folder.is_dir():
            raise DatasetError(f"'{split}' folder {folder} does not exist", path=yaml_path)
        splits[split] = folder
    for required in ("train", "val"):
        if required not in splits:
            raise DatasetError(f"data.yaml has no '{required}' split", path=yaml_path)
    generator = raw.get("synth")
    return YoloDataset(
        yaml_path=yaml_path,
        root=root,
        names=names,
        splits=splits,
        generator=dict(generator) if isinstance(generator, dict) else {},
    )
