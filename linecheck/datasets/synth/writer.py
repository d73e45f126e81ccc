"""``write_dataset``: a synthetic YOLO dataset (images, labels, data.yaml) for one line kind."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import yaml

from linecheck.datasets.synth.frames import Rendered
from linecheck.datasets.synth.generators import LineGenerator, check_imgsz, make_generator
from linecheck.datasets.synth.seeding import Purpose, check_seed, draw_defect_count, rng_for
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.kinds import Kind, get_kind, make_code, parse_kind

SPLITS = ("train", "val", "test")
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1]


@dataclass(frozen=True, kw_only=True)
class SplitPlan:
    """Which image indices go to which split, and which images are defect-free."""

    splits: dict[str, list[int]]
    defect_free: frozenset[int]


def plan_splits(
    kind: Kind, *, images: int, seed: int, val: float, test: float, defect_free: float
) -> SplitPlan:
    """Deterministic split and defect-free assignment (exact counts, shuffled by seed)."""
    if isinstance(images, bool) or not isinstance(images, int) or images < 1:
        raise InvalidFieldError("images", images, "expected a positive integer")
    for name, value in (("val", val), ("test", test)):
        if not 0.0 <= value < 1.0:
            raise InvalidFieldError(name, value, "expected a fraction in [0, 1)")
    if val + test >= 1.0:
        raise InvalidFieldError("val+test", val + test, "expected < 1 so that training images remain")
    if not 0.0 <= defect_free <= 1.0:
        raise InvalidFieldError("defect_free", defect_free, "expected a fraction in [0, 1]")
    n_val = max(1, round(images * val)) if val > 0 else 0
    n_test = max(1, round(images * test)) if test > 0 else 0
    if images - n_val - n_test < 1:
        raise InvalidFieldError(
            "images", images, f"too few for val={val} and test={test}: no training image left"
        )
    rng = rng_for(seed, kind, Purpose.SPLIT)
    order = rng.permutation(images).tolist()
    splits = {"val": sorted(order[:n_val]), "test": sorted(order[n_val : n_val + n_test])}
    splits["train"] = sorted(order[n_val + n_test :])
    free = rng.permutation(images)[: round(images * defect_free)]
    return SplitPlan(splits=splits, defect_free=frozenset(int(i) for i in free))


def yolo_lines(boxes: npt.NDArray[np.float32], class_ids: npt.NDArray[np.int64], imgsz: int) -> str:
    """YOLO label text: one ``class cx cy w h`` line (normalised) per box."""
    out = []
    for (x1, y1, x2, y2), cid in zip(boxes.tolist(), class_ids.tolist(), strict=True):
        cx, cy, w, h = (x1 + x2) / 2 / imgsz, (y1 + y2) / 2 / imgsz, (x2 - x1) / imgsz, (y2 - y1) / imgsz
        out.append(f"{cid} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(out)


@lru_cache(maxsize=6)
def _dataset_generator(kind: Kind, seed: int, imgsz: int) -> LineGenerator:
    return make_generator(kind, seed=seed, imgsz=imgsz)


def render_sample(kind: Kind, *, seed: int, index: int, imgsz: int, defective: bool) -> Rendered:
    """Dataset image ``index`` exactly as :func:`write_dataset` renders it (for tests and previews).

    The ``clean`` image of the result is the same frame before its defects were drawn.
    """
    check_seed(seed)
    generator = _dataset_generator(kind, seed, check_imgsz(imgsz))
    return _render(generator, kind, seed=seed, index=index, defective=defective)


def _render(generator: LineGenerator, kind: Kind, *, seed: int, index: int, defective: bool) -> Rendered:
    rng = rng_for(seed, kind, Purpose.SAMPLE, index)
    n = draw_defect_count(rng) if defective else 0
    code = None if get_kind(kind).unit == "web" else make_code(kind, index + 1)  # rolls carry no mark
    return generator.sample(rng, n_defects=n, code=code)


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError("output exists and is not a folder", path=out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DatasetError("output folder is not empty; choose another or pass overwrite", path=out)
        for split in SPLITS:
            for sub in ("images", "labels"):
                folder = out / sub / split
                if folder.is_dir():
                    for f in folder.iterdir():
                        if f.is_file() and f.suffix in {".png", ".txt"}:
                            f.unlink()
            stale_cache = out / "labels" / f"{split}.cache"  # Ultralytics' label cache of the old files
            if stale_cache.is_file():
                stale_cache.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_dataset(
    kind: Kind | str,
    out: Path,
    *,
    images: int,
    seed: int,
    imgsz: int = 640,
    val: float = 0.2,
    test: float = 0.1,
    defect_free: float = 0.2,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic YOLO dataset of ``kind`` to ``out`` and return its ``data.yaml`` path.

    Layout: ``images/<split>/<stem>.png``, ``labels/<split>/<stem>.txt`` (empty for defect-free
    images) and ``data.yaml`` with an absolute ``path``, the class names and a ``synth`` block.
    Byte-identical for the same arguments. ``out`` must be empty unless ``overwrite`` is true
    (then earlier images, labels and Ultralytics label caches in the split folders are replaced;
    other files are left alone).
    """
    kind = parse_kind(kind) if isinstance(kind, str) else kind
    check_seed(seed)
    check_imgsz(imgsz)
    plan = plan_splits(kind, images=images, seed=seed, val=val, test=test, defect_free=defect_free)
    out = Path(out).resolve()
    _prepare(out, overwrite)
    generator = make_generator(kind, seed=seed, imgsz=imgsz)
    for split, indices in plan.splits.items():
        if not indices:
            continue
        img_dir, lbl_dir = out / "images" / split, out / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        for index in indices:
            sample = _render(generator, kind, seed=seed, index=index, defective=index not in plan.defect_free)
            stem = f"{kind.value}_{seed}_{index:06d}"
            if not cv2.imwrite(str(img_dir / f"{stem}.png"), sample.image, _PNG_PARAMS):
                raise DatasetError("could not write image", path=img_dir / f"{stem}.png")
            (lbl_dir / f"{stem}.txt").write_text(
                yolo_lines(sample.boxes, sample.class_ids, imgsz), encoding="utf-8"
            )
    data = {
        "path": str(out),
        "train": "images/train",
        "val": "images/val" if plan.splits["val"] else "images/train",
        **({"test": "images/test"} if plan.splits["test"] else {}),
        "names": dict(enumerate(get_kind(kind).classes)),
        "nc": len(get_kind(kind).classes),
        "synth": {
            "kind": kind.value,
            "seed": seed,
            "images": images,
            "imgsz": imgsz,
            "val": val,
            "test": test,
            "defect_free": defect_free,
        },
    }
    yaml_path = out / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return yaml_path
