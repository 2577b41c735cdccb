"""Bytes to text the way CPython reads source files (no libcst: used on warm runs too)."""

from __future__ import annotations

import io
import os
import stat
import tokenize

from conclint.extract.facts import FileError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_size(path: str) -> int:
    """The size of a file in bytes, 0 when it cannot be told (to order work, largest first)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_bytes(path: str) -> bytes | FileError:
    """The bytes of a regular file. Anything else (a FIFO, a device) is refused without
    reading from it, so a named pipe can never block the run."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        return FileError(path, "parse", f"cannot read: {err.strerror or err}")
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            return FileError(path, "parse", f"cannot read: it is {kind}, not a source file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    except OSError as err:
        return FileError(path, "parse", f"cannot read: {err.strerror or err}")
    finally:
        os.close(fd)


def decode_source(path: str, data: bytes) -> str | FileError:
    """Decode like CPython does: BOM, then a PEP 263 cookie, else UTF-8."""
    cookie_error: SyntaxError | None = None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as err:  # an unknown or contradictory cookie, or invalid UTF-8
        encoding, cookie_error = "utf-8", err
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as err:
        start = getattr(err, "start", 0)
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        reason = getattr(err, "reason", str(err))
        byte = f" (byte 0x{data[start]:02x})" if start < len(data) else ""
        return FileError(path, "parse", f"cannot decode as {encoding}: {reason}{byte}",
                         line, column)
    if cookie_error is not None:
        return FileError(path, "parse", f"cannot decode: {cookie_error.msg}",
                         cookie_error.lineno or 1)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        at = text.index("\x00")
        line = text.count("\n", 0, at) + 1
        return FileError(path, "parse", "source contains a NUL byte", line,
                         at - (text.rfind("\n", 0, at) + 1) + 1)
    return text


def read_source(path: str) -> str | FileError:
    """The decoded text of a file, or why it cannot be had."""
    data = read_bytes(path)
    return data if isinstance(data, FileError) else decode_source(path, data)
