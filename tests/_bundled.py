"""The bundled scenarios, networks and graphs apart (a graph scenario has [graph] instead of [network])."""

from __future__ import annotations

import tomllib
from pathlib import Path

BUNDLED = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"


def _is_graph(path: Path) -> bool:
    return "graph" in tomllib.loads(path.read_text(encoding="utf-8"))


NETWORKS = tuple(p for p in sorted(BUNDLED.glob("*.toml")) if not _is_graph(p))
GRAPHS = tuple(p for p in sorted(BUNDLED.glob("*.toml")) if _is_graph(p))
