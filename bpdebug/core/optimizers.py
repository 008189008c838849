"""Optimizers: how a gradient becomes an update. One registry entry per optimizer, each defined once.

Every entry carries, side by side (micrograd-style): the names of its state (``v``; ``m`` and ``v``), the
hyperparameters it reads, its NumPy step, its rule in SymPy for display, its display names, and the
source of its step (what the py export pastes, so the exported script is the engine by construction).

The definitions are torch.optim's (documentation form, ``dampening = 0``, ``amsgrad = False``), so
numbers agree with what users run. Assignments read top to bottom, each using the values above it:

- ``sgd``:      p ← p − η·g
- ``momentum``: v ← μ·v + g;  p ← p − η·v
- ``nesterov``: v ← μ·v + g;  p ← p − η·(g + μ·v)
- ``adam``:     m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  m̂ ← m/(1 − β₁ᵗ);  v̂ ← v/(1 − β₂ᵗ);
  p ← p − η·m̂/(√v̂ + ε)
- ``rmsprop``:  v ← α·v + (1 − α)·g²;  p ← p − η·g/(√v + ε)

Weight decay (L2, as torch.optim's ``weight_decay``) comes first when λ ≠ 0: g ← g + λ·p. The state
starts at zero; ``t`` counts updates from 1. A frozen parameter never changes, nor does its state.

State layout: ``state[l]`` is the tuple of arrays of weight matrix ``l`` (0-based), one per name in
``Optimizer.state_names``, each shaped like the matrix.
"""

from __future__ import annotations

import inspect
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import NamedTuple

import numpy as np
import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

Arrays = tuple[np.ndarray, ...]
State = tuple[Arrays, ...]  # state[layer][index in state_names]


# --------------------------------------------------------------------------------------- hyperparameters

@dataclass(frozen=True)
class Hyperparameters:
    """The numbers an optimizer reads; the defaults are the scenario format's (and torch.optim's)."""

    learning_rate: float
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    alpha: float = 0.99
    weight_decay: float = 0.0


@dataclass(frozen=True)
class Hyperparameter:
    """One ``[training]`` key an optimizer reads: its symbol, its default and the values it accepts."""

    key: str  # the [training] key and the Hyperparameters field
    symbol: sp.Symbol
    low: float
    high: float | None  # None: no upper bound
    low_open: bool  # True: low itself is refused
    high_open: bool
    meaning: str

    @property
    def default(self) -> float | None:
        """The value when the scenario does not give one; None for the learning rate (required)."""
        value = next(f.default for f in fields(Hyperparameters) if f.name == self.key)
        return float(value) if isinstance(value, float) else None

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if value < self.low or (self.low_open and value == self.low):
            return False
        return self.high is None or value < self.high or (not self.high_open and value == self.high)

    @property
    def expected(self) -> str:
        """What ``accepts`` takes, in words: "a number in [0, 1)", "a number > 0"."""
        if self.high is None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        return f"a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


# the symbols of every rule (SymPy's printers turn eta, beta1, mhat into η, β₁, m̂)
P, G, T = sp.symbols("p g t", real=True)
M, V, MHAT, VHAT = sp.symbols("m v mhat vhat", real=True)
ETA, MU, BETA1, BETA2, EPSILON, ALPHA, LAMBDA = sp.symbols("eta mu beta1 beta2 epsilon alpha lambda", real=True)

HYPERPARAMETERS: dict[str, Hyperparameter] = {h.key: h for h in (
    Hyperparameter("learning_rate", ETA, 0.0, None, True, False, "learning rate"),
    Hyperparameter("momentum", MU, 0.0, 1.0, False, False, "momentum"),
    Hyperparameter("beta1", BETA1, 0.0, 1.0, False, True, "decay of the first moment m"),
    Hyperparameter("beta2", BETA2, 0.0, 1.0, False, True, "decay of the second moment v"),
    Hyperparameter("epsilon", EPSILON, 0.0, None, True, False, "added to the root for stability"),
    Hyperparameter("alpha", ALPHA, 0.0, 1.0, False, False, "decay of the mean square v"),
    Hyperparameter("weight_decay", LAMBDA, 0.0, None, False, False, "L2 weight decay"),
)}

# plain-text names for printers that do not know Greek (the LaTeX printer already writes \eta, \hat{m})
TEXT_NAMES: dict[str, str] = {
    "eta": "η", "mu": "μ", "beta1": "β₁", "beta2": "β₂", "epsilon": "ε", "alpha": "α", "lambda": "λ",
    "mhat": "m̂", "vhat": "v̂",
}


# ------------------------------------------------------------------------------------ the NumPy steps
# Each step takes one parameter array p, its gradient g (weight decay already added), the state arrays
# before, the update count t (1, 2, …) and the hyperparameters h; it returns the new p, the new state and
# the intermediate values the rule names (Adam's m̂ and v̂), so the display shows the engine's numbers.

def sgd_step(p, g, state, t, h):
    return p - h.learning_rate * g, (), ()


def momentum_step(p, g, state, t, h):
    (v,) = state
    v = h.momentum * v + g
    return p - h.learning_rate * v, (v,), ()


def nesterov_step(p, g, state, t, h):
    (v,) = state
    v = h.momentum * v + g
    return p - h.learning_rate * (g + h.momentum * v), (v,), ()


def adam_step(p, g, state, t, h):
    m, v = state
    m = h.beta1 * m + (1.0 - h.beta1) * g
    v = h.beta2 * v + (1.0 - h.beta2) * (g * g)
    m_hat = m / (1.0 - h.beta1 ** t)
    v_hat = v / (1.0 - h.beta2 ** t)
    return p - h.learning_rate * m_hat / (np.sqrt(v_hat) + h.epsilon), (m, v), (m_hat, v_hat)


def rmsprop_step(p, g, state, t, h):
    (v,) = state
    v = h.alpha * v + (1.0 - h.alpha) * (g * g)
    return p - h.learning_rate * g / (np.sqrt(v) + h.epsilon), (v,), ()


Step = Callable[[np.ndarray, np.ndarray, Arrays, int, Hyperparameters], tuple[np.ndarray, Arrays, Arrays]]


# ----------------------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Optimizer:
    """One optimizer: names, state, hyperparameters, NumPy step and SymPy rule, all defined here once."""

    name: str  # the scenario's `optimizer = "..."`
    title: str  # in prose: "Adam"
    latex: str  # in LaTeX: r"\text{Adam}"
    torch: str  # the torch.optim class whose definition this is
    state_names: tuple[str, ...]  # "v"; "m", "v"
    shown_names: tuple[str, ...]  # intermediate values the rule names: Adam's "mhat", "vhat"
    hyperparameters: tuple[str, ...]  # the [training] keys it reads besides learning_rate and weight_decay
    step: Step = field(repr=False, compare=False)
    rule: tuple[tuple[sp.Symbol, sp.Expr], ...] = field(repr=False, compare=False)  # sequential assignments

    @property
    def source(self) -> str:
        """The step function's source, as the py export pastes it."""
        return textwrap.dedent(inspect.getsource(self.step))

    @property
    def uses_step_count(self) -> bool:
        return any(T in expr.free_symbols for _, expr in self.rule)


def _rule(*lines: str) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """Assignments ``"v = mu*v + g"`` as SymPy, unevaluated: the terms stay in the order torch's docs write."""
    names = {s.name: s for s in (P, G, T, M, V, MHAT, VHAT, ETA, MU, BETA1, BETA2, EPSILON, ALPHA)}
    names["lam"] = LAMBDA  # "lambda" is a Python keyword
    out = []
    for line in lines:
        target, expr = (part.strip() for part in line.split("="))
        out.append((names[target], parse_expr(expr, local_dict={**names, "sqrt": sp.sqrt}, evaluate=False)))
    return tuple(out)


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", "gradient descent", r"\text{SGD}", "torch.optim.SGD", (), (), (), sgd_step,
              _rule("p = p - eta*g")),
    Optimizer("momentum", "momentum", r"\text{momentum}", "torch.optim.SGD(momentum=μ)", ("v",), (), ("momentum",),
              momentum_step, _rule("v = mu*v + g", "p = p - eta*v")),
    Optimizer("nesterov", "Nesterov momentum", r"\text{Nesterov}", "torch.optim.SGD(momentum=μ, nesterov=True)",
              ("v",), (), ("momentum",), nesterov_step, _rule("v = mu*v + g", "p = p - eta*(g + mu*v)")),
    Optimizer("adam", "Adam", r"\text{Adam}", "torch.optim.Adam", ("m", "v"), ("mhat", "vhat"),
              ("beta1", "beta2", "epsilon"), adam_step,
              _rule("m = beta1*m + (1 - beta1)*g", "v = beta2*v + (1 - beta2)*g**2", "mhat = m/(1 - beta1**t)",
                    "vhat = v/(1 - beta2**t)", "p = p - eta*mhat/(sqrt(vhat) + epsilon)")),
    Optimizer("rmsprop", "RMSProp", r"\text{RMSProp}", "torch.optim.RMSprop", ("v",), (), ("alpha", "epsilon"),
              rmsprop_step, _rule("v = alpha*v + (1 - alpha)*g**2", "p = p - eta*g/(sqrt(v) + epsilon)")),
)}

DEFAULT = "sgd"
WEIGHT_DECAY_RULE = _rule("g = g + lam*p")  # L2 weight decay, before the optimizer's own rule

# every name of state or intermediate value an [[expect]] may ask for ("v.w5", "mhat.w5")
STATE_QUANTITIES = tuple(dict.fromkeys(n for o in OPTIMIZERS.values() for n in o.state_names + o.shown_names))


def get(name: str) -> Optimizer:
    """The optimizer called ``name`` (KeyError otherwise; the loader checks names first)."""
    return OPTIMIZERS[name]


def rule(opt: Optimizer, weight_decay: bool) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """The optimizer's assignments, preceded by g ← g + λ·p when weight decay is on."""
    return (WEIGHT_DECAY_RULE if weight_decay else ()) + opt.rule


# ------------------------------------------------------------------------------------------ one update

class Update(NamedTuple):
    """One update of every weight matrix."""

    weights: Arrays  # after the update
    state: State  # after the update
    gradients: Arrays  # the g the optimizer used: the gradient plus λ·p when weight decay is on
    # shown[l][k]: intermediate value ``opt.shown_names[k]`` of matrix l (Adam's m̂, v̂)
    shown: State


def zero_state(opt, weights):
    """Zeros like every matrix for every state name (the state before the first update)."""
    return tuple(tuple(np.zeros_like(w, dtype=float) for _ in opt.state_names) for w in weights)


def apply(opt, h, weights, gradients, state, t, masks=None):
    """Update ``t`` (1-based) of every matrix with optimizer ``opt`` (its ``step``) and hyperparameters ``h``;
    ``state[l]`` holds matrix l's state arrays. ``masks``: True where a parameter learns; a frozen one keeps
    its value and its state exactly, even when its gradient is inf or nan. (Untyped: the py export pastes it.)"""
    step, decay = opt.step, h.weight_decay
    new_weights, new_state, used, shown = [], [], [], []
    for l, (w, g) in enumerate(zip(weights, gradients, strict=True)):
        if decay:
            g = g + decay * w
        s = state[l]
        w2, s2, extra = step(w, g, s, t, h)
        if masks is not None:
            keep = masks[l]
            w2 = np.where(keep, w2, w)
            s2 = tuple(np.where(keep, new, old) for new, old in zip(s2, s, strict=True))
        new_weights.append(w2)
        new_state.append(s2)
        used.append(g)
        shown.append(extra)
    return Update(tuple(new_weights), tuple(new_state), tuple(used), tuple(shown))


def state_value(opt: Optimizer, state: State, name: str, layer: int, row: int, col: int) -> float:
    """One parameter's ``name`` state ("m", "v") in matrix ``layer`` (1-based), entry (row, col)."""
    return float(state[layer - 1][opt.state_names.index(name)][row, col])


# --------------------------------------------------------------------------------- the rule with numbers

@dataclass(frozen=True)
class RuleLine:
    """One assignment of the rule for one parameter: ``target ← expr``, the value of each symbol of
    ``expr`` at that point, and the engine's value of ``target`` after it."""

    target: sp.Symbol
    expr: sp.Expr
    inputs: Mapping[sp.Symbol, float]
    value: float

    def substituted(self) -> sp.Expr:
        """``expr`` with every symbol replaced by its number, unevaluated (for display); t stays whole."""
        return self.expr.xreplace({s: sp.UnevaluatedExpr(sp.Integer(int(v)) if s == T else sp.Float(v))
                                   for s, v in self.inputs.items()})


def worked(opt: Optimizer, h: Hyperparameters, t: int, before: Mapping[str, float],
           after: Mapping[str, float]) -> tuple[RuleLine, ...]:
    """The rule for one parameter with its numbers.

    ``before``: the values before the update under the symbols' names: ``p``, ``g`` (the gradient of the
    loss) and each state name. ``after``: the engine's values after each assignment: ``p``, each state name,
    each of ``opt.shown_names`` and, with weight decay, ``g`` (the decayed gradient). Nothing is recomputed:
    every value shown is one the engine produced.
    """
    hyper = {HYPERPARAMETERS[k].symbol: float(getattr(h, k)) for k in HYPERPARAMETERS}
    current: dict[sp.Symbol, float] = {**hyper, T: float(t)}
    current.update({sp.Symbol(k, real=True): float(v) for k, v in before.items()})
    lines = []
    for target, expr in rule(opt, bool(h.weight_decay)):
        inputs = {s: current[s] for s in sorted(expr.free_symbols, key=lambda s: s.name)}  # type: ignore[attr-defined]
        value = float(after[target.name])
        lines.append(RuleLine(target, expr, inputs, value))
        current[target] = value
    return tuple(lines)


def values_at(opt: Optimizer, update: Update, weights_before: Sequence[np.ndarray],
              gradients: Sequence[np.ndarray], state_before: State, layer: int, row: int,
              col: int) -> tuple[dict[str, float], dict[str, float]]:
    """``before`` and ``after`` for :func:`worked`, read from the engine's arrays for one parameter
    (``layer`` 1-based, the matrix it sits in; ``row``, ``col`` 0-based)."""
    l = layer - 1
    before = {"p": float(weights_before[l][row, col]), "g": float(gradients[l][row, col])}
    after = {"p": float(update.weights[l][row, col]), "g": float(update.gradients[l][row, col])}
    for k, name in enumerate(opt.state_names):
        before[name] = float(state_before[l][k][row, col])
        after[name] = float(update.state[l][k][row, col])
    for k, name in enumerate(opt.shown_names):
        after[name] = float(update.shown[l][k][row, col])
    return before, after
