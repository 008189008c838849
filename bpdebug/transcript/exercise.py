"""Exercise sheets: results blanked and numbered, the answers collected for the key at the end.

A :class:`Sheet` is handed explicitly to every section that writes a result (None for a worked example): a
section asks :func:`result_grid` or :func:`result_num` for a result, and gets its numbers, or, when the sheet
blanks that part (one of :data:`EXERCISE_PARTS`), a numbered blank whose answer the sheet keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.pretty.stringpict import prettyForm

from ..core.params import Param
from ..core.scenario import Scenario
from ..text.numbers import plural
from .blocks import Block, Code, Grid, Heading, Math, Table, num, para

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


def blanks(sheet: Sheet | None, part: str) -> bool:
    """Whether ``sheet`` (None: a worked example) blanks the results of ``part``."""
    return sheet is not None and part in sheet.parts


def matrix_entry(r: int, c: int, bias: bool) -> str:
    """Entry (r, c) of a weight matrix (0-based array indices) as the canonical names write it, ``[i,j]``."""
    return f"[{r + 1},{c if bias else c + 1}]"


def answer_name(q: Param, after: bool, example: int | None = None) -> str:
    """How an answer key names a parameter's gradient or new value: by the scenario's short name, with the
    canonical name once in brackets, ``grad.w5 (grad.theta2[1,1])``, ``w5.after (theta2.after[1,1], example 2)``."""
    short, canonical = (f"{q.short}.after", q.canonical.replace("[", ".after[", 1)) if after else \
        (f"grad.{q.short}", f"grad.{q.canonical}")
    return f"{short} ({canonical}" + (f", example {example})" if example is not None else ")")


def param_answers(s: Scenario | None, l: int, after: bool, example: int | None) -> Names | None:
    """The answer key's names of theta_l's entries (gradient or new value), when the scenario is known."""
    if s is None:
        return None
    return lambda r, c: answer_name(s.params.at(l, r, c), after, example)


def result_grid(sheet: Sheet | None, part: str, label: str, cells: list[list[float]], bias: bool | None = None,
                names: Names | None = None) -> Grid:
    """A grid of results: the numbers, or on a ``sheet`` that blanks ``part`` numbered blanks (the same blank
    number again where a result already blanked is used). ``bias``: the grid is a weight matrix (entries named
    theta_l[i,j], column 0 the bias when True); None: a layer's units by examples. ``names``: how the answer
    key names entry (r, c), when not by the label."""
    if sheet is None or part not in sheet.parts:
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


def result_num(sheet: Sheet | None, part: str, label: str, v: float, shown: str | None = None) -> Math:
    """A result number, or its blank on a ``sheet`` that blanks ``part`` (``shown``: how the answer key names
    it, when not by the label)."""
    if sheet is None or part not in sheet.parts:
        return num(v)
    b = sheet.blank(label, float(v), shown)
    return Math(b._latex(None), b.name)


def answers(sheet: Sheet) -> list[Block]:
    """The answer key: every blank, the quantity it stands for and its number."""
    rows = tuple((f"({n})", Code(label), num(v)) for n, label, v in sheet.answers)
    return [Heading(2, "Answers"),
            para(f"The {plural(len(rows), 'blank')} of this sheet, as bpdebug computes them:"),
            Table(("blank", "quantity", "answer"), rows, "llr")]
