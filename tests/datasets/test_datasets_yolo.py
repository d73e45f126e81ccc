from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from linecheck.datasets.issues import Severity
from linecheck.datasets.yolo import Sample, label_path_for, load_yolo, validate_yolo
from linecheck.errors import DatasetError, InvalidFieldError

BOX = "0 0.5 0.5 0.25 0.25\n"
CLEAN = {"train/a.png": BOX, "train/b.jpg": "1 0.3 0.3 0.2 0.2\n" + BOX, "val/c.png": ""}


def _codes(root: Path, **kwargs: bool) -> list[tuple[str, Severity, Path]]:
    return [(i.code, i.severity, i.path) for i in validate_yolo(root, **kwargs)]


def test_clean_dataset_loads_with_every_box(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(CLEAN)
    assert list(validate_yolo(root)) == []
    dataset = load_yolo(root)
    assert dataset.names == ("hole", "stain")
    assert {k: [s.image.name for s in v] for k, v in dataset.splits.items()} == {
        "train": ["a.png", "b.jpg"],
        "val": ["c.png"],
    }
    b = dataset.splits["train"][1]
    assert b.label == root / "labels/train/b.txt"
    assert b.classes.tolist() == [1, 0]
    np.testing.assert_allclose(b.boxes[0], [1, 0.3, 0.3, 0.2, 0.2])
    assert dataset.splits["val"][0].is_background
    assert len(dataset) == 3


def test_unsplit_layout_lists_the_same_samples_for_train_and_val(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({"a.png": BOX, "b.png": ""}, splits={"train": "images", "val": "images"})
    dataset = load_yolo(root)
    assert [s.image.name for s in dataset.splits["train"]] == ["a.png", "b.png"]
    assert dataset.splits["train"] == dataset.splits["val"]
    assert len(dataset.samples()) == 2
    assert list(validate_yolo(root)) == []


def test_txt_image_list_is_read_relative_to_its_folder(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(CLEAN, splits={"train": "train.txt", "val": "images/val"})
    (root / "train.txt").write_text("./images/train/a.png\nimages/train/b.jpg\nimages/train/gone.png\n")
    issues = validate_yolo(root)
    assert [(i.code, i.path, i.line) for i in issues] == [("image.missing", root / "train.txt", 3)]
    with pytest.raises(DatasetError, match=r"gone\.png"):
        load_yolo(root)


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("/d/images/train/a.png", "/d/labels/train/a.txt"),
        ("/d/images/a.JPG", "/d/labels/a.txt"),
        ("/images/d/images/x/a.b.png", "/images/d/labels/x/a.b.txt"),
        ("/d/pics/a.png", "/d/pics/a.txt"),
    ],
)
def test_label_path_follows_the_ultralytics_rule(image: str, label: str) -> None:
    assert label_path_for(Path(image)) == Path(label)


def test_missing_label_is_a_warning_and_a_background(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({**CLEAN, "val/d.png": None})
    assert _codes(root) == [("label.missing", Severity.WARNING, root / "images/val/d.png")]
    sample = load_yolo(root).splits["val"][1]
    assert sample.label is None and sample.is_background


def test_label_without_image_is_an_error(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(CLEAN)
    orphan = root / "labels/train/ghost.txt"
    orphan.write_text(BOX)
    assert _codes(root) == [("label.orphan", Severity.ERROR, orphan)]
    with pytest.raises(DatasetError, match=r"ghost\.txt"):
        load_yolo(root)


def test_bad_label_line_fails_load_naming_file_and_line(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({**CLEAN, "train/a.png": BOX + "7 0.5 0.5 0.1 0.1\n"})
    with pytest.raises(DatasetError) as info:
        load_yolo(root)
    assert info.value.path == root / "labels/train/a.txt"
    assert info.value.line == 2
    assert "class=7" in str(info.value) and "labels/train/a.txt:2" in str(info.value)


@pytest.mark.parametrize(
    ("corrupt", "code", "severity"),
    [
        (lambda p: p.write_bytes(b""), "image.empty", Severity.ERROR),
        (lambda p: p.write_bytes(b"this is not a png at all"), "image.unreadable", Severity.ERROR),
        (lambda p: p.write_bytes(p.read_bytes()[:-2]), "image.truncated", Severity.WARNING),
    ],
)
def test_broken_images_are_reported(
    make_yolo: Callable[..., Path], corrupt: Callable[[Path], object], code: str, severity: Severity
) -> None:
    root = make_yolo(CLEAN, size=(64, 48))
    image = root / "images/train/b.jpg" if code == "image.truncated" else root / "images/train/a.png"
    corrupt(image)
    assert _codes(root) == [(code, severity, image)]
    assert _codes(root, check_images=False) == []


def test_tiny_image_is_an_error(make_yolo: Callable[..., Path], image_writer: Callable[..., Path]) -> None:
    root = make_yolo(CLEAN)
    image_writer(root / "images/train/a.png", (8, 8))
    assert _codes(root) == [("image.too_small", Severity.ERROR, root / "images/train/a.png")]


def test_two_images_with_one_label_clash(
    make_yolo: Callable[..., Path], image_writer: Callable[..., Path]
) -> None:
    root = make_yolo(CLEAN)
    image_writer(root / "images/train/a.jpg")
    assert _codes(root) == [("image.label_clash", Severity.ERROR, root / "images/train/a.png")]


def test_non_image_files_are_warned_about(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(CLEAN)
    (root / "images/train/notes.doc").write_text("x")
    (root / "images/train/.hidden.png").write_text("x")
    assert _codes(root) == [("image.suffix", Severity.WARNING, root / "images/train/notes.doc")]


@pytest.mark.parametrize(
    ("splits", "code", "severity"),
    [
        ({"train": "images/train", "val": "images/nowhere"}, "split.not_found", Severity.ERROR),
        (
            {"train": "images/train", "val": "images/val", "test": "images/empty"},
            "split.empty",
            Severity.WARNING,
        ),
        ({"train": "images/empty", "val": "images/val"}, "split.empty", Severity.ERROR),
    ],
)
def test_split_folders_are_checked(
    make_yolo: Callable[..., Path], splits: dict[str, str], code: str, severity: Severity
) -> None:
    root = make_yolo(CLEAN, splits=splits)
    (root / "images/empty").mkdir()
    issues = [i for i in validate_yolo(root) if i.code != "label.orphan"]
    assert [(i.code, i.severity, i.path) for i in issues] == [(code, severity, root / "data.yaml")]
    assert issues[0].line is not None


def test_moved_dataset_points_at_the_stale_root(tmp_path: Path) -> None:
    from linecheck.datasets.writer import YoloWriter

    with YoloWriter(tmp_path / "old", ["hole"]) as writer:
        writer.add("a", np.full((16, 16), 9, np.uint8), [])
        writer.commit()
    (tmp_path / "old").rename(tmp_path / "new")
    issues = validate_yolo(tmp_path / "new")
    assert {i.code for i in issues} == {"split.not_found"}
    assert f"the root {(tmp_path / 'old').resolve()} does not exist" in issues[0].message


def test_validate_collects_every_problem(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(
        {"train/a.png": "0 0.5 0.5 0.2\n", "train/b.png": "5 0.5 0.5 0.1 0.1\n", "val/c.png": None}
    )
    (root / "images/train/b.png").write_bytes(b"")
    codes = sorted(i.code for i in validate_yolo(root))
    assert codes == ["image.empty", "label.class_unknown", "label.fields", "label.missing"]


def test_missing_folder_or_yaml_is_one_issue(tmp_path: Path) -> None:
    assert [i.code for i in validate_yolo(tmp_path / "nope")] == ["yaml.missing"]
    assert [i.code for i in validate_yolo(tmp_path)] == ["yaml.missing"]


def test_sample_checks_the_box_shape() -> None:
    with pytest.raises(InvalidFieldError, match="boxes"):
        Sample(image=Path("a.png"), label=None, boxes=np.zeros((2, 4)))


def test_dataset_text_files_from_windows_tools(make_yolo: Callable[..., Path]) -> None:
    """data.yaml, label files and image lists saved as UTF-16 (PowerShell) read; one not text is named."""
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2 0.2\n", "val/b.png": ""})
    (root / "data.yaml").write_bytes((root / "data.yaml").read_text().encode("utf-16"))
    (root / "labels/train/a.txt").write_bytes("1 0.5 0.5 0.2 0.2\r\n".encode("utf-16"))
    (root / "val.txt").write_bytes("images/val/b.png\r\n".encode("utf-16"))
    text = (root / "data.yaml").read_text("utf-16").replace("val: images/val", "val: val.txt")
    (root / "data.yaml").write_bytes(text.encode("utf-16"))
    assert list(validate_yolo(root, check_images=True)) == []
    (root / "val.txt").write_bytes(b"images/val/\xff\xfeb.png\n\x80")
    codes = [i.code for i in validate_yolo(root)]
    assert "list.encoding" in codes
