"""One file in, plain facts (or a clear reason why not) out."""

from __future__ import annotations

import traceback
from importlib.metadata import PackageNotFoundError, version

import libcst as cst

from conclint.extract.compact import compact
from conclint.extract.compiler import REFUSALS, compiler_tree
from conclint.extract.decode import read_source
from conclint.extract.facts import ExtractResult, FileError
from conclint.extract.names import with_names
from conclint.extract.walker import ModuleWalker


def _libcst_version() -> str:
    try:
        return version("libcst")
    except PackageNotFoundError:  # pragma: no cover - a vendored copy
        return "(unknown version)"


def parse_source(path: str, text: str) -> cst.Module | FileError:
    """libcst's tree of ``text``, or a CL001 reason."""
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        return syntax_error(path, text, err)
    except RecursionError:
        return FileError(path, "parse", "nesting too deep for the parser")
    except Exception as err:  # noqa: BLE001 - libcst raises assorted errors on odd input
        return FileError(path, "parse", f"cannot parse: {err}")


def syntax_error(path: str, text: str, err: cst.ParserSyntaxError) -> FileError:
    """Why ``text`` does not parse, in CPython's words when CPython rejects it too (clearer:
    "Missing parentheses in call to 'print'" for Python 2 code), else libcst's. Only the
    compiler's parser runs (``PyCF_ONLY_AST``): nothing is executed."""
    try:
        compiler_tree(text, path)
    except SyntaxError as cpython:
        return FileError(path, "parse", f"syntax error: {cpython.msg}", cpython.lineno or 1,
                         cpython.offset or 1)
    except REFUSALS:
        pass
    else:
        return FileError(path, "parse", "syntax that this Python accepts but libcst "
                         f"{_libcst_version()} cannot parse: {err.message.splitlines()[0]}",
                         err.editor_line, err.editor_column)
    return FileError(path, "parse", f"syntax error: {err.message}", err.editor_line,
                     err.editor_column)


def extract_source(path: str, text: str, module: str, is_package: bool) -> ExtractResult:
    """Parse ``text`` with libcst and reduce it to facts; never raises."""
    tree = parse_source(path, text)
    if isinstance(tree, FileError):
        return tree
    try:
        return compact(with_names(ModuleWalker(path, module, is_package).walk(tree)))
    except RecursionError:
        return FileError(path, "parse", "nesting too deep to analyse")
    except Exception as err:  # noqa: BLE001 - contained to this file, reported as CL002
        return FileError(path, "internal", f"{type(err).__name__}: {err}",
                         detail=traceback.format_exc())


def extract_file(path: str, module: str, is_package: bool) -> ExtractResult:
    """Read, decode and extract one file."""
    text = read_source(path)
    if isinstance(text, FileError):
        return text
    return extract_source(path, text, module, is_package)
