"""bpdebug: a terminal step debugger for backpropagation.

The core knows nothing of the terminal: :mod:`bpdebug.scenario` (load and validate),
:mod:`bpdebug.engine` (the NumPy steps), :mod:`bpdebug.derivation` (SymPy chain rules) and
:mod:`bpdebug.transcript` (writers). :mod:`bpdebug.app` is a Textual view over them and
:mod:`bpdebug.cli` a thin shell over both.
"""

__version__ = "0.1.0"
