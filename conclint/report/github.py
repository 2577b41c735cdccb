"""``--format github``: GitHub Actions workflow commands, shown as annotations on the diff.

``::error file=F,line=L,col=C,endLine=L2,endColumn=C2,title=T::message`` per finding
(``::warning`` for warnings), escaped as the Actions toolkit does: ``%``, CR and LF in
the message; also ``:`` and ``,`` in property values. GitHub's ``endColumn`` is inclusive.
"""

from __future__ import annotations

from collections.abc import Sequence

from conclint.diagnostics import Diagnostic


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(d: Diagnostic) -> str:
    kind = "error" if d.severity == "error" else "warning"
    end_column = max(d.end_column - 1, d.column if d.end_line == d.line else 1)
    properties = {
        "file": d.path.replace("\\", "/"),
        "line": d.line,
        "col": d.column,
        "endLine": d.end_line,
        "endColumn": end_column,
        "title": f"{d.code} {d.name}",
    }
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
    message = d.message + "".join(
        f"\n  {r.path}:{r.line}:{r.column}: {r.message}" for r in d.related)
    return f"::{kind} {props}::{escape_data(message)}"


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    return "".join(command(d) + "\n" for d in diagnostics)
