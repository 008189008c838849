"""A step's computation (:mod:`bpdebug.core.computations`, the description the step panel and the divergence
report print too) as the left of a transcript's equation: ``z2 = Θ1·a1``, ``δ2 = ∂E/∂z2``, ``∂E/∂Θ1 = δ2·a1ᵀ``,
``Θ1 ← Θ1 − α ∂E/∂Θ1``, in the pieces :func:`~bpdebug.transcript.blocks.equation` sets in LaTeX and in
SymPy's pictures. The transcripts' a_l carries the bias unit's row, so :class:`WithBias` adds nothing here."""

from __future__ import annotations

from typing import TypeAlias

import sympy as sp

from ...core.computations import Act, Computation, Descent, How, Product, Q, T, Term, WithBias, computation
from ...core.quantity import StepKind
from ...core.scenario import Scenario
from ..blocks import partial
from .setting import activation_call, theta

Piece: TypeAlias = sp.Basic | str | tuple[str, str]  # what equation() sets: an expression, an operator, (latex, text)


def _symbol(name: str, layer: int | None) -> sp.Basic:
    """A quantity as a symbol: Θ_l for theta_l (``theta``, every matrix: the one of ``layer``)."""
    if name == "theta" and layer is not None:
        return theta(layer)
    if name.startswith("theta") and name[5:].isdigit():
        return theta(int(name[5:]))
    return sp.Symbol(name)


def _expr(term: Term, s: Scenario, layer: int | None) -> sp.Basic:
    """A term that is one expression (a quantity, its transpose, an activation applied)."""
    match term:
        case Q(name):
            return _symbol(name, layer)
        case T(of):
            return _expr(of, s, layer) ** sp.Symbol("T")
        case WithBias(of):
            return _expr(of, s, layer)
        case Act(l, arg, False):
            return activation_call(s, l, _expr(arg, s, layer))
    raise TypeError(f"no expression for {term!r}")


def _derivative(of: str, by: str, layer: int | None) -> tuple[str, str]:
    return partial(of, _symbol(by, layer))


def _pieces(term: Term, s: Scenario, layer: int | None) -> list[Piece]:
    match term:
        case Q(name) if name.startswith("grad."):
            return [_derivative("E", name.removeprefix("grad."), layer)]
        case Product(How.MATRIX, left, right):
            return [*_pieces(left, s, layer), "·", *_pieces(right, s, layer)]
        case Product(How.OUTER, left, right):  # a column times a row: left · rightᵀ
            return [*_pieces(left, s, layer), "·", _expr(T(right), s, layer)]
        case Descent(param, gradient):
            p = _pieces(param, s, layer)
            g = _pieces(gradient, s, layer)[0]
            assert isinstance(g, tuple)
            return [*p, "<-", *p, "-", (r"\alpha " + g[0], "α⋅" + g[1])]
    return [_expr(term, s, layer)]


def _holds_derivative(term: Term) -> bool:
    """Whether the form holds an activation's derivative (a delta): the transcripts write such a result by
    its definition, ∂E/∂z_l, and its factors in the chain rules."""
    match term:
        case Act(_, _, derivative):
            return derivative
        case Product(_, left, right):
            return _holds_derivative(left) or _holds_derivative(right)
        case T(of) | WithBias(of):
            return _holds_derivative(of)
    return False


def head(c: Computation, s: Scenario, layer: int | None = None) -> list[Piece]:
    """The computation as the start of an equation, up to its numbers (``layer``: the matrix an update of
    every matrix is written for)."""
    if isinstance(c.form, Descent):
        return _pieces(c.form, s, layer)
    result = _pieces(Q(c.result), s, layer)
    if c.derivative is not None and _holds_derivative(c.form):
        of, by = c.derivative
        return [*result, "=", _derivative(of, by, layer)]
    return [*result, "=", *_pieces(c.form, s, layer)]


def step_head(s: Scenario, kind: StepKind, layer: int | None, matrix: int | None = None) -> list[Piece]:
    """:func:`head` of the (first) computation of a step of ``kind`` at ``layer``."""
    return head(computation(s, kind, layer), s, matrix)
