"""CPython's own parser, as a second opinion on a file (never running its code)."""

from __future__ import annotations

import ast
import warnings

# What the compiler raises besides SyntaxError on hostile input: null bytes, nesting too
# deep, out of memory, literals too large.
REFUSALS = (ValueError, RecursionError, MemoryError, OverflowError)


def compiler_tree(text: str, path: str) -> ast.Module:
    """The ``ast`` of ``text``: only the parser runs (``PyCF_ONLY_AST``), nothing is
    executed; its warnings (invalid escape sequences...) are not ours to print. Raises
    SyntaxError or one of ``REFUSALS``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
