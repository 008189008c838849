"""Where a run stops being finite, and why.

:class:`Divergence` names the first step whose quantity holds a non-finite number: epoch, example (online),
step index, quantity, unit and the cause. The cause is found by recomputing that one quantity from its inputs
(all finite, since it is the first) under ``np.errstate(call=…)``, which reports the kind of floating-point
trouble without printing anything (thread-safe: NumPy keeps the error state per context); the operation it
happened in is known from the step. Matrix products report no floating-point errors, so for them the cause
is read off the result: inf is an overflow of the sum, nan a sum of +inf and −inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .quantity import Kind, Phase, Quantity

# what np.errstate calls the trouble -> how the report says it
_TROUBLE = {"overflow": "overflow", "divide by zero": "division by 0", "invalid value": "invalid operation"}


@dataclass(frozen=True)
class Divergence:
    """The first non-finite number of a run.

    ``step`` is the 0-based trace step index, ``quantity`` its name (``z3``, ``a3``, ``error``, ``loss``,
    ``delta2``, ``grad.theta1``, ``theta2.after``), ``unit`` the unit (``o1``, ``h2``) or the parameter
    (``w5``) whose number it is (None for the loss), ``cause`` what went wrong where visible."""

    epoch: int
    example: int | None
    step: int
    quantity: str
    unit: str | None
    cause: str
    value: float = math.nan  # the first non-finite number itself
    phase: str = ""
    label: str = ""  # how the number is named in text: net_o1, out_h2, ∂E/∂w5, E_total

    def describe(self) -> str:
        """One line: ``epoch 3, example 2, step z3 (forward): net_o1 = inf (overflow in exp)``."""
        where = f"epoch {self.epoch}" + (f", example {self.example}" if self.example is not None else "")
        phase = f" ({self.phase})" if self.phase and self.phase != self.quantity else ""  # not "error (error)"
        name = self.label or self.unit or self.quantity
        return f"{where}, step {self.quantity}{phase}: {name} = {fmt_nonfinite(self.value)} ({self.cause})"

    def as_dict(self) -> dict[str, object]:
        """The JSON form: epoch, example, step, quantity, unit, cause and the one-line message."""
        return {"epoch": self.epoch, "example": self.example, "step": self.step, "quantity": self.quantity,
                "unit": self.unit, "cause": self.cause, "message": self.describe()}


def fmt_nonfinite(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    return repr(v)


def first_bad(values: np.ndarray | float) -> tuple[int, ...] | None:
    """The index of the first non-finite entry (row-major), or None when all are finite."""
    arr = np.asarray(values)
    bad = ~np.isfinite(arr)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape)) if arr.ndim else ()


def trouble(compute: Callable[[], object]) -> str | None:
    """Run ``compute`` and say the first floating-point trouble it met (``overflow``, ``division by 0``,
    ``invalid operation``), or None; nothing is printed."""
    seen: list[str] = []

    def record(kind: str, flag: int) -> None:
        if kind != "underflow":
            seen.append(kind)

    with np.errstate(all="call", under="ignore", call=record):
        compute()
    return _TROUBLE.get(seen[0], seen[0]) if seen else None


def product_trouble(result: np.ndarray | float) -> str:
    """The cause of a non-finite matrix product of finite numbers (BLAS reports nothing)."""
    v = float(np.asarray(result).flat[0]) if np.ndim(result) == 0 else float(result)  # type: ignore[arg-type]
    return "inf − inf" if math.isnan(v) else "overflow"


def cause_text(kind: str | None, where: str) -> str:
    """``overflow in exp(x)``, ``log of 0``, ``division by 0 in …``, ``inf − inf in …``."""
    if kind is None:
        return f"non-finite result of {where}"
    if kind == "division by 0" and "log" in where:
        return "log of 0"
    if kind == "invalid operation":
        return f"invalid operation (inf − inf, 0 × inf, 0/0 or log of a negative) in {where}"
    return f"{kind} in {where}"


def label(q: Quantity, unit: str | None) -> str:
    """How the text names the number: net_o1, out_h1, E_o1, E_total, δ_o1, ∂E/∂w5, w5."""
    if q.kind is Kind.Z:
        return f"net_{unit}"
    if q.kind is Kind.A:
        return f"out_{unit}"
    if q.kind is Kind.ERROR:
        return f"E_{unit}"
    if q.kind is Kind.LOSS:
        return "E_total"
    if q.kind is Kind.DELTA:
        return f"δ_{unit}"
    if q.kind is Kind.GRAD:
        return f"∂E/∂{unit}"
    return f"{unit} after the update" if unit else str(q)


__all__ = ["Divergence", "Phase", "cause_text", "first_bad", "label", "product_trouble", "trouble"]
