"""The setting of a worked example: the network (its layers, activations, loss, training and starting
weights) and the data. Also the formulas the later sections reuse: an activation and a loss term from the
registry's entries, printed by SymPy."""

from __future__ import annotations

import unicodedata

import sympy as sp

from ...core.functions import Activation
from ...core.params import Param
from ...core.scenario import Scenario
from ...text import symbolic
from ...text.numbers import plural
from ..blocks import (
    TABLE_ROWS,
    Block,
    Display,
    Grid,
    Heading,
    Inline,
    Math,
    Table,
    equation,
    joined,
    num,
    para,
    pick,
    sym,
)

DATA_COLS = (5, 4)  # input and target columns of the data table: larger ones show their first and last


def theta(l: int) -> sp.Symbol:
    """Θ_l, the weight matrix from layer l to layer l + 1."""
    return sp.Symbol(f"Theta{l}")


def name_list(params: list[Param], limit: int = TABLE_ROWS) -> str:
    """Parameters by their short names, the first few and how many more past ``limit``."""
    names = [p.short for p in params]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit - 2]) + f" and {len(names) - limit + 2} more"


X = sp.Symbol("x")


def _function_name(a: Activation) -> str:
    """The activation's symbol as a SymPy function name (σ as ``sigma``, so LaTeX gets ``\\sigma``)."""
    name = a.symbol or a.name
    if len(name) == 1 and not name.isascii():
        return unicodedata.name(name).split()[-1].lower()
    return name


def activation_formula(scenario: Scenario, layer: int) -> Math:
    """f(x) of a layer's activation, symbolically, from the registry's entry."""
    a = scenario.activation(layer)
    expr = symbolic.activation(a, X)
    if expr is None:  # softmax, written per output unit k of K
        k, j, K = sp.symbols("k j K", integer=True, positive=True)
        xs = sp.IndexedBase("x")
        return sym(sp.Eq(sp.Indexed(sp.IndexedBase("softmax"), k),
                         sp.exp(xs[k]) / sp.Sum(sp.exp(xs[j]), (j, 1, K)), evaluate=False))
    name = _function_name(a)
    call = sp.Function("f" if getattr(expr, "func", None) is getattr(sp, name, None) else name)(X)
    return sym(sp.Eq(call, expr, evaluate=False))


def activation_call(scenario: Scenario, layer: int, arg: sp.Basic) -> sp.Basic:
    return sp.Function(_function_name(scenario.activation(layer)))(arg)


def loss_term_formula(scenario: Scenario) -> tuple[Math, str]:
    """The per-output error term E_k = … (the registry's) and how a batch combines examples, in words."""
    t, o, K = sp.Symbol("t_k"), sp.Symbol("o_k"), sp.Symbol("K")
    loss = scenario.loss
    combine = "summed" if loss.reduction == "sum" else "averaged"
    return sym(sp.Eq(sp.Symbol("E_k"), symbolic.loss_term(loss, o, t, K), evaluate=False)), combine


def _names_grid(s: Scenario, l: int) -> Grid:
    w = s.weights[l - 1]
    names: list[list[sp.Basic]] = [[sp.Symbol("?")] * w.shape[1] for _ in range(w.shape[0])]
    for p in s.params:
        for r in (range(w.shape[0]) if p.shared else (p.row,)) if p.layer == l else ():  # shared: every row
            names[r][p.col] = sp.Symbol(p.short)
    return Grid(names)


def network(s: Scenario) -> list[Block]:
    b: list[Block] = [Heading(2, "The network")]
    rows: list[tuple[Inline, ...]] = [("1 (input)", str(s.layers[0]), "none (the inputs)", "")]
    for l in range(2, s.n_layers + 1):
        label = f"{l} (output)" if l == s.n_layers else f"{l} (hidden)"
        a = s.activation(l)
        rows.append((label, str(s.layers[l - 1]), a.name, activation_formula(s, l)))
    b.append(Table(("layer", "units", "activation", "formula"), tuple(rows), "llll"))
    if s.shared_bias:
        b.append(para("One bias per layer, shared by all its units (bias = \"shared\"): column 0 of each weight "
                      "matrix holds it in every row, and its gradient is the sum over the units it feeds; column j "
                      "holds the weights from unit j of the layer below; row i feeds unit i of the layer above."))
    elif s.bias:
        b.append(para("A bias unit of value 1 feeds every layer after the input: column 0 of each weight "
                      "matrix holds the bias weights, column j the weights from unit j of the layer below; "
                      "row i feeds unit i of the layer above."))
    else:
        b.append(para("No bias units: column j of each weight matrix holds the weights from unit j of the layer "
                      "below; row i feeds unit i of the layer above."))
    term, combine = loss_term_formula(s)
    b.append(para(f"Loss {s.loss.name}: per example the sum over the output units k = 1…K of the error terms ",
                  term, f", {combine} over the examples of a batch."))
    lr = s.learning_rate
    rule = Math(r"p \leftarrow p - \alpha \frac{\partial E}{\partial p}", "p ← p − α·∂E/∂p")
    b.append(para("Training: learning rate ", joined(sym(sp.Symbol("alpha")), " = ", num(lr)), ", ",
                  "batch updates, one per epoch over all examples" if s.update == "batch"
                  else "online updates, one per example in order, each from the weights the previous example left"
                  if s.update == "online" else
                  f"updates on mini-batches of {s.plan.batch_size} examples, each from the weights the previous "
                  "one left" + (f", the examples reshuffled every epoch (seed {s.plan.seed})" if s.plan.shuffle
                                else ""),
                  f"; the scenario runs {plural(s.epochs, 'epoch')}. ",
                  *(("Every update is plain gradient descent, ", rule, ".") if s.plan.is_plain else
                    (f"Every update is {s.plan.optimizer.title}'s, written out under Update below.",))))
    if s.frozen:
        b.append(para(f"Frozen (never updated): {name_list([p for p in s.params if p.canonical in s.frozen])}."))
    if s.init:
        extra = f" in [{s.init.low:g}, {s.init.high:g}]" if s.init.method == "uniform" else ""
        b.append(para(f"The starting weights were generated: {s.init.method}{extra}, seed {s.init.seed}."))
    b.append(Heading(3, "Starting weights"))
    lines = []
    for l in range(1, s.n_layers):
        w = s.weights[l - 1]
        grid = _names_grid(s, l)
        lines.append(equation(theta(l), "=", grid, "=", Grid(w.tolist())))
    b.append(Display(tuple(lines)))
    if any(Grid(w.tolist()).cut for w in s.weights):
        b.append(para("Large matrices are shown with their first and last rows and columns."))
    return b


def data(s: Scenario) -> list[Block]:
    b: list[Block] = [Heading(2, "The data")]
    n_in, n_out = s.layers[0], s.layers[-1]
    cols_in, cols_out = pick(n_in, DATA_COLS[0]), pick(n_out, DATA_COLS[1])
    header: list[Inline] = ["example"]
    header += [sym(f"x{j + 1}") if j is not None else "…" for j in cols_in]
    header += [sym(f"t{k + 1}") if k is not None else "…" for k in cols_out]
    rows: list[tuple[Inline, ...]] = []
    for i in pick(s.n_examples, TABLE_ROWS):
        if i is None:
            rows.append(tuple(["…"] * len(header)))
            continue
        row: list[Inline] = [str(i + 1)]
        row += [num(s.inputs[i, j]) if j is not None else "…" for j in cols_in]
        row += [num(s.targets[i, k]) if k is not None else "…" for k in cols_out]
        rows.append(tuple(row))
    b.append(Table(tuple(header), tuple(rows), "r" * len(header)))
    b.append(para(f"{plural(s.n_examples, 'example')}: inputs x, targets t."))
    return b
