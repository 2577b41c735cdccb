"""Stage 2: one file in, plain facts (or a clear reason why not) out."""

from __future__ import annotations

import io
import sys
import threading
import tokenize
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from conclint.extract.facts import ModuleFacts, Span
from conclint.extract.walker import ModuleWalker

T = TypeVar("T")

# Deeply nested code recurses deeply in libcst; give it room on a big private stack.
_RECURSION_LIMIT = 60_000
_STACK_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileError:
    """Why a file yielded no facts: ``kind`` is "parse" (CL001) or "internal" (CL002)."""

    path: str
    kind: str
    message: str
    line: int = 1
    column: int = 1
    detail: str = ""  # a traceback, shown only under --verbose


ExtractResult = ModuleFacts | FileError


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


def extract_source(path: str, text: str, module: str, is_package: bool) -> ExtractResult:
    """Parse ``text`` with libcst and reduce it to facts; never raises."""
    try:
        tree = cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        return FileError(path, "parse", f"syntax error: {err.message}", err.editor_line,
                         err.editor_column)
    except RecursionError:
        return FileError(path, "parse", "nesting too deep for the parser")
    except Exception as err:  # noqa: BLE001 - libcst raises assorted errors on odd input
        return FileError(path, "parse", f"cannot parse: {err}")
    try:
        positions = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)

        def span_of(node: cst.CSTNode) -> Span:
            where = positions[node]
            return Span(where.start.line, where.start.column + 1, where.end.line,
                        where.end.column + 1)

        return ModuleWalker(path, module, is_package, span_of).walk(tree)
    except RecursionError:
        return FileError(path, "parse", "nesting too deep to analyse")
    except Exception as err:  # noqa: BLE001 - contained to this file, reported as CL002
        return FileError(path, "internal", f"{type(err).__name__}: {err}",
                         detail=traceback.format_exc())


def extract_file(path: str, module: str, is_package: bool) -> ExtractResult:
    """Read, decode and extract one file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        return FileError(path, "parse", f"cannot read: {err.strerror or err}")
    text = decode_source(path, data)
    if isinstance(text, FileError):
        return text
    return extract_source(path, text, module, is_package)


def on_big_stack(func: Callable[..., T], *args: object) -> T:
    """Run ``func`` on a thread with a large stack and a high recursion limit."""
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(func(*args))
        except BaseException as err:  # noqa: BLE001 - re-raised on the calling thread
            failure.append(err)

    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    sys.setrecursionlimit(max(old_limit, _RECURSION_LIMIT))
    threading.stack_size(_STACK_BYTES)
    try:
        worker = threading.Thread(target=target, name="conclint-extract")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if failure:
        raise failure[0]
    return result[0]
