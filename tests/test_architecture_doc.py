"""docs/architecture.md names every module of the package: each module file (but ``__init__.py`` and
``__main__.py``) appears in it in backticks, as its file name, its stem, or a path ending in it (``slips.py``,
``graph/slips.py``, ``shapes``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bpdebug"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def _named() -> set[str]:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    return {span.strip().rstrip("/") for span in re.findall(r"`([^`\n]+)`", doc)}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_architecture_document_names_every_module(module):
    parts = module.relative_to(PACKAGE).parts
    forms = set()
    for k in range(len(parts)):
        suffix = "/".join(parts[k:])
        forms |= {suffix, suffix.removesuffix(".py"), "bpdebug/" + "/".join(parts)}
    assert forms & _named(), f"docs/architecture.md does not name {module.relative_to(ROOT)}"


def _adding_rows() -> list[list[str]]:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = doc[doc.index("| idea | the one entry |"):]
    table = table[:table.index("\n\n")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


@pytest.mark.parametrize("row", _adding_rows(), ids=lambda r: r[0])
def test_each_idea_names_a_real_file_entry_class_registry_and_test(row):
    """The "Adding an idea" table: its files and tests exist, its entry classes (or register functions) and
    registries are defined there."""
    _, entry, files, tests = row
    sources = [PACKAGE / f for f in re.findall(r"`([^`]+\.py)`", files)]
    assert sources and all(p.is_file() for p in sources), files
    text = "\n".join(p.read_text() for p in sources)
    for cls in re.findall(r"`(\w+)\(\.\.\.\)`", entry):
        assert re.search(rf"^(class|def) {cls}\b", text, re.M), cls
    for registry in re.findall(r"in `(\w+)`", entry):
        assert re.search(rf"^{registry}\b[^=\n]*=", text, re.M), registry
    assert all((ROOT / t).is_file() for t in re.findall(r"`([^`]+\.py)`", tests)), tests
