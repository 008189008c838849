"""Scenario files: loading, validation, and the immutable value the engine runs.

The format is the contract in SCENARIO-FORMAT.md (version 1). Anything invalid is refused with one
:class:`ScenarioError` whose text is ``FILE:LINE: KEY: what was wrong, what was expected``.

The package, by what a reader looks for: :mod:`.model` (``Scenario``, ``Expectation``, ``ScenarioError``),
:mod:`.reader` (the file, its TOML, the ``Reader`` every validator shares), one validator per section
(:mod:`.network`, :mod:`.formulas` for ``[activations]``/``[losses]``/``[optimizers]``, :mod:`.loss`,
:mod:`.training`, :mod:`.data`, :mod:`.weights`, :mod:`.expect`), :mod:`.document` that calls them in order, and
:mod:`.init`, the generated starting weights. Here: :func:`load` and its kin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .document import Document
from .formulas import TYPICAL_OUTPUT, TYPICAL_TARGET
from .init import INIT_METHODS
from .model import DEFAULT_TOLERANCE, MAX_EPOCHS, Expectation, InitSpec, Scenario, ScenarioError
from .network import MAX_PARAMETERS
from .reader import MAX_FILE_BYTES, MAX_NESTING, Reader, parse, read_regular

if TYPE_CHECKING:
    from ..graph.scenario import GraphScenario

__all__ = ["DEFAULT_TOLERANCE", "INIT_METHODS", "MAX_EPOCHS", "MAX_FILE_BYTES", "MAX_NESTING", "MAX_PARAMETERS",
           "TYPICAL_OUTPUT", "TYPICAL_TARGET", "Expectation", "InitSpec", "Scenario", "ScenarioError", "load",
           "load_any", "loads", "loads_any"]


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError with a one-line message otherwise.

    The file is examined before it is read: a FIFO, a device, a socket or a directory is refused (reading a
    FIFO would wait for a writer forever), and so is a file larger than MAX_FILE_BYTES.
    """
    path = Path(path)
    shown = str(path)
    raw = read_regular(path, shown, MAX_FILE_BYTES)
    return loads(raw, shown, source_files=(path.absolute(),))


def load_any(path: str | Path) -> Scenario | GraphScenario:
    """As :func:`load`, and a ``[graph]`` scenario too (SCENARIO-FORMAT version 3), read by core/graph."""
    path = Path(path)
    return loads_any(read_regular(path, str(path), MAX_FILE_BYTES), str(path), source_files=(path.absolute(),))


def loads(raw: bytes | str, path: str = "<scenario>", *, source_files: tuple[Path, ...] = ()) -> Scenario:
    """Validate scenario text (``path`` is only used in messages; ``source_files`` are the files it came from).
    A graph scenario is refused in one line: what reads a network cannot read it (see :func:`loads_any`)."""
    found = loads_any(raw, path, source_files=source_files)
    if not isinstance(found, Scenario):
        raise ScenarioError(path, "graph", "a graph scenario, which this reads only as a network (the app, bpdebug "
                            "check, run, practice and export read it), expected [network] here",
                            found.line)
    return found


def loads_any(raw: bytes | str, path: str = "<scenario>", *,
              source_files: tuple[Path, ...] = ()) -> Scenario | GraphScenario:
    """As :func:`loads`, and a ``[graph]`` scenario too."""
    text, doc = parse(raw, path)
    document = Document(Reader(path, text, doc, source_files))
    if "graph" in doc:
        from ..graph.scenario import read  # the [graph] section is the graph package's (it imports this module)

        return read(document)
    return document.scenario()
