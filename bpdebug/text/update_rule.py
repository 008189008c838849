"""The update rule of one parameter, line by line, in symbols and with the engine's numbers.

Each optimizer's rule is its registry entry's SymPy assignments (:data:`bpdebug.core.optimizers.OPTIMIZERS`),
printed by the same printers as the chain rule; the numbers substituted are the ones the engine used and
produced for this pass (:func:`bpdebug.core.optimizers.worked`), nothing recomputed:

    v ← μ·v + g = 0.9·0 + 0.0821670 = 0.0821670
    w5 ← w5 − η·v = 0.4 − 0.5·0.0821670 = 0.3589165
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from ..core import optimizers
from ..core.params import Param
from ..core.trace import PassRecord
from .numbers import number, number_latex
from .printing import Shown, latex, rebuild, shown_number, text


@dataclass(frozen=True)
class RuleRow:
    """``target ← expr = numbers = value`` in text and in LaTeX."""

    target: str
    symbols: str
    numbers: str
    value: float
    target_latex: str
    symbols_latex: str
    numbers_latex: str

    def line(self) -> str:
        return f"{self.target} ← {self.symbols} = {self.numbers} = {number(self.value)}"

    def latex_line(self) -> str:
        return (f"{self.target_latex} \\leftarrow {self.symbols_latex} = {self.numbers_latex} = "
                f"{number_latex(self.value)}")


def _names(p: Param | None) -> dict[Any, Shown]:
    """Every symbol of the rules as the views write it: η, β₁, m̂ (and p as the parameter's short name)."""
    out: dict[Any, Shown] = {}
    for sym in (optimizers.P, optimizers.G, optimizers.T, optimizers.M, optimizers.V, optimizers.MHAT,
                optimizers.VHAT, *(h.symbol for h in optimizers.HYPERPARAMETERS.values())):
        out[sym] = Shown(optimizers.TEXT_NAMES.get(sym.name, sym.name), sympy.latex(sym))
    if p is not None:
        out[optimizers.P] = Shown(p.short, sympy.latex(sympy.Symbol(p.short)))
    return out


def rule_text(opt: optimizers.Optimizer, weight_decay: bool) -> tuple[str, ...]:
    """The rule in symbols, one assignment a line: ``v ← μ·v + g``."""
    return tuple(t for t, _ in rule_lines(opt, weight_decay))


def rule_lines(opt: optimizers.Optimizer, weight_decay: bool) -> tuple[tuple[str, str], ...]:
    """The rule in symbols, one assignment a line, as (text, LaTeX)."""
    names = _names(None)
    return tuple((f"{names[target].text} ← {text(rebuild(expr, names))}",
                  f"{names[target].latex_text} \\leftarrow {latex(rebuild(expr, names))}")
                 for target, expr in optimizers.rule(opt, weight_decay))


def update_rule(record: PassRecord, p: Param) -> tuple[RuleRow, ...]:
    """The rule of the pass's update for parameter ``p``, with the numbers of this pass."""
    s = record.scenario
    assert s is not None, "a pass of a trace knows its scenario"
    plan = s.plan
    opt, h = plan.optimizer, plan.hyper
    n = record.numbers
    l, r, c = p.layer - 1, p.row, p.col
    if n.optimizer is None:  # plain gradient descent: p ← p − η·g
        before = {"p": float(record.weights_before[l][r, c]), "g": float(n.gradients[l][r, c])}
        after = {"p": float(n.weights_after[l][r, c])}
    else:
        before, after = optimizers.values_at(opt, n.optimizer, record.weights_before, n.gradients,
                                             record.state_before, p.layer, r, c)
    names = _names(p)
    rows = []
    for line in optimizers.worked(opt, h, record.update, before, after):
        numbers = {sym: shown_number(v) if sym != optimizers.T else Shown(str(int(v)), str(int(v)))
                   for sym, v in line.inputs.items()}
        filled = rebuild(line.expr, numbers)
        shown = rebuild(line.expr, names)
        rows.append(RuleRow(names[line.target].text, text(shown), text(filled), line.value,
                            names[line.target].latex_text, latex(shown), latex(filled)))
    return tuple(rows)


def update_lines(record: PassRecord, p: Param) -> list[str]:
    """Text lines for a view: the optimizer, then each assignment with its numbers."""
    s = record.scenario
    assert s is not None
    plan = s.plan
    opt = plan.optimizer
    head = f"update {record.update} of {p.short}: {opt.title} ({opt.torch})"
    if p.canonical in s.frozen:
        return [head, f"{p.short} is frozen: it keeps {number(float(record.weights_before[p.layer - 1][p.row, p.col]))}"
                " and its state stays 0"]
    return [head, *(row.line() for row in update_rule(record, p))]
