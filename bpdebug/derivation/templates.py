"""Closed forms of the chain's factor kinds, derived by SymPy from the registry's entries.

Each template is a SymPy expression in generic marker symbols (one per *role*: the unit's ``out``, its
``net``, the target ``t``, the ``K`` outputs, the ``N`` examples), lambdified once for its numbers. The
textbook form an entry offers (``out(1 − out)``, ``2·(out − t)``) is used only where it equals the derivative
SymPy derived at sample points (:func:`_agrees`); otherwise SymPy's own factored form is shown. That check
takes well under a millisecond, where ``sympy.simplify`` took ~200 ms and imported ``sympy.physics`` on the
first chain rule of a session; the built-in entries' forms are proved equal symbolically by the tests.
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


# where a derived form and a textbook form are compared: inside every built-in's domain (outputs in (0, 1),
# targets in (0, 1), nets away from a kink at 0), irrational-looking so that no cancellation is a coincidence
SAMPLES = (0.3183, 0.5772, 0.7071, 0.1414, 0.8862)
SPREAD = 2.2361  # nets (and softmax inputs) spread over about ±1.6 around 0


def _value(expr: Any) -> complex | None:
    try:
        value = complex(expr.evalf(15))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _agrees(derived: Any, candidate: Any, symbols: tuple[Any, ...], nets: tuple[Any, ...] = ()) -> bool:
    """``derived`` equals ``candidate`` at every sample point where both have a finite value (at least three).
    ``symbols`` take values in (0, 1), ``nets`` values around 0 (both shifted per point)."""
    agreed = 0
    for k in range(len(SAMPLES)):
        point = {s: sympy.Float(SAMPLES[(k + i) % len(SAMPLES)], 15) for i, s in enumerate(symbols)}
        point.update({s: sympy.Float((SAMPLES[(k + 2 * i + 1) % len(SAMPLES)] - 0.5) * SPREAD * (i + 1) + 0.05, 15)
                      for i, s in enumerate(nets)})
        a, b = _value(derived.xreplace(point)), _value(candidate.xreplace(point))
        if a is None or b is None:
            continue
        if abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)):
            return False
        agreed += 1
    return agreed >= 3


def _verified(derived: Any, candidate: Any, values: dict[Any, Any], symbols: tuple[Any, ...] = (),
              nets: tuple[Any, ...] = ()) -> Any:
    """The textbook form when it equals what SymPy derived (at sample points), else SymPy's own factored form."""
    if _agrees(derived, candidate.xreplace(values), symbols, nets):
        return candidate
    return sympy.factor(derived)


@lru_cache(maxsize=64)
def loss_template(entry: Loss, per_batch: bool) -> Template:
    """∂E/∂out of one output unit for one example, derived from the loss's error term."""
    o, t, K, N = MARKERS
    mean = entry.reduction == "mean"
    scale = 1 / N if (mean and per_batch) else 1
    derived = symbolic.loss_derivative(entry, o, t, K) * scale
    textbook = symbolic.loss_textbook(entry, o, t, K)
    if textbook is None:  # a formula loss: the derivative of its term, as the engine computes it
        expr = derived
    else:
        factors = textbook + ([] if scale == 1 else [sympy.Pow(N, -1, evaluate=False)])
        candidate = factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False)
        expr = _verified(derived, candidate, {}, (o, t, K, N))
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
    derived = symbolic.derivative(entry, x)
    assert derived is not None, f"{entry.name} is not elementwise"
    candidate = symbolic.out_form(entry, a)
    if candidate is not None:
        expr = _verified(derived, candidate, {a: symbolic.activation(entry, x)}, nets=(x,))
        if expr is candidate:
            return template(expr, ("out",))
        return template(expr.xreplace({x: a}), ("net",))
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
    diag = _verified(sympy.diff(soft[0], z[0]), diag_c, {om: soft[0]}, nets=z)
    off = _verified(sympy.diff(soft[0], z[1]), off_c, {om: soft[0], ok: soft[1]}, nets=z)
    return template(diag, ("out",)), template(off, ("out", "out_k"))


@lru_cache(maxsize=2)
def softmax_ce_template(per_batch: bool) -> Template:
    """∂E/∂net_k of softmax + cross-entropy when the targets sum to 1: (out_k − t_k), over N for a batch."""
    o, t, N = MARKERS[:3]
    # derived for 3 outputs: Σ_m (−t_m/o_m) ∂o_m/∂z_1, then Σ t = 1 substituted
    z = sympy.symbols("z1:4")
    ts = sympy.symbols("t1:4")
    soft = [sympy.exp(zi) / sum(sympy.exp(zj) for zj in z) for zi in z]
    derived = sum(-ts[m] / soft[m] * sympy.diff(soft[m], z[0]) for m in range(3))
    derived = derived.subs(ts[2], 1 - ts[0] - ts[1])
    candidate = sympy.Add(o, sympy.Mul(-1, t, evaluate=False), evaluate=False)
    if not _agrees(derived, candidate.xreplace({o: soft[0], t: ts[0]}), ts[:2], z):  # pragma: no cover
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
