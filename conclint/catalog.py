"""The rule pages in ``rules/``: one Markdown file per rule, the single source of the docs.

``conclint explain``, the README's rule table and the doc-example tests all read them
through this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_TITLE = re.compile(r"^# (CL\d{3}): ([a-z0-9-]+)\s*$", re.MULTILINE)
_SECTION = re.compile(r"^## (.+?)\s*$", re.MULTILINE)
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def rules_dir() -> Path:
    """The catalogue: shipped inside the package, or the repository's ``rules/``."""
    packaged = Path(__file__).resolve().parent / "rules"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "rules"


@dataclass(frozen=True)
class RulePage:
    code: str
    name: str
    family: str
    severity: str
    default: str
    sections: dict[str, str]
    text: str

    def example(self, section: str) -> str | None:
        """The first python block of a section ("Example" or "Use instead")."""
        match = _PYTHON_BLOCK.search(self.sections.get(section, ""))
        return match.group(1) if match else None


def parse_page(text: str) -> RulePage:
    title = _TITLE.search(text)
    if title is None:
        raise ValueError("a rule page starts with '# CLnnn: rule-name'")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    if len(rows) < 3:
        raise ValueError("a rule page has a Family | Severity | Default table")
    family, severity, default = (cell.strip() for cell in rows[2].strip("|").split("|"))
    headings = list(_SECTION.finditer(text))
    sections = {
        h.group(1): text[h.end(): headings[i + 1].start() if i + 1 < len(headings) else len(text)]
        for i, h in enumerate(headings)
    }
    return RulePage(title.group(1), title.group(2), family, severity, default, sections, text)


def load_pages(directory: Path | None = None) -> dict[str, RulePage]:
    directory = directory or rules_dir()
    pages = {}
    for path in sorted(directory.glob("CL*.md")):
        page = parse_page(path.read_text(encoding="utf-8"))
        pages[page.code] = page
    return pages
