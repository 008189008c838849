"""One registry of the functions a network is built from: each activation and each loss defined once.

In the way micrograd defines an operation's forward value and its backward rule side by side, an entry
here carries everything any part of bpdebug needs to know about one function:

* the NumPy implementation the engine runs (``function``/``derivative``, ``terms``/``grad``), written as
  plain module-level functions whose *source* is what the py export pastes (:attr:`Activation.source`),
  so the engine and the exported script are the same code by construction;
* the SymPy expression (``expr``), from which the derivation derives the derivative, and the closed form a
  textbook writes (``out(1 − out)`` for the sigmoid), used only once SymPy confirms it equals the derivative;
* how it is named in text and in LaTeX (``symbol``, ``latex``).

A custom activation (``[activations.NAME] expr = "…"``) becomes an entry too: its NumPy code is printed
from the formula by SymPy's NumPy printer (the printer ``lambdify`` uses) and the engine runs that very
text, compiled once, so the exported script pastes exactly what the engine ran.

Adding a built-in activation is one :func:`register` call with an :class:`Activation`; a loss one call with a
:class:`Loss`. What an entry needs:

``Activation``
    ``name``; ``function(z) -> a`` and ``derivative(z, a) -> f'(z)`` (``None`` for a Jacobian, i.e. softmax),
    both NumPy, elementwise, module-level ``def``s (their source is pasted); ``expr(x)`` the SymPy f(x);
    optionally ``out_form(out)``, the derivative written in the unit's output (verified by SymPy before
    use) or ``net_form(net)`` to override SymPy's own derivative; ``symbol`` (text) and ``latex``.
``Loss``
    ``name``; ``reduction`` (``"sum"``/``"mean"`` over a batch's examples); ``terms(o, t)`` the per-output
    error terms and ``grad(o, t)`` ∂E/∂o of the batch loss, NumPy module-level ``def``s; ``term(o, t, K)``
    the SymPy error term of one output unit; ``textbook(o, t, K)`` the factors of its derivative as a
    textbook writes them (verified by SymPy); ``formula`` the per-example loss in text.
An optimizer (planned) is the same idea: ``name``; its hyper-parameters with defaults; ``state(shape)`` the
initial state arrays; ``step(p, g, state, hyper) -> (p, state)`` one NumPy update, a module-level ``def``
whose source the py export pastes; ``rule`` its update as SymPy equations (for derivations and documents);
``symbol``/``latex`` names for its state (``v``, ``m̂``). It would live in a third mapping beside
:data:`ACTIVATIONS` and :data:`LOSSES`, registered the same way.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray
SymFn = Callable[..., Any]  # builds a SymPy expression from SymPy symbols (SymPy is imported lazily)


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


@dataclass(frozen=True)
class Activation:
    """A named activation: NumPy pair, SymPy expression, names, and the source the py export pastes.

    ``derivative(z, a)`` is f'(z) elementwise given ``a = f(z)``; softmax has none (a Jacobian)."""

    name: str
    function: Callable[[Array], Array] = field(repr=False, compare=False)
    derivative: Callable[[Array, Array], Array] | None = field(repr=False, compare=False)
    expr_of: SymFn | None = field(default=None, repr=False, compare=False)  # x -> f(x) in SymPy
    out_form: SymFn | None = field(default=None, repr=False, compare=False)  # out -> f' in the output
    net_form: SymFn | None = field(default=None, repr=False, compare=False)  # net -> f' when SymPy's is not it
    symbol: str = ""  # text: σ, tanh, relu
    latex: str = ""  # LaTeX: \sigma, \tanh, \operatorname{relu}
    formula: str = ""  # the function in text, for notes: σ(z) = 1/(1 + e^−z)
    expr: str | None = None  # the formula of a custom activation, as written in the scenario
    code: str = field(default="", repr=False, compare=False)  # source of function and derivative

    @property
    def is_softmax(self) -> bool:
        return self.derivative is None

    @property
    def source(self) -> str:
        """The Python source of ``function`` and ``derivative``, exactly what the engine runs."""
        if self.code:
            return self.code
        parts = [inspect.getsource(self.function)]
        if self.derivative is not None:
            parts.append(inspect.getsource(self.derivative))
        return "\n\n".join(p.rstrip() + "\n" for p in parts)

    def sympy(self, x: Any) -> Any:
        """f(x) as a SymPy expression (softmax: None, it is not elementwise)."""
        return None if self.expr_of is None else self.expr_of(x)


def _sp() -> Any:
    import sympy

    return sympy


BUILTIN_ACTIVATIONS: tuple[Activation, ...] = (
    Activation("sigmoid", sigmoid, sigmoid_derivative, lambda x: 1 / (1 + _sp().exp(-x)),
               out_form=lambda a: _sp().Mul(a, _sp().Add(1, -a, evaluate=False), evaluate=False),
               symbol="σ", latex=r"\sigma", formula="σ(z) = 1 / (1 + e^−z)"),
    Activation("tanh", tanh, tanh_derivative, lambda x: _sp().tanh(x),
               out_form=lambda a: _sp().Add(1, -a**2, evaluate=False), symbol="tanh", latex=r"\tanh"),
    Activation("relu", relu, relu_derivative, lambda x: _sp().Max(0, x),
               net_form=lambda n: _sp().Heaviside(n, 0),  # the engine takes 0 at net = 0
               symbol="relu", latex=r"\operatorname{relu}", formula="relu(z) = max(0, z)"),
    Activation("linear", linear, linear_derivative, lambda x: x, symbol="id", latex=r"\operatorname{id}",
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
    term: SymFn | None = field(default=None, repr=False, compare=False)  # (o, t, K) -> one output's term
    textbook: SymFn | None = field(default=None, repr=False, compare=False)  # (o, t, K) -> factors of ∂term/∂o

    @property
    def combine(self) -> Callable[[Array], float]:
        """The function combining error terms (examples × outputs) into the batch loss."""
        return sum_over_examples if self.reduction == "sum" else mean_over_examples

    def batch_loss(self, terms: Array) -> float:
        """Combine error terms (examples × outputs) into the batch loss."""
        return self.combine(terms)

    @property
    def source(self) -> str:
        """The Python source of ``terms``, ``grad`` and the reduction, exactly what the engine runs."""
        return "\n\n".join(inspect.getsource(f).rstrip() + "\n" for f in (self.terms, self.grad, self.combine))


def _diff(o: Any, t: Any) -> Any:
    sp = _sp()
    return sp.Add(o, sp.Mul(-1, t, evaluate=False), evaluate=False)


def _inv(x: Any) -> Any:
    return _sp().Pow(x, -1, evaluate=False)


BUILTIN_LOSSES: tuple[Loss, ...] = (
    Loss("sse", "sum", "Σ_k (t_k − o_k)²", sse_terms, sse_grad,
         lambda o, t, K: (t - o) ** 2, lambda o, t, K: [2, _diff(o, t)]),
    Loss("half_sse", "sum", "½ Σ_k (t_k − o_k)²", half_sse_terms, half_sse_grad,
         lambda o, t, K: _sp().Mul(_sp().Rational(1, 2), (t - o) ** 2, evaluate=False),
         lambda o, t, K: [_diff(o, t)]),
    Loss("mse", "mean", "(1/K) Σ_k (t_k − o_k)²", mse_terms, mse_grad,
         lambda o, t, K: (t - o) ** 2 / K, lambda o, t, K: [2, _diff(o, t), _inv(K)]),
    Loss("cross_entropy", "mean", "−Σ_k t_k log o_k", cross_entropy_terms, cross_entropy_grad,
         lambda o, t, K: -t * _sp().log(o), lambda o, t, K: [-1, t, _inv(o)]),
    Loss("binary_cross_entropy", "mean", "−Σ_k [t_k log o_k + (1 − t_k) log(1 − o_k)]",
         binary_cross_entropy_terms, binary_cross_entropy_grad,
         lambda o, t, K: -(t * _sp().log(o) + (1 - t) * _sp().log(1 - o)),
         lambda o, t, K: [_diff(o, t), _inv(o), _inv(_sp().Add(1, _sp().Mul(-1, o, evaluate=False),
                                                               evaluate=False))]),
)


# ---------------------------------------------------------------------------------------------- registry

class Registry(Mapping[str, Any]):
    """Entries by name, in registration order (a read-only mapping; :meth:`add` and :meth:`remove` change it)."""

    def __init__(self, entries: tuple[Any, ...]) -> None:
        self._entries: dict[str, Any] = {e.name: e for e in entries}

    def __getitem__(self, name: str) -> Any:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Any) -> Any:
        if entry.name in self._entries:
            raise ValueError(f"'{entry.name}' is already registered")
        self._entries[entry.name] = entry
        return entry

    def remove(self, name: str) -> None:
        del self._entries[name]


ACTIVATIONS = Registry(BUILTIN_ACTIVATIONS)
LOSSES = Registry(BUILTIN_LOSSES)


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


# ------------------------------------------------------------------------------------ custom activations

def numpy_code(expr: Any) -> tuple[str, set[str]]:
    """``expr`` as NumPy code (``np.exp(x)``) by SymPy's NumPy printer, and the other modules it needs."""
    from sympy.printing.numpy import NumPyPrinter

    class Printer(NumPyPrinter):
        def _module_format(self, fqn: str, register: bool = True) -> str:
            full = super()._module_format(fqn, register)
            return "np." + full[len("numpy."):] if full.startswith("numpy.") else full

    printer = Printer({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})
    code = printer.doprint(expr)
    return code, {m for m in printer.module_imports if m != "numpy"}


def custom(name: str, expr_text: str) -> Activation:
    """A custom activation from its formula: SymPy derives, its NumPy printer writes the code the engine
    runs and the py export pastes (the variable stays ``x``: renamed, terms may print in another order)."""
    import sympy

    from .formula import parse_formula

    expr = parse_formula(expr_text)
    x = next(iter(s for s in expr.free_symbols if s.name == "x"), sympy.Symbol("x", real=True))
    f, f_modules = numpy_code(expr)
    df, df_modules = numpy_code(sympy.diff(expr, x))
    ident = f"custom_{name}"  # never clashes with a built-in's or the script's names
    doc = expr_text.replace("\\", "\\\\").replace('"""', "'''")
    code = (f"def {ident}(x):\n"
            f"    \"\"\"{doc} (custom)\"\"\"\n"
            f"    return np.broadcast_to(np.asarray({f}, dtype=float), np.shape(x)).copy()\n\n\n"
            f"def {ident}_derivative(x, a):\n"
            f"    \"\"\"its derivative, by SymPy\"\"\"\n"
            f"    return np.broadcast_to(np.asarray({df}, dtype=float), np.shape(x)).copy()\n")
    namespace: dict[str, Any] = {"np": np}
    for module in sorted(f_modules | df_modules):
        namespace[module] = importlib.import_module(module)
    exec(compile(code, f"<activation {name}>", "exec"), namespace)  # noqa: S102 - our own printed formula
    return Activation(name, namespace[ident], namespace[f"{ident}_derivative"],
                      lambda arg: expr.xreplace({x: arg}), symbol=name, latex=rf"\operatorname{{{_latex_name(name)}}}",
                      formula=f"{name}(x) = {expr_text}", expr=expr_text, code=code)


def _latex_name(name: str) -> str:
    return name.replace("_", r"\_")


def modules_of(code: str) -> set[str]:
    """Modules other than numpy a custom activation's code uses (``functools`` for Max/Min)."""
    return {m for m in ("functools", "math") if f"{m}." in code}
