"""Closed forms of the chain's factor kinds, derived by SymPy from the registry's entries.

Each template is a SymPy expression in generic marker symbols (one per *role*: the unit's ``out``, its
``net``, the target ``t``, the ``K`` outputs, the ``N`` examples), lambdified once for its numbers. The
textbook form an entry offers (``out(1 − out)``, ``2·(out − t)``) is used only where it equals the slope of
what it differentiates at sample points (:func:`_slope_agrees`); otherwise SymPy derives and factors its own
form. That check takes a few milliseconds, where ``sympy.diff`` and ``sympy.simplify`` took ~300 ms (and
imported ``sympy.physics``) on the first chain rule of a session; the tests prove the registry's forms
symbolically.
Number functions are lambdified into an explicit namespace (:func:`lambdify`): NumPy's names the printed code
uses, not ``from numpy import *`` (which loads ``numpy.testing`` and ``unittest``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import sympy

from ..core.functions import Activation, Loss
from ..text import symbolic

MARKERS = sympy.symbols("Zqa Zqb Zqc Zqd")
LOSS_ROLES = ("out", "t", "K", "N")


@dataclass(frozen=True)
class Template:
    """A factor kind's closed form in marker symbols, what each marker stands for, and its number function."""

    expr: Any  # sympy expression in MARKERS[:len(roles)]
    roles: tuple[str, ...]  # "out", "net", "t", "K", "N", "out_k"
    fn: Callable[..., Any] = field(repr=False, compare=False)

    @property
    def markers(self) -> tuple[Any, ...]:
        return tuple(MARKERS[: len(self.roles)])


def lambdify(args: list[Any], expr: Any) -> Callable[..., Any]:
    """``sympy.lambdify`` with SymPy's NumPy printer into an explicit namespace: only the names the printed
    code uses are imported (``from numpy import exp``), where ``modules="numpy"`` star-imports NumPy."""
    from sympy.printing.numpy import NumPyPrinter

    printer = NumPyPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})
    return sympy.lambdify(args, expr, modules=[{}], printer=printer)  # type: ignore[no-any-return]


def template(expr: Any, roles: tuple[str, ...]) -> Template:
    return Template(expr, roles, lambdify(list(MARKERS[: len(roles)]), expr))


# where a textbook form is compared with the slope of what it differentiates: inside every built-in's domain
# (outputs and targets in (0, 1), nets away from a kink at 0), irrational-looking so no agreement is a coincidence
SAMPLES = (0.3183, 0.5772, 0.7071, 0.1414, 0.8862)
SPREAD = 2.2361  # nets (and softmax inputs) spread over about ±1.6 around 0
DIGITS = 60  # the slope is a central difference of step 1e-20 in 60-digit arithmetic: exact to ~1e-40
STEP = "1e-20"


def _points(symbols: tuple[Any, ...], nets: tuple[Any, ...]) -> list[dict[Any, Any]]:
    """Sample values of ``symbols`` (in (0, 1)) and ``nets`` (around 0), shifted from point to point."""
    n = len(SAMPLES)
    points = []
    for k in range(n):
        point = {s: sympy.Float(SAMPLES[(k + i) % n], DIGITS) for i, s in enumerate(symbols)}
        point.update({s: sympy.Float((SAMPLES[(k + 2 * i + 1) % n] - 0.5) * SPREAD * (i + 1) + 0.05, DIGITS)
                      for i, s in enumerate(nets)})
        points.append(point)
    return points


def _number(expr: Any, point: dict[Any, Any]) -> Any:
    """``expr`` at ``point`` as a SymPy number of DIGITS digits (evaluated without rebuilding the tree where
    evalf can; by substitution where it cannot: Heaviside, Max, a Piecewise's conditions)."""
    value = expr.evalf(DIGITS, subs=point)
    if not value.is_number:
        value = expr.xreplace(point).evalf(DIGITS)
    return value


def _finite(value: Any) -> complex | None:
    try:
        number = complex(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _value(expr: Any, point: dict[Any, Any]) -> complex | None:
    try:
        return _finite(_number(expr, point))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _slope(f: Any, var: Any, point: dict[Any, Any]) -> complex | None:
    """∂f/∂var at ``point``: a central difference, in arithmetic precise enough to make it exact here."""
    h = sympy.Float(STEP, DIGITS)
    try:
        up = _number(f, {**point, var: point[var] + h})
        down = _number(f, {**point, var: point[var] - h})
        return _finite((up - down) / (2 * h))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _slope_agrees(f: Any, var: Any, candidate: Any, symbols: tuple[Any, ...] = (),
                  nets: tuple[Any, ...] = ()) -> bool:
    """``candidate`` equals ∂f/∂var at every sample point where both have a finite value (at least three).

    This is how a textbook form is accepted at run time: a few evaluations, where ``sympy.diff`` and
    ``sympy.simplify`` of the difference cost ~200 ms on the first chain rule of a session (the tests prove
    the registry's forms symbolically)."""
    agreed = 0
    for point in _points(symbols, nets):
        a, b = _slope(f, var, point), _value(candidate, point)
        if a is None or b is None:
            continue
        if abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)):
            return False
        agreed += 1
    return agreed >= 3


@lru_cache(maxsize=64)
def loss_template(entry: Loss, per_batch: bool) -> Template:
    """∂E/∂out of one output unit for one example, derived from the loss's error term."""
    o, t, K, N = MARKERS
    mean = entry.reduction == "mean"
    scale = 1 / N if (mean and per_batch) else 1
    textbook = symbolic.loss_textbook(entry, o, t, K)
    if textbook is None:  # a formula loss: the derivative of its term, as the engine computes it
        expr = symbolic.loss_derivative(entry, o, t, K) * scale
    else:
        factors = textbook + ([] if scale == 1 else [sympy.Pow(N, -1, evaluate=False)])
        candidate = factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False)
        if _slope_agrees(symbolic.loss_term(entry, o, t, K) * scale, o, candidate, (o, t, K, N)):
            expr = candidate
        else:  # SymPy's own form of what it derives
            expr = sympy.factor(symbolic.loss_derivative(entry, o, t, K) * scale)
    general = lambdify(list(MARKERS), expr)
    # 0·log 0 = 0, as the engine takes it: where an output equals its target at exactly 0 or 1, a term
    # t·log(out) (or (1 − t)·log(1 − out)) is identically 0, so its derivative is the closed form with that
    # target put in first (−t/out is 0 at t = 0, not 0/0); a formula loss has no such rule (the engine runs
    # its derivative as written). Built on first need: outputs that equal their targets at exactly 0 or 1 are rare.
    exact: dict[int, Callable[..., Any]] = {}
    edges = () if textbook is None else (0, 1)

    def fn(out: Any, target: Any, k: Any, n: Any) -> Any:
        out, target = np.asarray(out, dtype=float), np.asarray(target, dtype=float)  # 1/0.0 is inf, not raised
        with np.errstate(all="ignore"):
            value = general(out, target, k, n)
            for c in edges:
                at = (target == c) & (out == c)
                if at.any():
                    if c not in exact:
                        exact[c] = lambdify(list(MARKERS), sympy.cancel(expr.subs(t, c)))
                    value = np.where(at, exact[c](out, target, k, n), value)
        return value

    return Template(expr, LOSS_ROLES, fn)


@lru_cache(maxsize=256)
def activation_template(entry: Activation) -> Template:
    """∂out/∂net of one unit, derived from the activation, written in out where the textbook does."""
    a = MARKERS[0]
    x = sympy.Symbol("x", real=True)
    candidate = symbolic.out_form(entry, a)
    if candidate is not None:
        f = symbolic.activation(entry, x)
        assert f is not None, f"{entry.name} is not elementwise"
        if _slope_agrees(f, x, candidate.xreplace({a: f}), nets=(x,)):
            return template(candidate, ("out",))
    derived = symbolic.derivative(entry, x)
    assert derived is not None, f"{entry.name} is not elementwise"
    if candidate is not None:  # the textbook's form refused: SymPy's own, factored
        return template(sympy.factor(derived).xreplace({x: a}), ("net",))
    shown = symbolic.net_form(entry, a)
    if shown is not None:
        return template(shown, ("net",))
    if not derived.free_symbols:
        return template(derived, ())
    return template(derived.xreplace({x: a}), ("net",))


@lru_cache(maxsize=1)
def softmax_templates() -> tuple[Template, Template]:
    """∂out_m/∂net_k of a softmax: out_k(1 − out_k) on the diagonal, −out_m·out_k off it (derived)."""
    z = sympy.symbols("z1:4")
    soft = [sympy.exp(zi) / sum(sympy.exp(zj) for zj in z) for zi in z]
    om, ok = MARKERS[:2]
    diag_c = sympy.Mul(om, sympy.Add(1, sympy.Mul(-1, om, evaluate=False), evaluate=False), evaluate=False)
    off_c = sympy.Mul(-1, om, ok, evaluate=False)
    if not (_slope_agrees(soft[0], z[0], diag_c.xreplace({om: soft[0]}), nets=z)
            and _slope_agrees(soft[0], z[1], off_c.xreplace({om: soft[0], ok: soft[1]}), nets=z)):
        raise AssertionError("softmax's derivative is not out_m(1 - out_m), -out_m·out_k")  # pragma: no cover
    return template(diag_c, ("out",)), template(off_c, ("out", "out_k"))


@lru_cache(maxsize=2)
def softmax_ce_template(per_batch: bool) -> Template:
    """∂E/∂net_k of softmax + cross-entropy when the targets sum to 1: (out_k − t_k), over N for a batch."""
    o, t, N = MARKERS[:3]
    # checked for 3 outputs: the slope in z_1 of −Σ_m t_m log o_m with Σ t = 1 (t_3 = 1 − t_1 − t_2)
    z = sympy.symbols("z1:4")
    ts = sympy.symbols("t1:4")
    soft = [sympy.exp(zi) / sum(sympy.exp(zj) for zj in z) for zi in z]
    loss = -sum(tm * sympy.log(sm) for tm, sm in zip((ts[0], ts[1], 1 - ts[0] - ts[1]), soft, strict=True))
    candidate = sympy.Add(o, sympy.Mul(-1, t, evaluate=False), evaluate=False)
    if not _slope_agrees(loss, z[0], candidate.xreplace({o: soft[0], t: ts[0]}), ts[:2], z):  # pragma: no cover
        raise AssertionError("softmax + cross-entropy is not out - t")
    if per_batch:
        return template(sympy.Mul(candidate, sympy.Pow(N, -1, evaluate=False), evaluate=False), ("out", "t", "N"))
    return template(candidate, ("out", "t"))


@lru_cache(maxsize=1)
def identity_template() -> Template:
    return template(MARKERS[0], ("x",))


@lru_cache(maxsize=1)
def one_template() -> Template:
    return template(sympy.Integer(1), ())


def clear() -> None:
    for f in (loss_template, activation_template, softmax_templates, softmax_ce_template):
        f.cache_clear()
