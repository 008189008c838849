"""Activation functions as NumPy pairs: the function and its derivative.

The derivative takes both ``z`` and ``a = f(z)`` so the familiar forms can be used exactly as a
textbook writes them (``a(1 - a)`` for the sigmoid, ``1 - a²`` for tanh); the derivation builder
writes the same forms symbolically, so the numbers shown and the numbers used agree to the bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

BUILTIN = ("sigmoid", "tanh", "relu", "linear", "softmax")


@dataclass(frozen=True)
class Activation:
    """A named activation. ``derivative(z, a)`` is f'(z) elementwise; softmax has none (a Jacobian)."""

    name: str
    function: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = field(repr=False, compare=False)
    expr: str | None = None  # the formula of a custom activation, as written in the scenario

    @property
    def is_softmax(self) -> bool:
        return self.name == "softmax"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


_BUILTINS = {
    "sigmoid": Activation("sigmoid", _sigmoid, lambda z, a: a * (1.0 - a)),
    "tanh": Activation("tanh", np.tanh, lambda z, a: 1.0 - a * a),
    "relu": Activation("relu", lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(float)),
    "linear": Activation("linear", lambda z: z + 0.0, lambda z, a: np.ones_like(z)),
    "softmax": Activation("softmax", _softmax, None),
}


def builtin(name: str) -> Activation:
    return _BUILTINS[name]


def custom(name: str, expr_text: str) -> Activation:
    """Build a custom activation from its formula: SymPy derives, lambdify makes the NumPy functions."""
    import sympy

    from .formula import parse_formula

    expr = parse_formula(expr_text)
    x = next(iter(s for s in expr.free_symbols if s.name == "x"), sympy.Symbol("x", real=True))
    f = sympy.lambdify(x, expr, modules="numpy")
    df = sympy.lambdify(x, sympy.diff(expr, x), modules="numpy")

    def function(z: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(f(z), dtype=float), np.shape(z)).copy()

    def derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(df(z), dtype=float), np.shape(z)).copy()

    return Activation(name, function, derivative, expr_text)
