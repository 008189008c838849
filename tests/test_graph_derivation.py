"""The chain rule of any value of a graph (bpdebug.derivation.graph): its sum over the paths (or over the uses, in
the δ form) adds up to the engine's gradient, each local derivative's SymPy form evaluates to the engine's local
number, and no step shows a number that is not computed yet there. Every bundled graph and drawn programs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from _bundled import GRAPHS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bpdebug.core.graph.ops import OPS
from bpdebug.core.graph.trace import GraphStepKind, GraphTrace
from bpdebug.core.scenario import load_any, loads_any
from bpdebug.derivation import graph as dg


def _end_of_backward(trace: GraphTrace) -> int:
    last = max(t.position for t in trace.templates if t.kind is GraphStepKind.BACKWARD)
    return last


def _sum(d: dg.GraphDerivation) -> tuple[float, float]:
    """The derivation's own sum and the size of its terms (for rounding)."""
    if d.form == "output":
        return 1.0, 1.0
    if d.form == "none":
        return 0.0, 0.0
    if d.form == "paths":
        terms = [p.value for p in d.paths]
    else:
        terms = [u.value for u in d.uses] + ([d.rest_value] if d.rest else [])
    assert all(t is not None for t in terms)
    values = [float(t) for t in terms if t is not None]
    return math.fsum(values), sum(abs(v) for v in values)


def _agrees(d: dg.GraphDerivation) -> None:
    assert d.value is not None
    total, size = _sum(d)
    assert abs(total - d.value) <= 1e-9 * (1 + size), (d.name, total, d.value)


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_every_value_of_every_bundled_graph_sums_to_the_engines_gradient(path):
    trace = GraphTrace(load_any(path))
    step = trace.step(_end_of_backward(trace))
    program = trace.program
    for i in program.stepped:
        d = dg.derive_graph(step, program.nodes[i].key)
        assert d.value == pytest.approx(float(step.record.gradients[i]), rel=0, abs=0)
        _agrees(d)


def test_micrograd_chain_rule_of_a_shows_the_readme_figure():
    trace = GraphTrace(load_any(GRAPHS[[p.stem for p in GRAPHS].index("micrograd")]))
    lines = dg.derive_graph(trace.step(_end_of_backward(trace)), "a").text_lines()
    assert any("138.8338" in line for line in lines)
    # a is used five times (a + b, a*b, -a, b + a, b - a): the δ form shows a term per use
    d = dg.derive_graph(trace.step(_end_of_backward(trace)), "a")
    assert d.form == "delta" and len(d.uses) == len(trace.program.users[trace.program.leaf("a")])


def test_a_value_used_twice_shows_two_terms():
    s = loads_any('title = "t"\n[graph]\nvalues = { a = 3.0 }\nprogram = """\nc = a * 2\nd = c + c\n"""\n')
    trace = GraphTrace(s)
    d = dg.derive_graph(trace.step(len(trace) - 1), "c")
    assert d.form == "paths" and len(d.paths) == 2
    assert d.text_lines()[1].count("∂d/∂c") == 3  # the left side and one factor per term
    assert d.value == 2.0


def test_circuit_path_in_symbols_and_numbers():
    path = GRAPHS[[p.stem for p in GRAPHS].index("circuit")]
    trace = GraphTrace(load_any(path))
    d = dg.derive_graph(trace.step(_end_of_backward(trace)), "x")
    assert d.form == "paths" and d.path_count == 1
    assert d.text_lines()[1:4] == ["∂f/∂x = ∂f/∂q·∂q/∂x", "  = z·1", "  = (−4)·1"]


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_no_number_from_the_future(path):
    trace = GraphTrace(load_any(path))
    program = trace.program
    chosen = [program.nodes[i].key for i in program.stepped][:: max(1, len(program.stepped) // 6)]
    for index in range(0, trace.steps_per_epoch, max(1, trace.steps_per_epoch // 25)):
        step = trace.step(index)
        for name in chosen:
            d = dg.derive_graph(step, name)
            assert (d.value is None) == (not step.is_known(f"grad.{d.name}"))
            for p in d.paths:
                for f in p.factors:
                    assert (f.value is None) == (not step.is_known(f.user))
            for u in d.uses:
                assert (u.local.value is None) == (not step.is_known(u.local.user))
                assert (u.upstream is None) == (not step.is_known(f"grad.{u.local.user}"))
            if d.value is None:
                assert "…" in d.text_lines()[-1] or d.form in ("output", "none")


def test_a_long_sum_stays_bounded():
    lines = "\n".join(f"h{i} = tanh(w*h{i - 1} + 1)" for i in range(1, 60))
    s = loads_any(f'title = "t"\n[graph]\nvalues = {{ w = 0.5, h0 = 0.1 }}\nprogram = """\n{lines}\n"""\n')
    trace = GraphTrace(s)
    d = dg.derive_graph(trace.step(len(trace) - 1), "w")
    assert d.form == "delta" and len(d.uses) == dg.MAX_TERMS and d.rest == 59 - dg.MAX_TERMS
    assert len(d.text_lines()) < 10
    _agrees(d)


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda o: o.name)
def test_each_ops_sympy_local_derivative_is_the_engines(op):
    arity = 2 if op.arity is None else op.arity
    k = 3.0 if op.name == "pow" else None
    x = [np.float64(v) for v in (0.7, 1.3)[:arity]]
    out = op.forward(x, k)
    engine = op.local(x, out, k)
    for position in range(arity):
        generic, xs = dg._generic_local(op.name, k, arity, position)
        assert float(generic.subs(dict(zip(xs, [sympy.Float(v) for v in x], strict=True)))) == pytest.approx(
            float(engine[position]), rel=1e-12)


@st.composite
def programs(draw):
    leaves = ["a", "b", "c"][: draw(st.integers(1, 3))]
    values = {k: draw(st.floats(0.2, 2.0)) * draw(st.sampled_from([-1, 1])) for k in leaves}
    bound = list(leaves)
    lines = []
    for _n in range(draw(st.integers(1, 6))):
        x, y = draw(st.sampled_from(bound)), draw(st.sampled_from(bound))
        form = draw(st.sampled_from(["{x} + {y}", "{x} * {y}", "{x} - {y}", "tanh({x}) * {y}", "{x}**2 + {y}",
                                     "sigmoid({x} + {y})", "{x} / (1 + {y}**2)", "exp({x} * 0.1) + {y}"]))
        name = draw(st.sampled_from(["u", "v", *bound]))
        lines.append(f"{name} = " + form.format(x=x, y=y))
        bound.append(name) if name not in bound else None
    return values, "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_drawn_programs_chain_rules_sum_to_the_engines_gradients(drawn):
    values, program = drawn
    vals = ", ".join(f"{k} = {v!r}" for k, v in values.items())
    s = loads_any(f'title = "t"\n[graph]\nvalues = {{ {vals} }}\nprogram = """\n{program}\n"""\n')
    trace = GraphTrace(s)
    step = trace.step(_end_of_backward(trace))
    with np.errstate(all="ignore"):
        assume(np.isfinite(step.record.values).all() and np.isfinite(step.record.gradients).all())
        assume(np.abs(step.record.gradients).max() < 1e8)
    for i in trace.program.stepped:
        _agrees(dg.derive_graph(step, trace.program.nodes[i].key))
