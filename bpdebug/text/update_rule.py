"""The update rule of one parameter, line by line, in symbols and with the engine's numbers.

Each optimizer's rule is its registry entry's SymPy assignments (:data:`bpdebug.core.optimizers.OPTIMIZERS`,
or a scenario's ``[optimizers.NAME]``) made SymPy here, on first use, and printed by the same printers as the
chain rule; the numbers substituted are the ones the engine used and produced for this pass (:func:`worked`),
nothing recomputed:

    v ← μ·v + g = 0.9·0 + 0.0821670 = 0.0821670
    w5 ← w5 − η·v = 0.4 − 0.5·0.0821670 = 0.3589165
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sympy

from ..core import expr as ex
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


# ------------------------------------------------------------------------------------- the rule in SymPy

def symbol_name(opt: optimizers.Optimizer, name: str) -> str:
    """The symbol a name of the rule is printed with: a hyperparameter's (``learning_rate`` is η), else itself."""
    try:
        return opt.hyperparameter(name).symbol
    except KeyError:
        return name


def symbol_text(name: str) -> str:
    """A symbol's name as the text views write it: ``eta`` η, ``beta1`` β₁, ``mhat`` m̂ (SymPy's pretty printer)."""
    return str(sympy.pretty(sympy.Symbol(name), use_unicode=True))


def parsed_form(e: ex.Expr, symbols: Mapping[str, Any]) -> Any:
    """A rule's tree as SymPy, unevaluated and nested as SymPy's own parser nests a formula (``a - b`` is
    ``a + (−1)·b``, ``a/b`` is ``a·b⁻¹``, a chain of sums or of products one node: ``η·m̂/(…)``, not
    ``(η·m̂)/(…)``), so the printers write the rule as it is written and as they always have."""
    op, args = e.op, e.args
    if op == "num":
        assert e.value is not None
        return sympy.Integer(e.value) if isinstance(e.value, int) else sympy.Float(e.value)
    if op == "var":
        assert e.name is not None
        return symbols[e.name]
    if op in ("add", "sub"):
        left, right = (parsed_form(a, symbols) for a in args)
        if op == "sub":
            right = sympy.Mul(sympy.Integer(-1), right, evaluate=False)
        return sympy.Add(*_spliced(args[0], left, ("add", "sub")),
                         *_spliced(args[1], right, ("add", "sub") if op == "add" else ()), evaluate=False)
    if op in ("mul", "div"):
        left, right = (parsed_form(a, symbols) for a in args)
        if op == "div":
            right = sympy.Pow(right, sympy.Integer(-1), evaluate=False)
        return sympy.Mul(*_spliced(args[0], left, ("mul", "div")),
                         *_spliced(args[1], right, ("mul", "div") if op == "mul" else ()), evaluate=False)
    if op == "pow":
        return sympy.Pow(*(parsed_form(a, symbols) for a in args), evaluate=False)
    if op == "neg":
        return sympy.Mul(sympy.Integer(-1), parsed_form(args[0], symbols), evaluate=False)
    parts = [parsed_form(a, symbols) for a in args]
    if op == "piecewise":
        pairs = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        return sympy.Piecewise(*pairs, (parts[-1], True), evaluate=False)
    comparisons = {"gt": sympy.Gt, "ge": sympy.Ge, "lt": sympy.Lt, "le": sympy.Le}
    if op in comparisons:
        return comparisons[op](*parts, evaluate=False)
    if op == "sigmoid":
        return sympy.Pow(sympy.Add(sympy.Integer(1), sympy.exp(sympy.Mul(sympy.Integer(-1), parts[0],
                                                                         evaluate=False), evaluate=False),
                                   evaluate=False), sympy.Integer(-1), evaluate=False)
    if op == "relu":
        return sympy.Max(parts[0], sympy.Integer(0), evaluate=False)
    functions = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "abs": sympy.Abs, "sin": sympy.sin,
                  "cos": sympy.cos, "tanh": sympy.tanh, "sign": sympy.sign, "Max": sympy.Max, "Min": sympy.Min}
    return functions[op](*parts, evaluate=False)


def _spliced(tree: ex.Expr, value: Any, ops: tuple[str, ...]) -> tuple[Any, ...]:
    """A chain's operand: its terms when it is itself a node of the chain (``a + b + c`` is one sum)."""
    return tuple(value.args) if tree.op in ops else (value,)


@lru_cache(maxsize=64)
def sympy_rule(opt: optimizers.Optimizer, weight_decay: bool) -> tuple[tuple[Any, Any], ...]:
    """The rule's assignments as (SymPy symbol, SymPy expression), preceded by g ← g + λ·p with weight decay."""
    out = []
    for target, tree in optimizers.rule(opt, weight_decay):
        names = {n: sympy.Symbol(symbol_name(opt, n), real=True) for n in ex.names(tree) | {target}}
        out.append((names[target], parsed_form(tree, names)))
    return tuple(out)


def _names(opt: optimizers.Optimizer, p: Param | None) -> dict[Any, Shown]:
    """Every symbol of the rule as the views write it: η, β₁, m̂ (and p as the parameter's short name)."""
    out: dict[Any, Shown] = {}
    for target, expr in sympy_rule(opt, True):
        for sym in (target, *expr.free_symbols):
            out[sym] = Shown(symbol_text(sym.name), sympy.latex(sym))
    if p is not None:
        out[sympy.Symbol(optimizers.PARAMETER, real=True)] = Shown(p.short, sympy.latex(sympy.Symbol(p.short)))
    return out


# --------------------------------------------------------------------------------- the rule with numbers

@dataclass(frozen=True)
class RuleLine:
    """One assignment of the rule for one parameter: ``target ← expr``, the value of each symbol of
    ``expr`` at that point, and the engine's value of ``target`` after it."""

    target: Any  # a SymPy symbol
    expr: Any
    inputs: Mapping[Any, float]
    value: float

    def substituted(self) -> Any:
        """``expr`` with every symbol replaced by its number, unevaluated (for display); t stays whole."""
        t = sympy.Symbol(optimizers.COUNT, real=True)
        return self.expr.xreplace({s: sympy.UnevaluatedExpr(sympy.Integer(int(v)) if s == t else sympy.Float(v))
                                   for s, v in self.inputs.items()})


def worked(opt: optimizers.Optimizer, h: optimizers.Hyperparameters, t: int, before: Mapping[str, float],
           after: Mapping[str, float]) -> tuple[RuleLine, ...]:
    """The rule for one parameter with its numbers (``before`` and ``after``: :func:`~bpdebug.core.optimizers.
    values_at`'s). Nothing is recomputed: every value shown is one the engine produced."""
    current: dict[str, float] = {k: float(h[k]) for k in h.keys}
    current[optimizers.COUNT] = float(t)
    current.update({k: float(v) for k, v in before.items()})
    lines = []
    decay = bool(h.weight_decay)
    for (target, tree), (symbol, expr) in zip(optimizers.rule(opt, decay), sympy_rule(opt, decay), strict=True):
        by_name = {symbol_name(opt, n): n for n in ex.names(tree)}
        inputs = {s: current[by_name[s.name]] for s in sorted(expr.free_symbols, key=lambda s: s.name)}
        value = float(after[target])
        lines.append(RuleLine(symbol, expr, inputs, value))
        current[target] = value
    return tuple(lines)


def rule_text(opt: optimizers.Optimizer, weight_decay: bool) -> tuple[str, ...]:
    """The rule in symbols, one assignment a line: ``v ← μ·v + g``."""
    return tuple(t for t, _ in rule_lines(opt, weight_decay))


def rule_lines(opt: optimizers.Optimizer, weight_decay: bool) -> tuple[tuple[str, str], ...]:
    """The rule in symbols, one assignment a line, as (text, LaTeX)."""
    names = _names(opt, None)
    return tuple((f"{names[target].text} ← {text(rebuild(expr, names))}",
                  f"{names[target].latex_text} \\leftarrow {latex(rebuild(expr, names))}")
                 for target, expr in sympy_rule(opt, weight_decay))


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
    names = _names(opt, p)
    rows = []
    for line in worked(opt, h, record.update, before, after):
        numbers = {sym: shown_number(v) if sym.name != optimizers.COUNT else Shown(str(int(v)), str(int(v)))
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
