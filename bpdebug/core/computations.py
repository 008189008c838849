"""How each kind of step computes, as data: one description per step kind, printed by every writer of it.

:func:`computations` gives, for a step, one :class:`Computation` per quantity it computes: the quantity, its
``form`` (a small expression over the quantities the step reads), what it is as a derivative when it is one
(δ_l = ∂E/∂z_l), and what it is in words. The writers print the same description in their own notation:
the step panel (``text/narrate.py``: ``δ2 = (Θ2ᵀ·δ3) ⊙ σ′(z2)``), the transcripts' equations
(``transcript/sections/passes.py``, LaTeX and SymPy's pictures) and the divergence report
(:meth:`~bpdebug.core.trace.Trace.divergence`: ``overflow in the weighted sum into o1``). A new kind of step is
one entry of :data:`KINDS`.

A form's leaves are :class:`Q`, quantities by name (``theta1``, ``a1``, ``z2``, ``delta3``, ``dE_dout``,
``grad.theta1``; the update's ``theta`` and ``grad.theta`` stand for every matrix); its nodes a layer's
activation or its derivative (:class:`Act`), a :class:`Product` (matrix, element by element, outer), a
transpose (:class:`T`), a layer's outputs after the bias unit's 1 (:class:`WithBias`), the loss registry's
formula (:class:`Loss`) and a parameter update (:class:`Descent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .quantity import StepKind
from .scenario import Scenario


@dataclass(frozen=True)
class Q:
    """A quantity the step reads (or computes), by its name."""

    name: str


@dataclass(frozen=True)
class Act:
    """The activation of ``layer`` applied to ``arg`` element by element, or its derivative (a Jacobian for an
    activation that couples its units, softmax)."""

    layer: int
    arg: Term
    derivative: bool = False


class How(StrEnum):
    """How a :class:`Product` multiplies."""

    MATRIX = "matrix"  # a matrix product
    ELEMENTWISE = "elementwise"  # entry by entry
    OUTER = "outer"  # column times row


@dataclass(frozen=True)
class Product:
    """``left`` times ``right``, ``how``: a matrix product, entry by entry, or a column times a row."""

    how: How
    left: Term
    right: Term


@dataclass(frozen=True)
class T:
    """The transpose of ``of``."""

    of: Term


@dataclass(frozen=True)
class WithBias:
    """A layer's outputs after the bias unit's 1, when the network has bias units."""

    of: Term


@dataclass(frozen=True)
class Loss:
    """The loss of the outputs against the targets, as the loss registry's entry writes it."""

    outputs: Term
    targets: Term


@dataclass(frozen=True)
class LossTerms:
    """The error terms, one per output unit and example, as the loss registry's entry computes them."""

    outputs: Term
    targets: Term


@dataclass(frozen=True)
class Descent:
    """A parameter matrix after the update: ``param`` less the learning rate times ``gradient`` (or the
    optimizer's rule over them)."""

    param: Term
    gradient: Term


Term = Q | Act | Product | T | WithBias | Loss | LossTerms | Descent


@dataclass(frozen=True)
class Computation:
    """One quantity a step computes, and how."""

    result: str  # the quantity's name: z2, a2, error, loss, delta3, grad.theta1; theta.after (every matrix)
    form: Term  # how, from the quantities the step reads
    words: str  # what it is, in words (a report's "overflow in …")
    derivative: tuple[str, str] | None = None  # (of, by) when the result is ∂of/∂by: delta3 is ("E", "z3")
    names_unit: bool = False  # the words are followed by the unit concerned: "the weighted sum into o1"


def _activation_words(s: Scenario, layer: int) -> str:
    act = s.activation(layer)
    return act.expr or act.name


def _z(s: Scenario, l: int) -> tuple[Computation, ...]:
    return (Computation(f"z{l}", Product(How.MATRIX, Q(f"theta{l - 1}"), Q(f"a{l - 1}")), "the weighted sum into",
                        names_unit=True),)


def _a(s: Scenario, l: int) -> tuple[Computation, ...]:
    return (Computation(f"a{l}", Act(l, Q(f"z{l}")), _activation_words(s, l)),)


def _error(s: Scenario, l: int) -> tuple[Computation, ...]:
    outputs, targets = Q(f"a{l}"), Q("targets")
    return (Computation("error", LossTerms(outputs, targets), s.loss.formula),
            Computation("loss", Loss(outputs, targets), "the sum of the error terms"))


def _delta(s: Scenario, l: int) -> tuple[Computation, ...]:
    derivative = Act(l, Q(f"z{l}"), derivative=True)
    if l == s.n_layers:
        elementwise = s.activation(l).derivative is not None
        form: Term = (Product(How.ELEMENTWISE, Q("dE_dout"), derivative) if elementwise else
                      Product(How.MATRIX, T(derivative), Q("dE_dout")))
        words = f"∂E/∂o of {s.loss.name} times the derivative of {_activation_words(s, l)}"
        return (Computation(f"delta{l}", form, words, ("E", f"z{l}")),)
    sent_back = Product(How.MATRIX, T(Q(f"theta{l}")), Q(f"delta{l + 1}"))
    return (Computation(f"delta{l}", Product(How.ELEMENTWISE, sent_back, derivative), "the error sent back to",
                        ("E", f"z{l}"), names_unit=True),)


def _gradient(s: Scenario, l: int) -> tuple[Computation, ...]:
    return (Computation(f"grad.theta{l}", Product(How.OUTER, Q(f"delta{l + 1}"), WithBias(Q(f"a{l}"))),
                        f"delta{l + 1} times a{l}", ("E", f"theta{l}")),)


def _update(s: Scenario, l: int) -> tuple[Computation, ...]:
    words = "the update w − η·∂E/∂w" if s.plan.is_plain else f"the {s.plan.optimizer.title} update"
    return (Computation("theta.after", Descent(Q("theta"), Q("grad.theta")), words),)


# each kind of step -> its computations, from the scenario and the step's layer (the output layer for the
# error step, unused by the update, which updates every matrix)
KINDS: dict[StepKind, Callable[[Scenario, int], tuple[Computation, ...]]] = {
    StepKind.Z: _z,
    StepKind.A: _a,
    StepKind.ERROR: _error,
    StepKind.DELTA: _delta,
    StepKind.GRADIENT: _gradient,
    StepKind.UPDATE: _update,
}


def computations(s: Scenario, kind: StepKind | str, layer: int | None) -> tuple[Computation, ...]:
    """What a step of ``kind`` at ``layer`` computes, one :class:`Computation` per quantity."""
    return KINDS[StepKind(kind)](s, layer if layer is not None else s.n_layers)


def computation(s: Scenario, kind: StepKind | str, layer: int | None, result: str | None = None) -> Computation:
    """The computation of ``result`` (a quantity's name; default: the step's first)."""
    found = computations(s, kind, layer)
    return found[0] if result is None else next(c for c in found if c.result == result)
