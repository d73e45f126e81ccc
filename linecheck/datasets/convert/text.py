"""The text files of a source set (label CSV, COCO JSON, VOC XML) in the encoding they were written in.

UTF-8 (with or without a byte-order mark) and UTF-16 / UTF-32 with one are read as they are. A
file that is not UTF-8 is read as GB18030, the superset of GBK and GB2312 that Excel (its "CSV"
save) and annotation tools on Chinese Windows write, when it decodes as that; the conversion
report notes every such file, since a file in another legacy encoding can decode as GB18030 too.
An XML declaration's ``encoding`` is followed (Python's XML parser reads no multi-byte encoding
by itself). ``data convert --encoding NAME`` overrides all of it (``cp1252``, ``big5``, ...).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from linecheck.errors import ConversionError, InvalidFieldError
from linecheck.text_files import bom_encoding, decode_line

#: Tried when a file is not UTF-8 and says nothing of its encoding.
FALLBACK_ENCODING = "gb18030"
#: Declared encodings read with a superset (files declared GB2312 often hold GBK characters).
_SUPERSETS = {"gb2312": FALLBACK_ENCODING, "gbk": FALLBACK_ENCODING}
_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


@dataclass(frozen=True, slots=True)
class SourceText:
    """A decoded source file.

    Attributes:
        text: the file's text.
        encoding: the codec it was read with.
        guessed: True when it was not UTF-8 and was read as :data:`FALLBACK_ENCODING` (worth a note).

    """

    text: str
    encoding: str
    guessed: bool = False


def check_encoding(name: str | None) -> str | None:
    """The codec ``name`` stands for (None: none given), or :class:`InvalidFieldError` naming ``encoding``."""
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InvalidFieldError(
            "encoding", name, "not an encoding Python knows (e.g. utf-8, gb18030, big5)"
        ) from None


def _decode(data: bytes, encoding: str, path: Path, why: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConversionError(
            f"not {why} text ({exc.reason} at byte {exc.start})", path=path, line=decode_line(exc, data)
        ) from None


def decode_source(data: bytes, path: Path, *, encoding: str | None = None, xml: bool = False) -> SourceText:
    """``data`` (the bytes of ``path``) as text: ``encoding`` if given, else as the module docstring says.

    Raises:
        ConversionError: naming the file and line, when the bytes do not decode.
        InvalidFieldError: ``encoding`` is not a codec name.

    """
    forced = check_encoding(encoding)
    if forced is not None:
        text = _decode(data, forced, path, forced)
        return SourceText(text.removeprefix("\ufeff"), forced)
    marked = bom_encoding(data)
    if marked is not None:
        return SourceText(_decode(data, marked, path, marked).removeprefix("\ufeff"), marked)
    declared = _XML_DECLARATION.match(data) if xml else None
    if declared is not None:
        name = declared.group(1).decode("ascii")
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            raise ConversionError(
                f"the XML declares encoding {name!r}, which Python does not know; give --encoding", path=path
            ) from None
        codec = _SUPERSETS.get(codec, codec)
        return SourceText(_decode(data, codec, path, f"{name} ({codec})"), codec)
    try:
        return SourceText(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        first = exc
    try:
        return SourceText(data.decode(FALLBACK_ENCODING), FALLBACK_ENCODING, guessed=True)
    except UnicodeDecodeError:
        raise ConversionError(
            f"not UTF-8 text ({first.reason} at byte {first.start}) nor GB18030; "
            "give its encoding with --encoding",
            path=path,
            line=decode_line(first, data),
        ) from None


def read_source_text(path: Path, *, encoding: str | None = None, xml: bool = False) -> SourceText:
    """The file at ``path`` decoded by :func:`decode_source`."""
    return decode_source(path.read_bytes(), path, encoding=encoding, xml=xml)


def guessed_note(count: int, example: Path) -> str:
    """The report's note for ``count`` file(s) read as GB18030 because they were not UTF-8."""
    files = "file is" if count == 1 else f"{count} files are"
    return (
        f"{files} not UTF-8 and read as GB18030 (GBK / GB2312, e.g. {example.name}); "
        "if the names read wrong, give the encoding with --encoding"
    )
