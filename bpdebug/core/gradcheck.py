"""Numeric gradient check: the engine's ∂E/∂p against a central difference of the loss.

For a pass (its weights before the update and its examples), E is the loss whose gradient the update uses.
For parameter p with value w the check evaluates E at w ± h and compares the central difference

    numeric = (E(w + h) − E(w − h)) / 2h        with the analytic value from the backward pass.

Step size, on principle: the central difference's truncation error is about h²·|E'''|/6 and its rounding
error about ε·|E|/h (ε the double epsilon), so their sum is smallest near h = ε^(1/3) (≈ 6e-6), scaled by
max(1, |w|) so that w ± h stays a relative step. The numeric value is then within about
``resolution = ε^(2/3)·max(1, |E|)`` (≈ 4e-11) of the derivative. A relative error of TOLERANCE cannot be
certified for a gradient below ``resolution / TOLERANCE``, so the relative error's denominator never goes
below that (verdict ``BELOW_RESOLUTION`` when such a small gradient agrees). A wider, higher-order stencil
would resolve more but straddle more kinks: with h ≈ 7e-4, deep.toml's relu units near z = 0 already do.

A kink (relu at z = 0, abs at 0) is recognised by its one-sided slopes: (E(w+h) − E(w))/h and
(E(w) − E(w−h))/h differ by the jump in slope there (and the central difference is their mean, which no
one-sided derivative equals), by about h·|E''| at a smooth point. When they differ by more than the analytic
value misses the numeric one, the verdict is ``KINK`` rather than ``DISAGREES``. So is it when a formula the
parameter's gradient goes through (an activation of a later layer, the loss) has a non-smooth point of its
own or of its derivative within rounding of where it is evaluated (:func:`bpdebug.core.expr.kinks`): an elu
written ``Max(x, 0) + Min(exp(x) - 1, 0)`` is smooth at 0, but at z ≈ −3e-17 both its Max and its Min are
tied and the derivative the formula gives is a choice of branches, not elu's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from . import expr
from .compute import PassNumbers
from .engine import Network, Step, Trace, batch_loss, compute_pass
from .params import Param
from .protocol import ParamProtocol
from .scenario import Scenario

EPS = float(np.finfo(float).eps)
STEP = EPS ** (1.0 / 3.0)  # relative step of the central difference
RESOLUTION = EPS ** (2.0 / 3.0)  # the difference's error, relative to max(1, |E|)
TOLERANCE = 1e-6  # largest relative error that passes
SAMPLE_PER_MATRIX = 64  # check --gradcheck checks this many parameters of a larger matrix unless told --all


class Verdict(Enum):
    AGREES = "agrees"  # relative error within TOLERANCE
    DISAGREES = "disagrees"  # the analytic gradient is wrong here
    KINK = "kink"  # not differentiable here: the one-sided slopes differ, so no single derivative exists
    BELOW_RESOLUTION = "below resolution"  # both below what the central difference can resolve, and agreeing
    NOT_FINITE = "not finite"  # the loss or a gradient is NaN or infinite at these weights

    @property
    def passes(self) -> bool:
        return self in (Verdict.AGREES, Verdict.BELOW_RESOLUTION)


P = TypeVar("P", bound=ParamProtocol)


@dataclass(frozen=True)
class Check(Generic[P]):
    """The check of one parameter (a network's weight or bias, a graph's leaf) at one point."""

    param: P
    value: float  # the parameter's value w
    analytic: float  # ∂E/∂p from the backward pass
    numeric: float  # central difference
    step: float  # h
    relative_error: float  # |analytic − numeric| / max(|analytic|, |numeric|, resolution / TOLERANCE)
    resolution: float  # the error of the numeric value itself
    left: float  # (E(w) − E(w−h)) / h
    right: float  # (E(w+h) − E(w)) / h
    verdict: Verdict

    def describe(self) -> str:
        return (f"{self.param.short}: analytic {self.analytic:.10g}, numeric {self.numeric:.10g}, "
                f"relative error {self.relative_error:.2e}: {self.verdict.value}")


class GradCheck(Check[Param]):
    """The check of one parameter at one set of weights."""


class Checks:
    """What a report of checks (a network's or a graph's) says of them all."""

    checks: tuple[Check[Any], ...]

    @property
    def max_relative_error(self) -> float:
        errors = [c.relative_error if math.isfinite(c.relative_error) else math.inf for c in self.checks]
        return max(errors) if errors else 0.0

    @property
    def passes(self) -> bool:
        return all(c.verdict.passes for c in self.checks)


def _loss_at(net: Network, weights: tuple, p: Param, w: float, x: np.ndarray, t: np.ndarray) -> float:
    moved = list(weights)
    m = np.array(weights[p.layer - 1], dtype=float)
    m[p.cells] = w  # a shared bias: the whole column moves
    moved[p.layer - 1] = m
    return batch_loss(net, tuple(moved), x, t)[0]


def formula_kinks(net: Network, numbers: PassNumbers, t: np.ndarray) -> tuple[bool, ...]:
    """Per layer l (index l, from 2 to L; L + 1 for the loss alone): whether a formula from layer l up, or the
    loss's, is within rounding of one of its non-smooth points in this pass."""
    at = [False] * (net.L + 2)
    loss = net.loss.tree
    at[net.L + 1] = loss is not None and expr.kinks(loss, {"o": numbers.a[net.L], "t": t})
    for l in range(net.L, 1, -1):
        act = net.activations[l - 2]
        here = act.tree is not None and expr.kinks(act.tree, {act.variable: numbers.z[l]})
        at[l] = at[l + 1] or here
    return tuple(at)


def check_parameter(net: Network, weights: tuple, x: np.ndarray, t: np.ndarray, p: Param,
                    analytic: float | None = None, kink: bool | None = None) -> GradCheck:
    """Check ``p`` for the loss of examples ``x``, ``t`` at ``weights`` (the weights before a pass); ``kink``
    says whether a formula its gradient goes through is at a non-smooth point (None: found out here)."""
    with np.errstate(all="ignore"):
        if analytic is None or kink is None:
            numbers = compute_pass(net, weights, x, t)
            analytic = float(numbers.gradients[p.layer - 1][p.row, p.col]) if analytic is None else analytic
            kink = formula_kinks(net, numbers, t)[p.layer + 1] if kink is None else kink
        w = float(weights[p.layer - 1][p.row, p.col])
        e0 = batch_loss(net, weights, x, t)[0]
    return GradCheck(p, *difference(lambda v: _loss_at(net, weights, p, v, x, t), w, e0, analytic, kink))


class Difference(NamedTuple):
    """A central difference of the loss at one parameter's value, and its verdict (a check's fields after its
    parameter)."""

    value: float
    analytic: float
    numeric: float
    step: float
    relative_error: float
    resolution: float
    left: float
    right: float
    verdict: Verdict


def difference(loss_at: Callable[[float], float], w: float, e0: float, analytic: float,
               kink: bool = False) -> Difference:
    """The central difference of ``loss_at`` (the loss with the parameter moved to a value) around ``w`` (where the
    loss is ``e0``) against ``analytic``; ``kink``: a formula the gradient goes through is at a non-smooth point."""
    with np.errstate(all="ignore"):
        h = STEP * max(1.0, abs(w))
        h = (w + h) - w  # a step that is exactly representable around w
        ep, em = loss_at(w + h), loss_at(w - h)
        numeric = (ep - em) / (2 * h)
        right, left = (ep - e0) / h, (e0 - em) / h
    resolution = RESOLUTION * max(1.0, abs(e0))
    finite = all(np.isfinite(v) for v in (analytic, numeric, e0, ep, em))
    if not finite:
        return Difference(w, analytic, numeric, h, float("nan"), resolution, left, right, Verdict.NOT_FINITE)
    floor = resolution / TOLERANCE  # below this, TOLERANCE is finer than the difference can resolve
    error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)
    if error <= TOLERANCE:
        small = max(abs(analytic), abs(numeric)) < floor
        verdict = Verdict.BELOW_RESOLUTION if small else Verdict.AGREES
    else:
        # at a smooth point the one-sided slopes differ by about h·|E''|, far less than a wrong gradient
        # misses by; at a kink they differ by the jump in slope, and the central difference is their mean
        verdict = Verdict.KINK if kink or abs(right - left) > abs(analytic - numeric) else Verdict.DISAGREES
    return Difference(w, analytic, numeric, h, error, resolution, left, right, verdict)


Progress = Callable[[int, int], None]  # (parameters checked, parameters to check)


def check_pass(scenario: Scenario, weights: tuple, rows: tuple[int, ...] | None = None,
               params: tuple[Param, ...] | None = None, net: Network | None = None,
               progress: Progress | None = None) -> tuple[GradCheck, ...]:
    """Check every parameter (or ``params``) for the pass over examples ``rows`` (default all) at ``weights``;
    ``progress(done, total)`` after each parameter."""
    net = net or Network(scenario)
    idx = list(rows) if rows is not None else list(range(scenario.n_examples))
    x, t = scenario.inputs[idx], scenario.targets[idx]
    with np.errstate(all="ignore"):
        numbers = compute_pass(net, weights, x, t)
        kinks = formula_kinks(net, numbers, t)
    chosen = params if params is not None else tuple(scenario.params)
    out = []
    for p in chosen:
        out.append(check_parameter(net, weights, x, t, p, float(numbers.gradients[p.layer - 1][p.row, p.col]),
                                   kinks[p.layer + 1]))
        if progress is not None:
            progress(len(out), len(chosen))
    return tuple(out)


def check_step(step: Step, p: Param) -> GradCheck:
    """The check of ``p`` with a step's weights and examples (for the app's chain rule panel)."""
    record = step.record
    assert record.scenario is not None
    return check_pass(record.scenario, record.weights_before, record.rows, (p,))[0]


def sample(scenario: Scenario, per_matrix: int = SAMPLE_PER_MATRIX) -> tuple[Param, ...]:
    """At most ``per_matrix`` parameters of each weight matrix, spread evenly over its entries row by row;
    every parameter of a matrix that has no more. In the order of the names: the weights layer by layer, then
    the biases."""
    weights: list[Param] = []
    biases: list[Param] = []
    for l, w in enumerate(scenario.weights, 1):
        rows, cols = w.shape
        n = rows * cols
        picks = range(n) if n <= per_matrix else np.unique(np.linspace(0, n - 1, per_matrix).round().astype(int))
        for k in picks:
            i, col = divmod(int(k), cols)
            j = col if scenario.bias else col + 1
            p = scenario.params.find(f"theta{l}[{i + 1},{j}]")
            if p is not None:
                (biases if p.is_bias else weights).append(p)
    return tuple(dict.fromkeys((*weights, *biases)))


@dataclass(frozen=True)
class GradCheckReport(Checks):
    """Parameters checked at the scenario's starting weights, over the first update's examples."""

    checks: tuple[GradCheck, ...]
    rows: tuple[int, ...]  # 0-based examples whose loss was differenced
    total: int = 0  # the network's parameters (``checks`` holds all of them, or a sample of each matrix)

    @property
    def sampled(self) -> bool:
        return 0 < len(self.checks) < self.total


def check_scenario(scenario: Scenario, every: bool = False, progress: Progress | None = None) -> GradCheckReport:
    """``bpdebug check --gradcheck``: the parameters (a sample of each matrix of more than
    :data:`SAMPLE_PER_MATRIX`, unless ``every``), with the weights and examples of the first update (the
    starting weights; all examples in batch mode, example 1 online, the first mini-batch)."""
    first = Trace(scenario, 1).epoch(1).passes[0]
    chosen = None if every else sample(scenario)
    checks = check_pass(scenario, first.weights_before, first.rows, chosen, progress=progress)
    return GradCheckReport(checks, first.rows, len(scenario.params))
