"""Bytes to text the way CPython reads source files (no libcst: used on warm runs too)."""

from __future__ import annotations

import io
import tokenize

from conclint.extract.facts import FileError


def decode_source(path: str, data: bytes) -> str | FileError:
    """Decode like CPython does: BOM, then a PEP 263 cookie, else UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as err:
        return FileError(path, "parse", f"cannot decode: {err.msg}", err.lineno or 1)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as err:
        start = getattr(err, "start", 0)
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        return FileError(path, "parse", f"cannot decode as {encoding}: {err}", line, column)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return FileError(path, "parse", "source contains a NUL byte", line)
    return text


def read_source(path: str) -> str | FileError:
    """The decoded text of a file, or why it cannot be had."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return FileError(path, "parse", f"cannot read: {err.strerror or err}")
    return decode_source(path, data)
