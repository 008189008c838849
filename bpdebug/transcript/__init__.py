"""Transcript writers: the derivation of a training run as text for people (md, tex, txt, py) or
programs (json). Each format is one module with a ``render(trace, options) -> str`` function."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..core.engine import Trace

# format name -> module (in this package) holding its render function
FORMATS: dict[str, str] = {
    "md": "markdown",
    "tex": "latex",
    "txt": "text",
    "json": "json_format",
    "py": "script",
    "dot": "dot",
    "ipynb": "notebook",
}


@dataclass(frozen=True)
class Options:
    """What a transcript covers: how many epochs and whose chain rule is written out in full."""

    epochs: int
    weights: tuple[str, ...] | None = None  # canonical names; None = every parameter
    full: bool = False  # full derivations for every epoch, not just the first and last
    exercise: frozenset[str] | None = None  # an exercise sheet blanking these parts (document.EXERCISE_PARTS)


def render(fmt: str, trace: Trace, options: Options) -> str:
    """The transcript of ``trace`` in format ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}', expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f".{FORMATS[fmt]}", __name__)
    trace.extend(options.epochs)
    return module.render(trace, options)
