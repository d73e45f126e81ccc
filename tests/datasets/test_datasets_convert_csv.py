from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from linecheck.datasets.convert import SplitOptions
from linecheck.datasets.convert.csv import convert_csv, parse_label_csv
from linecheck.datasets.probabilities import PROBABILITIES_FILE, read_probabilities, write_probabilities
from linecheck.errors import ConversionError, DatasetError, InvalidFieldError

PROBABILITIES = [0.0, 1 / 3, 2 / 3, 1.0]


@pytest.fixture
def elpv(tmp_path: Path, image_writer: Callable[..., Path]) -> Path:
    """ELPV-like: labels.csv 'images/cellNNNN.png  probability  type', no header, 24 cells."""
    src = tmp_path / "elpv"
    lines = []
    for i in range(24):
        name = f"images/cell{i:04d}.png"
        image_writer(src / name, (30, 30), value=i)
        lines.append(f"{name}  {PROBABILITIES[i % 4]:.16f}  {'mono' if i % 3 else 'poly'}")
    (src / "labels.csv").write_text("\n".join(lines) + "\n")
    return src


def _layout(dst: Path) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for path in sorted(dst.glob("*/*/*")):
        out.setdefault((path.parent.parent.name, path.parent.name), []).append(path.name)
    return out


def test_elpv_converts_to_classification_layout(elpv: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    report = convert_csv(elpv, dst)
    assert report.task == "classify" and report.names == ("defective", "functional")
    assert report.per_class == {"defective": 12, "functional": 12}  # 2/3 and 1 are >= 0.5
    # per class of 12: val round(2.4) = 2, test round(1.2) = 1, train 9
    assert report.splits == {"train": 18, "val": 4, "test": 2}
    layout = _layout(dst)
    assert {k: len(v) for k, v in layout.items()} == {
        ("train", "defective"): 9,
        ("train", "functional"): 9,
        ("val", "defective"): 2,
        ("val", "functional"): 2,
        ("test", "defective"): 1,
        ("test", "functional"): 1,
    }
    defective = {f"cell{i:04d}.png" for i in range(24) if i % 4 >= 2}
    assert {n for (_, cls), names in layout.items() if cls == "defective" for n in names} == defective


def test_split_is_deterministic_by_seed(elpv: Path, tmp_path: Path) -> None:
    layouts = [
        _layout(convert_csv(elpv, tmp_path / name, split=SplitOptions(seed=seed)).dst)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    assert layouts[0] == layouts[1]
    assert layouts[0] != layouts[2]


def test_threshold_and_group_by_type(elpv: Path, tmp_path: Path) -> None:
    report = convert_csv(
        elpv, tmp_path / "out", threshold=0.3, group_by_type=True, split=SplitOptions(test=0)
    )
    assert report.names == ("mono_defective", "mono_functional", "poly_defective", "poly_functional")
    assert sum(report.per_class.values()) == 24
    assert report.per_class["mono_functional"] + report.per_class["poly_functional"] == 6  # probability 0
    assert report.splits.keys() == {"train", "val"}
    assert not (tmp_path / "out" / "test").exists()


def test_header_csv_with_label_column_and_problems(tmp_path: Path, image_writer) -> None:
    src = tmp_path / "src"
    for name in ("a/x.png", "b/x.png", "c.png", "d.png", "e.png", "f.png"):
        image_writer(src / name, (20, 20))
    (src / "f.png").write_bytes(b"junk")
    (src / "labels.csv").write_text(
        "filename,label\na/x.png,ok\nb/x.png,ok\nc.png,ok\nd.png,crack\nd.png,ok\ngone.png,ok\nf.png,ok\n"
    )
    report = convert_csv(src, tmp_path / "out", split=SplitOptions(val=0.34, test=0.0))
    assert report.names == ("crack", "ok")
    assert report.per_class == {"crack": 1, "ok": 3}
    assert sorted(s.reason.split(" (")[0] for s in report.skipped) == [
        "image cannot be decoded",
        "line 6: listed again",
        "line 7: image not found or not an image file",
    ]
    assert [n.reason for n in report.notes] == ["class 'crack' has 1 image(s): all put in train"]
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert "train/crack/d.png" in files
    assert {f.split("/")[-1] for f in files} == {"a__x.png", "b__x.png", "c.png", "d.png"}
    assert not (tmp_path / "out" / PROBABILITIES_FILE).exists()  # labels, no probabilities


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        ("", "empty", None),
        ("a.png 1.5 mono\n", r"probability='1\.5'", 1),
        ("a.png 0 mono\nb.png x mono\n", "probability='x'", 2),
        ("a.png\n", "expected 2 columns", 1),
        ("path,type\na.png,mono\n", "probability column", 1),
        ("path,label\na.png,\n", "empty label", 2),
    ],
)
def test_bad_csv_raises_naming_file_and_line(tmp_path: Path, text: str, match: str, line: int | None) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ConversionError, match=match) as info:
        parse_label_csv(path)
    assert info.value.path == path and info.value.line == line


def test_group_by_type_needs_a_type(tmp_path: Path, image_writer) -> None:
    image_writer(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("a.png 1.0\n")
    with pytest.raises(ConversionError, match="no type") as info:
        convert_csv(tmp_path, tmp_path / "out", group_by_type=True)
    assert info.value.line == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"threshold": 0.0}, "threshold"), ({"split": SplitOptions(val=0.0)}, "val")],
)
def test_bad_options(elpv: Path, tmp_path: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        convert_csv(elpv, tmp_path / "out", **kwargs)
    assert info.value.field == field


def test_split_is_stratified_by_type_and_probability(tmp_path: Path, image_writer) -> None:
    """Inside a class, every (type, probability) group gives val and test its share, give or take one."""
    src = tmp_path / "cells"
    groups = {
        ("poly", 1.0): 36, ("mono", 1.0): 24, ("poly", 2 / 3): 9, ("mono", 0.0): 60, ("poly", 1 / 3): 21
    }  # fmt: skip
    lines, group_of = [], {}
    for g, ((kind, probability), count) in enumerate(groups.items()):
        for i in range(count):
            name = f"c{g}_{i:03d}.png"
            image_writer(src / "images" / name, (8, 8), value=i)
            lines.append(f"images/{name} {probability:.16f} {kind}")
            group_of[name] = (kind, probability)
    (src / "labels.csv").write_text("\n".join(lines) + "\n")
    for seed in range(4):
        dst = tmp_path / f"out{seed}"
        convert_csv(src, dst, split=SplitOptions(val=0.15, test=0.2, seed=seed))
        for split, fraction in (("val", 0.15), ("test", 0.2)):
            found = [group_of[p.name] for p in (dst / split).glob("*/*.png")]
            for group, count in groups.items():
                share = found.count(group)
                assert abs(share - count * fraction) <= 1.0, (seed, split, group, share)


def test_the_probabilities_are_kept_beside_the_layout(elpv: Path, tmp_path: Path) -> None:
    report = convert_csv(elpv, tmp_path / "out")
    found = read_probabilities(tmp_path / "out")
    assert len(found) == 24 and all(path.is_file() for path in found)
    assert {path.name: p for path, p in found.items()} == {
        f"cell{i:04d}.png": pytest.approx(PROBABILITIES[i % 4]) for i in range(24)
    }
    # each file sits in its class folder: probability >= 0.5 is defective
    assert all((p >= 0.5) == (path.parent.name == "defective") for path, p in found.items())
    assert f"{PROBABILITIES_FILE}: the defect probability of 24 image(s)" in [n.reason for n in report.notes]


def test_probabilities_round_trip(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    image_writer(tmp_path / "train" / "good" / "a.png", (8, 8))
    write_probabilities(tmp_path, {"train/good/a.png": 1 / 3})
    assert read_probabilities(tmp_path) == {(tmp_path / "train/good/a.png").resolve(): 1 / 3}
    assert read_probabilities(tmp_path / "train") == {}  # no file: no probabilities


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        ("path,probability\n", "header", 1),
        ("image,probability\ntrain/good/a.png,1.5\n", r"probability='1\.5'", 2),
        ("image,probability\ntrain/good/a.png,maybe\n", "probability='maybe'", 2),
        ("image,probability\ntrain/good/gone.png,0.5\n", "image='train/good/gone.png'", 2),
        ("image,probability\n../outside.png,0.5\n", "image='../outside.png'", 2),
        ("image,probability\ntrain/good/a.png,0\ntrain/good/a.png,1\n", "listed twice", 3),
        ("image,probability\ntrain/good/a.png\n", "expected 2 cells", 2),
    ],
)
def test_bad_probabilities_name_the_line_and_the_value(
    tmp_path: Path, image_writer: Callable[..., Path], text: str, match: str, line: int
) -> None:
    image_writer(tmp_path / "train" / "good" / "a.png", (8, 8))
    image_writer(tmp_path.parent / "outside.png", (8, 8))
    (tmp_path / PROBABILITIES_FILE).write_text(text)
    with pytest.raises(DatasetError, match=match) as caught:
        read_probabilities(tmp_path)
    assert caught.value.line == line


def test_cloned_repository_layout_finds_labels_a_folder_down(elpv: Path, tmp_path: Path) -> None:
    """The ELPV repository as cloned keeps labels.csv and images/ under data/: its root converts as is."""
    clone = tmp_path / "elpv-dataset"
    clone.mkdir()
    elpv.rename(clone / "data")
    report = convert_csv(clone, tmp_path / "out")
    assert sum(report.per_class.values()) == 24
    (clone / "other").mkdir()
    (clone / "other" / "labels.csv").write_text("x.png 1 mono\n")
    with pytest.raises(ConversionError, match=r"expected one \.csv file"):  # two candidates: none is guessed
        convert_csv(clone, tmp_path / "out2")
