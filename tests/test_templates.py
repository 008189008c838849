"""The closed forms of the chain's factor kinds (derivation/templates.py).

At run time a textbook form is checked against SymPy's derivative at sample points only (``simplify`` cost
~200 ms and imported ``sympy.physics`` on the first chain rule of a session); here every registry entry's form
is proved equal symbolically, and a wrong form is shown to be refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

from bpdebug.core import expr, functions
from bpdebug.derivation import templates
from bpdebug.text import symbolic

ROOT = Path(__file__).resolve().parent.parent
SHAPED = [e for e in functions.ACTIVATIONS.values() if e.tree is not None and e.out_form is not None]
LOSSES = [e for e in functions.LOSSES.values() if e.textbook is not None]


def _zero(expr: sympy.Expr) -> bool:
    return sympy.simplify(expr.rewrite(sympy.exp)) == 0


@pytest.mark.parametrize("entry", SHAPED, ids=lambda e: e.name)
def test_an_activations_out_form_is_its_derivative_proved_symbolically(entry: functions.Activation) -> None:
    x = sympy.Symbol("x", real=True)
    a = templates.MARKERS[0]
    f = symbolic.activation(entry, x)
    assert _zero(sympy.diff(f, x) - symbolic.out_form(entry, a).xreplace({a: f}))
    chosen = templates.activation_template(entry)
    assert chosen.roles == ("out",) and chosen.expr == symbolic.out_form(entry, a)  # the run-time check took it


@pytest.mark.parametrize("per_batch", [False, True])
@pytest.mark.parametrize("entry", LOSSES, ids=lambda e: e.name)
def test_a_losss_textbook_form_is_its_derivative_proved_symbolically(entry: functions.Loss, per_batch: bool) -> None:
    o, t, K, N = templates.MARKERS
    chosen = templates.loss_template(entry, per_batch)
    scale = 1 / N if (entry.reduction == "mean" and per_batch) else 1
    assert _zero(sympy.diff(symbolic.loss_term(entry, o, t, K), o) * scale - chosen.expr)
    textbook = symbolic.loss_textbook(entry, o, t, K)
    assert textbook is not None
    factors = textbook + ([] if scale == 1 else [sympy.Pow(N, -1, evaluate=False)])
    textbook = factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False)
    assert chosen.expr == textbook  # the run-time check took the textbook's form


def test_softmax_forms_are_proved_symbolically() -> None:
    z = sympy.symbols("z1:4")
    soft = [sympy.exp(zi) / sum(sympy.exp(zj) for zj in z) for zi in z]
    om, ok, _, _ = templates.MARKERS
    diag, off = templates.softmax_templates()
    assert _zero(sympy.diff(soft[0], z[0]) - diag.expr.xreplace({om: soft[0]}))
    assert _zero(sympy.diff(soft[0], z[1]) - off.expr.xreplace({om: soft[0], ok: soft[1]}))
    assert diag.roles == ("out",) and off.roles == ("out", "out_k")


def test_a_wrong_textbook_form_is_refused_and_sympys_own_form_shown() -> None:
    a = templates.MARKERS[0]
    sigmoid = functions.activation("sigmoid")
    wrong = functions.Activation("not_sigmoid", sigmoid.function, sigmoid.derivative, sigmoid.tree,
                                 out_form=expr.parse("out*(1 + out)", ["out"]))
    chosen = templates.activation_template(wrong)
    assert chosen.roles == ("net",) and chosen.expr != symbolic.out_form(wrong, a)
    x = sympy.Symbol("x", real=True)
    assert _zero(chosen.expr.xreplace({a: x}) - sympy.diff(symbolic.activation(sigmoid, x), x))
    nets = np.array([-2.0, 0.0, 0.5, 3.0])
    assert np.allclose(chosen.fn(nets), sigmoid.derivative(nets, sigmoid.function(nets)), rtol=1e-12, atol=0)


def test_agrees_needs_equal_values_where_both_are_defined() -> None:
    o, t = templates.MARKERS[:2]
    assert templates._agrees((o - t) ** 2, o**2 - 2 * o * t + t**2, (o, t))
    assert not templates._agrees((o - t) ** 2, o**2 + t**2, (o, t))
    assert not templates._agrees(o, sympy.zoo * o, (o,))  # never finite: nothing agreed


def test_the_number_functions_match_the_engine() -> None:
    for entry in SHAPED:
        nets = np.linspace(-3, 3, 13)
        out = entry.function(nets)
        chosen = templates.activation_template(entry)
        got = chosen.fn(out) if chosen.roles == ("out",) else chosen.fn(nets)
        assert np.allclose(got, entry.derivative(nets, out), rtol=1e-12, atol=1e-15), entry.name


def test_the_first_chain_rule_loads_neither_sympy_physics_nor_numpy_testing() -> None:
    code = """
import sys
from bpdebug import derivation
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
s = load(sys.argv[1])
for name in ("blog.toml", "softmax.toml"):
    s = load(sys.argv[1].replace("blog.toml", name))
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    for p in s.params:
        derivation.derive(step, p, scenario=s).text_lines()
print(sorted(m for m in sys.modules if m.startswith(("sympy.physics", "numpy.testing", "unittest"))))
"""
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "scenarios" / "blog.toml")], capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
