from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from linecheck.datasets.datayaml import parse_names, read_data_yaml, write_data_yaml
from linecheck.datasets.issues import IssueList
from linecheck.errors import DatasetError, InvalidFieldError

GOOD = "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: hole\n  1: stain\n"


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("train: images\nval: images\n", "yaml.names_missing", None),
        ("train: images\nval: images\nnames:\n", "yaml.names_missing", 3),
        ("train: images\nval: images\nnames: hole\n", "yaml.names", 3),
        ("train: images\nval: images\nnames: {a: hole, b: stain}\n", "yaml.names", 3),
        ("train: images\nval: images\nnames: {0: hole, 2: stain}\n", "yaml.names", 3),
        ("train: images\nval: images\nnames: [hole, hole]\n", "yaml.names", 3),
        ("train: images\nval: images\nnames: [hole, 3]\n", "yaml.names", 3),
        ("train: images\nval: images\nnames: []\n", "yaml.names", 3),
        ("train: images\nval: images\nnc: 3\nnames: [hole, stain]\n", "yaml.nc", 3),
        ("train: images\nval: images\nnc: two\nnames: [hole, stain]\n", "yaml.nc", 3),
        ("path: [a]\ntrain: images\nval: images\nnames: [hole]\n", "yaml.path", 1),
        ("val: images\nnames: [hole]\n", "yaml.split_missing", None),
        ("train: images\nnames: [hole]\n", "yaml.split_missing", None),
        ("train: images\nval: {a: 1}\nnames: [hole]\n", "yaml.split", 2),
        ("train: images\nval: images\nnames: [hole\n", "yaml.syntax", 4),
        ("- train\n- val\n", "yaml.not_mapping", None),
    ],
)
def test_bad_data_yaml_is_reported_with_code_and_line(
    tmp_path: Path, text: str, code: str, line: int | None
) -> None:
    file = tmp_path / "data.yaml"
    file.write_text(text)
    issues = IssueList()
    assert read_data_yaml(tmp_path, issues) is None
    assert [(i.code, i.path) for i in issues] == [(code, file)]
    assert issues[0].line == line
    with pytest.raises(DatasetError, match=code.replace(".", r"\.")) as info:
        read_data_yaml(tmp_path)
    assert info.value.path == file


@pytest.mark.parametrize(
    ("names_yaml", "expected"),
    [
        ("[hole, stain]", ("hole", "stain")),
        ("{0: hole, 1: stain}", ("hole", "stain")),
        ("{1: stain, 0: hole}", ("hole", "stain")),
        ("{'0': hole, '1': stain}", ("hole", "stain")),
    ],
)
def test_names_as_list_or_mapping(tmp_path: Path, names_yaml: str, expected: tuple[str, ...]) -> None:
    (tmp_path / "data.yaml").write_text(f"train: images\nval: images\nnames: {names_yaml}\n")
    spec = read_data_yaml(tmp_path)
    assert spec is not None
    assert spec.names == expected


def test_paths_resolve_against_the_yaml_folder_not_the_cwd(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.yaml").write_text(
        "path: ../root\ntrain: images/train\nval: [images/val, extra]\ntest: ''\n"
        "names: [hole]\nkind: textile\n"
    )
    spec = read_data_yaml(tmp_path / "sub" / "data.yaml")
    assert spec is not None
    root = (tmp_path / "root").resolve()
    assert spec.root == root
    assert spec.sources == {"train": (root / "images/train",), "val": (root / "images/val", root / "extra")}
    data = spec.for_ultralytics()
    assert data["path"] == str(root) and data["names"] == {0: "hole"} and data["kind"] == "textile"


def test_no_data_yaml_raises_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no data\.yaml") as info:
        read_data_yaml(tmp_path)
    assert info.value.path == tmp_path


@pytest.mark.parametrize("splits", [("train", "val", "test"), ("train", "val"), None])
def test_write_then_read_round_trips(tmp_path: Path, splits: tuple[str, ...] | None) -> None:
    file = write_data_yaml(
        tmp_path, ["hole", "stain"], splits=splits, extra={"kind": "textile", "names": "x"}
    )
    data = yaml.safe_load(file.read_text())
    assert data["path"] == str(tmp_path.resolve()) and data["nc"] == 2 and data["kind"] == "textile"
    spec = read_data_yaml(tmp_path)
    assert spec is not None and spec.names == ("hole", "stain")
    expected = {s: (tmp_path / "images" / s,) for s in splits} if splits else {}
    if splits is None:
        expected = {"train": (tmp_path / "images",), "val": (tmp_path / "images",)}
    assert dict(spec.sources) == expected


@pytest.mark.parametrize("names", [[], ["a", "a"], ["a", ""]])
def test_write_refuses_bad_names(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(InvalidFieldError, match="names"):
        write_data_yaml(tmp_path, names)
    with pytest.raises(ValueError):
        parse_names(names)
