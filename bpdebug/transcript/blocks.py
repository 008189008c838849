"""The blocks a transcript is made of, and the mathematics inside them.

A transcript is a sequence of :class:`Heading`, :class:`Paragraph`, :class:`Display` and :class:`Table`
blocks. Every piece of mathematics is a :class:`Math` holding its LaTeX (for md and tex) and its unicode
rendering (for txt, from SymPy's pretty printer) side by side, so the three formats say the same thing
with the same numbers and differ only in how they write it. A heading may carry a mark saying which part of
the worked example it opens (:class:`Epochs`, :class:`Passes`, :class:`PhaseMark`, :class:`ChainRule`,
:class:`Results`), so a reader of the blocks (the notebook) needs no parsing of its words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm

from ..core.quantity import Phase
from ..text import numbers

MATRIX_ROWS, MATRIX_COLS = 6, 6  # larger matrices are shown with their first and last rows/columns
TABLE_ROWS = 12  # larger tables (data, error terms, updates) likewise


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
class Epochs:
    """The heading of epochs ``first`` … ``last``: written out pass by pass, or summarised (computed the same
    way, their losses in a table)."""

    first: int
    last: int
    written: bool


@dataclass(frozen=True)
class Passes:
    """The heading of passes ``first`` … ``last`` (1-based places in the epoch) of an epoch of several: one
    written out step by step, or several summarised."""

    first: int
    last: int
    written: bool


@dataclass(frozen=True)
class PhaseMark:
    """The heading of one phase of a pass written out: forward, error, backward or update."""

    phase: Phase


@dataclass(frozen=True)
class ChainRule:
    """The heading of one parameter's chain rule (its canonical name)."""

    param: str


@dataclass(frozen=True)
class Results:
    """The heading of the results after the last epoch."""

    epochs: int


Mark = Epochs | Passes | PhaseMark | ChainRule | Results


@dataclass(frozen=True)
class Heading:
    level: int  # 1 = the title
    text: str
    mark: Mark | None = None  # which part of the worked example it opens, when a reader needs to know


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


def pick(n: int, limit: int) -> list[int | None]:
    """All of 0..n-1, or the first limit-2, an ellipsis (None) and the last."""
    if n <= limit:
        return list(range(n))
    return [*range(limit - 2), None, n - 1]


def cut(items: list, limit: int) -> list:
    """The items :func:`pick` keeps, None for the ellipsis."""
    return [items[i] if i is not None else None for i in pick(len(items), limit)]


# ----------------------------------------------------------------------------------------------- numbers

def number_text(v: float) -> str:
    """A number as the text transcript writes it (ASCII minus, as SymPy's pretty printer writes operators)."""
    return numbers.number(v, minus="-")


def number_latex(v: float) -> str:
    return numbers.number_latex(v)


def num(v: float) -> Math:
    return Math(number_latex(v), number_text(v))


def _listed(items: Sequence[Math], shape: tuple[int, int] | None) -> Math:
    """``[a, b, c]``, or a whole matrix (``shape``: its rows and columns) row by row: ``[[a, b], [c, d]]``."""
    if shape is not None and len(items) == shape[0] * shape[1] > 0:
        rows = [_listed(items[i * shape[1]:(i + 1) * shape[1]], None) for i in range(shape[0])]
        return _listed(rows, None)
    return Math(r"\left[" + ", ".join(m.latex for m in items) + r"\right]",
                "[" + ", ".join(m.text for m in items) + "]")


def printed_value(values: Sequence[float], scalar: bool, shape: tuple[int, int] | None = None) -> Math:
    """A figure as a text printed it (``repr``: exactly what the scenario records); a whole matrix row by row."""
    items = [repr(float(v)) for v in values]
    if scalar:
        return Math(items[0], items[0])
    return _listed([Math(v, v) for v in items], shape)


def values(vs: Iterable[float], shape: tuple[int, int] | None = None) -> Math:
    """Computed numbers as a list; a whole matrix (``shape``) row by row."""
    return _listed([num(v) for v in vs], shape)


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
        self.rows = pick(n_rows, max_rows)
        self.cols = pick(n_cols, max_cols)
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


def partial(of: str, by: sp.Basic) -> tuple[str, str]:
    """∂of/∂by as an operator-like piece: LaTeX fraction and unicode text."""
    return (rf"\frac{{\partial {of}}}{{\partial {sp.latex(by)}}}", f"∂{of}/∂{sp.pretty(by, use_unicode=True)}")
