"""bpdebug: a terminal step debugger for backpropagation.

The core knows nothing of the terminal: :mod:`bpdebug.core.scenario` (load and validate),
:mod:`bpdebug.core.engine` (the NumPy steps), :mod:`bpdebug.derivation` (SymPy chain rules) and
:mod:`bpdebug.transcript` (writers). :mod:`bpdebug.tui.app` is a Textual view over them and
:mod:`bpdebug.cli` a thin shell over both (docs/architecture.md names every module).
"""

__version__ = "0.1.0"
