"""Deterministic train/val/test split of a YOLO dataset in the standard layout.

The plan depends only on the image stems, their classes, the fractions and the seed, so running
``split`` again (on the split or the unsplit dataset) gives the same result. It stratifies lightly:
images are ordered by their rarest class before being dealt out, and every class found on at least
two images gets at least one validation image.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from linecheck.datasets.datayaml import read_data_yaml, write_data_yaml
from linecheck.datasets.yolo import Sample, load_yolo
from linecheck.errors import DatasetError, InvalidFieldError

_STANDARD_KEYS = frozenset({"path", "train", "val", "test", "nc", "names"})


@dataclass(frozen=True, kw_only=True)
class SplitResult:
    """What ``split_dataset`` did.

    Attributes:
        yaml_file: the rewritten ``data.yaml``.
        counts: split -> number of images.
        moved: number of images that changed folder.

    """

    yaml_file: Path
    counts: dict[str, int]
    moved: int


def _check_fractions(val: float, test: float) -> None:
    if not 0.0 < val < 1.0:
        raise InvalidFieldError("val", val, "expected a fraction with 0 < val < 1")
    if not 0.0 <= test < 1.0:
        raise InvalidFieldError("test", test, "expected a fraction with 0 <= test < 1")
    if val + test >= 1.0:
        raise InvalidFieldError("val + test", val + test, "expected < 1 so that train keeps images")


def split_sizes(n: int, val: float, test: float) -> dict[str, int]:
    """Images per split for ``n`` images: rounded fractions, at least one image in each used split."""
    _check_fractions(val, test)
    n_val = max(1, round(n * val))
    n_test = max(1, round(n * test)) if test > 0 else 0
    if n - n_val - n_test < 1:
        needed = 2 + (test > 0)
        raise InvalidFieldError("images", n, f"too few to split (need at least {needed})")
    return {"train": n - n_val - n_test, "val": n_val, "test": n_test}


def deal_in_proportion(order: Sequence[str], sizes: Mapping[str, int]) -> dict[str, str]:
    """Deal ``order`` out systematically so each stretch of it is shared in proportion.

    ``sizes`` (from :func:`split_sizes`) gives the images of each split; laid out group after group,
    ``order`` is then stratified by group: each group gives val and test its share, give or take one.
    """
    n = len(order)
    got = Counter[str]()
    plan: dict[str, str] = {}
    for i, stem in enumerate(order):
        deficits = {s: (i + 1) * sizes[s] / n - got[s] for s in ("val", "test") if got[s] < sizes[s]}
        best = max(deficits, key=lambda s: (deficits[s], s == "val"), default=None)
        split = best if best is not None and deficits[best] >= 0.5 else "train"
        if split == "train" and got["train"] >= sizes["train"]:
            split = next(s for s in ("val", "test") if got[s] < sizes[s])
        plan[stem] = split
        got[split] += 1
    return plan


def _cover_val(plan: dict[str, str], classes: Mapping[str, frozenset[int]], order: Sequence[str]) -> None:
    """Move images so that every class on >= 2 images has a validation image (in place)."""
    images_of = Counter(c for stem in order for c in classes[stem])
    pinned: set[str] = set()
    for cls in sorted(images_of, key=lambda c: (images_of[c], c)):
        if images_of[cls] < 2 or any(plan[s] == "val" and cls in classes[s] for s in order):
            continue
        in_split = {sp: [s for s in order if plan[s] == sp and cls in classes[s]] for sp in ("train", "test")}
        donors = in_split["train"] if len(in_split["train"]) >= 2 else in_split["test"]
        if not donors:
            continue
        incoming = donors[-1]
        source = plan[incoming]
        plan[incoming] = "val"
        pinned.add(incoming)
        # Send one val image back so the sizes hold, if one can go without uncovering a class.
        val_count = Counter(c for s in order if plan[s] == "val" for c in classes[s])
        for stem in reversed(order):
            if plan[stem] == "val" and stem not in pinned and all(val_count[c] >= 2 for c in classes[stem]):
                plan[stem] = source
                break


def plan_split(
    classes: Mapping[str, frozenset[int]], *, val: float, test: float, seed: int
) -> dict[str, str]:
    """Assign each stem (key of ``classes``, value: its class ids) to ``train``, ``val`` or ``test``."""
    sizes = split_sizes(len(classes), val, test)
    stems = sorted(classes)
    random.Random(seed).shuffle(stems)
    images_of = Counter(c for stem in stems for c in classes[stem])

    def rarity(stem: str) -> tuple[float, int]:
        if not classes[stem]:
            return (float("inf"), 0)
        rarest = min(classes[stem], key=lambda c: (images_of[c], c))
        return (images_of[rarest], rarest)

    order = sorted(stems, key=rarity)  # stable: random order inside each group
    plan = deal_in_proportion(order, sizes)
    _cover_val(plan, classes, order)
    return plan


def split_dataset(location: Path | str, *, val: float = 0.2, test: float = 0.1, seed: int = 0) -> SplitResult:
    """Split the dataset at ``location`` into ``images/<split>`` + ``labels/<split>`` and rewrite data.yaml.

    The dataset must load cleanly and use the standard layout (data.yaml in the root, images
    under ``root/images``); nothing is moved when a check fails.
    """
    _check_fractions(val, test)
    dataset = load_yolo(location)
    root = dataset.root
    if dataset.yaml_file.parent.resolve() != root.resolve():
        raise DatasetError(f"split needs data.yaml in the dataset root {root}", path=dataset.yaml_file)
    by_stem: dict[str, Sample] = {}
    real_images = (root / "images").resolve()
    for sample in dataset.samples():
        if not sample.image.is_relative_to(root / "images"):
            raise DatasetError(f"split needs every image under {root / 'images'}", path=sample.image)
        if not sample.image.parent.resolve().is_relative_to(real_images):
            # Moving it would take it out of a folder shared through a link (a NAS copy, another set).
            raise DatasetError(
                f"split moves images, and this one is in a linked folder outside the dataset "
                f"({sample.image.parent.resolve()}); copy that folder into {root / 'images'} first",
                path=sample.image,
            )
        other = by_stem.setdefault(sample.image.stem, sample)
        if other is not sample:
            raise DatasetError(
                f"two images share the stem {sample.image.stem!r}: {other.image}", path=sample.image
            )
    classes = {stem: frozenset(s.classes.tolist()) for stem, s in by_stem.items()}
    plan = plan_split(classes, val=val, test=test, seed=seed)

    moves: list[tuple[Path, Path]] = []
    moved = 0
    for stem, sample in sorted(by_stem.items()):
        split = plan[stem]
        image_target = root / "images" / split / sample.image.name
        moved += image_target != sample.image
        moves.append((sample.image, image_target))
        if sample.label is not None:
            moves.append((sample.label, root / "labels" / split / f"{stem}.txt"))
    for source, target in moves:
        if source != target and target.exists():
            raise DatasetError(f"cannot move {source} here: a file is already there", path=target)
    for source, target in moves:
        if source != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    used = [s for s in ("train", "val", "test") if s != "test" or test > 0]
    for kind in ("images", "labels"):
        for split in used:
            (root / kind / split).mkdir(parents=True, exist_ok=True)
        _remove_empty_folders(root / kind, keep={root / kind / s for s in used})
    spec = read_data_yaml(dataset.yaml_file)
    extra = {k: v for k, v in (spec.raw if spec else {}).items() if k not in _STANDARD_KEYS}
    yaml_file = write_data_yaml(
        root, dataset.names, splits=used, extra=extra, file_name=dataset.yaml_file.name
    )
    counts = Counter(plan.values())
    return SplitResult(yaml_file=yaml_file, counts={s: counts[s] for s in used}, moved=moved)


def _remove_empty_folders(top: Path, keep: set[Path]) -> None:
    """Remove folders under ``top`` left empty by the moves, except ``keep``."""
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if folder not in keep and not any(folder.iterdir()):
            folder.rmdir()
