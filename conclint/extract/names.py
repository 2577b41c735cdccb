"""The names a module's texts mention, gathered once per file in the worker.

Name resolution reaches another module only by a name written in some text: an import, a
star import, an attribute of a module (``pkg.sub``) or a name looked up in one. So the
whole-program phase can tell which modules a module's resolved names may depend on from
this set alone (``conclint.program.dependencies``), without reading every text again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from conclint.extract.facts import ModuleFacts

_NAME = re.compile(r"[^.()\[\]\n]+")


def with_names(facts: ModuleFacts) -> ModuleFacts:
    """``facts`` with ``names`` filled in."""
    facts.names = set(_NAME.findall("\n".join(_texts(facts))))
    return facts


def _texts(facts: ModuleFacts) -> Iterator[str]:
    """Every dotted text of the module that resolution may follow."""
    yield from facts.imports.values()
    yield from facts.star_imports
    yield from facts.globals.values()
    for cls in facts.classes:
        yield from cls.bases
        yield from cls.attrs.values()
    for fn in facts.functions:
        yield from fn.locals.values()
        for call in fn.calls:
            yield call.callee
            for arg in call.args:
                if arg.text:
                    yield arg.text
