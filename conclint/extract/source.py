"""One file in, plain facts (or a clear reason why not) out."""

from __future__ import annotations

import traceback

import libcst as cst

from conclint.extract.decode import read_source
from conclint.extract.facts import ExtractResult, FileError
from conclint.extract.walker import ModuleWalker



def parse_source(path: str, text: str) -> cst.Module | FileError:
    """libcst's tree of ``text``, or a CL001 reason."""
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        return FileError(path, "parse", f"syntax error: {err.message}", err.editor_line,
                         err.editor_column)
    except RecursionError:
        return FileError(path, "parse", "nesting too deep for the parser")
    except Exception as err:  # noqa: BLE001 - libcst raises assorted errors on odd input
        return FileError(path, "parse", f"cannot parse: {err}")


def extract_source(path: str, text: str, module: str, is_package: bool) -> ExtractResult:
    """Parse ``text`` with libcst and reduce it to facts; never raises."""
    tree = parse_source(path, text)
    if isinstance(tree, FileError):
        return tree
    try:
        return ModuleWalker(path, module, is_package).walk(tree)
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
