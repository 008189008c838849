"""The core's formula language (bpdebug.core.expr): parsed, never evaluated; its derivative, its NumPy code and its
kinks checked against SymPy, which the core itself never imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bpdebug.core import expr as ex
from bpdebug.core.expr import Expr, FormulaError
from bpdebug.text.symbolic import to_sympy

X, Y = sympy.symbols("x y", real=True)
SYMBOLS = {"x": X, "y": Y}


# ------------------------------------------------------------------------------------------------ parsing

def test_trees_nest_as_pythons_ast_does() -> None:
    c = ex.var("c")
    assert ex.parse("c + c + 1", ["c"]) == Expr("add", (Expr("add", (c, c)), ex.num(1)))
    assert ex.parse("2**3**c", ["c"]) == Expr("pow", (ex.num(2), Expr("pow", (ex.num(3), c))))
    assert ex.parse("-c**2", ["c"]) == Expr("neg", (Expr("pow", (c, ex.num(2))),))
    assert ex.parse("+c", ["c"]) == c


def test_columns_point_at_the_node() -> None:
    e = ex.parse("  a + exp(b)", ["a", "b"])
    assert e.col == 3 and e.args[0].col == 3 and e.args[1].col == 7 and e.args[1].args[0].col == 11


def test_piecewise_keeps_values_and_conditions_in_order() -> None:
    e = ex.parse("Piecewise((x, x > 0), (0, x <= -1), (exp(x) - 1, True))", ["x"])
    assert e.op == "piecewise" and [a.op for a in e.args] == ["var", "gt", "num", "le", "sub"]
    assert ex.names(e) == {"x"}


@pytest.mark.parametrize(("text", "col", "says"), [
    ("x + q", 5, "unknown name 'q'"),
    ("x > 0", 1, "is not allowed outside a condition"),
    ("foo(x)", 1, "call of 'foo' is not allowed"),
    ("exp(x, 1)", 1, "exp takes one argument"),
    ("Max(x)", 1, "Max takes 2 to 8 arguments"),
    ("x.real", 1, "attribute access is not allowed"),
    ("x +", 1, "not a formula"),  # where Python says
    ("Piecewise((x, x > 0))", 15, "expected True"),
    ("Piecewise((x, True), (1, True))", 15, "only the last Piecewise branch"),
    ("Piecewise((x, x == 0), (1, True))", 15, "one comparison with >, >=, < or <="),
    ("Piecewise((x, 0 < x < 1), (1, True))", 15, "one comparison"),
    ("x + 'a'", 5, "unexpected constant"),
    ("x + 1/0", 5, "'1 / 0' is undefined"),
    ("x*log(-2)", 3, "'log(-2)' is a complex number"),
    ("1/(x - x)", 1, "'1 / (x - x)' is undefined"),
    ("2**x**5000", 7, "exponent 5000 is too large"),
    ("exp", 1, "'exp' is a function"),
    ("lambda x: x", 1, "lambda"),
    ("x if x > 0 else 0", 1, "is not allowed"),
    ("__import__('os')", 1, "is not allowed"),
])
def test_a_refused_formula_says_where_and_what_was_expected(text: str, col: int, says: str) -> None:
    with pytest.raises(FormulaError) as info:
        ex.parse(text, ["x"])
    message = str(info.value)
    assert says in message and "expected" in message and "\n" not in message
    assert info.value.col == col


def test_an_assignment_is_a_name_and_a_formula_with_columns_in_the_line() -> None:
    name, e = ex.parse_assignment("r = r + g**2", ["r", "g"])
    assert name == "r" and e == Expr("add", (ex.var("r"), Expr("pow", (ex.var("g"), ex.num(2)))))
    assert e.col == 5 and e.args[1].col == 9
    with pytest.raises(FormulaError) as info:
        ex.parse_assignment("p = p - lr*q", ["p", "lr"])
    assert "unknown name 'q'" in str(info.value) and info.value.col == 12
    for bad in ("p", "p += 1", "p[0] = 1", "a = b = 1", "1 = p"):
        with pytest.raises(FormulaError):
            ex.parse_assignment(bad, ["p"])


def test_functions_may_be_restricted() -> None:
    assert ex.parse("exp(x)", ["x"], functions=("exp",)).op == "exp"
    with pytest.raises(FormulaError, match="call of 'log' is not allowed"):
        ex.parse("log(x)", ["x"], functions=("exp",))


# ------------------------------------------------------------------------------- random formulas (Hypothesis)

LEAVES = st.one_of(st.sampled_from(["x", "y"]).map(ex.var),
                   st.integers(0, 4).map(ex.num),
                   st.sampled_from([0.5, 1.5, 2.25]).map(ex.num))
UNARY = ("neg", "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "sign")


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    binary = st.tuples(st.sampled_from(["add", "sub", "mul", "div"]), children, children).map(
        lambda t: Expr(t[0], (t[1], t[2])))
    power = st.tuples(children, st.sampled_from([2, 3, 0.5])).map(lambda t: Expr("pow", (t[0], ex.num(t[1]))))
    unary = st.tuples(st.sampled_from(UNARY), children).map(lambda t: Expr(t[0], (t[1],)))
    extreme = st.tuples(st.sampled_from(["Max", "Min"]), children, children).map(
        lambda t: Expr(t[0], (t[1], t[2])))
    piecewise = st.tuples(children, st.sampled_from(["gt", "ge", "lt", "le"]), children, children, children).map(
        lambda t: Expr("piecewise", (t[0], Expr(t[1], (t[2], t[3])), t[4])))
    return st.one_of(binary, power, unary, extreme, piecewise)


FORMULAS = st.recursive(LEAVES, _extend, max_leaves=8)
POINTS = st.tuples(st.floats(-3, 3), st.floats(-3, 3))


def _accepted(e: Expr) -> bool:
    """Whether the language accepts the formula (a part undefined everywhere, such as 0/0, is refused)."""
    try:
        ex.parse(ex.text(e), ["x", "y"])
    except FormulaError:
        return False
    return True


def _every_part_finite(e: Expr, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where every part of the formula is a finite number (a comparison with NaN has no side)."""
    ok = np.ones(x.shape, dtype=bool)
    for node in _nodes(e):
        if node.op not in ("gt", "ge", "lt", "le"):
            ok &= np.broadcast_to(np.isfinite(np.asarray(ex.evaluate(node, {"x": x, "y": y}), dtype=float)), x.shape)
    return ok


def _sympy_diff(e: Expr, var: sympy.Symbol) -> sympy.Expr:
    d = sympy.diff(to_sympy(e, SYMBOLS), var)
    d = d.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))  # sign's derivative: 0 off the kink
    return d.replace(lambda n: isinstance(n, sympy.Derivative) and isinstance(n.expr, sympy.sign),
                     lambda n: sympy.Integer(0))  # (SymPy leaves d/dx sign(x/y) unevaluated)


def _values(e: Expr, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(ex.compile_numpy(e, ("x", "y"))(x, y), dtype=float), x.shape)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FORMULAS, st.lists(POINTS, min_size=1, max_size=5))
def test_the_derivative_is_sympys_away_from_kinks(e: Expr, points: list[tuple[float, float]]) -> None:
    assume(_accepted(e))
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    # away from kinks, where the formula itself is a number (a comparison with NaN has no side)
    smooth = ~ex.kink_mask(e, {"x": x, "y": y}, rtol=1e-6) & _every_part_finite(e, x, y)
    assume(smooth.any())
    for var, symbol in (("x", X), ("y", Y)):
        ours = _values(ex.diff(e, var), x, y)
        theirs_expr = _sympy_diff(e, symbol)
        if theirs_expr.has(sympy.zoo, sympy.nan, sympy.Derivative):  # parts SymPy leaves without a NumPy form
            continue
        with np.errstate(all="ignore"):
            theirs = np.broadcast_to(np.asarray(
                sympy.lambdify((X, Y), theirs_expr, modules="numpy")(x, y), dtype=float), x.shape)
        ok = smooth & np.isfinite(ours) & np.isfinite(theirs) & (np.abs(theirs) < 1e12)
        np.testing.assert_allclose(ours[ok], theirs[ok], rtol=1e-7, atol=1e-9, err_msg=f"{ex.text(e)} d/d{var}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FORMULAS, st.lists(POINTS, min_size=1, max_size=5))
def test_numpy_code_computes_what_sympy_lambdify_does(e: Expr, points: list[tuple[float, float]]) -> None:
    assume(_accepted(e))
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    ours = _values(e, x, y)
    theirs_expr = to_sympy(e, SYMBOLS)
    assume(not theirs_expr.has(sympy.zoo, sympy.nan))  # SymPy's x/Piecewise((x, c), (0, True)): no NumPy for zoo
    with np.errstate(all="ignore"):
        theirs = np.broadcast_to(np.asarray(
            sympy.lambdify((X, Y), theirs_expr, modules="numpy")(x, y), dtype=float), x.shape)
    # SymPy may take the other side of a tie, and simplifies 0/x to 0 where NumPy computes NaN
    smooth = ~ex.kink_mask(e, {"x": x, "y": y}, rtol=1e-6) & _every_part_finite(e, x, y)
    ok = smooth & np.isfinite(ours) & np.isfinite(theirs) & (np.abs(theirs) < 1e12)
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=1e-9, atol=1e-12, err_msg=ex.text(e))
    evaluated = np.broadcast_to(np.asarray(ex.evaluate(e, {"x": x, "y": y}), dtype=float), x.shape)
    np.testing.assert_allclose(evaluated[ok], ours[ok], rtol=1e-12, atol=0)


@settings(max_examples=100, deadline=None)
@given(FORMULAS)
def test_text_parses_back_to_the_same_tree(e: Expr) -> None:
    assume(not any(n.op == "num" and isinstance(n.value, float) and n.value < 0 for n in _nodes(e)))
    try:
        again = ex.parse(ex.text(e), ["x", "y"])
    except FormulaError as exc:  # a part undefined everywhere (1/(x - x)) is refused, as it should be
        assert "undefined" in str(exc) or "complex" in str(exc) or "64-bit" in str(exc)
        return
    assert again == e


def _nodes(e: Expr) -> list[Expr]:
    out = [e]
    for a in e.args:
        out += _nodes(a)
    return out


def test_numpy_code_is_plain_numpy() -> None:
    e = ex.parse("Piecewise((sigmoid(x), x > 0), (relu(y), x < -1), (Max(x, y, 0), True)) + sign(x)", ["x", "y"])
    code = ex.numpy_code(e)
    assert code == ("np.select([x > 0, x < -1], [(1.0 / (1.0 + np.exp(-x))), np.maximum(y, 0.0)], "
                    "default=np.maximum(np.maximum(x, y), 0)) + np.sign(x)")
    assert ex.numpy_code(ex.parse("x*y", ["x", "y"]), {"x": "z[0]"}) == "z[0] * y"
    assert ex.numpy_code(ex.parse("x/sigmoid(x - 1)", ["x"])) == "x / (1.0 / (1.0 + np.exp(-(x - 1))))"


# ------------------------------------------------------------------------------------------------- kinks

ELU_TIED = "Max(x, 0) + Min(exp(x) - 1, 0)"
ELU_BRANCHES = "Piecewise((x, x > 0), (exp(x) - 1, True))"


@pytest.mark.parametrize("text", ["abs(x)", "relu(x)", "sign(x)*x", "Max(x, 0)", "Min(2*x, 0)", ELU_TIED,
                                  ELU_BRANCHES, "Piecewise((1, x >= 0), (0, True))", "sqrt(x**2)*abs(x)"])
def test_a_kink_within_rounding_of_the_point_is_found(text: str) -> None:
    e = ex.parse(text, ["x"])
    z = 0.1 - 0.4 * 1 + 0.3 * 1  # -2.8e-17: 0 up to rounding
    assert z != 0 and ex.kinks(e, {"x": z})
    assert ex.kinks(e, {"x": np.array([0.5, z, -0.5])})
    assert not ex.kinks(e, {"x": np.array([0.5, -0.5, 3.0])})
    assert list(ex.kink_mask(e, {"x": np.array([0.5, z])})) == [False, True]


def test_smooth_formulas_have_no_kinks() -> None:
    for text in ("exp(x)", "sigmoid(x)*tanh(x)", "log(1 + exp(x))", "x**2"):
        assert not ex.kinks(ex.parse(text, ["x"]), {"x": np.linspace(-1, 1, 11)})


def test_a_kink_of_the_derivative_only_is_found_too() -> None:
    e = ex.parse("x*abs(x)", ["x"])  # smooth itself; its derivative 2|x| has the kink
    assert ex.kinks(e, {"x": 1e-18})


def test_both_elus_take_elus_derivative_at_the_tie() -> None:
    z = np.array([0.1 - 0.4 * 1 + 0.3 * 1])
    for text in (ELU_TIED, ELU_BRANCHES):
        d = ex.compile_numpy(ex.diff(ex.parse(text, ["x"]), "x"), ["x"])
        assert float(np.asarray(d(z))[0]) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- to_sympy

def test_to_sympy_writes_the_functions_as_sympy_does() -> None:
    x = X
    assert to_sympy(ex.parse("sigmoid(x)", ["x"]), SYMBOLS) == 1 / (1 + sympy.exp(-x))
    assert to_sympy(ex.parse("relu(x)", ["x"]), SYMBOLS) == sympy.Max(0, x)
    assert to_sympy(ex.parse("abs(x) + sign(x)", ["x"]), SYMBOLS) == sympy.Abs(x) + sympy.sign(x)
    pw = to_sympy(ex.parse(ELU_BRANCHES, ["x"]), SYMBOLS)
    assert pw == sympy.Piecewise((x, x > 0), (sympy.exp(x) - 1, True))
    kept = to_sympy(ex.parse("out*(1 - out)", ["out"]), {"out": x}, evaluate=False)
    assert sympy.srepr(kept) == sympy.srepr(sympy.Mul(x, sympy.Add(1, -x, evaluate=False), evaluate=False))
    assert to_sympy(ex.parse("2", []), {}) == 2 and isinstance(to_sympy(ex.parse("2", []), {}), sympy.Integer)
    assert isinstance(to_sympy(ex.parse("0.5", []), {}), sympy.Float)


SCENARIO_WITH_FORMULAS = """\
[activations.elu]
expr = "Piecewise((x, x > 0), (exp(x) - 1, True))"
[losses.huber]
term = "Min(abs(t - o), 1)**2/2 + Max(abs(t - o) - 1, 0)"
[network]
layers = [2, 2, 1]
activation = ["elu", "tanh"]
[loss]
function = "huber"
[training]
learning_rate = 0.1
[data]
inputs = [[0.5, -1.0]]
targets = [[2.0]]
[weights]
theta1 = [[0.1, 0.2, 0.3], [0.4, -0.5, 0.6]]
theta2 = [[0.7, 0.8, 0.9]]
[[expect]]
quantity = "a2"
value = [0.2, 0.5]
"""


def test_the_core_never_imports_sympy(tmp_path: Path) -> None:
    """Loading a scenario with a custom activation and a formula loss, training it, checking its gradients and
    its expectations: SymPy stays out (it is the derivation's and the text's)."""
    import subprocess
    import sys

    path = tmp_path / "formulas.toml"
    path.write_text(SCENARIO_WITH_FORMULAS, encoding="utf-8")
    code = (f"import sys\nfrom bpdebug.core import diagnosis, gradcheck, slips\nfrom bpdebug.core.engine import Trace\n"
            f"from bpdebug.core.scenario import load\ns = load({str(path)!r})\nTrace(s).loss_history(30)\n"
            f"assert gradcheck.check_scenario(s).checks\nlist(Trace(s).check_all())\n"
            f"print('sympy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_numbers_go_into_any_expression_and_print_readably() -> None:
    from bpdebug.text import printing

    x = X
    e = (sympy.Piecewise((x, x > 0), (sympy.exp(x) - 1, True)) * sympy.Min(sympy.Abs(x - 1), 1)
         + sympy.sign(x) + sympy.Heaviside(x, 0) + sympy.Max(x, 0))
    shown = printing.rebuild(e, {x: printing.shown_number(-0.25)})
    text, latex = printing.text(shown), printing.latex(shown)
    assert "Piecewise(" not in text and "{−0.25 if −0.25 > 0, " in text and "otherwise}" in text
    assert "step(−0.25)" in text and "sign(−0.25)" in text and "Max(0, −0.25)" in text
    assert r"\begin{cases}" in latex and "H\\left(-0.25\\right)" in latex
    assert printing.text(sympy.Piecewise((1, x >= 0), (0, True))) == "{1 if x ≥ 0, 0 otherwise}"
