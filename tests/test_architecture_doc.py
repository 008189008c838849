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
