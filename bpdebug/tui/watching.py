"""Watches: quantities pinned beside the walk, each shown at this step, at the same step of the previous
epoch, and the change. Only numbers known at the step are shown (:meth:`Step.value` refuses the future).

A watch is a name: a parameter (``w5``, ``theta2[1,1]``), the gradient of one (``grad.w1``), or any quantity
of a pass (``delta2``, ``a3``, ``z2``, ``loss``, ``error``, ``grad.theta1``). No terminal code here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.engine import Step
from ..core.params import Param
from ..core.quantity import Quantity, missing
from ..core.scenario import Scenario

UNKNOWN = "…"  # not computed yet at this step
EXPECTED = ("a parameter (w5, theta2[1,1]), grad.NAME of one (grad.w1) or a quantity (z2, a3, delta2, loss, "
            "error, grad.theta1)")


class WatchError(ValueError):
    """A name that cannot be watched; ``str()`` is one line saying what was expected."""


@dataclass(frozen=True)
class Watch:
    """A parsed watch: its name as typed (canonical for parameters), and what it reads."""

    name: str
    param: Param | None = None  # a parameter, or (gradient True) the gradient of one
    gradient: bool = False
    quantity: Quantity | None = None

    def read(self, step: Step) -> np.ndarray | float | None:
        """Its value at ``step``, or None while it is not computed yet there."""
        if self.param is not None:
            if self.gradient:
                return step.gradient(self.param)
            return step.param(self.param, "after" if step.is_known(f"theta{self.param.layer}.after") else "before")
        assert self.quantity is not None
        if not step.is_known(self.quantity):
            return None
        return step.value(self.quantity)


def parse_watch(text: str, scenario: Scenario) -> Watch:
    name = text.strip()
    if not name:
        raise WatchError(f"empty watch, expected {EXPECTED}")
    bare = name.removeprefix("grad.")
    p = scenario.params.find(bare)
    if p is not None:
        gradient = bare != name
        return Watch(("grad." if gradient else "") + p.short, p, gradient)
    try:
        q = Quantity.parse(name)
    except ValueError:
        raise WatchError(f"'{name}' cannot be watched, expected {EXPECTED}") from None
    why = missing(q, scenario.layers)  # the same names conditions, printed figures and practice know
    if why is not None:
        raise WatchError(why)
    return Watch(q.name, quantity=q)


def fmt(v: np.ndarray | float | None) -> str:
    """A value as the panels write numbers (7 significant digits); None is not known yet."""
    if v is None:
        return UNKNOWN
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return _num(float(a))
    flat = a.ravel()
    cells = ", ".join(_num(float(x)) for x in flat[:4]) + (", …" if flat.size > 4 else "")
    return f"[{cells}]"


def _num(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.7g}"


def change(now: np.ndarray | float | None, before: np.ndarray | float | None) -> np.ndarray | float | None:
    """now − before (NaN where either is not finite, never an error); None when either is unknown or their
    shapes differ."""
    if now is None or before is None:
        return None
    a, b = np.asarray(now, dtype=float), np.asarray(before, dtype=float)
    if a.shape != b.shape:
        return None
    with np.errstate(all="ignore"):
        d = a - b
    return float(d) if d.ndim == 0 else d


@dataclass(frozen=True)
class WatchRow:
    """One line of the watch panel, as text."""

    name: str
    now: str
    before: str  # at the same step of the previous epoch ("" in epoch 1)
    change: str


def watch_row(w: Watch, step: Step, previous: Step | None) -> WatchRow:
    now = w.read(step)
    before = w.read(previous) if previous is not None else None
    return WatchRow(w.name, fmt(now), fmt(before) if previous is not None else "",
                    fmt(change(now, before)) if previous is not None else "")
