"""The Python transcript: a standalone NumPy script that reproduces the scenario's training.

A learner takes it away and changes it (the weights, the data, the learning rate, an activation). It
performs the engine's operations in the engine's order (``bpdebug.engine.compute_pass``), so its losses
and final parameters equal the JSON transcript's; custom activation formulas are written out as NumPy
code by SymPy's NumPy printer, the printer ``lambdify`` uses, so they too compute the same numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from ..core.activations import Activation
from ..core.engine import Trace
from ..core.scenario import Scenario

if TYPE_CHECKING:
    from . import Options

# the built-in activations, as the engine computes them (bpdebug/activations.py)
_BUILTIN_CODE = {
    "sigmoid": ("1.0 / (1.0 + np.exp(-z))", "a * (1.0 - a)"),
    "tanh": ("np.tanh(z)", "1.0 - a * a"),
    "relu": ("np.maximum(z, 0.0)", "(z > 0).astype(float)"),
    "linear": ("z + 0.0", "np.ones_like(z)"),
}

# the losses (bpdebug/losses.py): error terms per output, reduction over examples, dE/do of the batch loss
_LOSS_CODE = {
    "sse": ("(t - o) ** 2", "sum", "2.0 * (o - t)"),
    "half_sse": ("0.5 * (t - o) ** 2", "sum", "o - t"),
    "mse": ("(t - o) ** 2 / o.shape[1]", "mean", "2.0 * (o - t) / o.shape[1] / o.shape[0]"),
    "cross_entropy": ("-t * np.log(o)", "mean", "-t / o / o.shape[0]"),
    "binary_cross_entropy": ("-(t * np.log(o) + (1.0 - t) * np.log(1.0 - o))", "mean",
                             "(-t / o + (1.0 - t) / (1.0 - o)) / o.shape[0]"),
}


class _Printer(NumPyPrinter):
    """NumPy code with ``np.`` for numpy; other modules it needs (functools) are collected for imports."""

    def _module_format(self, fqn: str, register: bool = True) -> str:
        full = super()._module_format(fqn, register)
        return "np." + full[len("numpy."):] if full.startswith("numpy.") else full


def _custom_code(a: Activation) -> tuple[str, str, set[str]]:
    """The custom formula and its SymPy derivative as NumPy expressions in ``x`` (the variable is not
    renamed: a renamed expression may print its terms in another order and round differently)."""
    from ..core.formula import parse_formula

    expr = parse_formula(a.expr)
    x = next(iter(s for s in expr.free_symbols if s.name == "x"), sp.Symbol("x", real=True))
    printer = _Printer({"fully_qualified_modules": True, "inline": True, "allow_unknown_functions": False})
    f = printer.doprint(expr)
    df = printer.doprint(sp.diff(expr, x))
    modules = {m for m in printer.module_imports if m != "numpy"}
    return f, df, modules


def _matrix(a: np.ndarray, indent: str) -> str:
    rows = [", ".join(repr(float(v)) for v in row) for row in np.atleast_2d(a)]
    inner = (",\n" + indent + " ").join(f"[{r}]" for r in rows)
    return f"np.array([{inner}])"


def _functions(s: Scenario) -> tuple[list[str], list[str], set[str]]:
    """Source of each distinct activation (function and derivative) and the per-layer list."""
    out: list[str] = []
    names: list[str] = []
    imports: set[str] = set()
    seen: set[str] = set()
    for l in range(2, s.n_layers + 1):
        a = s.activation(l)
        name = f"custom_{a.name}" if a.expr is not None else a.name  # never clashes with the script's names
        names.append(name)
        if name in seen:
            continue
        seen.add(name)
        if a.is_softmax:
            out.append(
                "def softmax(z):\n"
                "    shifted = np.exp(z - z.max(axis=-1, keepdims=True))\n"
                "    return shifted / shifted.sum(axis=-1, keepdims=True)\n\n\n"
                "softmax_derivative = None  # a Jacobian: the output delta is computed from it directly\n")
            continue
        if a.expr is not None:
            f, df, modules = _custom_code(a)
            imports |= modules
            out.append(
                f"def {name}(x):\n"
                f"    \"\"\"{_doc(a.expr)} (custom)\"\"\"\n"
                f"    return np.broadcast_to(np.asarray({f}, dtype=float), np.shape(x)).copy()\n\n\n"
                f"def {name}_derivative(x, a):\n"
                f"    \"\"\"its derivative, by SymPy\"\"\"\n"
                f"    return np.broadcast_to(np.asarray({df}, dtype=float), np.shape(x)).copy()\n")
            continue
        f, df = _BUILTIN_CODE[a.name]
        out.append(f"def {a.name}(z):\n    return {f}\n\n\ndef {a.name}_derivative(z, a):\n    return {df}\n")
    return out, names, imports


def script(trace: Trace, epochs: int) -> str:
    """The script's text for ``epochs`` epochs."""
    s = trace.scenario
    functions, per_layer, imports = _functions(s)
    terms, reduction, grad = _LOSS_CODE[s.loss.name]
    cmd = f"bpdebug export {s.path} --format py --epochs {epochs}"
    lines = [
        "#!/usr/bin/env python3",
        f'"""{_doc(s.title)}',
        "",
        f"Training reproduced with NumPy only; written by `{_doc(cmd)}`.",
        "Change anything below (weights, data, learning rate, activations, epochs) and run it again.",
        "It prints the loss of each epoch (before its first update) and the parameters after the last one.",
        '"""',
        "",
    ]
    lines += [f"import {m}" for m in sorted(imports)]
    lines += ["", "import numpy as np", ""] if imports else ["import numpy as np", ""]
    lines += [
        f"LEARNING_RATE = {s.learning_rate!r}",
        f"EPOCHS = {epochs}",
        f"UPDATE = {s.update!r}  # 'batch': one update per epoch over all examples; 'online': one per example",
        f"BIAS = {s.bias!r}  # a bias unit of value 1 feeds every layer after the input (column 0 of each theta)",
        "",
        "# one row per example",
        f"INPUTS = {_matrix(s.inputs, ' ' * 18)}",
        f"TARGETS = {_matrix(s.targets, ' ' * 19)}",
        "",
        "# THETA[l - 1] maps layer l to layer l + 1: row i feeds unit i of layer l + 1, column j comes from unit j",
        "# of layer l" + (" (column 0: the bias unit)" if s.bias else ""),
        "THETA = [",
    ]
    for w in s.weights:
        lines.append(f"    {_matrix(w, ' ' * 13)},")
    lines.append("]")
    lines.append("")
    if s.frozen:
        lines.append("# 1 where a parameter learns, 0 where it is frozen")
        lines.append("MASKS = [")
        for l, w in enumerate(s.weights, start=1):
            mask = np.ones_like(w)
            for p in s.params:
                if p.layer == l and p.canonical in s.frozen:
                    mask[p.row, p.col] = 0.0
            lines.append(f"    {_matrix(mask, ' ' * 13)},")
        lines.append("]")
    else:
        lines.append("MASKS = None  # a list like THETA, 1 where a parameter learns and 0 where it is frozen")
    lines.append("")
    lines.append("# short names: (name, matrix, row, column)")
    lines.append("PARAMETERS = [")
    for p in s.params:
        lines.append(f"    ({p.short!r}, {p.layer - 1}, {p.row}, {p.col}),  # {p.canonical}")
    lines.append("]")
    lines += ["", ""]
    lines.append("\n\n".join(functions))
    lines += ["", f"ACTIVATIONS = [{', '.join(f'({n}, {n}_derivative)' for n in per_layer)}]  # layers 2 to L",
              "", ""]
    combined = "summed" if reduction == "sum" else "averaged"
    lines.append(f'def loss_terms(o, t):\n    """Error term of each output ({s.loss.name})."""\n'
                 f"    return {terms}\n\n\n"
                 f'def batch_loss(terms):\n    """Each example\'s sum of error terms, {combined} over the examples."""'
                 f"\n    return float(terms.sum(axis=1).{reduction}())\n\n\n"
                 f'def loss_grad(o, t):\n    """dE/do of the batch loss."""\n    return {grad}\n')
    lines.append(_ENGINE)
    return "\n".join(lines)


def _doc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', "'''")


_ENGINE = '''
def forward(weights, x):
    """z and a of every layer (index = layer number; rows = examples)."""
    z, a = [None, None], [None, x]
    for l in range(1, len(weights) + 1):
        w = weights[l - 1]
        zl = a[l] @ w[:, 1:].T + w[:, 0] if BIAS else a[l] @ w.T
        z.append(zl)
        a.append(ACTIVATIONS[l - 1][0](zl))
    return z, a


def update(weights, x, t):
    """One gradient-descent update from the examples in the rows of x; returns the loss and new weights."""
    L = len(weights) + 1
    z, a = forward(weights, x)
    o = a[L]
    loss = batch_loss(loss_terms(o, t))
    dE_dout = loss_grad(o, t)
    delta = [None] * (L + 1)
    if ACTIVATIONS[-1][1] is None:  # softmax: its Jacobian applied to dE/do
        delta[L] = o * (dE_dout - (dE_dout * o).sum(axis=1, keepdims=True))
    else:
        delta[L] = dE_dout * ACTIVATIONS[-1][1](z[L], o)
    for l in range(L - 1, 1, -1):
        w = weights[l - 1]
        back = delta[l + 1] @ (w[:, 1:] if BIAS else w)
        delta[l] = back * ACTIVATIONS[l - 2][1](z[l], a[l])
    gradients = []
    for l in range(1, L):
        gw = delta[l + 1].T @ a[l]
        if BIAS:
            gw = np.hstack([delta[l + 1].sum(axis=0)[:, None], gw])
        gradients.append(gw)
    if MASKS is None:
        after = [w - LEARNING_RATE * g for w, g in zip(weights, gradients)]
    else:
        after = [w - LEARNING_RATE * (g * m) for w, g, m in zip(weights, gradients, MASKS)]
    return loss, after


def main():
    weights = [np.array(w) for w in THETA]
    for epoch in range(1, EPOCHS + 1):
        if UPDATE == "batch":
            loss, weights = update(weights, INPUTS, TARGETS)
        else:
            loss = batch_loss(loss_terms(forward(weights, INPUTS)[1][-1], TARGETS))
            for i in range(INPUTS.shape[0]):
                weights = update(weights, INPUTS[i:i + 1], TARGETS[i:i + 1])[1]
        print(f"epoch {epoch} loss {loss!r}")
    final = batch_loss(loss_terms(forward(weights, INPUTS)[1][-1], TARGETS))
    print(f"final loss {final!r}")
    for name, m, i, j in PARAMETERS:
        print(f"{name} {float(weights[m][i, j])!r}")


if __name__ == "__main__":
    main()
'''


def render(trace: Trace, options: Options) -> str:
    """The script for ``options.epochs`` epochs (the chain-rule options do not apply to it)."""
    return script(trace, options.epochs)
