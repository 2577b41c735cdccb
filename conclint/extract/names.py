"""The names that decide which of a module's call sites the call graph resolves, gathered
once per file in the worker.

The call graph resolves a call site only when its last name is relevant (the name of an
analysed function or class, an API name, or an import alias of one) and follows an
argument only when its last name is an analysed function's. Which names are relevant
depends on the whole program, so a call graph kept from an earlier run
(``conclint.analyses.call_memory``) holds for a module only while the relevant ones among
these names are the same: this set lets the parent tell without reading every call again.
"""

from __future__ import annotations

from conclint.extract.facts import ModuleFacts


def with_names(facts: ModuleFacts) -> ModuleFacts:
    """``facts`` with ``names`` filled in: the last names of its callees and arguments,
    and its import aliases with the last names of what they import."""
    names: set[str] = set()
    for alias, imported in facts.imports.items():
        names.add(alias)
        names.add(imported.rpartition(".")[2])
    for fn in facts.functions:
        for call in fn.calls:
            names.add(call.callee.rpartition(".")[2])
            names.update(arg.text.rpartition(".")[2] for arg in call.args if arg.text)
    facts.names = names
    return facts
