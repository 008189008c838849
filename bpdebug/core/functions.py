"""One registry of the functions a network is built from: each activation and each loss defined once.

In the way micrograd defines an operation's forward value and its backward rule side by side, an entry
here carries everything any part of bpdebug needs to know about one function:

* the NumPy implementation the engine runs (``function``/``derivative``, ``terms``/``grad``), written as
  plain module-level functions whose *source* is what the py export pastes (:attr:`Activation.source`),
  so the engine and the exported script are the same code by construction;
* its formula (``tree``, a :mod:`bpdebug.core.expr` tree), from which the derivation derives and prints the
  derivative (in SymPy, converted by :mod:`bpdebug.text.symbolic`), the gradient check finds its kinks and the
  slips catalogue works out a derivative from rounded numbers; and the closed form a textbook writes
  (``out(1 − out)`` for the sigmoid), used only once it is confirmed to equal the derivative;
* how it is named in text and in LaTeX (``symbol``, ``latex``).

The core never imports SymPy: what only SymPy can say is a function of the ``sympy`` module and the
symbols (``net_form``, a loss's ``term`` and ``textbook``), called from the derivation and text layers.

A custom activation (``[activations.NAME] expr = "…"``) and a formula loss (``[losses.NAME] term = "…"``)
become entries too: their derivative is :func:`bpdebug.core.expr.diff` of the formula, their NumPy code is
printed by :func:`bpdebug.core.expr.numpy_code`, and the engine runs that very text, compiled once, so the
exported script pastes exactly what the engine ran.

Adding a built-in activation is one :func:`register` call with an :class:`Activation`; a loss one call with a
:class:`Loss`. What an entry needs:

``Activation``
    ``name``; ``function(z) -> a`` and ``derivative(z, a) -> f'(z)`` (``None`` for a Jacobian, i.e. softmax),
    both NumPy, elementwise, module-level ``def``s (their source is pasted); ``tree`` f(x) as a formula
    (``expr.parse("relu(x)", ("x",))``); optionally ``out_form``, the derivative as a formula in ``out``
    (verified before use), or ``net_form(sympy, net)`` when the derivative the engine takes is not the
    formula's (relu's step at 0); ``symbol`` (text) and ``latex``.
``Loss``
    ``name``; ``reduction`` (``"sum"``/``"mean"`` over a batch's examples); ``terms(o, t)`` the per-output
    error terms and ``grad(o, t)`` ∂E/∂o of the batch loss, NumPy module-level ``def``s;
    ``term(sympy, o, t, K)`` the SymPy error term of one output unit; ``textbook(sympy, o, t, K)`` the factors
    of its derivative as a textbook writes them (verified); ``formula`` the per-example loss in text;
    ``target_range``/``target_note`` what its targets must be; ``softmax_shortcut`` when after a softmax its
    chain collapses to out − t.
Optimizers live in :mod:`bpdebug.core.optimizers`, registered the same way.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .registry import Registry

if TYPE_CHECKING:
    from .expr import Expr

Array = np.ndarray
SymFn = Callable[..., Any]  # (the sympy module, symbols...) -> a SymPy expression; called by derivation and text


# ------------------------------------------------------------------------------------------ activations

def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a)


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


def tanh_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return 1.0 - a * a


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def relu_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (z > 0).astype(float)


def linear(z: np.ndarray) -> np.ndarray:
    return z + 0.0


def linear_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.ones_like(z)


def softmax(z: np.ndarray) -> np.ndarray:
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class _Unparsed:
    """A built-in entry's formula as text, parsed by :class:`_Formula` on first read: importing the registry
    then neither loads :mod:`bpdebug.core.expr` nor parses a formula no run may ask for."""

    __slots__ = ("text", "variable")

    def __init__(self, text: str, variable: str) -> None:
        self.text, self.variable = text, variable


def _formula(text: str, variable: str = "x") -> _Unparsed:
    return _Unparsed(text, variable)


class _Formula:
    """A formula field of an entry: given an :class:`~bpdebug.core.expr.Expr` (or None) it reads as that; given
    the text of a built-in's formula (:func:`_formula`) it reads as that text parsed, parsed on the first read."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Formula: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Expr | None: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _Formula | Expr | None:
        if obj is None:
            return self
        value: Expr | _Unparsed | None = obj.__dict__[self.name]
        if isinstance(value, _Unparsed):
            from . import expr
            value = obj.__dict__[self.name] = expr.parse(value.text, (value.variable,))
        return value

    def __set__(self, obj: object, value: Expr | _Unparsed | _Formula | None) -> None:
        # the dataclass passes this descriptor itself as the default: no formula
        obj.__dict__[self.name] = None if isinstance(value, _Formula) else value


@dataclass(frozen=True)
class Activation:
    """A named activation: NumPy pair, its formula, names, and the source the py export pastes.

    ``derivative(z, a)`` is f'(z) elementwise given ``a = f(z)``; softmax has none (a Jacobian)."""

    name: str
    function: Callable[[Array], Array] = field(repr=False, compare=False)
    derivative: Callable[[Array, Array], Array] | None = field(repr=False, compare=False)
    tree: _Formula = field(default=_Formula(), repr=False, compare=False)  # f(x) as a formula; None: not elementwise
    out_form: _Formula = field(default=_Formula(), repr=False, compare=False)  # f' written in out (verified)
    net_form: SymFn | None = field(default=None, repr=False, compare=False)  # (sympy, net) -> f', SymPy's not it
    symbol: str = ""  # text: σ, tanh, relu
    latex: str = ""  # LaTeX: \sigma, \tanh, \operatorname{relu}
    formula: str = ""  # the function in text, for notes: σ(z) = 1/(1 + e^−z)
    expr: str | None = None  # the formula of a custom activation, as written in the scenario
    code: str = field(default="", repr=False, compare=False)  # source of function and derivative

    variable = "x"  # the variable of ``tree``

    @property
    def is_softmax(self) -> bool:
        """Not elementwise: its derivative is a Jacobian (only in the output layer, over 2 units or more)."""
        return self.derivative is None

    @property
    def is_identity(self) -> bool:
        """f(x) = x: leaving it out or applying it twice changes nothing."""
        from . import expr
        return self.tree == expr.var(self.variable)

    @property
    def source(self) -> str:
        """The Python source of ``function`` and ``derivative``, exactly what the engine runs."""
        if self.code:
            return self.code
        parts = [inspect.getsource(self.function)]
        if self.derivative is not None:
            parts.append(inspect.getsource(self.derivative))
        return "\n\n".join(p.rstrip() + "\n" for p in parts)


def _relu_step(sp: Any, net: Any) -> Any:
    return sp.Heaviside(net, 0)  # the engine takes 0 at net = 0


BUILTIN_ACTIVATIONS: tuple[Activation, ...] = (
    Activation("sigmoid", sigmoid, sigmoid_derivative, _formula("sigmoid(x)"),
               out_form=_formula("out*(1 - out)", "out"),
               symbol="σ", latex=r"\sigma", formula="σ(z) = 1 / (1 + e^−z)"),
    Activation("tanh", tanh, tanh_derivative, _formula("tanh(x)"), out_form=_formula("1 - out**2", "out"),
               symbol="tanh", latex=r"\tanh"),
    Activation("relu", relu, relu_derivative, _formula("relu(x)"), net_form=_relu_step,
               symbol="relu", latex=r"\operatorname{relu}", formula="relu(z) = max(0, z)"),
    Activation("linear", linear, linear_derivative, _formula("x"), symbol="id", latex=r"\operatorname{id}",
               formula="id(z) = z"),
    Activation("softmax", softmax, None, None, symbol="softmax", latex=r"\operatorname{softmax}"),
)


# ------------------------------------------------------------------------------------------------ losses

def sum_over_examples(terms: np.ndarray) -> float:
    """Each example's sum of error terms, summed over the examples."""
    return float(terms.sum(axis=1).sum())


def mean_over_examples(terms: np.ndarray) -> float:
    """Each example's sum of error terms, averaged over the examples."""
    return float(terms.sum(axis=1).mean())


def sse_terms(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (t - o) ** 2


def sse_grad(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 2.0 * (o - t)


def half_sse_terms(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 0.5 * (t - o) ** 2


def half_sse_grad(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return o - t


def mse_terms(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (t - o) ** 2 / o.shape[1]


def mse_grad(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return 2.0 * (o - t) / o.shape[1] / o.shape[0]


# 0·log 0 = 0: a target of exactly 0 whose output is exactly 0 (an underflow) adds nothing to the loss and
# nothing to its derivative, so that output is read as 1 there; a target above 0 whose output is 0 stays +inf.

def cross_entropy_terms(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -t * np.log(np.where((t == 0) & (o == 0), 1.0, o))


def cross_entropy_grad(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -t / np.where((t == 0) & (o == 0), 1.0, o) / o.shape[0]


def binary_cross_entropy_terms(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -(t * np.log(np.where((t == 0) & (o == 0), 1.0, o))
             + (1.0 - t) * np.log(np.where((t == 1) & (o == 1), 1.0, 1.0 - o)))


def binary_cross_entropy_grad(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (-t / np.where((t == 0) & (o == 0), 1.0, o)
            + (1.0 - t) / np.where((t == 1) & (o == 1), 1.0, 1.0 - o)) / o.shape[0]


@dataclass(frozen=True)
class Loss:
    """``terms(o, t)`` are the per-output error terms (rows = examples); ``grad(o, t)`` is ∂E/∂o of
    the batch loss (the combining sum or mean included)."""

    name: str
    reduction: str  # "sum" or "mean" over the examples of a batch
    formula: str  # per example, in plain text, for summaries
    terms: Callable[[Array, Array], Array] = field(repr=False, compare=False)
    grad: Callable[[Array, Array], Array] = field(repr=False, compare=False)
    term: SymFn | None = field(default=None, repr=False, compare=False)  # (sympy, o, t, K) -> one output's term
    textbook: SymFn | None = field(default=None, repr=False, compare=False)  # (sympy, o, t, K) -> factors of ∂/∂o
    tree: Expr | None = field(default=None, repr=False, compare=False)  # a formula loss's term in t and o
    target_range: tuple[float, float] = (-math.inf, math.inf)  # what every target must lie within
    target_note: str = ""  # what a target is, in the message refusing one outside target_range
    softmax_shortcut: bool = False  # after a softmax, ∂E/∂net_k = out_k − t_k when an example's targets sum to 1
    squared_error: float | None = None  # c when each error term is c·(t − o)² (the slips that halve or double it)
    expr: str | None = None  # a formula loss's term, as written in the scenario
    code: str = field(default="", repr=False, compare=False)  # a formula loss's terms and grad source

    @property
    def combine(self) -> Callable[[Array], float]:
        """The function combining error terms (examples × outputs) into the batch loss."""
        return sum_over_examples if self.reduction == "sum" else mean_over_examples

    def batch_loss(self, terms: Array) -> float:
        """Combine error terms (examples × outputs) into the batch loss."""
        return self.combine(terms)

    def check_targets(self, targets: Array) -> str | None:
        """None when every target suits the loss, else what is wrong with the first that does not."""
        low, high = self.target_range
        with np.errstate(invalid="ignore"):
            bad = np.argwhere((targets < low) | (targets > high))
        if not len(bad):
            return None
        r, c = (int(v) for v in bad[0])
        return f"row {r + 1}, column {c + 1} is {targets[r, c]:g}, expected {self.target_note}"

    @property
    def source(self) -> str:
        """The Python source of ``terms``, ``grad`` and the reduction, exactly what the engine runs."""
        if self.code:
            return self.code + "\n\n" + inspect.getsource(self.combine).rstrip() + "\n"
        return "\n\n".join(inspect.getsource(f).rstrip() + "\n" for f in (self.terms, self.grad, self.combine))


def _diff(sp: Any, o: Any, t: Any) -> Any:
    return sp.Add(o, sp.Mul(-1, t, evaluate=False), evaluate=False)


def _inv(sp: Any, x: Any) -> Any:
    return sp.Pow(x, -1, evaluate=False)


BUILTIN_LOSSES: tuple[Loss, ...] = (
    Loss("sse", "sum", "Σ_k (t_k − o_k)²", sse_terms, sse_grad,
         lambda sp, o, t, K: (t - o) ** 2, lambda sp, o, t, K: [2, _diff(sp, o, t)], squared_error=1.0),
    Loss("half_sse", "sum", "½ Σ_k (t_k − o_k)²", half_sse_terms, half_sse_grad,
         lambda sp, o, t, K: sp.Mul(sp.Rational(1, 2), (t - o) ** 2, evaluate=False),
         lambda sp, o, t, K: [_diff(sp, o, t)], squared_error=0.5),
    Loss("mse", "mean", "(1/K) Σ_k (t_k − o_k)²", mse_terms, mse_grad,
         lambda sp, o, t, K: (t - o) ** 2 / K, lambda sp, o, t, K: [2, _diff(sp, o, t), _inv(sp, K)]),
    Loss("cross_entropy", "mean", "−Σ_k t_k log o_k", cross_entropy_terms, cross_entropy_grad,
         lambda sp, o, t, K: -t * sp.log(o), lambda sp, o, t, K: [-1, t, _inv(sp, o)],
         target_range=(0.0, math.inf), softmax_shortcut=True,
         target_note="a target >= 0 for cross_entropy (a class probability or weight; the targets of an example "
                     "need not sum to 1)"),
    Loss("binary_cross_entropy", "mean", "−Σ_k [t_k log o_k + (1 − t_k) log(1 − o_k)]",
         binary_cross_entropy_terms, binary_cross_entropy_grad,
         lambda sp, o, t, K: -(t * sp.log(o) + (1 - t) * sp.log(1 - o)),
         lambda sp, o, t, K: [_diff(sp, o, t), _inv(sp, o),
                              _inv(sp, sp.Add(1, sp.Mul(-1, o, evaluate=False), evaluate=False))],
         target_range=(0.0, 1.0), target_note="a target from 0 to 1 for binary_cross_entropy (a probability)"),
)


# ---------------------------------------------------------------------------------------------- registry

ACTIVATIONS: Registry[Any] = Registry(BUILTIN_ACTIVATIONS)
LOSSES: Registry[Any] = Registry(BUILTIN_LOSSES)


def register(entry: Activation | Loss) -> Activation | Loss:
    """Add a built-in activation or loss; every part of bpdebug then knows it (engine, derivations,
    narration, transcripts, the py export, the app)."""
    return (ACTIVATIONS if isinstance(entry, Activation) else LOSSES).add(entry)


def unregister(entry: Activation | Loss) -> None:
    (ACTIVATIONS if isinstance(entry, Activation) else LOSSES).remove(entry.name)


def activation(name: str) -> Activation:
    return ACTIVATIONS[name]  # type: ignore[no-any-return]


def loss(name: str) -> Loss:
    return LOSSES[name]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------- formulas

def _doc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', "'''")


def _compile(code: str, where: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"np": np}
    exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own code, printed from a parsed formula
    return namespace


def custom(name: str, expr_text: str) -> Activation:
    """A custom activation from its formula in x: the derivative by :func:`bpdebug.core.expr.diff`, and
    :func:`bpdebug.core.expr.numpy_code` writes the code the engine runs and the py export pastes."""
    from . import expr
    tree = expr.parse(expr_text, ("x",))
    f, df = expr.numpy_code(tree), expr.numpy_code(expr.diff(tree, "x"))
    ident = f"custom_{name}"  # never clashes with a built-in's or the script's names
    code = (f"def {ident}(x):\n"
            f"    \"\"\"{_doc(expr_text)} (custom)\"\"\"\n"
            f"    return np.broadcast_to(np.asarray({f}, dtype=float), np.shape(x)).copy()\n\n\n"
            f"def {ident}_derivative(x, a):\n"
            f"    \"\"\"its derivative\"\"\"\n"
            f"    return np.broadcast_to(np.asarray({df}, dtype=float), np.shape(x)).copy()\n")
    namespace = _compile(code, f"<activation {name}>")
    return Activation(name, namespace[ident], namespace[f"{ident}_derivative"], tree, symbol=name,
                      latex=rf"\operatorname{{{_latex_name(name)}}}", formula=f"{name}(x) = {expr_text}",
                      expr=expr_text, code=code)


LOSS_VARIABLES = ("t", "o")
REDUCTIONS = ("sum", "mean")


def formula_loss(name: str, term_text: str, reduction: str = "sum") -> Loss:
    """A loss from one output's term in ``t`` (target) and ``o`` (output): summed over the outputs and the
    examples (``reduction = "sum"``) or averaged over both (``"mean"``, as mse and torch's reductions).
    Its gradient is :func:`bpdebug.core.expr.diff` of the term; both are NumPy code the engine runs and the py
    export pastes."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction {reduction!r}, expected one of {', '.join(REDUCTIONS)}")
    from . import expr
    tree = expr.parse(term_text, LOSS_VARIABLES)
    if "o" not in expr.names(tree):
        raise expr.FormulaError(f"'{term_text}' does not depend on o, expected one output's term in t (target) "
                                "and o (output) such as \"(t - o)**2\"")
    term, dterm = expr.numpy_code(tree), expr.numpy_code(expr.diff(tree, "o"))
    ident = f"loss_{name}"
    mean = reduction == "mean"
    per_output = " / o.shape[1]" if mean else ""
    per_batch = " / o.shape[1] / o.shape[0]" if mean else ""
    code = (f"def {ident}_terms(o, t):\n"
            f"    \"\"\"{_doc(term_text)}: each output's term{' over the K outputs' if mean else ''}\"\"\"\n"
            f"    return np.broadcast_to(np.asarray({term}, dtype=float), np.shape(o)).copy(){per_output}\n\n\n"
            f"def {ident}_grad(o, t):\n"
            f"    \"\"\"its derivative in o{' over the K outputs and the N examples' if mean else ''}\"\"\"\n"
            f"    return np.broadcast_to(np.asarray({dterm}, dtype=float), np.shape(o)).copy(){per_batch}\n")
    namespace = _compile(code, f"<loss {name}>")
    shown = f"(1/K) Σ_k [{term_text}]" if mean else f"Σ_k [{term_text}]"
    return Loss(name, reduction, shown, namespace[f"{ident}_terms"], namespace[f"{ident}_grad"], tree=tree,
                expr=term_text, code=code)


def _latex_name(name: str) -> str:
    return name.replace("_", r"\_")
