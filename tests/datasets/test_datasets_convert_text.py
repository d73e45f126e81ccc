"""Label files written on Chinese Windows (GBK / GB2312, Excel's CSV) and other encodings convert."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.datasets.convert.coco import convert_coco
from linecheck.datasets.convert.csv import convert_csv
from linecheck.datasets.convert.text import decode_source
from linecheck.datasets.convert.voc import convert_voc, parse_voc_xml
from linecheck.errors import ConversionError, InvalidFieldError

SCRATCH, DENT = "划痕", "凹坑"  # what a QA team in Zhejiang calls a scratch and a dent


def voc_xml(filename: str, objects: list[tuple[str, int, int, int, int]], declaration: str = "") -> str:
    body = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax>"
        "</bndbox></object>"
        for n, a, b, c, d in objects
    )
    return f"{declaration}<annotation><filename>{filename}</filename>{body}</annotation>"


@pytest.mark.parametrize(
    ("data", "kwargs", "text", "encoding", "guessed"),
    [
        ("名称,a".encode(), {}, "名称,a", "utf-8", False),
        (b"\xef\xbb\xbf" + "名称".encode(), {}, "名称", "utf-8-sig", False),
        ("名称".encode("utf-16"), {}, "名称", "utf-16", False),
        ("名称,划痕".encode("gbk"), {}, "名称,划痕", "gb18030", True),
        (
            '<?xml version="1.0" encoding="GB2312"?><a>划痕</a>'.encode("gbk"),
            {"xml": True},
            None,
            "gb18030",
            False,
        ),
        (
            '<?xml version="1.0" encoding="big5"?><a>刮傷</a>'.encode("big5"),
            {"xml": True},
            None,
            "big5",
            False,
        ),
        ("café".encode("cp1252"), {"encoding": "cp1252"}, "café", "cp1252", False),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-bom", "gbk-guessed", "xml-gb2312", "xml-big5", "forced-cp1252"],
)
def test_decoding(data: bytes, kwargs: dict, text: str | None, encoding: str, guessed: bool) -> None:
    source = decode_source(data, Path("f"), **kwargs)
    assert (source.encoding, source.guessed) == (encoding, guessed)
    if text is not None:
        assert source.text == text
    else:
        assert "划痕" in source.text or "刮傷" in source.text


def test_what_cannot_be_decoded_is_named() -> None:
    with pytest.raises(ConversionError, match=r"not UTF-8 text .* nor GB18030; give its encoding") as caught:
        decode_source(b"ok\nok\n\xff\xfe\xff", Path("labels.csv"))
    assert caught.value.line == 3
    with pytest.raises(ConversionError, match="declares encoding 'klingon'"):
        decode_source(b'<?xml version="1.0" encoding="klingon"?><a/>', Path("a.xml"), xml=True)
    with pytest.raises(InvalidFieldError) as bad:
        decode_source(b"x", Path("f"), encoding="no-such-codec")
    assert bad.value.field == "encoding" and bad.value.value == "no-such-codec"
    with pytest.raises(ConversionError, match=r"not ascii text"):
        decode_source("划痕".encode(), Path("f"), encoding="ascii")


@pytest.fixture
def gbk_voc(tmp_path: Path, image_writer: Callable[..., Path]) -> Path:
    """A VOC set from a Chinese Windows annotation tool: GBK XML (declared, and one undeclared)."""
    src = tmp_path / "voc"
    (src / "Annotations").mkdir(parents=True)
    image_writer(src / "JPEGImages" / "轴承_001.jpg", (200, 100))
    image_writer(src / "JPEGImages" / "轴承_002.jpg", (200, 100))
    declared = voc_xml("轴承_001.jpg", [(SCRATCH, 1, 1, 100, 50)], '<?xml version="1.0" encoding="GBK"?>\n')
    (src / "Annotations" / "轴承_001.xml").write_bytes(declared.encode("gbk"))
    (src / "Annotations" / "轴承_002.xml").write_bytes(
        voc_xml("轴承_002.jpg", [(DENT, 11, 11, 50, 50)]).encode("gbk")
    )
    return src


def test_gbk_voc_converts_with_its_chinese_class_names(gbk_voc: Path, tmp_path: Path) -> None:
    annotation = parse_voc_xml(gbk_voc / "Annotations" / "轴承_001.xml")
    assert [o.name for o in annotation.objects] == [SCRATCH] and not annotation.guessed_encoding
    report = convert_voc(gbk_voc, tmp_path / "out")
    assert report.names == (DENT, SCRATCH) and (report.images, report.boxes) == (2, 2)
    assert report.skipped == []
    (note,) = report.notes  # the undeclared file was guessed: said once, naming it
    assert "not UTF-8 and read as GB18030" in note.reason and "轴承_002.xml" in note.reason


@pytest.mark.parametrize("name", ["défaut", "Kratzer-groß"])
def test_a_wrong_or_failed_guess_is_overridden_with_encoding(
    name: str, tmp_path: Path, image_writer: Callable[..., Path]
) -> None:
    src = tmp_path / "voc"
    image_writer(src / "a.jpg", (200, 100))
    (src / "a.xml").write_bytes(voc_xml("a.jpg", [(name, 1, 1, 10, 10)]).encode("cp1252"))
    if name == "défaut":  # decodes as GB18030 too: read wrong, and the report says so
        guessed = convert_voc(src, tmp_path / "guessed")
        assert guessed.names != (name,) and "--encoding" in guessed.notes[0].reason
    else:  # does not: refused naming the file and what to do
        with pytest.raises(ConversionError, match=r"a\.xml.*nor GB18030; give its encoding with --encoding"):
            convert_voc(src, tmp_path / "guessed")
    forced = convert_voc(src, tmp_path / "forced", encoding="cp1252")
    assert forced.names == (name,) and forced.notes == []


def test_excel_csv_from_chinese_windows_converts(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    src = tmp_path / "cells"
    rows = ["path,label"]
    for i in range(12):
        name = f"图片/电池片{i:03d}.png"
        image_writer(src / name, (20, 20), value=i)
        rows.append(f"{name},{'缺陷' if i % 2 else '良品'}")
    (src / "labels.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("gbk"))
    report = convert_csv(src, tmp_path / "out")
    assert set(report.names) == {"缺陷", "良品"} and report.images == 12
    assert any("read as GB18030" in n.reason for n in report.notes)
    assert sorted(p.name for p in (tmp_path / "out").glob("*/缺陷/*"))[:1] == ["电池片001.png"]


def test_gbk_coco_json_converts(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    image_writer(tmp_path / "coco" / "帧1.png", (64, 48))
    data = {
        "images": [{"id": 1, "file_name": "帧1.png", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 4, 20, 10]}],
        "categories": [{"id": 3, "name": "断纱"}],
    }
    (tmp_path / "coco" / "instances.json").write_bytes(json.dumps(data, ensure_ascii=False).encode("gbk"))
    report = convert_coco(tmp_path / "coco" / "instances.json", tmp_path / "out")
    assert report.names == ("断纱",) and report.boxes == 1
    assert [n.path.name for n in report.notes] == ["instances.json"]


def test_cli_encoding_option_and_its_errors(gbk_voc: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["data", "convert", "--from", "voc", str(gbk_voc)]
    result = runner.invoke(app, [*args, str(tmp_path / "a"), "--encoding", "no-such-codec"])
    assert result.exit_code == 1 and "encoding='no-such-codec'" in result.output
    result = runner.invoke(app, [*args, str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "read as GB18030" in result.output
    result = runner.invoke(app, [*args, str(tmp_path / "c"), "--encoding", "gbk"])
    assert result.exit_code == 0 and "GB18030" not in result.output
