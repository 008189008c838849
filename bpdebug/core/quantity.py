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
from typing import Any


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


# ----------------------------------------------------------------------------- names as a person writes them
# The one grammar of the names a user types for a quantity of a network: an [[expect]] entry, a condition, a
# watch and a practice question all resolve a name here, against the network's layers and parameters.
LAYER_KINDS = ("z", "a", "delta", "dadz", "dE/da")  # the kinds that name a layer (and maybe one unit of it)
MATRIX_KINDS = ("grad", "param", "param_after", "change")  # a parameter's, or (param None) a whole theta_l's
_LAYER_NAME = re.compile(r"^(z|a|delta|dadz|dE/da)(\d+)(?:\[(\d+)\])?$")
_MATRIX_NAME = re.compile(r"^theta(\d+)$")
_SUFFIXES = (("grad.", "", "grad"), ("", ".after", "param_after"), ("", ".delta", "change"))


class QuantityError(ValueError):
    """A name that is no quantity of the network; ``str()`` says what was expected, in one line."""


@dataclass(frozen=True)
class Named:
    """A quantity name resolved against a network. ``kind``: one of :data:`LAYER_KINDS`, ``error``, ``loss``,
    ``grad`` (∂E/∂p), ``param`` (a value before the update), ``param_after`` (after it), ``change`` (after −
    before: what the update did) or ``state`` (an optimizer's); ``layer`` is the layer of a layer kind, or the l
    of a whole matrix theta_l (``param`` None); ``unit`` one unit (1-based) of a layer; ``size`` how many numbers
    it has and ``shape`` a whole matrix's rows and columns."""

    text: str
    kind: str
    layer: int | None = None
    unit: int | None = None
    param: Any = None  # a params.Param
    state: str | None = None
    size: int = 1
    shape: tuple[int, int] | None = None

    @property
    def matrix(self) -> int | None:
        """The l of the theta_l it belongs to (a parameter's or a whole matrix's), None for the others."""
        if self.kind in MATRIX_KINDS or self.kind == "state":
            return self.param.layer if self.param is not None else self.layer
        return None


def resolve(text: str, layers: Sequence[int], params: Any, *, bias: bool = True,
            state_names: Sequence[str] = (), optimizer: str = "sgd", every_state: Sequence[str] = (),
            softmax_layers: Sequence[int] = ()) -> Named:
    """The quantity ``text`` names in a network of ``layers`` whose parameters are ``params`` (a
    :class:`~bpdebug.core.params.ParamIndex`): ``z3``, ``a2[1]``, ``delta3``, ``dadz3``, ``dE/da3``, ``error``,
    ``loss``, ``w5`` / ``theta2[1,1]`` (a value), ``grad.w5``, ``w5.after``, ``w5.delta``, a whole matrix
    ``theta1``, ``grad.theta1``, ``theta1.after``, ``theta1.delta``, and an optimizer's state ``v.w5`` (of
    ``state_names``, those the optimizer keeps; ``every_state``: every optimizer's). QuantityError otherwise."""
    q = text.strip()
    L = len(layers)
    head, dot, rest = q.partition(".")
    if dot and head in every_state:
        if head not in state_names:
            raise QuantityError(f"'{q}': optimizer \"{optimizer}\" keeps no {head}, expected "
                                + (" or ".join(n + ".NAME" for n in state_names) if state_names
                                   else "no optimizer state"))
        p = params.find(rest)
        if p is None:
            raise QuantityError(f"'{q}': unknown parameter '{rest}', expected {params.describe_names()}")
        return Named(q, "state", param=p, state=head)
    m = _LAYER_NAME.match(q)
    if m:
        kind, layer = m[1], int(m[2])
        if kind != "a" and layer == 1:
            raise QuantityError(f"'{q}': the input layer has no {kind}, expected {kind}2..{kind}{L}"
                                + (f" or a1..a{L}" if kind == "z" else ""))
        if not 1 <= layer <= L:
            raise QuantityError(f"'{q}': no layer {layer}, expected layers 1..{L}")
        if kind == "dadz" and layer in softmax_layers:
            raise QuantityError(f"'{q}': layer {layer} is softmax, whose derivative is a Jacobian, expected "
                                "dadz of an elementwise activation (or delta, dE/da)")
        n = layers[layer - 1]
        if m[3] is None:
            return Named(q, kind, layer, size=n)
        unit = int(m[3])
        if not 1 <= unit <= n:
            raise QuantityError(f"'{q}': layer {layer} has units 1..{n}, expected {kind}{layer}[1]..{kind}{layer}[{n}]")
        return Named(q, kind, layer, unit)
    if q == "error":
        return Named(q, "error", size=layers[-1])
    if q == "loss":
        return Named(q, "loss")
    for prefix, suffix, kind in (*_SUFFIXES, ("", "", "param")):
        if not (q.startswith(prefix) and q.endswith(suffix)) or len(q) <= len(prefix) + len(suffix):
            continue
        name = q[len(prefix):len(q) - len(suffix)]
        whole = _MATRIX_NAME.match(name)
        if whole:
            l = int(whole[1])
            if not 1 <= l < L:
                raise QuantityError(f"'{q}': no theta{l}, expected theta1..theta{L - 1}")
            shape = (layers[l], layers[l - 1] + (1 if bias else 0))
            return Named(q, kind, l, size=shape[0] * shape[1], shape=shape)
        p = params.find(name)
        if p is not None:
            return Named(q, kind, param=p)
        if prefix or suffix:
            raise QuantityError(f"'{q}': unknown parameter '{name}', expected {params.describe_names()}")
    raise QuantityError(f"unknown quantity '{q}', expected z2..z{L}, a1..a{L}, error, loss, grad.NAME, NAME, "
                        f"NAME.after, NAME.delta, delta2..delta{L}, dadz2..dadz{L} or dE/da2..dE/da{L} (one unit: "
                        f"z{L}[1]; a whole matrix: theta1, grad.theta1, theta1.after, theta1.delta)")


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
