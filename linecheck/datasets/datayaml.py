"""``data.yaml``: the dataset descriptor Ultralytics reads (root, split folders, class names).

Accepted form::

    path: /data/fabric      # dataset root; a relative path is relative to data.yaml's folder
    train: images/train     # a folder, a .txt list of image paths, or a list of those
    val: images/val
    test: images/test       # optional
    names: {0: hole, 1: stain}   # or a list: [hole, stain]
    nc: 2                   # optional, must equal len(names)

Other keys are kept and ignored. Ultralytics resolves a relative ``path`` against the *current*
directory, not the YAML's, so :func:`write_data_yaml` writes the absolute root and
:meth:`DataYaml.for_ultralytics` gives a copy with an absolute ``path`` for any accepted file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from linecheck.datasets.issues import DatasetIssue, IssueSink, Severity, raise_on_error
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.text_files import decode_text

DATA_YAML = "data.yaml"
#: Split names, in the order they are listed and written.
SPLITS: tuple[str, ...] = ("train", "val", "test")
_REQUIRED_SPLITS = ("train", "val")


@dataclass(frozen=True, kw_only=True)
class DataYaml:
    """A parsed ``data.yaml``.

    Attributes:
        file: the YAML file.
        root: the dataset root (``path`` resolved against ``file``'s folder).
        names: class names in class-id order.
        sources: split name -> absolute folders or ``.txt`` image lists, as listed.
        raw: the YAML mapping as read (other keys kept).
        key_lines: line number of each top-level key, for messages.

    """

    file: Path
    root: Path
    names: tuple[str, ...]
    sources: Mapping[str, tuple[Path, ...]]
    raw: Mapping[str, Any] = field(default_factory=dict)
    key_lines: Mapping[str, int] = field(default_factory=dict)

    def for_ultralytics(self) -> dict[str, Any]:
        """The mapping with ``path`` made absolute and ``names`` as a dict, ready to dump for training."""
        data = dict(self.raw)
        data["path"] = str(self.root)
        data["names"] = dict(enumerate(self.names))
        data.pop("nc", None)
        return data


def find_data_yaml(location: Path) -> Path:
    """``location`` itself when it is a YAML file, else ``location/data.yaml`` (or ``data.yml``)."""
    if location.is_file():
        return location
    if not location.is_dir():
        raise DatasetError("dataset folder not found", path=location)
    for name in (DATA_YAML, "data.yml"):
        candidate = location / name
        if candidate.is_file():
            return candidate
    raise DatasetError(f"no {DATA_YAML} in the dataset folder", path=location)


def _key_lines(text: str) -> dict[str, int]:
    """Line number (1-based) of each top-level key, for messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value}


def parse_names(value: object) -> tuple[str, ...]:
    """Class names from a ``names`` value (list, or dict keyed 0..n-1); raises ``ValueError`` with why."""
    if isinstance(value, list):
        names = list(value)
    elif isinstance(value, dict):
        keys: list[int] = []
        for key in value:
            if isinstance(key, bool) or not isinstance(key, int | str) or not str(key).isdigit():
                raise ValueError(f"class id {key!r} is not a non-negative integer")
            keys.append(int(key))
        if sorted(keys) != list(range(len(keys))):
            raise ValueError(f"class ids {sorted(keys)} are not 0..{len(keys) - 1} without gaps")
        by_id = {int(k): v for k, v in value.items()}
        names = [by_id[i] for i in range(len(by_id))]
    else:
        raise ValueError(f"expected a list or a mapping of class names, got {type(value).__name__}")
    if not names:
        raise ValueError("no class names")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"class {i} name {name!r} is not a non-empty string")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate class names {duplicates}")
    return tuple(names)


def read_data_yaml(location: Path, sink: IssueSink = raise_on_error) -> DataYaml | None:
    """Parse the dataset's ``data.yaml``; report problems to ``sink``.

    With the default sink the first problem raises :class:`DatasetError`; with a collecting sink
    every problem found is reported and None is returned when the file is unusable.
    """
    file = find_data_yaml(location)
    try:
        text = decode_text(file.read_bytes())
    except UnicodeDecodeError as exc:
        message = f"data.yaml is not UTF-8 text ({exc.reason} at byte {exc.start})"
        sink(DatasetIssue(code="yaml.syntax", severity=Severity.ERROR, path=file, message=message))
        return None
    lines = _key_lines(text)
    usable = True

    def report(code: str, message: str, key: str | None = None) -> None:
        nonlocal usable
        usable = False
        line = lines.get(key) if key else None
        sink(DatasetIssue(code=code, severity=Severity.ERROR, path=file, line=line, message=message))

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        sink(DatasetIssue(code="yaml.syntax", severity=Severity.ERROR, path=file, line=line, message=problem))
        return None
    if not isinstance(data, dict):
        report("yaml.not_mapping", f"expected a mapping of keys, got {type(data).__name__}")
        return None

    names: tuple[str, ...] = ()
    if data.get("names") is None:
        report("yaml.names_missing", "'names' is missing: list the class names", "names")
    else:
        try:
            names = parse_names(data["names"])
        except ValueError as exc:
            report("yaml.names", f"names: {exc}", "names")
    nc = data.get("nc")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int)):
        report("yaml.nc", f"nc={nc!r}: expected an integer", "nc")
    elif nc is not None and names and nc != len(names):
        report("yaml.nc", f"nc={nc} but names lists {len(names)} classes", "nc")

    path_value = data.get("path")
    root = file.parent
    if path_value is not None and not isinstance(path_value, str):
        report("yaml.path", f"path={path_value!r}: expected a folder path string", "path")
    elif path_value:
        root = (file.parent / Path(path_value).expanduser()).resolve()

    sources: dict[str, tuple[Path, ...]] = {}
    for split in SPLITS:
        value = data.get(split)
        if value is None or value == "" or value == []:
            if split in _REQUIRED_SPLITS:
                report("yaml.split_missing", f"'{split}' is missing: name the {split} image folder", split)
            continue
        entries = value if isinstance(value, list) else [value]
        if not all(isinstance(e, str) and e for e in entries):
            report("yaml.split", f"{split}={value!r}: expected a folder path or a list of them", split)
            continue
        sources[split] = tuple(root / e for e in entries)
    if not usable:
        return None
    return DataYaml(file=file, root=root, names=names, sources=sources, raw=data, key_lines=lines)


def write_data_yaml(
    root: Path,
    names: Sequence[str],
    *,
    splits: Sequence[str] | None = ("train", "val", "test"),
    extra: Mapping[str, Any] | None = None,
    file_name: str = DATA_YAML,
    root_path: Path | None = None,
) -> Path:
    """Write ``root/<file_name>`` (``data.yaml``) for the standard layout and return its path.

    Args:
        root: folder the file is written to.
        names: class names in class-id order.
        splits: split folders ``images/<split>`` to list; None for an unsplit dataset
            (``train`` and ``val`` both ``images``).
        extra: further keys to keep (e.g. ``kind``); they cannot override the standard ones.
        file_name: name of the file written in ``root``.
        root_path: the dataset's final location, written (absolute) as ``path``; default ``root``.
            A dataset built in a staging folder and then moved passes its destination here.

    """
    try:
        names = parse_names(list(names))
    except ValueError as exc:
        raise InvalidFieldError("names", list(names), str(exc)) from None
    data: dict[str, Any] = dict(extra or {})
    data["path"] = str((root_path or root).resolve())
    for split in SPLITS:
        data.pop(split, None)
    if splits is None:
        data["train"] = "images"
        data["val"] = "images"
    else:
        for split in splits:
            data[split] = f"images/{split}"
    data["nc"] = len(names)
    data["names"] = dict(enumerate(names))
    file = root / file_name
    file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return file
