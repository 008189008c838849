"""Text and LaTeX of closed forms, by SymPy printer subclasses (never by editing printed strings).

A closed form is printed after its symbols are replaced (without re-evaluation) by :class:`Shown` atoms:
a name (``out_o1``) or a number as the views write it (``−0.4455714``). A shown negative number has the
precedence of a sum, so the printers put it in parentheses wherever a sum would need them:
``2·(0.7215165 − 0.6905)``, ``exp(−(−0.4455714))``, ``(−0.25)³``.
"""

from __future__ import annotations

import inspect
from functools import cache, lru_cache
from typing import Any

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

from .numbers import MINUS, is_negative, number, number_latex

_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class Shown(sympy.Symbol):
    """An atom printed as given: a name or a number, with its text and its LaTeX."""

    text: str
    latex_text: str
    negative: bool

    def __new__(cls, text: str, latex: str, negative: bool = False) -> Shown:
        obj: Shown = sympy.Symbol.__xnew__(cls, text)  # type: ignore[attr-defined]
        obj.text, obj.latex_text, obj.negative = text, latex, negative
        return obj

    def __getnewargs_ex__(self) -> tuple[tuple[str, str, bool], dict[str, Any]]:
        return (self.text, self.latex_text, self.negative), {}

    @property
    def precedence(self) -> int:
        return int(PRECEDENCE["Add"] if self.negative else PRECEDENCE["Atom"])


def shown_number(v: float) -> Shown:
    return Shown(number(v), number_latex(v), is_negative(v))


def _split_sign(term: Any) -> tuple[bool, Any]:
    """(True, t) when ``term`` is written −t: a Mul led by a negative number, or a negative number."""
    if term.is_Number and term < 0:
        return True, -term
    if term.is_Mul and term.args[0].is_Number and term.args[0] < 0:
        rest = term.args[1:] if term.args[0] == -1 else (-term.args[0], *term.args[1:])
        return True, rest[0] if len(rest) == 1 else sympy.Mul(*rest, evaluate=False)
    return False, term


class TextPrinter(StrPrinter):
    """Unicode as a text writes it: ``·`` for products, ``−`` for minus, ``x³`` for small powers,
    ``step(x)`` for the Heaviside step; factors in the order given."""

    printmethod = "_bpdebug_text"

    def __init__(self) -> None:
        super().__init__({"order": "none"})

    def _print_Shown(self, expr: Shown) -> str:
        return expr.text

    def _print_Add(self, expr: Any, order: Any = None) -> str:
        out = ""
        for i, term in enumerate(expr.args):
            negative, body = _split_sign(term)
            text = self._print(body) if i == 0 and not negative else self.parenthesize(body, PRECEDENCE["Add"], True)
            if body.is_Add:
                text = f"({self._print(body)})"
            out += (MINUS if negative else "") + text if i == 0 else (f" {MINUS} " if negative else " + ") + text
        return out

    def _print_Mul(self, expr: Any) -> str:
        negative, body = _split_sign(expr)
        args = list(body.args) if body.is_Mul else [body]
        num: list[Any] = []
        den: list[Any] = []
        for a in args:
            if a.is_Rational and not a.is_Integer:
                if a.p != 1:
                    num.append(sympy.Integer(a.p))
                den.append(sympy.Integer(a.q))
            elif a.is_Pow and a.exp.is_Number and a.exp < 0:
                den.append(a.base if a.exp == -1 else sympy.Pow(a.base, -a.exp, evaluate=False))
            else:
                num.append(a)
        prec = PRECEDENCE["Mul"]
        top = "·".join(self.parenthesize(a, prec, strict=False) for a in num) or "1"
        if len(den) == 1:
            top += "/" + self.parenthesize(den[0], prec, strict=True)
        elif den:
            top += "/(" + "·".join(self.parenthesize(a, prec, strict=False) for a in den) + ")"
        return (MINUS if negative else "") + top

    def _print_Pow(self, expr: Any, rational: bool = False) -> str:
        base = self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=False)
        if expr.exp is sympy.S.Half:
            return f"sqrt({self._print(expr.base)})"
        if expr.exp.is_Number and expr.exp < 0:
            return self._print_Mul(sympy.Mul(expr, evaluate=False))
        if expr.exp.is_Integer:
            return base + str(expr.exp).translate(_SUPERSCRIPTS)
        return f"{base}^{self.parenthesize(expr.exp, PRECEDENCE['Pow'], strict=True)}"

    def _print_Heaviside(self, expr: Any) -> str:
        return f"step({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: Any) -> str:
        """``{x if x > 0, exp(x) − 1 otherwise}``: each value with its condition, the last "otherwise"."""
        parts = []
        for value, cond in expr.args:
            shown = self._print(value)
            parts.append(f"{shown} otherwise" if cond is sympy.true else f"{shown} if {self._print(cond)}")
        return "{" + ", ".join(parts) + "}"

    def _print_Relational(self, expr: Any) -> str:
        symbol = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠"}.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {symbol} {self._print(expr.rhs)}"

    def _print_BooleanTrue(self, expr: Any) -> str:
        return "otherwise"

    def _print_Abs(self, expr: Any) -> str:
        return f"|{self._print(expr.args[0])}|"

    def _print_Integer(self, expr: Any) -> str:
        return MINUS + str(-expr.p) if expr.p < 0 else str(expr.p)

    def _print_Float(self, expr: Any) -> str:
        return number(float(expr))

    def _print_Rational(self, expr: Any) -> str:
        text = f"{abs(expr.p)}/{expr.q}"
        return MINUS + text if expr.p < 0 else text

    def parenthesize(self, item: Any, level: int, strict: bool = False) -> str:
        prec = precedence(item)
        if isinstance(item, Shown) and item.negative and level > 0:
            return f"({item.text})"
        if prec < level or (not strict and prec <= level):
            return f"({self._print(item)})"
        return str(self._print(item))


class TexPrinter(LatexPrinter):
    """LaTeX with ``\\cdot`` for products, factors in the order given, ``H(x)`` for the Heaviside step."""

    printmethod = "_bpdebug_latex"

    def __init__(self) -> None:
        super().__init__({"order": "none", "mul_symbol": "dot"})

    def _print_Shown(self, expr: Shown) -> str:
        return expr.latex_text

    def _print_Add(self, expr: Any, order: Any = None) -> str:
        out = ""
        for i, term in enumerate(expr.args):
            negative, body = _split_sign(term)
            text = self._print(body) if i == 0 and not negative else self.parenthesize(body, PRECEDENCE["Add"],
                                                                                          strict=True)
            if body.is_Add:
                text = rf"\left({self._print(body)}\right)"
            out += ("-" if negative else "") + text if i == 0 else (" - " if negative else " + ") + text
        return out

    def _print_Heaviside(self, expr: Any, exp: Any = None) -> str:
        tex = rf"H\left({self._print(expr.args[0])}\right)"
        return f"{tex}^{{{self._print(exp)}}}" if exp is not None else tex

    def _print_Float(self, expr: Any) -> str:
        return number_latex(float(expr))

    def _print_Mul(self, expr: Any) -> str:
        negative, body = _split_sign(expr)
        if not negative:
            return str(super()._print_Mul(expr))
        if isinstance(body, Shown):
            return "- " + self.parenthesize(body, PRECEDENCE["Mul"])
        return "- " + str(self._print(body) if body.is_Mul else self.parenthesize(body, PRECEDENCE["Mul"]))

    def parenthesize(self, item: Any, level: int, is_neg: bool = False, strict: bool = False) -> str:
        if isinstance(item, Shown) and item.negative and level > 0:
            return rf"\left({item.latex_text}\right)"
        return str(super().parenthesize(item, level, is_neg, strict))


@lru_cache(maxsize=1)
def _printers() -> tuple[TextPrinter, TexPrinter]:
    return TextPrinter(), TexPrinter()


def text(expr: Any) -> str:
    """``expr`` in unicode, the way the views write formulas."""
    return str(_printers()[0].doprint(expr))


def latex(expr: Any) -> str:
    """``expr`` in LaTeX math (no ``$`` delimiters)."""
    return str(_printers()[1].doprint(expr))


def rebuild(expr: Any, mapping: dict[Any, Any]) -> Any:
    """``expr`` with symbols replaced, nothing re-evaluated (keeps 2·(out − t) from becoming 2out − 2t).

    Any expression: a node whose constructor takes ``evaluate`` is rebuilt with ``evaluate=False``; one that
    has no such option (a Piecewise branch, an ``ExprCondPair``) builds its arguments as given anyway.
    Unlike ``with evaluate(False): xreplace(...)`` this does not clear SymPy's cache on every call."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = tuple(rebuild(a, mapping) for a in expr.args)
    return expr.func(*args, evaluate=False) if _takes_evaluate(expr.func) else expr.func(*args)


@cache
def _takes_evaluate(func: type) -> bool:
    """Whether the constructor of ``func`` accepts ``evaluate`` (by name or as a keyword catch-all)."""
    try:
        parameters = inspect.signature(func.__new__).parameters.values()
    except (TypeError, ValueError):  # no signature to read: SymPy's classes without one take options
        return True
    return any(p.name == "evaluate" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
