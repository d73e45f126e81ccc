"""Image-level CSV labels -> Ultralytics classification layout ``DST/<split>/<class>/<image>``.

Made for sets like ELPV (PV electroluminescence cells): ``labels.csv`` lines ``path probability
type`` (whitespace-separated, no header; probability of a defect in {0, 1/3, 2/3, 1}). Also read:
comma/tab-separated files with a header naming a path column (``path``/``image``/``file``/
``filename``) and either a ``probability`` or a ``label``/``class`` column, plus optional ``type``.
With a probability, ``probability >= threshold`` is ``defective``, else ``functional``; with
``group_by_type`` the class is prefixed by the type (``mono_defective``). Paths are relative to
the CSV's folder. The split is stratified by class and, inside a class, by the rows' type and
probability when the CSV gives them (an ELPV test split then holds mono and poly cells, sure and
doubtful ones, in the set's proportions); it is deterministic by seed. The probabilities themselves
go to ``DST/probabilities.csv`` (:mod:`linecheck.datasets.probabilities`), the soft targets of
``train --task classify --soft-labels``.
"""

from __future__ import annotations

import csv
import math
import random
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from linecheck.datasets.convert.detection import SplitOptions, note_unknown_renames
from linecheck.datasets.convert.report import ConversionReport
from linecheck.datasets.convert.text import guessed_note, read_source_text
from linecheck.datasets.images import image_size
from linecheck.datasets.probabilities import PROBABILITIES_FILE, write_probabilities
from linecheck.datasets.split import deal_in_proportion, split_sizes
from linecheck.datasets.writer import check_destination, new_staging_folder, publish
from linecheck.errors import ConversionError, DatasetError, InvalidFieldError
from linecheck.image_files import is_image_file

PATH_COLUMNS = ("path", "image", "file", "filename", "image_path")
PROBABILITY_COLUMNS = ("probability", "prob", "defect_probability")
LABEL_COLUMNS = ("label", "class", "class_name")
TYPE_COLUMNS = ("type", "cell_type")
DEFECTIVE, FUNCTIONAL = "defective", "functional"


@dataclass(frozen=True, kw_only=True, slots=True)
class CsvRow:
    """One labelled image from the CSV."""

    line: int
    path: str
    probability: float | None = None
    label: str | None = None
    type: str | None = None


def find_csv(src: Path) -> Path:
    """``src`` when it is a file, else ``src/labels.csv`` or the one ``.csv`` in ``src``.

    With no ``.csv`` in ``src`` itself, one ``labels.csv`` a folder down is taken: the ELPV repository
    as cloned keeps its ``labels.csv`` and ``images/`` under ``data/``.
    """
    if src.is_file():
        return src
    if (src / "labels.csv").is_file():
        return src / "labels.csv"
    found = sorted(src.glob("*.csv")) if src.is_dir() else []
    if not found and src.is_dir():
        below = sorted(src.glob("*/labels.csv"))
        if len(below) == 1:
            return below[0]
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise ConversionError(f"expected one .csv file (or labels.csv), found {listed}", path=src)
    return found[0]


def _split_lines(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-empty line; comma, tab or whitespace separated."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        return []
    first = lines[0][1]
    delimiter = "," if "," in first else "\t" if "\t" in first else None
    if delimiter is None:
        return [(n, line.split()) for n, line in lines]
    return [(n, [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]) for n, line in lines]


def _column(header: list[str], options: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(o) for o in options if o in lowered), None)


def parse_label_csv(path: Path, *, encoding: str | None = None) -> list[CsvRow]:
    """Rows of a label CSV; raises :class:`ConversionError` naming the file and line on bad input.

    Read as UTF-8, else GB18030 (Excel's CSV on Chinese Windows), or in ``encoding`` when given
    (:mod:`linecheck.datasets.convert.text`; :func:`read_source_text` says which).
    """
    return parse_label_text(read_source_text(path, encoding=encoding).text, path)


def parse_label_text(text: str, path: Path) -> list[CsvRow]:
    """Rows of the label CSV ``path`` whose decoded text is ``text`` (see :func:`parse_label_csv`)."""
    lines = _split_lines(text)
    if not lines:
        raise ConversionError("the CSV file is empty", path=path)
    header = lines[0][1]
    path_col = _column(header, PATH_COLUMNS)
    if path_col is not None:
        prob_col, label_col = _column(header, PROBABILITY_COLUMNS), _column(header, LABEL_COLUMNS)
        type_col = _column(header, TYPE_COLUMNS)
        if prob_col is None and label_col is None:
            raise ConversionError(
                f"header {header}: expected a probability column ({'/'.join(PROBABILITY_COLUMNS)}) "
                f"or a label column ({'/'.join(LABEL_COLUMNS)})",
                path=path,
                line=lines[0][0],
            )
        body = lines[1:]
    else:  # ELPV: path probability [type], no header
        path_col, prob_col, label_col, type_col = 0, 1, None, 2 if len(header) > 2 else None
        body = lines
    width = 1 + max(c for c in (path_col, prob_col, label_col, type_col) if c is not None)
    rows: list[CsvRow] = []
    for number, cells in body:
        if len(cells) < width:
            message = f"expected {width} columns, got {len(cells)}: {cells}"
            raise ConversionError(message, path=path, line=number)
        probability = None
        if prob_col is not None:
            try:
                probability = float(cells[prob_col])
            except ValueError:
                probability = math.nan
            if not 0.0 <= probability <= 1.0:
                raise ConversionError(
                    f"probability={cells[prob_col]!r}: expected a number in [0, 1]", path=path, line=number
                )
        label = cells[label_col] if label_col is not None else None
        if label_col is not None and not label:
            raise ConversionError("empty label", path=path, line=number)
        rows.append(
            CsvRow(
                line=number,
                path=cells[path_col],
                probability=probability,
                label=label,
                type=cells[type_col] if type_col is not None else None,
            )
        )
    return rows


def class_of(row: CsvRow, *, threshold: float, group_by_type: bool, csv_path: Path) -> str:
    """The class folder name of one row."""
    if row.label is not None:
        name = row.label
    else:
        assert row.probability is not None
        name = DEFECTIVE if row.probability >= threshold else FUNCTIONAL
    if group_by_type:
        if not row.type:
            raise ConversionError("group by type: this row has no type", path=csv_path, line=row.line)
        name = f"{row.type}_{name}"
    if "/" in name or "\\" in name or name.startswith("."):
        raise ConversionError(f"class {name!r} cannot be a folder name", path=csv_path, line=row.line)
    return name


def stratum_of(row: CsvRow) -> str:
    """The group a row is split with inside its class: its type and probability, as given."""
    return f"{row.type or ''}|{'' if row.probability is None else round(row.probability, 4)}"


def too_few_to_split(count: int, split: SplitOptions) -> bool:
    """A class this small goes to train whole (one image each for train and val, and test if any)."""
    return count < 2 + (split.test > 0)


def plan_class_split(
    files: list[str], split: SplitOptions, cls: str, strata: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Deterministic split of one class's files (all in train when too few to split).

    Files are shuffled by seed inside each stratum (``strata``: file -> group, default one group)
    and dealt out group after group, so val and test take each group's share, give or take one.
    """
    if too_few_to_split(len(files), split):
        return dict.fromkeys(files, "train")
    sizes = split_sizes(len(files), split.val, split.test)
    groups: dict[str, list[str]] = {}
    for name in sorted(files):
        groups.setdefault((strata or {}).get(name, ""), []).append(name)
    rng = random.Random(f"{split.seed}:{cls}")
    order: list[str] = []
    for group in sorted(groups):
        members = groups[group]
        rng.shuffle(members)
        order += members
    return deal_in_proportion(order, sizes)


def convert_csv(
    src: Path,
    dst: Path,
    *,
    threshold: float = 0.5,
    group_by_type: bool = False,
    split: SplitOptions | None = None,
    encoding: str | None = None,
    rename: Mapping[str, str] | None = None,
) -> ConversionReport:
    """Convert image-level CSV labels at ``src`` into a classification dataset at ``dst``.

    Args:
        src: the CSV file, or a folder holding ``labels.csv`` (or one ``.csv``).
        dst: new dataset folder (absent or empty).
        threshold: probability at or above which an image is ``defective``.
        group_by_type: prefix the class with the row's type (``mono_defective``).
        split: split fractions and seed (default: val 0.2, test 0.1, seed 0).
        encoding: the CSV file's encoding, overriding the UTF-8 / GB18030 reading.
        rename: class name (label, or ``defective`` / ``functional``) -> the folder name written.

    """
    if not 0.0 < threshold <= 1.0:
        raise InvalidFieldError("threshold", threshold, "expected 0 < threshold <= 1")
    split = split or SplitOptions()
    split_sizes(100, split.val, split.test)  # bad fractions fail before anything is read
    csv_path = find_csv(src)
    check_destination(dst)
    report = ConversionReport(source=csv_path, dst=dst, source_format="csv", task="classify")
    source = read_source_text(csv_path, encoding=encoding)
    if source.guessed:
        report.note(csv_path, guessed_note(1, csv_path))
    chosen: dict[Path, tuple[str, CsvRow]] = {}
    rename = rename or {}
    source_classes: set[str] = set()
    for row in parse_label_text(source.text, csv_path):
        image = (csv_path.parent / row.path).resolve()
        cls = class_of(row, threshold=threshold, group_by_type=group_by_type, csv_path=csv_path)
        source_classes.add(cls)
        cls = rename.get(cls, cls)
        if not is_image_file(image) or not image.is_file():
            report.skip(image, f"line {row.line}: image not found or not an image file")
            continue
        if image in chosen:
            report.skip(image, f"line {row.line}: listed again (line {chosen[image][1].line} kept)")
            continue
        try:
            image_size(image)
        except DatasetError as exc:
            report.skip_error(exc, image)
            continue
        chosen[image] = (cls, row)
    if not chosen:
        raise ConversionError("no readable images listed", path=csv_path)
    note_unknown_renames(rename, source_classes, report, csv_path)

    names = Counter(p.name for p in chosen)
    out_name = {
        p: p.name if names[p.name] == 1 else "__".join(Path(row.path).parts) for p, (_, row) in chosen.items()
    }
    by_class: dict[str, list[Path]] = {}
    for image, (cls, _) in chosen.items():
        by_class.setdefault(cls, []).append(image)
    staging = new_staging_folder(dst)
    splits: Counter[str] = Counter()
    probabilities: dict[str, float] = {}
    try:
        for cls, images in sorted(by_class.items()):
            strata = {out_name[p]: stratum_of(chosen[p][1]) for p in images}
            plan = plan_class_split([out_name[p] for p in images], split, cls, strata)
            if too_few_to_split(len(images), split):
                report.note(csv_path, f"class {cls!r} has {len(images)} image(s): all put in train")
            for image in images:
                target = staging / plan[out_name[image]] / cls / out_name[image]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(image, target)
                splits[plan[out_name[image]]] += 1
                probability = chosen[image][1].probability
                if probability is not None:
                    probabilities[target.relative_to(staging).as_posix()] = probability
        for name in ("train", "val") + (("test",) if split.test > 0 else ()):
            for cls in by_class:
                (staging / name / cls).mkdir(parents=True, exist_ok=True)
        if probabilities:
            write_probabilities(staging, probabilities)
            report.note(
                csv_path, f"{PROBABILITIES_FILE}: the defect probability of {len(probabilities)} image(s)"
            )
        publish(staging, dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.names = tuple(sorted(by_class))
    report.images = len(chosen)
    report.per_class = {cls: len(by_class[cls]) for cls in report.names}
    report.splits = {s: splits[s] for s in ("train", "val", "test") if s != "test" or split.test > 0}
    return report
