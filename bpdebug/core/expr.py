"""A small formula language for the core: parsed as mathematics, never evaluated as Python, and free of SymPy.

A formula (an activation's ``expr``, a loss's ``term``, an optimizer's rule, a graph's program line) is parsed
with :mod:`ast` and walked against a whitelist into a tree of frozen :class:`Expr` nodes. Only numbers, the
names the caller allows, ``+ - * / **``, unary minus, parentheses, calls of :data:`FUNCTIONS` and
``Piecewise((value, condition), ..., (value, True))`` are accepted; a comparison (``x > 0``) only as a
``Piecewise`` condition. The tree nests exactly as Python's ``ast`` does (``c + c + 1`` is
``add(add(c, c), 1)``), so an engine that makes one node per operation sees the formula as written.

What the core needs of a formula is here: :func:`names`, :func:`diff` (a symbolic derivative),
:func:`numpy_code` and :func:`compile_numpy` (the text the engine runs and an export pastes, one and the same)
and :func:`kinks` (whether a non-smooth point is within rounding of where the formula is evaluated).
SymPy forms are made from the tree in the text layer (:func:`bpdebug.text.symbolic.to_sympy`).

A ``piecewise`` node's ``args`` are ``(value1, condition1, value2, condition2, ..., otherwise)``: an odd count,
the last value taken where no condition holds (the formula's ``(value, True)``).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FUNCTIONS: tuple[str, ...] = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "sign",
                              "Max", "Min")
COMPARISONS: tuple[str, ...] = ("gt", "ge", "lt", "le")
VARIADIC = ("Max", "Min")  # 2 to MAX_ARGUMENTS arguments; every other function takes one
MAX_ARGUMENTS = 8
MAX_LENGTH = 1000  # characters of one formula
MAX_EXPONENT = 1000  # a numeric exponent beyond this is refused
MAX_DEPTH = 200  # nesting of the tree (deeper formulas are refused, not recursed into)
KINK_RTOL = 1e-9  # default closeness of a non-smooth point, relative to max(1, the magnitudes compared)

_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_COMPARE = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le"}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "gt": ">", "ge": ">=", "lt": "<",
           "le": "<="}


class FormulaError(ValueError):
    """A formula outside the language: the message says what is wrong and what was expected; ``col`` is the
    1-based column in the formula's text where it is (None when the whole formula is meant)."""

    def __init__(self, message: str, col: int | None = None) -> None:
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Expr:
    """One node of a formula. ``op`` is "num", "var", "add", "sub", "mul", "div", "pow", "neg", a name in
    :data:`FUNCTIONS`, "piecewise" or a comparison ("gt", "ge", "lt", "le"). Equality ignores ``col``."""

    op: str
    args: tuple[Expr, ...] = ()
    value: float | None = None  # "num": an int for an integer literal (exact), else a float
    name: str | None = None  # "var"
    col: int | None = field(default=None, compare=False)  # where it starts in the text, for messages

    def __str__(self) -> str:
        return text(self)


def num(value: float) -> Expr:
    return Expr("num", value=value)


def var(name: str) -> Expr:
    return Expr("var", name=name)


ZERO, ONE, TWO = num(0), num(1), num(2)


# ------------------------------------------------------------------------------------------------ parsing

def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:27] + "..."


def _listing(items: Collection[str]) -> str:
    return ", ".join(items) if items else "none"


class _Parser:
    def __init__(self, source: str, variables: Collection[str], functions: Collection[str], lead: int) -> None:
        self.lines = source.splitlines() or [""]
        self.variables = tuple(variables)
        self.functions = tuple(f for f in FUNCTIONS if f in functions) + tuple(f for f in functions
                                                                              if f not in FUNCTIONS)
        unknown = [f for f in functions if f not in FUNCTIONS]
        if unknown:
            raise ValueError(f"unknown functions {unknown}: the language knows {', '.join(FUNCTIONS)}")
        self.lead = lead

    def col(self, node: ast.AST) -> int | None:
        lineno, offset = getattr(node, "lineno", None), getattr(node, "col_offset", None)
        if lineno is None or offset is None or lineno > len(self.lines):
            return None
        line = self.lines[lineno - 1]
        chars = len(line.encode()[:offset].decode(errors="ignore"))  # ast counts UTF-8 bytes
        return chars + 1 + (self.lead if lineno == 1 else 0)

    def fail(self, message: str, node: ast.AST | None) -> FormulaError:
        return FormulaError(message, None if node is None else self.col(node))

    def expected(self) -> str:
        allowed = ", ".join(self.variables)
        return (f"numbers, the names {allowed or '(none)'}, + - * / ** and the functions "
                f"{_listing(self.functions)}")

    def walk(self, node: ast.AST, depth: int = 0, condition: bool = False) -> Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} deep, expected a simpler formula", node)
        col = self.col(node)
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                return Expr("var", name=node.id, col=col)
            if node.id in self.functions or node.id == "Piecewise":
                raise self.fail(f"'{node.id}' is a function, expected a call such as {node.id}(x)", node)
            raise self.fail(f"unknown name '{_short(node.id)}', expected {self.expected()}", node)
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.fail(f"unexpected constant {_short(repr(value))}, expected a number", node)
            if isinstance(value, int):
                if value > 2**1023 * 2:
                    raise self.fail(f"the number {_short(str(value))} is beyond the range of a 64-bit float "
                                    "(about 1.8e308), expected smaller numbers", node)
            elif not math.isfinite(value):
                raise self.fail(f"the number {_short(ast.unparse(node))} is beyond the range of a 64-bit float "
                                "(about 1.8e308), expected smaller numbers", node)
            return Expr("num", value=value, col=col)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.walk(node.left, depth + 1)
            right = self.walk(node.right, depth + 1)
            op = _BINARY[type(node.op)]
            if op == "pow" and right.op == "num" and abs(float(right.value or 0)) > MAX_EXPONENT:
                raise self.fail(f"exponent {_short(str(right.value))} is too large, expected an exponent of at "
                                f"most {MAX_EXPONENT} in absolute value", node.right)
            return Expr(op, (left, right), col=col)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.walk(node.operand, depth + 1)
            return Expr("neg", (operand,), col=col) if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Compare):
            if not condition:
                raise self.fail(f"comparison '{_short(ast.unparse(node))}' outside a condition, expected "
                                "comparisons only in Piecewise((value, condition), ..., (value, True))", node)
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise self.fail(f"condition '{_short(ast.unparse(node))}' is not allowed, expected one comparison "
                                "with >, >=, < or <= such as x > 0", node)
            left = self.walk(node.left, depth + 1)
            right = self.walk(node.comparators[0], depth + 1)
            return Expr(_COMPARE[type(node.ops[0])], (left, right), col=col)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Attribute):
            raise self.fail(f"attribute access '{_short(ast.unparse(node))}' is not allowed, expected "
                            f"{self.expected()}", node)
        kind = type(node).__name__.lower()
        raise self.fail(f"{kind} '{_short(ast.unparse(node))}' is not allowed, expected {self.expected()}", node)

    def call(self, node: ast.Call, depth: int) -> Expr:
        col = self.col(node)
        if not isinstance(node.func, ast.Name) or (node.func.id not in self.functions
                                                   and node.func.id != "Piecewise"):
            raise self.fail(f"call of '{_short(ast.unparse(node.func))}' is not allowed, expected one of "
                            f"{_listing(self.functions)} or Piecewise", node)
        name = node.func.id
        if name == "Piecewise":
            return self.piecewise(node, depth)
        usage = f"{name}(x, 0)" if name in VARIADIC else f"{name}(x)"
        if node.keywords:
            raise self.fail(f"keyword arguments to {name} are not allowed, expected {usage}", node)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail(f"starred arguments to {name} are not allowed, expected {usage}", node)
        wanted = (2, MAX_ARGUMENTS) if name in VARIADIC else (1, 1)
        if not wanted[0] <= len(node.args) <= wanted[1]:
            count = f"2 to {MAX_ARGUMENTS} arguments" if name in VARIADIC else "one argument"
            raise self.fail(f"{name} takes {count}, got {len(node.args)}, expected {usage}", node)
        return Expr(name, tuple(self.walk(arg, depth + 1) for arg in node.args), col=col)

    def piecewise(self, node: ast.Call, depth: int) -> Expr:
        usage = "Piecewise((value, condition), ..., (value, True))"
        if node.keywords or not node.args:
            raise self.fail(f"expected {usage}", node)
        args: list[Expr] = []
        for i, pair in enumerate(node.args):
            last = i == len(node.args) - 1
            if not isinstance(pair, ast.Tuple) or len(pair.elts) != 2:
                raise self.fail(f"Piecewise branch '{_short(ast.unparse(pair))}' is not a pair, expected {usage}",
                                pair)
            value, cond = pair.elts
            args.append(self.walk(value, depth + 1))
            is_true = isinstance(cond, ast.Constant) and cond.value is True
            if last:
                if not is_true:
                    raise self.fail(f"the last Piecewise branch has condition '{_short(ast.unparse(cond))}', "
                                    f"expected True (the value everywhere else): {usage}", cond)
            else:
                if is_true:
                    raise self.fail(f"only the last Piecewise branch may have the condition True, expected {usage}",
                                    cond)
                args.append(self.walk(cond, depth + 1, condition=True))
        return Expr("piecewise", tuple(args), col=self.col(node))


def parse(text: str, variables: Collection[str], functions: Collection[str] = FUNCTIONS) -> Expr:
    """The tree of ``text``, a formula in ``variables``; raise :class:`FormulaError` for anything else.

    Refused besides what the grammar refuses: a part made of numbers only that is undefined, complex or beyond
    float64 (``1/0``, ``log(0)``, ``sqrt(-1)``, ``exp(710)``), as the engine computes in float64.
    """
    if not isinstance(text, str) or not text.strip():
        example = next(iter(variables), "x")
        raise FormulaError(f"expected a formula in {_listing(tuple(variables))} such as \"exp({example})\", "
                           "got an empty string")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"expected a formula of at most {MAX_LENGTH} characters, got {len(text)}")
    first = text.split("\n", 1)[0]
    lead = len(first) - len(first.lstrip(" \t")) if first.strip() else 0
    source = text[lead:] if first.strip() else text.lstrip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        col = None
        if exc.offset is not None and (exc.lineno or 1) == 1:
            col = min(max(exc.offset, 1), len(source.split("\n", 1)[0]) + 1) + lead
        raise FormulaError(f"not a formula ({exc.msg}), expected mathematics in "
                           f"{_listing(tuple(variables))}", col) from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError("nested too deeply, expected a simpler formula") from None
    parser = _Parser(source, variables, functions, lead)
    expr = parser.walk(tree.body)
    _check_constants(expr)
    return expr


def parse_assignment(line: str, variables: Collection[str],
                     functions: Collection[str] = FUNCTIONS) -> tuple[str, Expr]:
    """``"r = r + g**2"`` -> ``("r", tree of r + g**2)``; the target must be a plain name (any name: the
    caller decides which may be assigned), the right side a formula in ``variables``."""
    if not isinstance(line, str) or "=" not in line:
        raise FormulaError("expected an assignment such as \"r = r + g**2\"")
    stripped = line.lstrip(" \t")
    lead = len(line) - len(stripped)
    try:
        tree = ast.parse(stripped, mode="exec")
    except SyntaxError as exc:
        col = None
        if exc.offset is not None and (exc.lineno or 1) == 1:
            col = min(max(exc.offset, 1), len(stripped.split("\n", 1)[0]) + 1) + lead
        raise FormulaError(f"not an assignment ({exc.msg}), expected NAME = formula", col) from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError("nested too deeply, expected a simpler formula") from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign):
        raise FormulaError("expected one assignment such as \"r = r + g**2\"", lead + 1)
    assign = tree.body[0]
    if len(assign.targets) != 1 or not isinstance(assign.targets[0], ast.Name):
        target = assign.targets[0]
        raise FormulaError(f"cannot assign to '{_short(ast.unparse(target))}', expected one plain name on the "
                           "left of =", target.col_offset + lead + 1)
    name = assign.targets[0].id
    value = assign.value
    # parse the right side on its own, keeping its columns in the line
    start = value.col_offset  # ASCII bytes before the formula on the first line
    head = stripped.split("\n", 1)[0]
    prefix = len(head.encode()[:start].decode(errors="ignore"))
    right = stripped[prefix:]
    try:
        expr = parse(right, variables, functions)
    except FormulaError as exc:
        raise FormulaError(str(exc), None if exc.col is None else exc.col + prefix + lead) from None
    return name, _shift(expr, prefix + lead)


def _shift(e: Expr, by: int) -> Expr:
    args = tuple(_shift(a, by) for a in e.args)
    return Expr(e.op, args, e.value, e.name, None if e.col is None else e.col + by)


def _check_constants(e: Expr) -> None:
    """Every part made of numbers only must be a finite real float64, as the engine computes it."""
    pending = [e]
    while pending:
        node = pending.pop()
        if node.op in COMPARISONS or node.op == "piecewise" or names(node):
            pending.extend(node.args)
            continue
        with np.errstate(all="ignore"):
            try:
                v = float(np.asarray(evaluate(node, {}), dtype=float))
            except (OverflowError, ZeroDivisionError, ValueError, TypeError):
                v = math.nan
        if not math.isfinite(v):
            shown = _short(text(node))
            kind = ("is infinite in 64-bit floats (a division by zero, log(0), or beyond about 1.8e308)"
                    if np.isinf(v) else
                    "is undefined in 64-bit floats (0/0, the log or square root of a negative number, or similar)")
            raise FormulaError(f"'{shown}' {kind}, expected a formula finite for real values", node.col)


def names(e: Expr) -> frozenset[str]:
    """The variables ``e`` reads."""
    found: set[str] = set()
    pending = [e]
    while pending:
        node = pending.pop()
        if node.op == "var":
            assert node.name is not None
            found.add(node.name)
        pending.extend(node.args)
    return frozenset(found)


# ----------------------------------------------------------------------------------------- plain text

_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}


def text(e: Expr, spaced: bool = True) -> str:
    """The formula as its language writes it (parses back to the same tree); ``spaced=False`` writes
    ``*``, ``/`` and ``**`` without spaces, as SymPy's ``str`` does (``out*(1 - out)``)."""
    return _write(e, _formula_atom, _formula_call, spaced)


def _formula_atom(e: Expr) -> str:
    if e.op == "num":
        return _number(e.value)
    assert e.name is not None
    return e.name


def _formula_call(op: str, parts: list[str]) -> str:
    if op == "piecewise":
        pairs = [f"({parts[i]}, {parts[i + 1]})" for i in range(0, len(parts) - 1, 2)]
        return f"Piecewise({', '.join(pairs + [f'({parts[-1]}, True)'])})"
    return f"{op}({', '.join(parts)})"


def _number(value: float | None) -> str:
    assert value is not None
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _write(e: Expr, atom: Callable[[Expr], str], call: Callable[[str, list[str]], str], spaced: bool = True) -> str:
    """Write ``e`` with as few parentheses as keep Python's own nesting (so the text parses to ``e``)."""

    def go(node: Expr) -> tuple[str, int]:
        op = node.op
        if op in ("num", "var"):
            shown = atom(node)
            negative = shown.startswith("-")
            return (f"({shown})" if negative else shown), 5
        if op == "neg":
            inner, prec = go(node.args[0])
            # -x**2 is -(x**2) in Python; -(a*b) keeps its parentheses so the tree stays neg(mul(...))
            return "-" + (inner if prec > 3 else f"({inner})"), 3
        if op in _PRECEDENCE:
            mine = _PRECEDENCE[op]
            left, lp = go(node.args[0])
            right, rp = go(node.args[1])
            if op == "pow":
                # right-associative, and binds tighter than a unary minus on its left
                left = left if lp > mine else f"({left})"
                right = right if rp >= 3 else f"({right})"
            else:
                left = left if lp >= mine else f"({left})"
                right = right if rp > mine else f"({right})"
            if not spaced and op in ("mul", "div", "pow"):
                return f"{left}{_SYMBOL[op]}{right}", mine
            return f"{left} {_SYMBOL[op]} {right}", mine
        if op in COMPARISONS:
            left, _ = go(node.args[0])
            right, _ = go(node.args[1])
            return f"{left} {_SYMBOL[op]} {right}", 0
        return call(op, [go(a)[0] for a in node.args]), 5

    return go(e)[0]


def substitute(e: Expr, mapping: Mapping[str, Expr]) -> Expr:
    """``e`` with the variables named in ``mapping`` replaced by its trees."""
    if e.op == "var" and e.name is not None and e.name in mapping:
        return mapping[e.name]
    if not e.args:
        return e
    return Expr(e.op, tuple(substitute(a, mapping) for a in e.args), e.value, e.name, e.col)


# ------------------------------------------------------------------------------------------ derivative

def _is(e: Expr, value: float) -> bool:
    return e.op == "num" and e.value is not None and float(e.value) == value


def add(a: Expr, b: Expr) -> Expr:
    if _is(a, 0):
        return b
    if _is(b, 0):
        return a
    return Expr("add", (a, b))


def sub(a: Expr, b: Expr) -> Expr:
    if _is(b, 0):
        return a
    if _is(a, 0):
        return neg(b)
    return Expr("sub", (a, b))


def mul(a: Expr, b: Expr) -> Expr:
    if _is(a, 0) or _is(b, 0):
        return ZERO
    if _is(a, 1):
        return b
    if _is(b, 1):
        return a
    return Expr("mul", (a, b))


def div(a: Expr, b: Expr) -> Expr:
    if _is(a, 0):
        return ZERO
    if _is(b, 1):
        return a
    return Expr("div", (a, b))


def neg(a: Expr) -> Expr:
    if _is(a, 0):
        return ZERO
    if a.op == "neg":
        return a.args[0]
    return Expr("neg", (a,))


def power(a: Expr, b: Expr) -> Expr:
    if _is(b, 1):
        return a
    return Expr("pow", (a, b))


def call(name: str, *args: Expr) -> Expr:
    return Expr(name, tuple(args))


def diff(e: Expr, var: str) -> Expr:
    """d e / d ``var``, by the rules of calculus; only trivial 0 and 1 factors and terms are simplified away.

    At a non-smooth point the derivative takes one side: ``abs`` gives sign(u)·u' (0 at 0), ``relu`` and a
    Piecewise the branch whose condition holds (relu's u > 0), Max/Min the first argument that attains it."""
    if var not in names(e):
        return ZERO
    op, a = e.op, e.args
    if op == "var":
        return ONE
    if op == "add":
        return add(diff(a[0], var), diff(a[1], var))
    if op == "sub":
        return sub(diff(a[0], var), diff(a[1], var))
    if op == "neg":
        return neg(diff(a[0], var))
    if op == "mul":
        return add(mul(diff(a[0], var), a[1]), mul(a[0], diff(a[1], var)))
    if op == "div":
        u, v = a
        du, dv = diff(u, var), diff(v, var)
        if var not in names(v):
            return div(du, v)
        return div(sub(mul(du, v), mul(u, dv)), power(v, TWO))
    if op == "pow":
        u, v = a
        du, dv = diff(u, var), diff(v, var)
        if var not in names(v):
            if v.op == "num":
                assert v.value is not None
                lowered = num(v.value - 1)
            else:
                lowered = sub(v, ONE)
            return mul(mul(v, power(u, lowered)), du)
        if var not in names(u):
            return mul(mul(e, call("log", u)), dv)
        return mul(e, add(mul(dv, call("log", u)), div(mul(v, du), u)))
    if op in ("Max", "Min"):
        return _extreme_diff(op, a, var)
    if op == "piecewise":
        parts = [diff(x, var) if i % 2 == 0 or i == len(a) - 1 else x for i, x in enumerate(a)]
        return Expr("piecewise", tuple(parts))
    (u,) = a
    du = diff(u, var)
    outer: Expr
    if op == "exp":
        outer = e
    elif op == "log":
        return div(du, u)
    elif op == "sqrt":
        return div(du, mul(TWO, e))
    elif op == "abs":
        outer = call("sign", u)
    elif op == "sin":
        outer = call("cos", u)
    elif op == "cos":
        outer = neg(call("sin", u))
    elif op == "tanh":
        outer = sub(ONE, power(e, TWO))
    elif op == "sigmoid":
        outer = mul(e, sub(ONE, e))
    elif op == "relu":
        return Expr("piecewise", (du, Expr("gt", (u, ZERO)), ZERO))
    elif op == "sign":
        return ZERO
    else:  # pragma: no cover - every function of the language is above
        raise ValueError(f"no derivative for {op}")
    return mul(outer, du)


def _extreme_diff(op: str, args: tuple[Expr, ...], var: str) -> Expr:
    """Max/Min of several arguments: the derivative of the first argument that attains the extreme."""
    if len(args) > 2:
        return _extreme_diff(op, (Expr(op, args[:-1]), args[-1]), var)  # as numpy_code folds: left first
    a, b = args
    cmp = "ge" if op == "Max" else "le"
    return Expr("piecewise", (diff(a, var), Expr(cmp, (a, b)), diff(b, var)))


# ----------------------------------------------------------------------------------------- NumPy code

_NUMPY = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "abs": "np.abs", "sin": "np.sin",
          "cos": "np.cos", "tanh": "np.tanh", "sign": "np.sign"}


def numpy_code(e: Expr, rename: Mapping[str, str] | None = None) -> str:
    """``e`` as one NumPy expression (``np.exp(x)``): Piecewise as ``np.where``/``np.select``, Max/Min as
    ``np.maximum``/``np.minimum``, sigmoid as ``1.0/(1.0 + np.exp(-u))``, relu as ``np.maximum(u, 0.0)``."""
    names_ = dict(rename or {})

    def atom(node: Expr) -> str:
        if node.op == "num":
            return _number(node.value if isinstance(node.value, int) else float(node.value or 0.0))
        assert node.name is not None
        return names_.get(node.name, node.name)

    def call_(op: str, parts: list[str]) -> str:
        if op in _NUMPY:
            return f"{_NUMPY[op]}({parts[0]})"
        if op == "sigmoid":
            return f"1.0 / (1.0 + np.exp(-({parts[0]})))"
        if op == "relu":
            return f"np.maximum({parts[0]}, 0.0)"
        if op in VARIADIC:
            fn = "np.maximum" if op == "Max" else "np.minimum"
            code = parts[0]
            for part in parts[1:]:
                code = f"{fn}({code}, {part})"
            return code
        if op == "piecewise":
            values, conditions = parts[0:-1:2], parts[1:-1:2]
            if len(conditions) == 1:
                return f"np.where({conditions[0]}, {values[0]}, {parts[-1]})"
            return (f"np.select([{', '.join(conditions)}], [{', '.join(values)}], "
                    f"default={parts[-1]})")
        raise ValueError(f"no NumPy code for {op}")  # pragma: no cover

    code = _write(e, atom, call_)
    return code


def compile_numpy(e: Expr, args: Sequence[str]) -> Callable[..., np.ndarray]:
    """A function of ``args`` that runs exactly :func:`numpy_code`'s text for ``e``."""
    missing = names(e) - set(args)
    if missing:
        raise ValueError(f"{sorted(missing)} are read by the formula but are not arguments {list(args)}")
    for a in args:
        if not a.isidentifier() or a == "np":
            raise ValueError(f"argument name {a!r} is not usable in NumPy code")
    code = f"lambda {', '.join(args)}: {numpy_code(e)}"
    namespace: dict[str, Any] = {"np": np}
    fn = eval(compile(code, "<formula>", "eval"), namespace)  # noqa: S307 - our own printed formula
    return fn  # type: ignore[no-any-return]


def evaluate(e: Expr, env: Mapping[str, np.ndarray | float]) -> np.ndarray:
    """``e``'s value with NumPy for the variables in ``env`` (the same operations numpy_code writes)."""
    values: dict[int, Any] = {}
    return np.asarray(_eval(e, env, values))


def _eval(e: Expr, env: Mapping[str, Any], memo: dict[int, Any]) -> Any:
    key = id(e)
    if key in memo:
        return memo[key]
    op = e.op
    result: Any
    if op == "num":
        result = float(e.value or 0.0)
    elif op == "var":
        assert e.name is not None
        result = env[e.name]
    elif op == "piecewise":
        parts = [_eval(a, env, memo) for a in e.args]
        values, conditions = parts[0:-1:2], parts[1:-1:2]
        result = np.select(conditions, values, default=parts[-1]) if len(conditions) > 1 else \
            np.where(conditions[0], values[0], parts[-1])
    else:
        parts = [_eval(a, env, memo) for a in e.args]
        result = _apply(op, parts)
    memo[key] = result
    return result


def _apply(op: str, p: list[Any]) -> Any:
    if op == "add":
        return p[0] + p[1]
    if op == "sub":
        return p[0] - p[1]
    if op == "mul":
        return p[0] * p[1]
    if op == "div":
        return np.divide(p[0], p[1])
    if op == "pow":
        return np.power(np.float64(p[0]) if np.ndim(p[0]) == 0 else p[0], p[1])
    if op == "neg":
        return -p[0]
    if op == "gt":
        return p[0] > p[1]
    if op == "ge":
        return p[0] >= p[1]
    if op == "lt":
        return p[0] < p[1]
    if op == "le":
        return p[0] <= p[1]
    if op == "sigmoid":
        return 1.0 / (1.0 + np.exp(-p[0]))
    if op == "relu":
        return np.maximum(p[0], 0.0)
    if op in VARIADIC:
        fn = np.maximum if op == "Max" else np.minimum
        out = p[0]
        for q in p[1:]:
            out = fn(out, q)
        return out
    return getattr(np, {"abs": "abs"}.get(op, op))(p[0])


# ---------------------------------------------------------------------------------------------- kinks

def kink_mask(e: Expr, env: Mapping[str, np.ndarray | float], rtol: float = KINK_RTOL) -> np.ndarray:
    """Elementwise: whether a non-smooth point of ``e`` or of its derivatives in its variables (abs, sign,
    relu at 0, a Max/Min tie, a Piecewise condition's boundary) is within ``rtol``·max(1, magnitudes) of
    where ``e`` is evaluated."""
    trees = [e] + [diff(e, v) for v in sorted(names(e))]
    memo: dict[int, Any] = {}
    shape = np.broadcast_shapes(*(np.shape(v) for v in env.values())) if env else ()
    mask = np.zeros(shape, dtype=bool)
    with np.errstate(all="ignore"):
        for tree in trees:
            pending = [tree]
            while pending:
                node = pending.pop()
                pending.extend(node.args)
                for left, right in _switches(node):
                    a = np.asarray(_eval(left, env, memo), dtype=float)
                    b = np.asarray(_eval(right, env, memo), dtype=float)
                    scale = np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))
                    near = np.abs(a - b) <= rtol * scale
                    mask = mask | np.broadcast_to(near, np.broadcast_shapes(mask.shape, near.shape))
    return mask


def _switches(node: Expr) -> list[tuple[Expr, Expr]]:
    """The pairs whose equality is a non-smooth point of ``node``."""
    op = node.op
    if op in ("abs", "sign", "relu"):
        return [(node.args[0], ZERO)]
    if op in VARIADIC:
        a = node.args
        return [(a[i], a[j]) for i in range(len(a)) for j in range(i + 1, len(a))]
    if op in COMPARISONS:
        return [(node.args[0], node.args[1])]
    return []


def kinks(e: Expr, env: Mapping[str, np.ndarray | float], rtol: float = KINK_RTOL) -> bool:
    """True where a non-smooth point of ``e`` (abs, sign, relu, Max/Min ties, Piecewise boundaries, including
    those inside its derivative) is within rounding of the evaluated point ``env``."""
    return bool(np.any(kink_mask(e, env, rtol)))
