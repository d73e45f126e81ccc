"""Text written by other programs (Windows tools, PLC and MES software, Excel): one decoding rule.

A byte-order mark says the encoding (UTF-8 from Notepad, UTF-16 from PowerShell 5's ``>`` and
``Out-File``, UTF-32); without one the text is UTF-8. Callers that can do better for their files
(a data converter guessing GB18030) build on :func:`bom_encoding`.
"""

from __future__ import annotations

import codecs

#: Byte-order marks and the codec each stands for (UTF-32 first: its little-endian mark starts
#: with UTF-16's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(data: bytes) -> str | None:
    """The codec the byte-order mark at the start of ``data`` names, or None when there is none."""
    return next((codec for bom, codec in _BOMS if data.startswith(bom)), None)


def decode_text(data: bytes) -> str:
    """``data`` as text: in its byte-order mark's encoding (the mark dropped), else UTF-8.

    Raises:
        UnicodeDecodeError: the bytes are not text in that encoding.

    """
    return data.decode(bom_encoding(data) or "utf-8").removeprefix("\ufeff")


def decode_line(exc: UnicodeDecodeError, data: bytes) -> int:
    """The 1-based line of ``data`` where decoding failed."""
    return data[: exc.start].count(b"\n") + 1


def decode_problem(exc: UnicodeDecodeError, data: bytes) -> str:
    """Where and why ``data`` failed to decode, for a message: ``line 3 (byte 41): invalid start byte``."""
    return f"line {decode_line(exc, data)} (byte {exc.start}): {exc.reason}"
