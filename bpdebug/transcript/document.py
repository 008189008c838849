"""The structure shared by the md, tex and txt transcripts: one worked example, built once as blocks.

A transcript is a sequence of :class:`Heading`, :class:`Paragraph`, :class:`Display` and :class:`Table`
blocks. Every piece of mathematics is a :class:`Math` holding its LaTeX (for md and tex) and its unicode
rendering (for txt, from SymPy's pretty printer) side by side, so the three formats say the same thing
with the same numbers and differ only in how they write it. All numbers come from the engine's trace;
the chain rules come from :func:`bpdebug.derivation.derive`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm

from ..core import optimizers
from ..core.engine import Divergence, EpochRecord, PassRecord, Trace
from ..core.functions import Activation
from ..core.params import Param
from ..core.scenario import Scenario
from ..text import numbers

if TYPE_CHECKING:
    from . import Options, WhatIf

ALL_PARAMS_LIMIT = 24  # up to this many parameters, every chain rule is written out by default
PER_LAYER = (2, 1)  # otherwise: the first 2 weights and the first bias of each weight matrix
MATRIX_ROWS, MATRIX_COLS = 6, 6  # larger matrices are shown with their first and last rows/columns
DATA_COLS = (5, 4)  # input and target columns of the data table, likewise
TABLE_ROWS = 12  # larger tables (data, error terms, updates) likewise
MINI_BATCH_ROWS = 10  # a mini-batch's heading names at most this many of its examples
FULL_PASSES = 4  # online epochs with more examples show the first 3 and the last example in full
LOSS_ROWS = 60  # longer loss tables show every k-th epoch


# ------------------------------------------------------------------------------------------------ blocks

@dataclass(frozen=True)
class Math:
    """A formula as LaTeX (no ``$`` delimiters) and as unicode text (one line, or several for display)."""

    latex: str
    text: str
    baseline: int = 0  # the text line a formula sits on (a fraction's bar), for setting it beside others


@dataclass(frozen=True)
class Code:
    """Inline code or a file name, written verbatim."""

    text: str


Inline = str | Math | Code


@dataclass(frozen=True)
class Heading:
    level: int  # 1 = the title
    text: str


@dataclass(frozen=True)
class Paragraph:
    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Display:
    """Display equations, one per line, in order; ``group`` when they read as one derivation (set flush
    left together rather than centred one by one)."""

    lines: tuple[Math, ...]
    group: bool = False


@dataclass(frozen=True)
class Table:
    header: tuple[Inline, ...]
    rows: tuple[tuple[Inline, ...], ...]
    align: str  # one of "l", "r", "c" per column


Block = Heading | Paragraph | Display | Table


@dataclass(frozen=True)
class Document:
    title: str
    blocks: tuple[Block, ...]


def para(*parts: Inline) -> Paragraph:
    return Paragraph(tuple(p for p in parts if p != ""))


# ----------------------------------------------------------------------------------------------- numbers

def number_text(v: float) -> str:
    """A number as the text transcript writes it (ASCII minus, as SymPy's pretty printer writes operators)."""
    return numbers.number(v, minus="-")


def number_latex(v: float) -> str:
    return numbers.number_latex(v)


def num(v: float) -> Math:
    return Math(number_latex(v), number_text(v))


def printed_value(values: Sequence[float], scalar: bool) -> Math:
    """A figure as a text printed it (``repr``: exactly what the scenario records)."""
    items = [repr(float(v)) for v in values]
    if scalar:
        return Math(items[0], items[0])
    return Math(r"\left[" + ", ".join(items) + r"\right]", "[" + ", ".join(items) + "]")


def values(vs: Iterable[float]) -> Math:
    items = [num(v) for v in vs]
    return Math(r"\left[" + ", ".join(m.latex for m in items) + r"\right]",
                "[" + ", ".join(m.text for m in items) + "]")


# ---------------------------------------------------------------------------------------------- formulas

@lru_cache(maxsize=1)
def _printer() -> PrettyPrinter:
    return PrettyPrinter({"use_unicode": True, "wrap_line": False, "order": "none"})


def sym(expr: sp.Basic | str) -> Math:
    """A SymPy expression (or symbol name) printed both ways."""
    if isinstance(expr, str):
        expr = sp.Symbol(expr)
    picture = _printer()._print(expr)
    return _math(sp.latex(expr, order="none"), picture)


def _math(latex: str, picture: prettyForm) -> Math:
    """Math from LaTeX and a SymPy picture, the baseline counted without the dropped spacer lines."""
    lines = picture.render(wrap_line=False).split("\n")
    dropped = sum(1 for line in lines[:picture.baseline] if set(line.rstrip()) <= _SPACER
                  and set(line.rstrip()) - {" "})
    return Math(latex, _render(picture), picture.baseline - dropped)


_SPACER = frozenset(" ⎢⎥")


def _render(picture: prettyForm) -> str:
    """The picture's text, without the spacer lines SymPy puts between a matrix's rows when a whole line
    of the picture is only such spacers (so every part loses the same line and stays aligned)."""
    lines = [line.rstrip() for line in picture.render(wrap_line=False).split("\n")]
    return "\n".join(line for line in lines if not (set(line) <= _SPACER and set(line) - {" "}))


def joined(*items: Math | str, sep: str = "") -> Math:
    """Inline pieces side by side (single-line text)."""
    ms = [i if isinstance(i, Math) else Math(i, i) for i in items]
    return Math(sep.join(m.latex for m in ms), sep.join(m.text for m in ms))


class Grid:
    """A matrix of numbers or symbols, cut to its first and last rows and columns when large."""

    def __init__(self, cells: Sequence[Sequence[float | sp.Basic]], max_rows: int = MATRIX_ROWS,
                 max_cols: int = MATRIX_COLS) -> None:
        n_rows, n_cols = len(cells), len(cells[0])
        self.rows = _pick(n_rows, max_rows)
        self.cols = _pick(n_cols, max_cols)
        self.cells = cells
        self.shape = (n_rows, n_cols)

    @property
    def cut(self) -> bool:
        return None in self.rows or None in self.cols

    def _cell(self, r: int | None, c: int | None, latex: bool) -> str | sp.Basic:
        if r is None and c is None:
            return r"\ddots" if latex else sp.Symbol("⋱")
        if r is None:
            return r"\vdots" if latex else sp.Symbol("⋮")
        if c is None:
            return r"\cdots" if latex else sp.Symbol("⋯")
        v = self.cells[r][c]
        if isinstance(v, sp.Basic):
            return sp.latex(v) if latex else v
        return number_latex(v) if latex else sp.Symbol(number_text(v))

    def latex(self) -> str:
        body = r" \\ ".join(" & ".join(self._cell(r, c, True) for c in self.cols) for r in self.rows)  # type: ignore[misc]
        return r"\begin{bmatrix} " + body + r" \end{bmatrix}"

    def pretty(self) -> prettyForm:
        m = sp.Matrix([[self._cell(r, c, False) for c in self.cols] for r in self.rows])
        return _printer()._print(m)


# ------------------------------------------------------------------------------------------- exercises

EXERCISE_PARTS = ("forward", "error", "gradients", "updates")  # what an exercise sheet can blank
BLANK = "_" * 8


class Blank(sp.Symbol):
    """A numbered blank where a result was (``(7) ________``), or a pointer to an earlier one (``(7)``)."""

    def _pretty(self, printer: object) -> prettyForm:
        return prettyForm(self.name)

    def _latex(self, printer: object) -> str:
        return r"\text{" + self.name.replace("_", r"\_") + "}"


@dataclass
class Sheet:
    """The blanks of an exercise sheet as the document is built: which parts are blanked, and the answers."""

    parts: frozenset[str]
    answers: list[tuple[int, str, float]] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)  # label -> blank number

    def blank(self, label: str, v: float, shown: str | None = None) -> Blank:
        """The blank of the result ``label`` (a new number, or the one it already has); ``shown`` is how the
        answer key names it, when not by ``label``."""
        if label in self.numbers:
            return Blank(f"({self.numbers[label]})")
        n = len(self.answers) + 1
        self.numbers[label] = n
        self.answers.append((n, shown or label, v))
        return Blank(f"({n}) {BLANK}")


Names = Callable[[int, int], str]  # entry (row, column) of a grid -> how an answer key names it
_SHEET: ContextVar[Sheet | None] = ContextVar("exercise_sheet", default=None)


@contextmanager
def _exercise(parts: frozenset[str] | None) -> Iterator[Sheet | None]:
    sheet = Sheet(parts) if parts is not None else None
    token = _SHEET.set(sheet)
    try:
        yield sheet
    finally:
        _SHEET.reset(token)


def _blanked(part: str) -> Sheet | None:
    sheet = _SHEET.get()
    return sheet if sheet is not None and part in sheet.parts else None


def matrix_entry(r: int, c: int, bias: bool) -> str:
    """Entry (r, c) of a weight matrix (0-based array indices) as the canonical names write it, ``[i,j]``."""
    return f"[{r + 1},{c if bias else c + 1}]"


def answer_name(q: Param, after: bool, example: int | None = None) -> str:
    """How an answer key names a parameter's gradient or new value: by the scenario's short name, with the
    canonical name once in brackets, ``grad.w5 (grad.theta2[1,1])``, ``w5.after (theta2.after[1,1], example 2)``."""
    short, canonical = (f"{q.short}.after", q.canonical.replace("[", ".after[", 1)) if after else \
        (f"grad.{q.short}", f"grad.{q.canonical}")
    return f"{short} ({canonical}" + (f", example {example})" if example is not None else ")")


def _param_answers(s: Scenario | None, l: int, after: bool, example: int | None) -> Names | None:
    """The answer key's names of theta_l's entries (gradient or new value), when the scenario is known."""
    if s is None:
        return None
    return lambda r, c: answer_name(s.params.at(l, r, c), after, example)


def result_grid(part: str, label: str, cells: list[list[float]], bias: bool | None = None,
                names: Names | None = None) -> Grid:
    """A grid of results: the numbers, or on an exercise sheet that blanks ``part`` numbered blanks (the
    same blank number again where a result already blanked is used). ``bias``: the grid is a weight matrix
    (entries named theta_l[i,j], column 0 the bias when True); None: a layer's units by examples. ``names``:
    how the answer key names entry (r, c), when not by the label."""
    sheet = _blanked(part)
    if sheet is None:
        return Grid(cells)
    grid = Grid(cells)
    out: list[list[float | sp.Basic]] = [list(row) for row in cells]
    single_col = grid.shape[1] == 1
    for r in grid.rows:
        for c in grid.cols:
            if r is not None and c is not None:
                if bias is not None:
                    entry = matrix_entry(r, c, bias)
                else:
                    entry = f"[{r + 1}]" if single_col else f"[{r + 1},{c + 1}]"
                if names is not None:
                    shown: str | None = names(r, c)
                else:  # the unit before the pass's tag: z2[1] (example 3)
                    base, sep, tag = label.partition(" (")
                    shown = base + entry + sep + tag if sep else None
                out[r][c] = sheet.blank(label + entry, float(cells[r][c]), shown)
    return Grid(out)


def result_num(part: str, label: str, v: float, shown: str | None = None) -> Math:
    """A result number, or its blank on an exercise sheet that blanks ``part`` (``shown``: how the answer key
    names it, when not by the label)."""
    sheet = _blanked(part)
    if sheet is None:
        return num(v)
    b = sheet.blank(label, float(v), shown)
    return Math(b._latex(None), b.name)


def _answers(sheet: Sheet) -> list[Block]:
    rows = tuple((f"({n})", Code(label), num(v)) for n, label, v in sheet.answers)
    return [Heading(2, "Answers"),
            para(f"The {len(rows)} blank{_s(len(rows))} of this sheet, as bpdebug computes them:"),
            Table(("blank", "quantity", "answer"), rows, "llr")]


def _pick(n: int, limit: int) -> list[int | None]:
    """All of 0..n-1, or the first limit-2, an ellipsis (None) and the last."""
    if n <= limit:
        return list(range(n))
    return [*range(limit - 2), None, n - 1]


def equation(*parts: sp.Basic | Grid | str | tuple[str, str]) -> Math:
    """Display math from SymPy expressions, grids and operators (``"="``, ``"·"``, ``"-"`` or a
    ``(latex, text)`` pair); the text is laid out in two dimensions by SymPy's pretty printer."""
    ops = {"=": (" = ", " = "), "·": (r" \cdot ", "⋅"), "-": (" - ", " - "), "+": (" + ", " + "),
           "<-": (r" \leftarrow ", " ← ")}
    latex: list[str] = []
    forms: list[prettyForm | str] = []
    for part in parts:
        if isinstance(part, Grid):
            latex.append(part.latex())
            forms.append(part.pretty())
        elif isinstance(part, sp.Basic):
            latex.append(sp.latex(part, order="none"))
            forms.append(_printer()._print(part))
        else:
            lx, tx = ops[part] if isinstance(part, str) else part
            latex.append(lx)
            forms.append(tx)
    first = forms[0] if isinstance(forms[0], prettyForm) else prettyForm(forms[0])
    picture = prettyForm(*first.right(*forms[1:])) if len(forms) > 1 else first
    return _math("".join(latex), picture)


def _partial(of: str, by: sp.Basic) -> tuple[str, str]:
    """∂of/∂by as an operator-like piece: LaTeX fraction and unicode text."""
    return (rf"\frac{{\partial {of}}}{{\partial {sp.latex(by)}}}", f"∂{of}/∂{sp.pretty(by, use_unicode=True)}")


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
    expr = a.sympy(X)
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
    assert loss.term is not None
    combine = "summed" if loss.reduction == "sum" else "averaged"
    return sym(sp.Eq(sp.Symbol("E_k"), loss.term(o, t, K), evaluate=False)), combine


# ----------------------------------------------------------------------------------------- the selection

def chosen_params(scenario: Scenario, weights: tuple[str, ...] | None) -> tuple[tuple[Param, ...], str | None]:
    """Whose chain rule is written out, and a sentence saying so when it is a bounded selection."""
    params = tuple(scenario.params)
    if weights is not None:
        return tuple(scenario.params.get(name) for name in weights), None
    if len(params) <= ALL_PARAMS_LIMIT:
        return params, None
    picked: list[Param] = []
    n_weights, n_biases = PER_LAYER
    for l in range(1, scenario.n_layers):
        in_layer = [p for p in params if p.layer == l]
        picked += [p for p in in_layer if not p.is_bias][:n_weights]
        picked += [p for p in in_layer if p.is_bias][:n_biases]
    names = ", ".join(p.short for p in picked)
    note = (f"This network has {len(params)} parameters; the chain rule is written out for a selection, "
            f"the first {n_weights} weights" + (" and the first bias" if scenario.bias else "")
            + f" of each weight matrix: {names}. Choose others with --weight NAME.")
    return tuple(picked), note


# --------------------------------------------------------------------------------------------- the build

def build(trace: Trace, options: Options) -> Document:
    """The whole worked example as blocks (an exercise sheet when ``options.exercise`` names parts to blank)."""
    with _exercise(getattr(options, "exercise", None)) as sheet:
        return _build(trace, options, sheet)


def _build(trace: Trace, options: Options, sheet: Sheet | None) -> Document:
    s = trace.scenario
    epochs = 1 if sheet is not None else options.epochs  # an exercise sheet is the first epoch
    chosen, note = chosen_params(s, options.weights)
    b: list[Block] = [Heading(1, s.title)]
    mode = ("batch updates (one per epoch)" if s.update == "batch" else "online updates (one per example)"
            if s.update == "online" else f"updates on mini-batches of {s.plan.batch_size}")
    if not s.plan.is_plain:
        mode += f" with {s.plan.optimizer.title}"
    what_if = None if sheet is not None else getattr(options, "what_if", None)
    if what_if is None:
        b.append(para("A worked example of backpropagation, computed by bpdebug from ", Code(s.path), ": ",
                      f"{epochs} epoch{_s(epochs)} of {mode}."))
    else:
        start = (f" Its epoch 1 is epoch {what_if.epoch} of the original run, whose training it continues."
                 if what_if.epoch > 1 else "")
        b.append(para("A worked example of backpropagation, computed by bpdebug on a what-if fork of ",
                      Code(what_if.source), f" ({what_if.describe()}): {epochs} epoch{_s(epochs)} of {mode}.{start}"))
    if sheet is not None:
        b.append(para("An exercise: the results (" + ", ".join(p for p in EXERCISE_PARTS if p in sheet.parts)
                      + f") are blanked and numbered, {BLANK}; work each out from the numbers before it. "
                      "The answers are at the end."))
    if s.description:
        b.append(para(s.description))
    b += _network(s)
    b += _data(s)
    diverged = trace.divergence(epochs)
    finite = epochs if diverged is None else diverged.epoch - 1  # epochs whose every number is finite
    full = set(range(1, finite + 1)) if options.full else {1, finite} - {0}
    for e in range(1, finite + 1):
        if e in full:
            b += _epoch(trace, trace.epoch(e), chosen, note, what_if)
        elif e - 1 in full:
            last = max(x for x in full if x > e)
            b.append(Heading(2, f"Epochs {e} to {last - 1}" if last - 1 > e else f"Epoch {e}"))
            b.append(para("Computed the same way; their losses are in the table below (use --full to write "
                          "every epoch out)."))
    if sheet is not None:  # the loss table, the trained weights and the checked figures would give answers away
        if diverged is not None:
            b += _divergence(diverged)
        b += _answers(sheet)
        return Document(s.title, tuple(b))
    if finite > 1:
        b += _loss_table(trace, finite)
    if diverged is not None:
        b += _divergence(diverged)
    else:
        b += _after(trace, epochs)
    b += _expectations(trace)
    return Document(s.title, tuple(b))


def _divergence(d: Divergence) -> list[Block]:
    """Where the run stops being finite: the transcript says so and stops there."""
    return [Heading(2, f"Epoch {d.epoch}: the numbers stop being finite"),
            para(f"The run stops being finite at {d.describe()}. Every number after it is inf or nan, so the "
                 "transcript stops here; the epochs above are computed exactly as the engine does."),
            para("A smaller learning rate, smaller starting weights or inputs, or a loss that suits the output "
                 "activation usually keep the numbers finite.")]


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _theta(l: int) -> sp.Symbol:
    return sp.Symbol(f"Theta{l}")


def _names_grid(s: Scenario, l: int) -> Grid:
    w = s.weights[l - 1]
    names: list[list[sp.Basic]] = [[sp.Symbol("?")] * w.shape[1] for _ in range(w.shape[0])]
    for p in s.params:
        for r in (range(w.shape[0]) if p.shared else (p.row,)) if p.layer == l else ():  # shared: every row
            names[r][p.col] = sp.Symbol(p.short)
    return Grid(names)


def _network(s: Scenario) -> list[Block]:
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
                  f"; the scenario runs {s.epochs} epoch{_s(s.epochs)}. ",
                  *(("Every update is plain gradient descent, ", rule, ".") if s.plan.is_plain else
                    (f"Every update is {s.plan.optimizer.title}'s, written out under Update below.",))))
    if s.frozen:
        b.append(para(f"Frozen (never updated): {_name_list([p for p in s.params if p.canonical in s.frozen])}."))
    if s.init:
        extra = f" in [{s.init.low:g}, {s.init.high:g}]" if s.init.method == "uniform" else ""
        b.append(para(f"The starting weights were generated: {s.init.method}{extra}, seed {s.init.seed}."))
    b.append(Heading(3, "Starting weights"))
    lines = []
    for l in range(1, s.n_layers):
        w = s.weights[l - 1]
        grid = _names_grid(s, l)
        lines.append(equation(_theta(l), "=", grid, "=", Grid(w.tolist())))
    b.append(Display(tuple(lines)))
    if any(Grid(w.tolist()).cut for w in s.weights):
        b.append(para("Large matrices are shown with their first and last rows and columns."))
    return b


def _data(s: Scenario) -> list[Block]:
    b: list[Block] = [Heading(2, "The data")]
    n_in, n_out = s.layers[0], s.layers[-1]
    cols_in, cols_out = _pick(n_in, DATA_COLS[0]), _pick(n_out, DATA_COLS[1])
    header: list[Inline] = ["example"]
    header += [sym(f"x{j + 1}") if j is not None else "…" for j in cols_in]
    header += [sym(f"t{k + 1}") if k is not None else "…" for k in cols_out]
    rows: list[tuple[Inline, ...]] = []
    for i in _pick(s.n_examples, TABLE_ROWS):
        if i is None:
            rows.append(tuple(["…"] * len(header)))
            continue
        row: list[Inline] = [str(i + 1)]
        row += [num(s.inputs[i, j]) if j is not None else "…" for j in cols_in]
        row += [num(s.targets[i, k]) if k is not None else "…" for k in cols_out]
        rows.append(tuple(row))
    b.append(Table(tuple(header), tuple(rows), "r" * len(header)))
    b.append(para(f"{s.n_examples} example{_s(s.n_examples)}: inputs x, targets t."))
    return b


def _forked_weights(s: Scenario, p: PassRecord, what_if: WhatIf) -> str:
    """The weights the first pass of a what-if fork uses, in words: the original's, with the edits to them."""
    edited = [e for e in what_if.edits if s.params.find(e.split("=")[0]) is not None]
    shown = f"{p.weights_label} of the original run"
    return f"{shown}, edited ({', '.join(edited)})" if edited else shown


def _epoch(trace: Trace, record: EpochRecord, chosen: tuple[Param, ...], note: str | None,
           what_if: WhatIf | None = None) -> list[Block]:
    b: list[Block] = [Heading(2, f"Epoch {record.epoch}")]
    passes = record.passes
    first = None if what_if is None or record.epoch != 1 else _forked_weights(trace.scenario, passes[0], what_if)
    if len(passes) == 1:
        b += _pass(trace, passes[0], chosen, note, 3, first)
    else:
        b.append(para(("Online updates: one pass per example, in order." if passes[0].example is not None else
                       f"Mini-batch updates: one pass per mini-batch of {_batch_size(trace)} examples, in the epoch's "
                       "order.") + " The epoch's loss before its first "
                      "update, over all examples, is ",
                      joined(sym("E"), " = ", result_num("error", f"E (epoch {record.epoch})", record.loss)), "."))
        shown = set(range(min(FULL_PASSES - 1, len(passes)))) | {len(passes) - 1}
        skipped: list[PassRecord] = []
        for i, p in enumerate(passes):
            if i in shown:
                if skipped:
                    b += _skipped(skipped)
                    skipped = []
                b.append(Heading(3, _pass_name(p)))
                b += _pass(trace, p, chosen, note, 4, first if i == 0 else None)
            else:
                skipped.append(p)
    b.append(para(f"Loss of epoch {record.epoch} before its update{'s' if len(passes) > 1 else ''}: ",
                  joined(sym("E"), " = ", result_num("error", f"E (epoch {record.epoch})" if len(passes) > 1
                                                     else "E" + _tag(passes[0]), record.loss)), "."))
    return b


def _pass_name(p: PassRecord) -> str:
    """An online pass by its example ("Example 3"), a mini-batch by its place in the epoch and its examples."""
    if p.example is not None:
        return f"Example {p.example}"
    shown = ", ".join(str(r + 1) for r in p.rows[:MINI_BATCH_ROWS]) + (", …" if len(p.rows) > MINI_BATCH_ROWS else "")
    return f"Mini-batch {p.batch} (examples {shown})"


def _batch_size(trace: Trace) -> int:
    return trace.scenario.plan.size(trace.scenario.n_examples)


def _skipped(passes: list[PassRecord]) -> list[Block]:
    online = passes[0].example is not None
    unit, key = ("example", "example") if online else ("mini-batch", "batch")
    first, last = getattr(passes[0], key), getattr(passes[-1], key)
    heading = f"{unit.capitalize()}{'s' if online else 'es'} {first} to {last}" if last != first else \
        f"{unit.capitalize()} {first}"
    rows = tuple(("…", "…") if p is None else (str(getattr(p, key)), num(p.loss)) for p in _cut(passes, TABLE_ROWS))
    return [Heading(3, heading),
            para(f"Computed the same way, each from the weights the previous {unit} left; the loss of each "
                 f"{unit} before its update:"),
            Table((unit, "loss"), rows, "rr")]


def _with_bias(s: Scenario, a: np.ndarray) -> list[list[float]]:
    """a (examples × units) as columns, with the bias row of ones on top when the network has bias units."""
    cols = a.T.tolist()
    return ([[1.0] * a.shape[0]] + cols) if s.bias else cols


def _pass(trace: Trace, p: PassRecord, chosen: tuple[Param, ...], note: str | None, level: int,
          weights: str | None = None) -> list[Block]:
    """One pass written out; ``weights``: the weights it uses in words, when not :attr:`PassRecord.weights_label`
    (a what-if fork's first pass)."""
    s = trace.scenario
    n = p.numbers
    L = s.n_layers
    b: list[Block] = [Heading(level, "Forward pass")]
    where = "the bias unit 1 on top of each layer's output" if s.bias else "each layer's output"
    b.append(para(f"With {weights or p.weights_label}, one column per example and {where}:"))
    lines = []
    tag = _tag(p)
    for l in range(2, L + 1):
        z, a_prev, a = sp.Symbol(f"z{l}"), sp.Symbol(f"a{l - 1}"), sp.Symbol(f"a{l}")
        lines.append(equation(z, "=", _theta(l - 1), "·", a_prev, "=", _weights_before(p, l - 1), "·",
                              _layer_out(s, p, l - 1), "=", result_grid("forward", f"z{l}{tag}", n.z[l].T.tolist())))
        lines.append(equation(a, "=", activation_call(s, l, z), "=",
                              result_grid("forward", f"a{l}{tag}", n.a[l].T.tolist())))
    b.append(Display(tuple(lines)))
    b.append(para("The outputs are ", joined(sym("o"), " = ", sym(f"a{L}")), "."))
    b += _errors(s, p, level)
    b += _backward(s, p, level)
    b += _chain_rules(trace, p, chosen, note, level)
    b += _update(s, p, chosen, level)
    return b


def _tag(p: PassRecord) -> str:
    """What tells one pass's results from another's on an exercise sheet."""
    return "" if p.example is None else f" (example {p.example})"


def _example(p: PassRecord, update: int | None = None) -> int | None:
    """The example of a pass (or of its ``update``-th, online) on an exercise sheet; None for a batch."""
    return None if p.example is None else (p.example if update is None else update)


def _after_label(l: int, p: PassRecord, update: int) -> str:
    """theta_l after ``update`` (an exercise sheet covers the first epoch: update k is example k's online)."""
    return f"theta{l}.after" + (f" (example {update})" if p.example is not None else "")


def _weights_before(p: PassRecord, l: int) -> Grid:
    """theta_l as the pass starts: given for the first pass, an earlier update's result after it."""
    cells = p.weights_before[l - 1].tolist()
    if p.update == 1:
        return Grid(cells)
    bias = p.scenario.bias if p.scenario is not None else True
    return result_grid("updates", _after_label(l, p, p.update - 1), cells, bias,
                       _param_answers(p.scenario, l, True, _example(p, p.update - 1)))


def _layer_out(s: Scenario, p: PassRecord, l: int) -> Grid:
    """a_l with the bias row, one column per example; a result of the forward pass above the inputs."""
    if l == 1 or _blanked("forward") is None:
        return Grid(_with_bias(s, p.numbers.a[l]))
    cells = result_grid("forward", f"a{l}{_tag(p)}", p.numbers.a[l].T.tolist()).cells
    return Grid(([[1.0] * p.numbers.a[l].shape[0]] if s.bias else []) + [list(row) for row in cells])


def _errors(s: Scenario, p: PassRecord, level: int) -> list[Block]:
    n = p.numbers
    tag = _tag(p)
    term, combine = loss_term_formula(s)
    b: list[Block] = [Heading(level, "Errors")]
    b.append(para("The error terms, ", term, ", for each output unit k:"))
    rows: list[tuple[Inline, ...]] = []
    examples = list(p.rows)
    pairs = [(i, k) for i in range(len(examples)) for k in range(n.terms.shape[1])]
    for idx in _pick(len(pairs), TABLE_ROWS):
        if idx is None:
            rows.append(("…", "…", "…", "…", "…"))
            continue
        i, k = pairs[idx]
        unit = f"[{k + 1}]" if len(examples) == 1 else f"[{k + 1},{i + 1}]"
        rows.append((str(examples[i] + 1), str(k + 1), num(p.targets[i, k]),
                     result_num("forward", f"a{s.n_layers}{tag}{unit}", n.a[-1][i, k]),
                     result_num("error", f"E_{k + 1}{tag}" + (f" example {examples[i] + 1}" if len(examples) > 1
                                                                else ""), n.terms[i, k])))
    b.append(Table(("example", "output k", sym("t_k"), sym("o_k"), sym("E_k")), tuple(rows), "rrrrr"))
    flat = [float(v) for v in n.terms.ravel()]
    total = sym("E")
    if len(examples) == 1 and len(flat) <= 8:
        names = [sym(f"E_{k + 1}") for k in range(len(flat))]
        line = joined(total, " = ", joined(*names, sep=" + "), " = ",
                      joined(*[result_num("error", f"E_{k + 1}{tag}", v) for k, v in enumerate(flat)], sep=" + "),
                      " = ", result_num("error", f"E{tag}", n.loss))
    else:
        how = "the sum" if combine == "summed" else "the mean"
        line = joined(total, " = ", result_num("error", f"E{tag}", n.loss))
        b.append(para(f"The total error is {how} over the examples of each example's sum of error terms:"))
    b.append(Display((line,)))
    return b


def _backward(s: Scenario, p: PassRecord, level: int) -> list[Block]:
    n = p.numbers
    L = s.n_layers
    b: list[Block] = [Heading(level, "Backward pass")]
    b.append(para("The deltas ", joined(sym(sp.Symbol("delta_l")), " = ", Math(r"\partial E/\partial z_{l}", "∂E/∂zₗ")),
                  ", one column per example, and the gradients of the weight matrices (summed over the examples "
                  "of the pass):"))
    lines = []
    tag = _tag(p)
    for l in range(L, 1, -1):
        lines.append(equation(sp.Symbol(f"delta{l}"), "=", _partial("E", sp.Symbol(f"z{l}")), "=",
                              result_grid("gradients", f"delta{l}{tag}", n.delta[l].T.tolist())))
    for l in range(L - 1, 0, -1):
        a_t = _layer_out(s, p, l)
        lines.append(equation(_partial("E", _theta(l)), "=", sp.Symbol(f"delta{l + 1}"), "·",
                              sp.Symbol(f"a{l}") ** sp.Symbol("T"), "=",
                              result_grid("gradients", f"delta{l + 1}{tag}", n.delta[l + 1].T.tolist()), "·",
                              Grid([list(row) for row in zip(*a_t.cells, strict=True)]), "=",
                              result_grid("gradients", f"grad.theta{l}{tag}", n.gradients[l - 1].tolist(),
                                          s.bias, _param_answers(s, l, False, _example(p)))))
    b.append(Display(tuple(lines)))
    if s.shared_bias:
        b.append(para("The biases are shared, so column 0 of each gradient is not row i's δ·1 but the shared bias's "
                      "gradient, the sum of those over the units it feeds, written in every row."))
    return b


def _chain_rules(trace: Trace, p: PassRecord, chosen: tuple[Param, ...], note: str | None,
                 level: int) -> list[Block]:
    from ..derivation import derive

    index = trace.first_step_of(p.epoch, p.example, "update")
    step = trace.step(index)
    b: list[Block] = [Heading(level, "Chain rule" + ("s" if len(chosen) > 1 else ""))]
    if _blanked("gradients") is not None or _blanked("updates") is not None:
        return b + [para("Work out each parameter's gradient by the chain rule, ∂E/∂w = ∂E/∂out · ∂out/∂net · "
                         "∂net/∂w, factor by factor; the gradients above are its results.")]
    b.append(para("Each parameter's gradient by the chain rule: first in symbols, then each factor's closed form "
                  "and number, the product, its value and the update. Here net and out are one unit's entries "
                  "of z and a (h: hidden units, o: outputs, i: inputs) and E_total is the loss E."))
    if note:
        b.append(para(note))
    for q in chosen:
        d = derive(step, q, scenario=trace.scenario)
        b.append(Heading(level + 1, f"{q.short} ({q.canonical})"))
        b.append(Display(_pair_lines(d.latex_lines(), d.text_lines()), group=True))
    return b


def _pair_lines(latex: list[str], text: list[str]) -> tuple[Math, ...]:
    """Derivation lines in both notations; when the two lists differ in length, each keeps its own."""
    if len(latex) == len(text):
        return tuple(Math(lx, tx) for lx, tx in zip(latex, text, strict=True))
    return (Math(r" \\ ".join(latex), "\n".join(text)),)


def _optimizer_update(s: Scenario, p: PassRecord, chosen: tuple[Param, ...], level: int) -> list[Block]:
    """An optimizer's update: its definition (the registry's rule, printed), each chosen parameter's rule with
    this pass's numbers, and a table with the state after the update."""
    from ..text.update_rule import rule_lines, update_rule

    opt, plan = s.plan.optimizer, s.plan
    b: list[Block] = [Heading(level, "Update")]
    decay = bool(plan.hyper.weight_decay)
    names = [("learning_rate", "η")] + [(k, "") for k in opt.hyperparameters] + ([("weight_decay", "λ")] if decay
                                                                                   else [])
    values = ", ".join(f"{k} = {number_text(getattr(plan.hyper, k))}" for k, _ in names)
    b.append(para(f"{opt.title}, as {opt.torch} defines it ({values}), for each parameter p with the gradient g of "
                  "this pass, top to bottom" + (", the state starting at 0" if opt.state_names else "")
                  + (f"; t = {p.update} counts the updates" if opt.uses_step_count else "")
                  + (". A frozen parameter keeps its value and its state." if s.frozen else ":")))
    b.append(Display(tuple(Math(tex, txt) for txt, tex in rule_lines(opt, decay)), group=True))
    frozen = {q.canonical for q in s.params if q.canonical in s.frozen}
    for q in _cut([q for q in chosen if q.canonical not in frozen], TABLE_ROWS):
        if q is None:
            continue
        rows = update_rule(p, q)
        b.append(para(f"{q.short}:"))
        b.append(Display(tuple(Math(r.latex_line(), r.line()) for r in rows), group=True))
    header: tuple[Inline, ...] = ("parameter", "before", Math(r"\partial E/\partial p", "∂E/∂p"),
                                  *(f"{optimizers.TEXT_NAMES.get(k, k)} after" for k in opt.state_names), "after")
    table: list[tuple[Inline, ...]] = []
    for q in _cut(list(chosen), TABLE_ROWS):
        if q is None:
            table.append(("…",) * len(header))
            continue
        cells: list[Inline] = [q.short + (" (frozen)" if q.canonical in frozen else ""),
                               num(float(p.weights_before[q.layer - 1][q.row, q.col])),
                               num(float(p.numbers.gradients[q.layer - 1][q.row, q.col]))]
        cells += [num(p.state(k, q) or 0.0) for k in opt.state_names]
        cells.append(num(float(p.weights_after[q.layer - 1][q.row, q.col])))
        table.append(tuple(cells))
    b.append(Table(header, tuple(table), "l" + "r" * (len(header) - 1)))
    return b


def _update(s: Scenario, p: PassRecord, chosen: tuple[Param, ...], level: int) -> list[Block]:
    if not s.plan.is_plain:
        return _optimizer_update(s, p, chosen, level)
    n = p.numbers
    b: list[Block] = [Heading(level, "Update")]
    frozen = [q for q in s.params if q.canonical in s.frozen]
    lines = []
    for l in range(1, s.n_layers):
        gradient = np.array(n.gradients[l - 1])
        for q in frozen:  # a frozen parameter takes no step: its entry of the step is 0
            if q.layer == l:
                gradient[q.cells] = 0.0
        step = _partial("E", _theta(l))
        step = (r"\alpha " + step[0], "α⋅" + step[1])
        shown_gradient = result_grid("gradients", f"grad.theta{l}{_tag(p)}", gradient.tolist(), s.bias,
                                     _param_answers(s, l, False, _example(p)))
        lines.append(equation(_theta(l), "<-", _theta(l), "-", step, "=",
                              _weights_before(p, l), "-", (number_latex(s.learning_rate) + r" \cdot ",
                                                           number_text(s.learning_rate) + "⋅"),
                              shown_gradient, "=",
                              result_grid("updates", _after_label(l, p, p.update),
                                          p.weights_after[l - 1].tolist(), s.bias,
                                          _param_answers(s, l, True, _example(p, p.update)))))
    if frozen:
        names = _name_list(frozen)
        b.append(para(f"Gradient descent on every weight matrix; the frozen parameters ({names}) keep their value, "
                      "so their entries of the gradient are written 0:"))
    else:
        b.append(para("Gradient descent on every weight matrix:"))
    if s.shared_bias:
        b.append(para("Column 0 of each gradient is its layer's shared bias: one number, the sum over the units it "
                      "feeds, written in every row, so the bias stays one number."))
    b.append(Display(tuple(lines)))
    shown = chosen
    rows: list[tuple[Inline, ...]] = []
    for q in _cut(list(shown), TABLE_ROWS):
        if q is None:
            rows.append(("…", "…", "…", "…"))
            continue
        before = float(p.weights_before[q.layer - 1][q.row, q.col])
        grad = float(n.gradients[q.layer - 1][q.row, q.col])
        after = float(p.weights_after[q.layer - 1][q.row, q.col])
        name = q.short + (" (frozen)" if q.canonical in s.frozen else "")
        entry = "[*,0]" if q.shared else matrix_entry(q.row, q.col, s.bias)
        if p.update == 1:
            shown_before = num(before)
        else:
            shown_before = result_num("updates", _after_label(q.layer, p, p.update - 1) + entry, before,
                                      answer_name(q, True, _example(p, p.update - 1)))
        rows.append((name, shown_before,
                     result_num("gradients", f"grad.theta{q.layer}{_tag(p)}{entry}", grad,
                                answer_name(q, False, _example(p))),
                     result_num("updates", _after_label(q.layer, p, p.update) + entry, after,
                                answer_name(q, True, _example(p, p.update)))))
    b.append(Table(("parameter", "before", Math(r"\partial E/\partial p", "∂E/∂p"), "after"), tuple(rows), "lrrr"))
    return b


def _name_list(params: list[Param], limit: int = TABLE_ROWS) -> str:
    names = [p.short for p in params]
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit - 2]) + f" and {len(names) - limit + 2} more"


def _cut(items: list, limit: int) -> list:
    return [items[i] if i is not None else None for i in _pick(len(items), limit)]


def _loss_table(trace: Trace, epochs: int) -> list[Block]:
    b: list[Block] = [Heading(2, "Loss per epoch")]
    if epochs <= LOSS_ROWS:
        shown = list(range(1, epochs + 1))
        b.append(para("The loss of each epoch before its first update:"))
    else:
        stride = math.ceil(epochs / (LOSS_ROWS - 10))
        shown = sorted(set(range(1, epochs + 1, stride)) | set(range(1, 6)) | {epochs})
        b.append(para(f"The loss of every {stride}th epoch before its first update (the first five and the last "
                      "too; the json transcript has every epoch):"))
    b.append(Table(("epoch", "loss"), tuple((str(e), num(trace.loss(e))) for e in shown), "rr"))
    return b


def _after(trace: Trace, epochs: int) -> list[Block]:
    s = trace.scenario
    loss, outputs, weights = trace.final(epochs)
    b: list[Block] = [Heading(2, f"After {epochs} epoch{_s(epochs)}")]
    b.append(para("The loss over all examples with the trained weights is ", joined(sym("E"), " = ", num(loss)),
                  "; the outputs, one column per example, and the weights:"))
    lines = [equation(sp.Symbol("o"), "=", Grid(np.asarray(outputs).T.tolist()))]
    lines += [equation(_theta(l), "=", Grid(weights[l - 1].tolist())) for l in range(1, s.n_layers)]
    b.append(Display(tuple(lines)))
    return b


def _expectations(trace: Trace) -> list[Block]:
    results = trace.check_all()
    if not results:
        return []
    held = sum(r.holds for r in results)
    b: list[Block] = [Heading(2, "Printed figures checked")]
    b.append(para(f"The scenario records {len(results)} figure{_s(len(results))} a text printed; {held} of "
                  f"{len(results)} hold{'s' if held == 1 else ''} within their tolerance:"))
    rows = []
    for r in results:
        e = r.expectation
        where = f"epoch {e.epoch}" + (f", example {e.example}" if trace.scenario.n_examples > 1 else "")
        computed: Inline = num(r.computed[0]) if e.scalar else values(r.computed)
        if not all(math.isfinite(v) for v in r.computed):
            computed = "not finite: the run diverged"
        rows.append((Code(e.quantity), where, printed_value(e.value, e.scalar), computed,
                     "yes" if r.holds else "no", e.source or ""))
    b.append(Table(("quantity", "where", "printed", "computed", "holds", "source"), tuple(rows), "llrrlp"))
    return b
