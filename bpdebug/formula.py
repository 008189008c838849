"""Custom activation formulas: parsed as mathematics, never evaluated as Python.

A formula is parsed with :mod:`ast` and walked against a whitelist; only the variable ``x``,
numbers, ``+ - * / **``, unary minus and a fixed set of functions are accepted. The result is a
SymPy expression, from which SymPy derives the derivative and :func:`sympy.lambdify` makes NumPy
functions once. SymPy is imported here lazily, so scenarios without custom activations never pay for it.
"""

from __future__ import annotations

import ast
from typing import Any

ALLOWED_FUNCTIONS = ("exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "Max", "Min")


class FormulaError(ValueError):
    """A formula outside the accepted mathematics; the message says what was not accepted."""


def parse_formula(text: str) -> Any:
    """Return the SymPy expression for ``text``, a function of ``x``; raise FormulaError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("expected a formula in x such as \"log(1 + exp(x))\", got an empty string")
    if len(text) > 1000:
        raise FormulaError("expected a formula of at most 1000 characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"not a formula ({exc.msg}), expected mathematics in x") from None
    import sympy

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
            return sympy.Rational(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            return binary[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = walk(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in functions:
                raise FormulaError(f"call of {ast.unparse(node.func)!r} is not allowed, expected one of "
                                   f"{', '.join(ALLOWED_FUNCTIONS)}")
            if node.keywords:
                raise FormulaError(f"keyword arguments to {node.func.id} are not allowed")
            name = node.func.id
            wanted = (2, 8) if name in ("Max", "Min") else (1, 1)
            if not wanted[0] <= len(node.args) <= wanted[1]:
                raise FormulaError(f"{name} takes {'at least 2' if wanted[0] == 2 else 'one'} argument(s), "
                                   f"got {len(node.args)}")
            return functions[name](*(walk(arg) for arg in node.args))
        if isinstance(node, ast.Attribute):
            raise FormulaError("attribute access is not allowed, expected mathematics in x")
        raise FormulaError(f"{type(node).__name__.lower()} '{ast.unparse(node)}' is not allowed, "
                           "expected x, numbers, + - * / ** and the functions "
                           f"{', '.join(ALLOWED_FUNCTIONS)}")

    return walk(tree)
