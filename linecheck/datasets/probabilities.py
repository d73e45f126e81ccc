"""``probabilities.csv`` of a classification layout: each image's annotated defect probability.

``data convert --from csv`` writes it beside ``{train,val,test}/<class>/`` when the source CSV gives a
probability (ELPV: 0, 1/3, 2/3 or 1, the share of experts who saw a defect); ``train --task classify``
reads it with the layout (a malformed file is an error) and with ``--soft-labels`` trains on those
probabilities as soft targets. Columns ``image,probability``; ``image`` is
the file's path inside the layout (``train/defective/cell0001.png``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from linecheck.errors import DatasetError

PROBABILITIES_FILE = "probabilities.csv"
COLUMNS = ("image", "probability")


def write_probabilities(root: Path, probabilities: Mapping[str, float]) -> Path:
    """Write ``image -> probability`` (``image``: a POSIX path inside ``root``) to ``probabilities.csv``."""
    path = root / PROBABILITIES_FILE
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for image, probability in sorted(probabilities.items()):
            writer.writerow([image, repr(float(probability))])
    return path


def read_probabilities(root: Path) -> dict[Path, float]:
    """``root/probabilities.csv`` as resolved image path -> probability (empty when there is none).

    Raises:
        DatasetError: a bad header, a probability outside [0, 1], an image outside ``root`` or
            missing, or one listed twice (the line and the value named).

    """
    path = root / PROBABILITIES_FILE
    if not path.is_file():
        return {}
    found: dict[Path, float] = {}
    base = root.resolve()
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
            raise DatasetError(f"header {header}: expected {','.join(COLUMNS)}", path=path, line=1)
        for number, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != 2:
                raise DatasetError(
                    f"expected 2 cells ({','.join(COLUMNS)}), got {len(cells)}", path=path, line=number
                )
            name, value = cells[0].strip(), cells[1].strip()
            try:
                probability = float(value)
            except ValueError:
                probability = math.nan
            if not 0.0 <= probability <= 1.0:
                raise DatasetError(
                    f"probability={value!r}: expected a number in [0, 1]", path=path, line=number
                )
            image = (base / PurePosixPath(name)).resolve()
            if not image.is_relative_to(base) or not image.is_file():
                raise DatasetError(f"image={name!r}: not a file of this layout", path=path, line=number)
            if image in found:
                raise DatasetError(f"image={name!r} is listed twice", path=path, line=number)
            found[image] = probability
    return found
