"""The reader's names of units, in one place: i1 (input), h1 (hidden), o1 (output), the bias unit.

With more than one hidden layer a hidden unit carries its hidden layer's number (``h2_1``, LaTeX
``h_{2,1}``). Derivations (``out_h1``, ``net_o1``), narration and the app all use these names.
"""

from __future__ import annotations


def unit(n_layers: int, layer: int, unit: int | str) -> str:
    """Unit ``unit`` (1-based; 0 = the bias unit; a letter such as ``"k"`` for any unit) of ``layer`` (1 = inputs)
    in a network of ``n_layers``."""
    if unit == 0:
        return "bias"
    if layer == 1:
        return f"i{unit}"
    if layer == n_layers:
        return f"o{unit}"
    if n_layers > 3:
        return f"h{layer - 1}_{unit}"
    return f"h{unit}"


def unit_latex(n_layers: int, layer: int, unit_: int | str) -> str:
    """The same name as a LaTeX subscript's content: ``o1``, ``h1``, ``h2,1``."""
    if unit_ != 0 and 1 < layer < n_layers and n_layers > 3:
        return f"h{layer - 1},{unit_}"
    return unit(n_layers, layer, unit_)
