from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from linecheck.cli.main import app

runner = CliRunner()


def invoke(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["data", *map(str, args)])
    return result.exit_code, result.output


def test_check_accepts_a_clean_dataset(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2 0.2\n", "val/b.png": "", "val/c.png": None})
    code, out = invoke("check", root)
    assert code == 0, out
    assert "ok" in out and "3 images (train 1, val 2), 2 classes, 1 warning(s)" in out
    assert "label.missing" in out
    code, out = invoke("check", root, "--strict")
    assert code == 1


def test_check_lists_every_error_and_exits_1(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2\n", "val/b.png": "3 0.5 0.5 0.2 0.2\n"})
    (root / "images/val/b.png").write_bytes(b"")
    code, out = invoke("check", root)
    assert code == 1
    for issue in ("label.fields", "label.class_unknown", "image.empty"):
        assert issue in out
    assert "3 error(s), 0 warning(s)" in out
    code, out = invoke("check", root, "--no-images")
    assert code == 1 and "image.empty" not in out


def test_check_prints_one_line_per_problem_when_not_a_terminal(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(
        {"train/a.png": "0 0.5 0.5 0.2\n", "val/b.png": "0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.2 0.2\n"}
    )
    for args in ([], ["--format", "plain"]):  # CliRunner's stdout is not a terminal: auto is plain
        result = runner.invoke(app, ["data", "check", str(root), "--limit", "1", *args])
        assert result.exit_code == 1
        lines = result.stdout.splitlines()  # every problem, whatever --limit; the summary is on stderr
        assert len(lines) == 2
        assert lines[0].startswith(f"{root / 'labels' / 'train' / 'a.txt'}:1: label.fields: ")
        assert lines[1].startswith(f"{root / 'labels' / 'val' / 'b.txt'}:2: label.class_unknown: ")
        assert "2 error(s), 0 warning(s)" in result.stderr


def test_check_as_json(make_yolo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2\n", "val/b.png": None})
    result = runner.invoke(app, ["data", "check", str(root), "--format", "json"])
    assert result.exit_code == 1
    issues = json.loads(result.stdout)
    assert [(i["code"], i["severity"], i["line"]) for i in issues] == [
        ("label.fields", "error", 1),
        ("label.missing", "warning", None),
    ]
    assert issues[0]["path"] == str(root / "labels" / "train" / "a.txt") and "5" in issues[0]["message"]
    clean_root = make_yolo({"train/c.png": "", "val/d.png": ""}, root=tmp_path / "clean")
    clean = runner.invoke(app, ["data", "check", str(clean_root), "--format", "json"])
    assert clean.exit_code == 0 and json.loads(clean.stdout) == [] and "ok" in clean.stderr


def test_check_table_keeps_the_rich_table(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2\n", "val/b.png": "0 0.5 0.5 0.2\n"})
    result = runner.invoke(app, ["data", "check", str(root), "--format", "table", "--limit", "1"])
    assert result.exit_code == 1
    assert "2 issue(s)" in result.stdout and "severity" in result.stdout and "... and 1 more" in result.stdout


def test_check_without_dataset(tmp_path: Path) -> None:
    code, out = invoke("check", tmp_path / "missing")
    assert code == 1 and "yaml.missing" in out


def test_stats_prints_and_writes_json(make_yolo: Callable[..., Path], tmp_path: Path) -> None:
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.6 0.6\n", "val/b.png": ""})
    code, out = invoke("stats", root, "--json", tmp_path / "s" / "stats.json")
    assert code == 0, out
    assert "2 images (train 1, val 1), 2 boxes, 1 background images (0 without a label file)" in out
    data = json.loads((tmp_path / "s" / "stats.json").read_text())
    assert data["boxes_per_class"] == {"hole": 1, "stain": 1}
    assert data["box_area_histogram"]["1-5%"] == 1 and data["box_area_histogram"][">=25%"] == 1


def test_stats_on_a_broken_dataset_names_the_file(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo({"train/a.png": "0 0.5 0.5 0.2\n", "val/b.png": ""})
    code, out = invoke("stats", root)
    assert code == 1 and "error:" in out and "a.txt:1" in out


def test_split_command(make_yolo: Callable[..., Path]) -> None:
    samples = {f"x{i}.png": "0 0.5 0.5 0.2 0.2\n" for i in range(10)}
    root = make_yolo(samples, splits={"train": "images", "val": "images"})
    code, out = invoke("split", root, "--val", "0.2", "--test", "0.1", "--seed", "0")
    assert code == 0, out
    assert "train 7, val 2, test 1 (10 image(s) moved)" in out
    assert invoke("check", root)[0] == 0
    code, out = invoke("split", root, "--val", "0")
    assert code == 1 and "val=0.0" in out


def _voc_source(root: Path) -> Path:
    for i in range(4):
        path = root / "IMAGES" / f"crazing_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((200, 200, 3), 90, np.uint8))
        xml = root / "ANNOTATIONS" / f"crazing_{i}.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(
            f"<annotation><filename>crazing_{i}.jpg</filename><size><width>200</width><height>200</height>"
            "</size><object><name>crazing</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>60</xmax>"
            "<ymax>90</ymax></bndbox></object></annotation>"
        )
    return root


def _mask_source(root: Path) -> Path:
    for i in range(4):
        image = np.full((64, 64, 3), 200, np.uint8)
        mask = np.zeros((64, 64), np.uint8)
        mask[10 + i : 20 + i, 30:40] = 1 if i % 2 else 2
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / f"t{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"t{i}_mask.png"), mask)
    return root


@pytest.mark.parametrize(
    ("fmt", "build", "options", "summary"),
    [
        ("voc", _voc_source, [], "4 images, 4 boxes, 0 background images, 1 classes"),
        ("mask", _mask_source, [], "4 images, 4 boxes, 0 background images, 1 classes"),
        (
            "mask",
            _mask_source,
            ["--value-map", "1=hole,2=stain"],
            "4 images, 4 boxes, 0 background images, 2",
        ),
        ("voc", _voc_source, ["--val", "0.25", "--test", "0.25"], "4 images, 4 boxes"),
    ],
)
def test_convert_then_check_accepts(
    tmp_path: Path, fmt: str, build: Callable[[Path], Path], options: list[str], summary: str
) -> None:
    src = build(tmp_path / "src")
    dst = tmp_path / "dst"
    code, out = invoke("convert", "--from", fmt, src, dst, *options)
    assert code == 0, out
    assert summary in out
    code, out = invoke("check", dst)
    assert code == 0, out
    assert "ok" in out


def test_convert_csv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    lines = []
    for i in range(10):
        cv2.imwrite(str(src / "images" / f"c{i}.png"), np.full((20, 20), i, np.uint8))
        lines.append(f"images/c{i}.png {i % 2}.0 mono")
    (src / "labels.csv").write_text("\n".join(lines))
    code, out = invoke("convert", "--from", "csv", src, tmp_path / "dst", "--test", "0")
    assert code == 0, out
    assert "10 images, 2 classes" in out and "splits: train 8, val 2" in out
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["probabilities.csv", "train", "val"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "voc", "{src}", "{dst}"], "no VOC annotations found"),
        (["--from", "mask", "{src}", "{dst}", "--value-map", "1=a,1=b"], "value_map"),
        (["--from", "coco", "{src}", "{dst}"], "expected exactly one COCO .json"),
        (["--from", "csv", "{src}", "{dst}"], "expected one .csv"),
        (["--from", "voc", "{src}", "{dst}", "--classes", "a,,b"], "comma-separated class names"),
        (["--from", "xml", "{src}", "{dst}"], "xml"),
    ],
)
def test_convert_bad_input_exits_non_zero_with_a_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "src" / "images").mkdir(parents=True)
    (tmp_path / "src" / "masks").mkdir()
    filled = [a.format(src=tmp_path / "src", dst=tmp_path / "dst") for a in args]
    code, out = invoke("convert", *filled)
    assert code != 0
    assert message in out
    assert not (tmp_path / "dst").exists()
