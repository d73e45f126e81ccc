"""write_dataset: layout, determinism, splits, defect-free share and bad arguments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from linecheck.datasets.synth import write_dataset
from linecheck.datasets.yolo import validate_yolo
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.kinds import Kind, get_kind

IMGSZ = 192  # small frames keep these tests fast; the geometry scales with imgsz


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _labels(root: Path) -> dict[str, list[list[float]]]:
    out = {}
    for path in sorted((root / "labels").rglob("*.txt")):
        rows = [line.split() for line in path.read_text().splitlines()]
        out[path.stem] = [[float(v) for v in row] for row in rows]
    return out


@pytest.mark.parametrize("kind", list(Kind))
def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path, kind: Kind) -> None:
    a = write_dataset(kind, tmp_path / "a", images=8, seed=11, imgsz=IMGSZ).parent
    b = write_dataset(kind.value, tmp_path / "b", images=8, seed=11, imgsz=IMGSZ).parent
    c = write_dataset(kind, tmp_path / "c", images=8, seed=12, imgsz=IMGSZ).parent
    files_a, files_b, files_c = _files(a), _files(b), _files(c)
    images_a = {k: v for k, v in files_a.items() if k.endswith(".png")}
    assert len(images_a) == 8
    # data.yaml holds the absolute path, so it differs; everything else is byte-identical
    assert {k: v for k, v in files_a.items() if k != "data.yaml"} == {
        k: v for k, v in files_b.items() if k != "data.yaml"
    }
    pngs_c = [v for k, v in sorted(files_c.items()) if k.endswith(".png")]
    assert not set(images_a.values()) & set(pngs_c), "another seed must give other images"


@pytest.mark.parametrize("kind", list(Kind))
def test_layout_and_data_yaml_pass_the_dataset_validator(tmp_path: Path, kind: Kind) -> None:
    data_yaml = write_dataset(kind, tmp_path / "ds", images=10, seed=3, imgsz=IMGSZ, val=0.2, test=0.1)
    root = data_yaml.parent
    data = yaml.safe_load(data_yaml.read_text())
    assert data["path"] == str(root.resolve())
    assert data["names"] == dict(enumerate(get_kind(kind).classes))
    assert data["nc"] == 4
    assert data["synth"] == {
        "kind": kind.value,
        "seed": 3,
        "images": 10,
        "imgsz": IMGSZ,
        "val": 0.2,
        "test": 0.1,
        "defect_free": 0.2,
    }
    counts = {split: len(list((root / "images" / split).glob("*.png"))) for split in ("train", "val", "test")}
    assert counts == {"train": 7, "val": 2, "test": 1}
    for split in counts:
        images = {p.stem for p in (root / "images" / split).glob("*.png")}
        labels = {p.stem for p in (root / "labels" / split).glob("*.txt")}
        assert images == labels
    assert not validate_yolo(root).errors


@pytest.mark.parametrize(("images", "defect_free"), [(20, 0.2), (20, 0.5), (10, 0.0), (10, 1.0)])
def test_defect_free_share_is_exact(tmp_path: Path, images: int, defect_free: float) -> None:
    root = write_dataset(
        Kind.BEARING, tmp_path / "ds", images=images, seed=5, imgsz=IMGSZ, defect_free=defect_free
    ).parent
    labels = _labels(root)
    assert len(labels) == images
    empty = sum(1 for rows in labels.values() if not rows)
    assert empty == round(images * defect_free)
    for rows in labels.values():
        assert len(rows) <= 3
        for cls, cx, cy, w, h in rows:
            assert cls in (0, 1, 2, 3)
            assert 0 < w <= 1 and 0 < h <= 1
            assert cx - w / 2 >= 0 and cx + w / 2 <= 1 + 1e-6
            assert cy - h / 2 >= 0 and cy + h / 2 <= 1 + 1e-6


def test_splits_depend_on_the_seed_only(tmp_path: Path) -> None:
    def split_of(root: Path) -> dict[str, str]:
        return {p.stem.rsplit("_", 1)[1]: p.parent.name for p in (root / "images").rglob("*.png")}

    a = split_of(write_dataset(Kind.PV, tmp_path / "a", images=20, seed=1, imgsz=IMGSZ).parent)
    b = split_of(write_dataset(Kind.PV, tmp_path / "b", images=20, seed=1, imgsz=IMGSZ).parent)
    c = split_of(write_dataset(Kind.PV, tmp_path / "c", images=20, seed=2, imgsz=IMGSZ).parent)
    assert a == b
    assert a != c


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    keep = out / "notes.md"
    keep.write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        write_dataset(Kind.TEXTILE, out, images=4, seed=1, imgsz=IMGSZ)
    write_dataset(Kind.TEXTILE, out, images=4, seed=1, imgsz=IMGSZ, overwrite=True)
    first = {p.name for p in (out / "images").rglob("*.png")}
    write_dataset(Kind.TEXTILE, out, images=3, seed=2, imgsz=IMGSZ, overwrite=True, val=0.34, test=0.0)
    second = {p.name for p in (out / "images").rglob("*.png")}
    assert len(second) == 3 and not first & second  # earlier images replaced, not mixed in
    assert keep.read_text() == "mine"  # files that are not ours stay


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "glass"}, "kind"),
        ({"images": 0}, "images"),
        ({"images": 2, "val": 0.5, "test": 0.4}, "images"),
        ({"seed": -1}, "seed"),
        ({"imgsz": 32}, "imgsz"),
        ({"val": 1.0}, "val"),
        ({"test": -0.1}, "test"),
        ({"val": 0.6, "test": 0.4}, "val+test"),
        ({"defect_free": 1.5}, "defect_free"),
    ],
)
def test_bad_arguments_name_the_field(tmp_path: Path, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"kind": "pv", "images": 10, "seed": 0, "imgsz": IMGSZ} | kwargs
    kind = args.pop("kind")
    with pytest.raises(InvalidFieldError) as info:
        write_dataset(kind, tmp_path / "ds", **args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert not (tmp_path / "ds").exists()  # nothing written on bad input


def test_labels_match_the_rendered_samples(tmp_path: Path) -> None:
    from linecheck.datasets.synth import render_sample

    root = write_dataset(Kind.TEXTILE, tmp_path / "ds", images=6, seed=9, imgsz=IMGSZ, defect_free=0.0).parent
    for path in sorted((root / "labels").rglob("*.txt")):
        index = int(path.stem.rsplit("_", 1)[1])
        sample = render_sample(Kind.TEXTILE, seed=9, index=index, imgsz=IMGSZ, defective=True)
        rows = np.array([[float(v) for v in line.split()] for line in path.read_text().splitlines()])
        assert rows.shape == (len(sample.boxes), 5)
        xyxy = np.stack(
            [
                rows[:, 1] - rows[:, 3] / 2,
                rows[:, 2] - rows[:, 4] / 2,
                rows[:, 1] + rows[:, 3] / 2,
                rows[:, 2] + rows[:, 4] / 2,
            ],
            axis=1,
        )
        np.testing.assert_allclose(xyxy * IMGSZ, sample.boxes, atol=1e-3)
        np.testing.assert_array_equal(rows[:, 0].astype(np.int64), sample.class_ids)
