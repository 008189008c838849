"""SymPy forms of the core's formulas and registry entries: the one place a formula tree becomes SymPy.

The core (:mod:`bpdebug.core.expr`) parses formulas into SymPy-free trees and computes with them; the
derivation and the documents print them with SymPy. :func:`to_sympy` converts a tree; the functions below it
give an activation's or a loss's SymPy forms from its registry entry, whether the entry is built in (a
function of the ``sympy`` module and the symbols) or defined by a formula (a tree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sympy

from ..core import expr as ex
from ..core.functions import Activation, Loss

Sym = Any  # a SymPy expression


def _sigmoid(x: Sym, evaluate: bool = True) -> Sym:
    if evaluate:
        return 1 / (1 + sympy.exp(-x))
    return sympy.Pow(sympy.Add(1, sympy.exp(sympy.Mul(-1, x, evaluate=False), evaluate=False), evaluate=False),
                     -1, evaluate=False)


_FUNCTIONS: dict[str, Callable[..., Sym]] = {
    "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "sin": sympy.sin,
    "cos": sympy.cos, "tanh": sympy.tanh, "sign": sympy.sign, "Max": sympy.Max, "Min": sympy.Min,
}
_EVALUATED: dict[str, Callable[[Sym, Sym], Sym]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
_RELATIONS: dict[str, Callable[..., Sym]] = {"gt": sympy.Gt, "ge": sympy.Ge, "lt": sympy.Lt, "le": sympy.Le}


def number(value: float | None) -> Sym:
    """An integer literal as a SymPy Integer (exact), any other number as a Float."""
    assert value is not None
    return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)


def to_sympy(e: ex.Expr, symbols: Mapping[str, Sym], evaluate: bool = True) -> Sym:
    """The SymPy expression of the tree ``e``, its variables replaced by ``symbols`` (give real symbols).

    ``sigmoid(u)`` becomes 1/(1 + exp(−u)), ``relu(u)`` Max(0, u), a Piecewise a :class:`sympy.Piecewise`.
    With ``evaluate=False`` the tree's shape is kept as written (``out*(1 - out)`` stays that product)."""

    def go(node: ex.Expr) -> Sym:
        op = node.op
        if op == "num":
            return number(node.value)
        if op == "var":
            assert node.name is not None
            return symbols[node.name]
        args = [go(a) for a in node.args]
        if op == "piecewise":
            pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
            return sympy.Piecewise(*pairs, (args[-1], True), evaluate=evaluate)
        if op in _RELATIONS:
            return _RELATIONS[op](args[0], args[1], evaluate=evaluate)
        if op == "sigmoid":
            return _sigmoid(args[0], evaluate)
        if op == "relu":
            return sympy.Max(0, args[0], evaluate=evaluate)
        if op in _FUNCTIONS:
            return _FUNCTIONS[op](*args, evaluate=evaluate)
        if op == "neg":
            return -args[0] if evaluate else sympy.Mul(-1, args[0], evaluate=False)
        a, b = args
        if evaluate and op in _EVALUATED:
            return _EVALUATED[op](a, b)
        if op == "add":
            return sympy.Add(a, b, evaluate=False)
        if op == "sub":
            return sympy.Add(a, sympy.Mul(-1, b, evaluate=False), evaluate=False)
        if op == "mul":
            return sympy.Mul(a, b, evaluate=False)
        if op == "div":
            return sympy.Mul(a, sympy.Pow(b, -1, evaluate=False), evaluate=False)
        if op == "pow":
            return sympy.Pow(a, b, evaluate=False)
        return _unknown(op)

    return go(e)


def _unknown(op: str) -> Sym:
    raise ValueError(f"no SymPy form for the formula operation {op!r}")


# ------------------------------------------------------------------------------------------ activations

def activation(entry: Activation, x: Sym) -> Sym | None:
    """f(x) of an activation (None for one that is not elementwise, such as softmax)."""
    if entry.tree is None:
        return None
    return to_sympy(entry.tree, {entry.variable: x})


def out_form(entry: Activation, out: Sym) -> Sym | None:
    """f' written in the unit's output, as a textbook does (``out(1 − out)``), kept as written; None if none."""
    if entry.out_form is None:
        return None
    return to_sympy(entry.out_form, {"out": out}, evaluate=False)


def net_form(entry: Activation, net: Sym) -> Sym | None:
    """The entry's own f' in the net input when SymPy's is not the one the engine takes (relu's step)."""
    return None if entry.net_form is None else entry.net_form(sympy, net)


def derivative(entry: Activation, x: Sym) -> Sym | None:
    """f'(x) as the engine computes it: the derivative of the entry's formula (:func:`bpdebug.core.expr.diff`),
    in SymPy; at a non-smooth point it takes the side the engine takes."""
    if entry.tree is None:
        return None
    return to_sympy(ex.diff(entry.tree, entry.variable), {entry.variable: x})


# ------------------------------------------------------------------------------------------------ losses

def loss_term(entry: Loss, o: Sym, t: Sym, K: Sym) -> Sym:
    """One output unit's error term, in its output ``o``, target ``t`` and the ``K`` outputs."""
    if entry.tree is not None:
        return _per_output(entry, to_sympy(entry.tree, {"o": o, "t": t}), K)
    assert entry.term is not None
    return entry.term(sympy, o, t, K)


def loss_derivative(entry: Loss, o: Sym, t: Sym, K: Sym) -> Sym:
    """∂term/∂o as the engine computes it (a formula loss: :func:`bpdebug.core.expr.diff` of its term)."""
    if entry.tree is not None:
        return _per_output(entry, to_sympy(ex.diff(entry.tree, "o"), {"o": o, "t": t}), K)
    return sympy.diff(loss_term(entry, o, t, K), o)


def _per_output(entry: Loss, term: Sym, K: Sym) -> Sym:
    """A formula loss averaged over the outputs and the examples ("mean") divides each term by K."""
    return term / K if entry.reduction == "mean" else term


def loss_textbook(entry: Loss, o: Sym, t: Sym, K: Sym) -> list[Sym] | None:
    """The factors of ∂term/∂o as a textbook writes them (verified before use), or None."""
    return None if entry.textbook is None else list(entry.textbook(sympy, o, t, K))
