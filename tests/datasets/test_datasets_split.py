from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from linecheck.datasets.split import plan_split, split_dataset, split_sizes
from linecheck.datasets.yolo import load_yolo, validate_yolo
from linecheck.errors import DatasetError, InvalidFieldError


def _classes(n: int, rare: int = 2) -> dict[str, frozenset[int]]:
    """``n`` images of class 0, ``rare`` of them also carry class 1; every 5th is a background."""
    out: dict[str, frozenset[int]] = {}
    for i in range(n):
        classes = set() if i % 5 == 4 else {0}
        if i < rare:
            classes.add(1)
        out[f"img{i:03d}"] = frozenset(classes)
    return out


@pytest.mark.parametrize(
    ("n", "val", "test", "expected"),
    [
        (10, 0.2, 0.1, {"train": 7, "val": 2, "test": 1}),
        (100, 0.15, 0.05, {"train": 80, "val": 15, "test": 5}),
        (3, 0.2, 0.1, {"train": 1, "val": 1, "test": 1}),
        (2, 0.2, 0.0, {"train": 1, "val": 1, "test": 0}),
        (7, 0.5, 0.0, {"train": 3, "val": 4, "test": 0}),
    ],
)
def test_split_sizes(n: int, val: float, test: float, expected: dict[str, int]) -> None:
    assert split_sizes(n, val, test) == expected


@pytest.mark.parametrize(
    ("n", "val", "test", "field"),
    [
        (10, 0.0, 0.1, "val"),
        (10, 1.0, 0.0, "val"),
        (10, 0.2, -0.1, "test"),
        (10, 0.5, 0.5, "val + test"),
        (2, 0.2, 0.1, "images"),
        (1, 0.2, 0.0, "images"),
    ],
)
def test_split_sizes_refuse_bad_input(n: int, val: float, test: float, field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        split_sizes(n, val, test)
    assert info.value.field == field


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_plan_is_deterministic_and_sized(seed: int) -> None:
    classes = _classes(50)
    plan = plan_split(classes, val=0.2, test=0.1, seed=seed)
    assert plan == plan_split(dict(reversed(list(classes.items()))), val=0.2, test=0.1, seed=seed)
    assert Counter(plan.values()) == {"train": 35, "val": 10, "test": 5}


def test_different_seeds_give_different_plans() -> None:
    classes = _classes(50)
    plans = [plan_split(classes, val=0.2, test=0.1, seed=s) for s in range(3)]
    assert plans[0] != plans[1] and plans[1] != plans[2]


@pytest.mark.parametrize("seed", range(6))
def test_a_class_on_two_images_reaches_val_and_train(seed: int) -> None:
    plan = plan_split(_classes(40, rare=2), val=0.2, test=0.1, seed=seed)
    rare_splits = sorted(plan[f"img{i:03d}"] for i in range(2))
    assert rare_splits == ["train", "val"]
    assert Counter(plan.values()) == {"train": 28, "val": 8, "test": 4}


def _dataset(make_yolo: Callable[..., Path], n: int = 20, root: Path | None = None) -> Path:
    """``n`` images: 3 with class 1, every 4th of the rest a background, the others class 0; unsplit."""
    samples = {}
    for i in range(n):
        samples[f"s{i:02d}.png"] = (
            "1 0.5 0.5 0.2 0.2\n" if i < 3 else "" if i % 4 == 3 else "0 0.5 0.5 0.4 0.4\n"
        )
    return make_yolo(samples, splits={"train": "images", "val": "images"}, root=root)


def test_split_moves_files_and_rewrites_yaml(make_yolo: Callable[..., Path]) -> None:
    root = _dataset(make_yolo)
    data = yaml.safe_load((root / "data.yaml").read_text())
    data["kind"] = "textile"
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    result = split_dataset(root, val=0.2, test=0.1, seed=3)
    assert result.counts == {"train": 14, "val": 4, "test": 2} and result.moved == 20
    written = yaml.safe_load((root / "data.yaml").read_text())
    assert (
        written["train"] == "images/train"
        and written["test"] == "images/test"
        and written["kind"] == "textile"
    )
    assert list(validate_yolo(root)) == []
    dataset = load_yolo(root)
    for split, samples in dataset.splits.items():
        assert len(samples) == result.counts[split]
        for sample in samples:
            assert sample.image.parent == root / "images" / split
            assert sample.label == root / "labels" / split / f"{sample.image.stem}.txt"
    assert sorted(p.name for p in (root / "images").iterdir()) == ["test", "train", "val"]
    assert any(1 in s.classes.tolist() for s in dataset.splits["val"])


def _assignment(root: Path) -> dict[str, str]:
    return {s.image.name: split for split, samples in load_yolo(root).splits.items() for s in samples}


def test_split_is_the_same_from_any_layout_and_idempotent(
    make_yolo: Callable[..., Path], tmp_path: Path
) -> None:
    a = _dataset(make_yolo, root=tmp_path / "a")
    b = _dataset(make_yolo, root=tmp_path / "b")
    split_dataset(a, val=0.25, test=0.0, seed=5)
    assert "test" not in yaml.safe_load((a / "data.yaml").read_text())
    assert split_dataset(a, val=0.25, test=0.0, seed=5).moved == 0  # idempotent
    other = split_dataset(b, val=0.2, test=0.1, seed=9)  # b: split differently first ...
    assert other.moved == 20 and _assignment(b) != _assignment(a)
    split_dataset(b, val=0.25, test=0.0, seed=5)  # ... then as a
    assert _assignment(b) == _assignment(a)
    assert not (b / "images/test").exists()


def test_split_refuses_a_broken_dataset_and_moves_nothing(make_yolo: Callable[..., Path]) -> None:
    root = _dataset(make_yolo)
    (root / "labels/s05.txt").write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DatasetError, match=r"s05\.txt"):
        split_dataset(root, val=0.2, test=0.1, seed=0)
    assert not (root / "images/train").exists()
    assert len(list((root / "images").iterdir())) == 20


def test_split_leaves_a_linked_shared_folder_alone(make_yolo: Callable[..., Path], tmp_path: Path) -> None:
    """Images listed through a linked folder are read (training sees them), but split would move them out
    of the shared copy: it refuses, naming the image and the real folder, and moves nothing."""
    root = _dataset(make_yolo, root=tmp_path / "set")
    shared = tmp_path / "nas" / "batch"
    shared.mkdir(parents=True)
    (root / "labels" / "ext").mkdir()
    for name in ("s10", "s11"):
        (root / "images" / f"{name}.png").rename(shared / f"{name}.png")
        (root / "labels" / f"{name}.txt").rename(root / "labels" / "ext" / f"{name}.txt")
    (root / "images" / "ext").symlink_to(shared)
    assert len(load_yolo(root).splits["train"]) == 20  # the linked images are part of the set
    with pytest.raises(DatasetError, match="linked folder outside the dataset") as info:
        split_dataset(root, val=0.2, test=0.1, seed=0)
    assert info.value.path is not None and info.value.path.parent == root / "images" / "ext"
    assert sorted(p.name for p in shared.iterdir()) == ["s10.png", "s11.png"]
    assert not (root / "images" / "train").exists()


def test_split_refuses_duplicate_stems(
    make_yolo: Callable[..., Path], image_writer: Callable[..., Path]
) -> None:
    root = make_yolo({"train/a.png": "", "val/a.png": "", "val/b.png": ""})
    with pytest.raises(DatasetError, match="share the stem 'a'"):
        split_dataset(root, val=0.3, test=0.0, seed=0)
    assert (root / "images/train/a.png").is_file() and (root / "images/val/a.png").is_file()
