"""Custom activation formulas: parsed as mathematics, never evaluated as Python.

A formula is parsed with :mod:`ast` and walked against a whitelist; only the variable ``x``,
numbers, ``+ - * / **``, unary minus and a fixed set of functions are accepted. The result is a
SymPy expression, from which SymPy derives the derivative and :func:`sympy.lambdify` makes NumPy
functions once. SymPy is imported here lazily, so scenarios without custom activations never pay for it.
"""

from __future__ import annotations

import ast
import math
from typing import Any

ALLOWED_FUNCTIONS = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "Max", "Min")
MAX_EXPONENT = 1000  # a numeric exponent beyond this is refused rather than computed exactly


def _digits(value: Any) -> float:
    """Roughly how many decimal digits the number ``value`` has (0 for magnitudes up to 1)."""
    import sympy  # type: ignore[import-untyped]

    magnitude = abs(value)
    return float(sympy.log(magnitude, 10).evalf()) if magnitude > 1 else 0.0


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:17] + "..."


class FormulaError(ValueError):
    """A formula outside the accepted mathematics; the message says what was not accepted."""


def parse_formula(text: str) -> Any:
    """Return the SymPy expression for ``text``, a function of ``x``; raise FormulaError otherwise.

    Refused besides what the grammar refuses: any part that is undefined (``1/0``, ``log(0)``, ``0/0``),
    infinite, complex (``sqrt(-1)``, ``(-1)**0.5``) or, for a part made of numbers only, beyond the range
    of a 64-bit float (``exp(710)``): the engine computes in float64 and the derivation prints real numbers.
    """
    try:
        expr = _parse(text)
        _check_float64(expr)
        return expr
    except FormulaError:
        raise
    except RecursionError:
        raise FormulaError("nested too deeply for SymPy, expected a simpler formula") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FormulaError(f"SymPy cannot use it ({_short(first)}), expected a real formula in x") from None


def _undefined(value: Any, shown: str) -> None:
    """Refuse a SymPy value that is undefined, infinite or complex; ``shown`` is the formula text it came from."""
    import sympy  # type: ignore[import-untyped]

    if value.has(sympy.zoo):
        raise FormulaError(f"'{_short(shown)}' is undefined (a division by zero or log(0)), expected a formula "
                           "finite for real x")
    if value.has(sympy.nan):
        raise FormulaError(f"'{_short(shown)}' is undefined (0/0 or similar), expected a formula finite for real x")
    if value.has(sympy.oo) or value.has(-sympy.oo):
        raise FormulaError(f"'{_short(shown)}' is infinite, expected a formula finite for real x")
    if value.has(sympy.I) or (value.is_number and value.is_extended_real is False):
        raise FormulaError(f"'{_short(shown)}' is a complex number, expected real values for real x")


def _check_float64(expr: Any) -> None:
    """Every part made of numbers only must be a finite real float64, as the engine will compute it."""
    import math

    import sympy  # type: ignore[import-untyped]

    pending = [expr]
    while pending:
        node = pending.pop()
        if not node.is_number:
            pending.extend(node.args)
            continue
        if isinstance(node, sympy.Rational | sympy.Float | sympy.Integer):
            try:
                value: Any = float(node)
            except OverflowError:
                value = math.inf
        else:
            try:
                value = sympy.lambdify((), node, modules="math")()
            except OverflowError:
                value = math.inf
            except (ValueError, ZeroDivisionError):
                raise FormulaError(f"'{_short(str(node))}' is undefined in 64-bit floats, expected a formula "
                                   "finite for real x") from None
        if isinstance(value, complex):
            raise FormulaError(f"'{_short(str(node))}' is a complex number, expected real values for real x")
        if not math.isfinite(float(value)):
            raise FormulaError(f"'{_short(str(node))}' is beyond the range of a 64-bit float (about 1.8e308), "
                               "expected smaller numbers")


def _parse(text: str) -> Any:
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("expected a formula in x such as \"log(1 + exp(x))\", got an empty string")
    if len(text) > 1000:
        raise FormulaError("expected a formula of at most 1000 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"not a formula ({exc.msg}), expected mathematics in x") from None
    import sympy  # type: ignore[import-untyped]

    x = sympy.Symbol("x", real=True)
    functions = {
        "exp": sympy.exp,
        "log": sympy.log,
        "sqrt": sympy.sqrt,
        "abs": sympy.Abs,
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tanh": sympy.tanh,
        "Max": sympy.Max,
        "Min": sympy.Min,
    }
    binary = {
        ast.Add: lambda a, b: a + b,
        ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b,
        ast.Pow: lambda a, b: a**b,
    }

    def checked(value: Any, node: ast.AST) -> Any:
        _undefined(value, ast.unparse(node))
        return value

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Name):
            if node.id == "x":
                return x
            raise FormulaError(f"unknown name '{node.id}', expected only x and the functions "
                               f"{', '.join(ALLOWED_FUNCTIONS)}")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise FormulaError(f"unexpected constant {node.value!r}, expected a number")
            if isinstance(node.value, float) and not math.isfinite(node.value):
                raise FormulaError(f"the number {ast.unparse(node)} is beyond the range of a 64-bit float "
                                   "(about 1.8e308), expected smaller numbers")
            return sympy.Rational(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and right.is_number and abs(right) > MAX_EXPONENT:
                # SymPy would compute a power of numbers exactly, at once: 9**9**9 must not hang the loader
                raise FormulaError(f"exponent {_short(right)} is too large, expected an exponent of at most "
                                   f"{MAX_EXPONENT} in absolute value")
            numbers = left.is_number and right.is_number
            if isinstance(node.op, ast.Pow) and numbers and _digits(left) * abs(right) > 1000:
                raise FormulaError(f"{_short(left)}**{_short(right)} is too large a number, expected a power "
                                   "of at most 1000 digits")
            return checked(binary[type(node.op)](left, right), node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return checked(-value if isinstance(node.op, ast.USub) else value, node)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions:
                raise FormulaError(f"call of {ast.unparse(node.func)!r} is not allowed, expected one of "
                                   f"{', '.join(ALLOWED_FUNCTIONS)}")
            name = node.func.id
            usage = f"{name}(x, 0)" if name in ("Max", "Min") else f"{name}(x)"
            if node.keywords:
                raise FormulaError(f"keyword arguments to {name} are not allowed, expected {usage}")
            wanted = (2, 8) if name in ("Max", "Min") else (1, 1)
            if not wanted[0] <= len(node.args) <= wanted[1]:
                raise FormulaError(f"{name} takes {'2 to 8 arguments' if wanted[0] == 2 else 'one argument'}, "
                                   f"got {len(node.args)}, expected {usage}")
            return checked(functions[name](*(walk(arg) for arg in node.args)), node)
        if isinstance(node, ast.Attribute):
            raise FormulaError("attribute access is not allowed, expected mathematics in x")
        raise FormulaError(f"{type(node).__name__.lower()} '{ast.unparse(node)}' is not allowed, "
                           "expected x, numbers, + - * / ** and the functions "
                           f"{', '.join(ALLOWED_FUNCTIONS)}")

    return walk(tree)
