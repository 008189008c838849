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


# A document (md, tex, txt, py, ipynb, dot) is for reading: past this many epochs it is no document any more.
# JSON is written an epoch at a time, in bounded memory, whatever the number of epochs.
DOCUMENT_EPOCHS = 10_000


def too_long(fmt: str, epochs: int, json: str = "json") -> str | None:
    """Why a transcript in ``fmt`` cannot cover ``epochs`` epochs (one line, pointing to ``json``: how the
    caller asks for it), or None."""
    if fmt == "json" or epochs <= DOCUMENT_EPOCHS:
        return None
    return (f"a {fmt} transcript covers at most {DOCUMENT_EPOCHS} epochs; use {json} (written an epoch at a "
            "time) for longer runs")


@dataclass(frozen=True)
class WhatIf:
    """A what-if fork being written out: the scenario file of the original run, the fork's edits (canonical
    text, ``w5=0.5``) and the original's epoch it starts at (its epoch 1)."""

    source: str
    edits: tuple[str, ...]
    epoch: int = 1

    def describe(self) -> str:
        """``w5=0.5 from epoch 3``."""
        return ", ".join(self.edits) + (f" from epoch {self.epoch}" if self.epoch > 1 else "")


@dataclass(frozen=True)
class Options:
    """What a transcript covers: how many epochs and whose chain rule is written out in full."""

    epochs: int
    weights: tuple[str, ...] | None = None  # canonical names; None = every parameter
    full: bool = False  # full derivations for every epoch, not just the first and last
    exercise: frozenset[str] | None = None  # an exercise sheet blanking these parts (exercise.EXERCISE_PARTS)
    what_if: WhatIf | None = None  # the run is a what-if fork of another: the md, tex and txt say so


def render(fmt: str, trace: Trace, options: Options) -> str:
    """The transcript of ``trace`` in format ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}', expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f".{FORMATS[fmt]}", __name__)
    trace.extend(options.epochs)
    return module.render(trace, options)
