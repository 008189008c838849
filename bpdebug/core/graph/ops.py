"""The graph's operations: one registry entry per operation, each complete in itself.

As micrograd's ``Value.__mul__`` defines the forward value and its ``_backward`` side by side, an
:class:`Op` carries, for one primitive operation of a computation graph:

* ``forward(x, k) -> value`` and ``local(x, out, k) -> (∂out/∂x₀, ∂out/∂x₁, …)``: plain module-level NumPy
  functions on float64 scalars (``x`` the argument values, ``out`` the node's value, ``k`` the constant a
  node carries: the exponent of ``pow``, else None), whose source the py export pastes;
* ``label(k)``: what micrograd's ``draw_dot`` writes on the operation (``+``, ``*``, ``**3``, ``ReLU``);
* ``text(args, k)``: the operation written over its arguments' names (``a + b``, ``tanh(h)``);
* ``sympy(sp, args, k)``: the same as a SymPy expression, built from the SymPy module the caller passes
  (this module never imports SymPy), for the derivation layer.

Where an operation is also an activation (sigmoid, tanh, relu) its forward value and derivative are the
activation's own functions (:mod:`bpdebug.core.functions`), so networks and graphs compute them alike.
The formula parser's functions that are not here (``sign``, ``Piecewise``, comparisons) are refused in a
graph program, with the list of these entries.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import functions
from ..functions import relu, relu_derivative, sigmoid, sigmoid_derivative, tanh, tanh_derivative
from ..registry import Registry

Args = Sequence[Any]  # float64 scalars
Forward = Callable[[Args, Any], Any]
Local = Callable[[Args, Any, Any], tuple[Any, ...]]


# ------------------------------------------------------------------------------ forward and local derivatives
# Each pair works on float64 scalars (np.float64), so overflow gives inf and 0/0 nan, never an exception.

def add_forward(x, k):
    return x[0] + x[1]


def add_local(x, out, k):
    return (1.0, 1.0)


def sub_forward(x, k):
    return x[0] - x[1]


def sub_local(x, out, k):
    return (1.0, -1.0)


def mul_forward(x, k):
    return x[0] * x[1]


def mul_local(x, out, k):
    return (x[1], x[0])


def div_forward(x, k):
    return x[0] / x[1]


def div_local(x, out, k):
    return (1.0 / x[1], -x[0] / (x[1] * x[1]))


def neg_forward(x, k):
    return -x[0]


def neg_local(x, out, k):
    return (-1.0,)


def pow_forward(x, k):
    return x[0] ** k


def pow_local(x, out, k):
    return (k * x[0] ** (k - 1),)


def exp_forward(x, k):
    return np.exp(x[0])


def exp_local(x, out, k):
    return (out,)


def log_forward(x, k):
    return np.log(x[0])


def log_local(x, out, k):
    return (1.0 / x[0],)


def sqrt_forward(x, k):
    return np.sqrt(x[0])


def sqrt_local(x, out, k):
    return (0.5 / out,)


def abs_forward(x, k):
    return np.abs(x[0])


def abs_local(x, out, k):
    return (np.sign(x[0]),)


def sin_forward(x, k):
    return np.sin(x[0])


def sin_local(x, out, k):
    return (np.cos(x[0]),)


def cos_forward(x, k):
    return np.cos(x[0])


def cos_local(x, out, k):
    return (-np.sin(x[0]),)


def tanh_forward(x, k):
    return tanh(x[0])


def tanh_local(x, out, k):
    return (tanh_derivative(x[0], out),)


def sigmoid_forward(x, k):
    return sigmoid(x[0])


def sigmoid_local(x, out, k):
    return (sigmoid_derivative(x[0], out),)


def relu_forward(x, k):
    return relu(x[0])


def relu_local(x, out, k):
    return (relu_derivative(x[0], out),)


def max_forward(x, k):
    return max(x) if not any(np.isnan(v) for v in x) else np.float64(np.nan)


def max_local(x, out, k):
    # ties share the derivative equally, as autograd's np.maximum and a central difference have it
    ties = sum(1 for v in x if v == out)
    return tuple(np.float64(1.0 / ties if v == out else 0.0) for v in x)


def min_forward(x, k):
    return min(x) if not any(np.isnan(v) for v in x) else np.float64(np.nan)


def min_local(x, out, k):
    ties = sum(1 for v in x if v == out)
    return tuple(np.float64(1.0 / ties if v == out else 0.0) for v in x)


# ----------------------------------------------------------------------------------------------- the entries

def _number(k: Any) -> str:
    return f"{float(k):g}"


def _wrap(arg: str) -> str:
    """An argument inside an operator's text: parenthesized unless it is a name or a number."""
    return arg if arg.replace(".", "").replace("_", "").replace("@", "").replace("#", "").isalnum() else f"({arg})"


@dataclass(frozen=True)
class Op:
    """One primitive operation of a graph: NumPy forward and local derivatives, names, SymPy form."""

    name: str  # the node's op: "add", "tanh", "Max"
    arity: int | None  # arguments; None: two or more (Max, Min)
    forward: Forward = field(repr=False, compare=False)
    local: Local = field(repr=False, compare=False)
    label_of: Callable[[Any], str] = field(repr=False, compare=False)  # draw_dot's label: "+", "**3"
    text_of: Callable[[Sequence[str], Any], str] = field(repr=False, compare=False)  # "a + b", "tanh(h)"
    sympy_of: Callable[[Any, Sequence[Any], Any], Any] = field(repr=False, compare=False)  # (sympy, args, k)
    meaning: str = ""  # in words, for help and documents
    function: bool = False  # written as a function call in a program (exp(x)), not an operator
    derivative_text: str = ""  # the local derivatives in words: "∂/∂{0} = 1, ∂/∂{1} = 1"
    activation: str | None = None  # the activation whose functions it calls (their source comes first)

    def label(self, k: Any = None) -> str:
        return self.label_of(k)

    def text(self, args: Sequence[str], k: Any = None) -> str:
        return self.text_of(args, k)

    def derivatives(self, args: Sequence[str], k: Any = None) -> str:
        """The local derivatives over the arguments' names: ``∂/∂c = d, ∂/∂d = c`` for ``c * d``."""
        return self.derivative_text.format(*args, n=_number(k) if k is not None else "n")

    def sympy(self, sp: Any, args: Sequence[Any], k: Any = None) -> Any:
        return self.sympy_of(sp, args, k)

    @property
    def source(self) -> str:
        """The source of ``forward`` and ``local`` (what the py export pastes); an op that is an activation calls
        the activation's functions, whose source is :attr:`Activation.source`."""
        return "\n\n".join(textwrap.dedent(inspect.getsource(f)).rstrip() + "\n" for f in (self.forward, self.local))


def _binary(name: str, symbol: str, forward: Forward, local: Local, sympy_of: Callable[[Any, Any, Any], Any],
            meaning: str, derivative_text: str) -> Op:
    return Op(name, 2, forward, local, lambda k: symbol,
              lambda a, k: f"{_wrap(a[0])} {symbol} {_wrap(a[1])}",
              lambda sp, a, k: sympy_of(sp, a[0], a[1]), meaning, False, derivative_text)


def _call(name: str, forward: Forward, local: Local, sympy_of: Callable[[Any, Any], Any], meaning: str,
          derivative_text: str, label: str | None = None) -> Op:
    return Op(name, 1, forward, local, lambda k: label or name, lambda a, k: f"{name}({a[0]})",
              lambda sp, a, k: sympy_of(sp, a[0]), meaning, True, derivative_text)


def _activation(name: str, forward: Forward, local: Local, label: str, derivative_text: str,
                sympy_of: Callable[[Any, Any], Any]) -> Op:
    """An op that is also an activation: its value and derivative are the activation's own functions."""
    entry = functions.activation(name)
    op = _call(name, forward, local, sympy_of, entry.formula or name, derivative_text, label)
    return replace(op, activation=name)


def _variadic(name: str, forward: Forward, local: Local, meaning: str, derivative_text: str) -> Op:
    return Op(name, None, forward, local, lambda k: name, lambda a, k: f"{name}({', '.join(a)})",
              lambda sp, a, k: getattr(sp, name)(*a), meaning, True, derivative_text)


BUILTIN_OPS: tuple[Op, ...] = (
    _binary("add", "+", add_forward, add_local, lambda sp, a, b: sp.Add(a, b, evaluate=False), "sum",
            "∂/∂{0} = 1, ∂/∂{1} = 1"),
    _binary("sub", "-", sub_forward, sub_local, lambda sp, a, b: sp.Add(a, sp.Mul(-1, b, evaluate=False),
                                                                         evaluate=False),
            "difference", "∂/∂{0} = 1, ∂/∂{1} = −1"),
    _binary("mul", "*", mul_forward, mul_local, lambda sp, a, b: sp.Mul(a, b, evaluate=False), "product",
            "∂/∂{0} = {1}, ∂/∂{1} = {0}"),
    _binary("div", "/", div_forward, div_local, lambda sp, a, b: sp.Mul(a, sp.Pow(b, -1, evaluate=False),
                                                                         evaluate=False),
            "quotient", "∂/∂{0} = 1/{1}, ∂/∂{1} = −{0}/{1}²"),
    Op("neg", 1, neg_forward, neg_local, lambda k: "neg", lambda a, k: f"-{_wrap(a[0])}",
       lambda sp, a, k: sp.Mul(-1, a[0], evaluate=False), "negation", False, "∂/∂{0} = −1"),
    Op("pow", 1, pow_forward, pow_local, lambda k: f"**{_number(k)}", lambda a, k: f"{_wrap(a[0])}**{_number(k)}",
       lambda sp, a, k: sp.Pow(a[0], sp.nsimplify(k), evaluate=False), "power by a number", False,
       "∂/∂{0} = {n}·{0}**({n} − 1)"),
    _call("exp", exp_forward, exp_local, lambda sp, x: sp.exp(x), "exponential", "∂/∂{0} = exp({0})"),
    _call("log", log_forward, log_local, lambda sp, x: sp.log(x), "natural logarithm", "∂/∂{0} = 1/{0}"),
    _call("sqrt", sqrt_forward, sqrt_local, lambda sp, x: sp.sqrt(x), "square root", "∂/∂{0} = 1/(2·sqrt({0}))"),
    _call("abs", abs_forward, abs_local, lambda sp, x: sp.Abs(x), "absolute value", "∂/∂{0} = sign({0})"),
    _call("sin", sin_forward, sin_local, lambda sp, x: sp.sin(x), "sine", "∂/∂{0} = cos({0})"),
    _call("cos", cos_forward, cos_local, lambda sp, x: sp.cos(x), "cosine", "∂/∂{0} = −sin({0})"),
    _activation("tanh", tanh_forward, tanh_local, "tanh", "∂/∂{0} = 1 − tanh({0})²", lambda sp, x: sp.tanh(x)),
    _activation("sigmoid", sigmoid_forward, sigmoid_local, "σ", "∂/∂{0} = σ({0})·(1 − σ({0}))",
                lambda sp, x: 1 / (1 + sp.exp(-x))),
    _activation("relu", relu_forward, relu_local, "ReLU", "∂/∂{0} = 1 if {0} > 0 else 0",
                lambda sp, x: sp.Max(0, x)),
    _variadic("Max", max_forward, max_local, "the largest argument",
              "1 for the largest argument (shared equally on a tie), 0 for the others"),
    _variadic("Min", min_forward, min_local, "the smallest argument",
              "1 for the smallest argument (shared equally on a tie), 0 for the others"),
)


OPS = Registry(BUILTIN_OPS)


def register(entry: Op) -> Op:
    """Add an operation: the program parser, the engine, the exports and the help then know it."""
    return OPS.add(entry)


def unregister(entry: Op) -> None:
    OPS.remove(entry.name)


def function_names() -> tuple[str, ...]:
    """The functions a graph program may call, from the registry."""
    return tuple(name for name, op in OPS.items() if op.function)
