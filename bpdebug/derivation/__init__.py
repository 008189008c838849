"""The chain rule of any parameter at any step, written the way a textbook writes it by hand.

SymPy does the symbolic work once per (network shape, parameter, naming): every factor's closed form is
derived from the registry's loss and activation (``out(1 − out)`` for the sigmoid, ``1 − out²`` for tanh,
…), and each factor kind is lambdified once. Across steps only the numbers change.

The package, by concern: :mod:`.shapes` (which paths a chain sums), :mod:`.naming` (names of units and
quantities), :mod:`.templates` (closed forms from the registry), :mod:`.chain` (the cached symbolic
chain), :mod:`.derive` (a step's numbers into it), :mod:`.printing` (SymPy printers for text and LaTeX),
:mod:`.render` (the lines) and :mod:`.results` (what is returned).

A batch of N examples sums the per-example chains (the 1/N of a mean loss sits in ``∂E/∂out``). Up to
:data:`MAX_EXPLICIT_EXAMPLES` examples are written out one by one; more are written ``Σ_n`` over an index
with per-example numbers, the terms showing one example's factors.
"""

from __future__ import annotations

import gc

from ..text.numbers import PENDING
from . import chain
from .derive import derive
from .results import Derivation, Factor
from .shapes import MAX_DELTA_PATHS, MAX_EXPLICIT_EXAMPLES, MAX_FULL_PATHS


def clear_cache() -> None:
    """Forget the cached symbolic forms (they only depend on shapes, so this is rarely needed)."""
    chain.clear()


def freeze_cache() -> None:
    """Move everything alive now (the symbolic caches above all) out of the garbage collector's sight.

    With about a million SymPy objects cached, every full collection walks them all: 250-565 ms pauses
    measured in a derivation. :func:`derive` does this itself each time the cache has grown by
    :data:`~.derive.FREEZE_AFTER` factors; objects built since are collected as usual."""
    gc.freeze()


__all__ = ["Derivation", "Factor", "derive", "MAX_FULL_PATHS", "MAX_DELTA_PATHS", "MAX_EXPLICIT_EXAMPLES",
           "PENDING", "clear_cache", "freeze_cache"]
