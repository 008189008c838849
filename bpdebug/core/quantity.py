"""Typed names: the quantities a step computes or reads, phases, step kinds and update modes.

A quantity name (``z2``, ``a1``, ``delta3``, ``grad.theta1``, ``theta2``, ``theta2.after``, ``error``,
``loss``, ``outputs``, ``targets``, ``inputs``, ``dE_dout``, the chain's factors ``dE/da3`` and ``dadz3``,
and one entry of a matrix:
``grad.theta1[2,0]``) is parsed once into a :class:`Quantity`; ``str(q)`` gives the name back.
The enums are :class:`~enum.StrEnum`, so ``step.kind == "update"`` keeps working where a string is compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Phase(StrEnum):
    FORWARD = "forward"
    ERROR = "error"
    BACKWARD = "backward"
    UPDATE = "update"


class StepKind(StrEnum):
    Z = "z"
    A = "a"
    ERROR = "error"
    DELTA = "delta"
    GRADIENT = "gradient"
    UPDATE = "update"


class UpdateMode(StrEnum):
    BATCH = "batch"
    ONLINE = "online"
    MINI_BATCH = "mini-batch"


class Kind(StrEnum):
    """What a quantity is; the layered ones carry a layer (``z``, ``a``, ``delta``) or a theta index."""

    Z = "z"  # net input of a layer (examples × units)
    A = "a"  # output of a layer; a1 = the inputs
    DELTA = "delta"  # ∂E/∂z of a layer
    DADZ = "dadz"  # ∂a/∂z of a layer: the activation's derivative f'(z), elementwise
    DE_DA = "dE/da"  # ∂E/∂a of a layer (∂E/∂o for the output layer); delta = dE/da · dadz
    GRAD = "grad"  # ∂E/∂theta_l
    THETA = "theta"  # the weights theta_l (before the pass's update, or after it)
    ERROR = "error"  # the per-output error terms
    LOSS = "loss"  # the batch loss
    DE_DOUT = "dE_dout"  # ∂E/∂o, known with the error
    OUTPUTS = "outputs"
    TARGETS = "targets"
    INPUTS = "inputs"


class When(StrEnum):
    BEFORE = "before"
    AFTER = "after"


LAYERED = frozenset({Kind.Z, Kind.A, Kind.DELTA, Kind.DADZ, Kind.DE_DA, Kind.GRAD, Kind.THETA})

_NAME = re.compile(
    r"^(?:(?P<layered>z|a|delta|dadz|dE/da)(?P<l1>\d+)"
    r"|(?P<grad>grad\.)?theta(?P<l2>\d+)(?P<after>\.after)?(?:\[(?P<i>\d+),(?P<j>\d+)\])?"
    r"|(?P<plain>error|loss|dE_dout|outputs|targets|inputs))$"
)


@dataclass(frozen=True)
class Quantity:
    """A named quantity of a pass. ``layer`` is the l of z_l/a_l/delta_l or of theta_l/grad.theta_l;
    ``param`` is the (i, j) of one entry written ``theta_l[i,j]`` (as the canonical parameter names write
    it), None for the whole matrix; ``when`` tells theta before or after the pass's update."""

    kind: Kind
    layer: int | None = None
    param: tuple[int, int] | None = None
    when: When = When.BEFORE

    @staticmethod
    def parse(name: str | Quantity) -> Quantity:
        """The quantity called ``name``; ValueError naming what is accepted when it is not one."""
        if isinstance(name, Quantity):
            return name
        return _parse(name)

    @property
    def base(self) -> Quantity:
        """The whole matrix this entry belongs to (itself when it is not an entry)."""
        return Quantity(self.kind, self.layer, None, self.when) if self.param else self

    @property
    def name(self) -> str:
        if self.kind in (Kind.Z, Kind.A, Kind.DELTA, Kind.DADZ, Kind.DE_DA):
            return f"{self.kind}{self.layer}"
        if self.kind in (Kind.GRAD, Kind.THETA):
            text = ("grad." if self.kind is Kind.GRAD else "") + f"theta{self.layer}"
            text += ".after" if self.when is When.AFTER else ""
            return text + (f"[{self.param[0]},{self.param[1]}]" if self.param else "")
        return str(self.kind)

    def __str__(self) -> str:
        return self.name


@lru_cache(maxsize=4096)
def _parse(name: str) -> Quantity:
    m = _NAME.match(name.strip()) if isinstance(name, str) else None
    if m is None:
        raise ValueError(f"unknown quantity {name!r}, expected z<l>, a<l>, delta<l>, dadz<l>, dE/da<l>, theta<l>, "
                         "theta<l>.after, "
                         "grad.theta<l> (optionally [i,j]), error, loss, dE_dout, outputs, targets or inputs")
    if m["layered"]:
        return Quantity(Kind(m["layered"]), int(m["l1"]))
    if m["l2"]:
        if m["grad"] and m["after"]:
            raise ValueError(f"unknown quantity {name!r}: a gradient has no .after")
        param = (int(m["i"]), int(m["j"])) if m["i"] is not None else None
        return Quantity(Kind.GRAD if m["grad"] else Kind.THETA, int(m["l2"]), param,
                        When.AFTER if m["after"] else When.BEFORE)
    return Quantity(Kind(m["plain"]))


def unit_name(layers: Sequence[int], layer: int, unit: int) -> str:
    """The name of unit ``unit`` (1-based) of ``layer``: i1 (input), h1 (hidden), o1 (output), bias for 0;
    with more than one hidden layer a hidden unit carries its hidden layer's number (``h2_1``)."""
    if unit == 0:
        return "bias"
    if layer == 1:
        return f"i{unit}"
    if layer == len(layers):
        return f"o{unit}"
    if len(layers) > 3:
        return f"h{layer - 1}_{unit}"
    return f"h{unit}"


def missing(q: Quantity, layers: Sequence[int]) -> str | None:
    """Why ``q`` is no quantity of a network with ``layers`` units per layer (its name is right, its layer or
    entry is not), or None when the network has it: ``z``/``delta``/``dadz``/``dE/da`` of layers 2 … L, ``a`` of
    1 … L, ``theta``/``grad.theta`` 1 … L-1 with entries [i, j] in 1 … units of l+1 and 0 … units of l."""
    L = len(layers)
    if q.layer is None:
        return None
    first, last = {Kind.A: (1, L), Kind.THETA: (1, L - 1), Kind.GRAD: (1, L - 1)}.get(q.kind, (2, L))
    if not first <= q.layer <= last:
        def named(layer: int) -> str:
            return Quantity(q.kind, layer, None, q.when).name

        return f"{q.name}: no {named(q.layer)} in this network, expected {named(first)} to {named(last)}"
    if q.param is not None:
        i, j = q.param
        if not (1 <= i <= layers[q.layer] and 0 <= j <= layers[q.layer - 1]):
            return (f"{q.name}: no entry [{i},{j}], expected [i,j] with i from 1 to {layers[q.layer]} and j from 0 "
                    f"to {layers[q.layer - 1]}")
    return None
