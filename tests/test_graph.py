"""Graph scenarios: the node engine against micrograd, HIPS autograd and high-precision central differences, the
[graph] loader's one-line errors, the step protocol (never numbers from the future), and the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import reduce
from pathlib import Path

import autograd.numpy as anp
import mpmath
import numpy as np
import pytest
from _bundled import GRAPHS
from autograd import grad
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from micrograd.engine import Value

from bpdebug import cli
from bpdebug.core.graph.ops import OPS, function_names
from bpdebug.core.graph.program import LEAF
from bpdebug.core.graph.trace import GraphStepKind, GraphTrace
from bpdebug.core.protocol import StepProtocol, TraceProtocol
from bpdebug.core.scenario import ScenarioError, load, load_any, loads_any

RTOL = 1e-10
MICROGRAD_OPS = ("add", "sub", "mul", "div", "neg", "pow", "relu")  # what micrograd 0.1.0's Value does
KINKED = ("relu", "abs", "Max", "Min")  # where the derivative jumps; drawn programs keep away from them


def graph_text(values: dict[str, float], program: str, extra: str = "") -> str:
    vals = ", ".join(f"{k} = {v!r}" for k, v in values.items())
    return f'title = "t"\n[graph]\nvalues = {{ {vals} }}\n{extra}program = """\n{program}\n"""\n'


def close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-13 * scale


# ------------------------------------------------------------------------------------------ references

def micrograd_run(values: dict[str, float], program: str) -> tuple[float, dict[str, float]]:
    """The program run as Python over micrograd's Value: the output's value and each leaf's gradient."""
    leaves = {k: Value(v) for k, v in values.items()}
    env: dict[str, object] = dict(leaves)
    env["relu"] = lambda v: v.relu() if isinstance(v, Value) else max(v, 0.0)
    last = None
    for line in program.splitlines():
        code = line.split("#", 1)[0]
        if code.strip():
            exec(code, {}, env)  # noqa: S102 - the test's own programs
            last = code.split("=", 1)[0].strip()
    out = env[last]
    if not isinstance(out, Value):  # a number: no leaf reaches it
        return float(out), {k: 0.0 for k in leaves}  # type: ignore[arg-type]
    out.backward()
    return out.data, {k: v.grad for k, v in leaves.items()}


def _math(module) -> dict[str, object]:
    return {"exp": module.exp, "log": module.log, "sqrt": module.sqrt, "sin": module.sin, "cos": module.cos,
            "tanh": module.tanh}


def program_function(values: dict[str, float], program: str, env: dict[str, object]):
    """The program as a Python function of the leaves' values, in the given functions' arithmetic."""
    names = list(values)
    lines = [line.split("#", 1)[0] for line in program.splitlines() if line.split("#", 1)[0].strip()]
    last = lines[-1].split("=", 1)[0].strip()

    def f(*args):
        scope = dict(env)
        scope.update(zip(names, args, strict=True))
        for code in lines:
            exec(code, {}, scope)  # noqa: S102 - the test's own programs
        return scope[last]
    return f


AUTOGRAD = {**_math(anp), "abs": anp.abs, "relu": lambda x: anp.maximum(x, 0.0),
            "sigmoid": lambda x: 1.0 / (1.0 + anp.exp(-x)),
            "Max": lambda *a: reduce(anp.maximum, a), "Min": lambda *a: reduce(anp.minimum, a)}
MPMATH = {**_math(mpmath), "abs": abs, "relu": lambda x: max(x, 0), "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
          "Max": max, "Min": min}


def autograd_gradients(values: dict[str, float], program: str) -> dict[str, float]:
    f = program_function(values, program, AUTOGRAD)
    args = [float(v) for v in values.values()]
    return {k: float(grad(f, i)(*args)) for i, k in enumerate(values)}


def central_differences(values: dict[str, float], program: str) -> dict[str, float]:
    """Central differences at 60 digits with h = 1e-25: exact to far below 1e-10."""
    f = program_function(values, program, MPMATH)
    out = {}
    with mpmath.workdps(60):
        args = [mpmath.mpf(v) for v in values.values()]
        h = mpmath.mpf("1e-25")
        for i, k in enumerate(values):
            up, down = list(args), list(args)
            up[i] += h
            down[i] -= h
            out[k] = float((f(*up) - f(*down)) / (2 * h))
    return out


def magnitudes(s, record) -> np.ndarray:
    """Each node's gradient with every term taken in absolute value: the size of the sums a float64 backward
    pass adds up, so their rounding error is within a few ulps of it (what a comparison may allow)."""
    p = s.program
    out = np.zeros(len(p.nodes))
    out[p.output] = 1.0
    with np.errstate(all="ignore"):
        for node in reversed(p.nodes):
            if node.computed:
                x = [np.float64(record.values[j]) for j in node.args]
                local = OPS[node.op].local(x, np.float64(record.values[node.index]), node.k)
                for j, d in zip(node.args, local, strict=True):
                    out[j] += out[node.index] * abs(float(d))
    return out


def engine(values: dict[str, float], program: str):
    try:
        s = loads_any(graph_text(values, program))
    except ScenarioError as exc:  # a drawn part made of numbers only may be infinite (1/(0.5 - 0.5)), complex
        # ((-0.5)**0.5) or undefined: refused where it is written
        assert any(why in str(exc) for why in ("64-bit float", "is a complex number", "is undefined")), exc
        assume(False)
        raise
    record = GraphTrace(s).epoch(1)
    p = s.program
    return s, record, {k: float(record.gradients[p.leaf(k)]) for k in values}


# -------------------------------------------------------------------------------------- bundled graphs

def test_micrograd_readme_figures_and_the_reference():
    s = load_any(Path("scenarios/micrograd.toml"))
    text = Path("scenarios/micrograd.toml").read_text()
    program = text.split('program = """', 1)[1].split('"""', 1)[0]
    values = {"a": -4.0, "b": 2.0}
    data, grads = micrograd_run(values, program)
    record = GraphTrace(s).epoch(1)
    assert round(record.loss, 4) == 24.7041 and close(record.loss, data, 1)
    for k in values:
        assert close(float(record.gradients[s.program.leaf(k)]), grads[k], 1)
    assert round(float(record.gradients[s.program.leaf("a")]), 4) == 138.8338
    assert round(float(record.gradients[s.program.leaf("b")]), 4) == 645.5773


@pytest.mark.parametrize("path", [p for p in GRAPHS if {n.op for n in load_any(p).program.nodes if n.computed}
                                  <= set(MICROGRAD_OPS)], ids=lambda p: p.stem)
def test_every_bundled_graph_micrograd_can_run_equals_micrograd(path):
    s = load_any(path)
    program = path.read_text().split('program = """', 1)[1].split('"""', 1)[0]
    values = dict(zip(s.program.leaves, s.program.start.tolist(), strict=True))
    record = GraphTrace(s).epoch(1)
    data, grads = micrograd_run(values, program)
    size = magnitudes(s, record)
    assert close(record.loss, data, 1 + abs(data))
    for k in values:
        assert close(float(record.gradients[s.program.leaf(k)]), grads[k], 1 + size[s.program.leaf(k)])


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_every_bundled_graph_equals_autograd_and_central_differences(path):
    s = load_any(path)
    text = path.read_text()
    program = text.split('program = """', 1)[1].split('"""', 1)[0]
    values = dict(zip(s.program.leaves, s.program.start.tolist(), strict=True))
    record = GraphTrace(s).epoch(1)
    mine = {k: float(record.gradients[s.program.leaf(k)]) for k in values}
    scale = 1 + max(abs(v) for v in mine.values())
    references = (autograd_gradients(values, program), central_differences(values, program))
    assert all(np.isfinite(r[k]) for r in references for k in values)  # a bundled graph's references never overflow
    for reference in references:
        for k in values:
            assert close(mine[k], reference[k], scale), (k, mine[k], reference[k])


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_every_bundled_graph_checks_and_teaches(path, capsys):
    s = load_any(path)
    assert s.expectations and len(s.description) > 80
    assert sum(line.lstrip().startswith("#") for line in path.read_text().splitlines()) >= 1
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(s.expectations)} of {len(s.expectations)} hold" in out


@pytest.mark.parametrize("name, optimizer", [("rnn", "sgd"), ("conv", "sgd"), ("rnn", "momentum"),
                                             ("rnn", "adam"), ("conv", "adam")])
def test_trained_leaves_equal_an_independent_numpy_loop(name, optimizer):
    path = Path(f"scenarios/{name}.toml")
    text = path.read_text().replace("[training]\n", f'[training]\noptimizer = "{optimizer}"\n')
    s = loads_any(text, str(path))
    program = text.split('program = """', 1)[1].split('"""', 1)[0]
    values = dict(zip(s.program.leaves, s.program.start.tolist(), strict=True))
    f = program_function(values, program, AUTOGRAD)
    learn = [s.leaves.index(n) for n in s.learn]
    trace = GraphTrace(s)
    x = np.array(list(values.values()))
    m, v, lr = np.zeros(len(learn)), np.zeros(len(learn)), s.learning_rate
    for epoch in range(1, s.epochs + 1):
        g = np.array([grad(f, i)(*x) for i in learn])
        p = x[learn]
        if optimizer == "sgd":
            p = p - lr * g
        elif optimizer == "momentum":
            m = 0.9 * m + g
            p = p - lr * m
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            p = p - lr * (m / (1 - 0.9 ** epoch)) / (np.sqrt(v / (1 - 0.999 ** epoch)) + 1e-8)
        x[learn] = p
        after = trace.epoch(epoch).leaves_after
        np.testing.assert_allclose(after, x, rtol=1e-10, atol=1e-13)


# -------------------------------------------------------------------------------- Hypothesis programs

NAMES = ("u", "v", "w")


@st.composite
def programs(draw, ops: tuple[str, ...]):
    """(leaf values, program text): leaves a, b, c; 1 to 5 lines, names bound and bound again."""
    n_leaves = draw(st.integers(1, 3))
    leaves = ["a", "b", "c"][:n_leaves]
    values = {k: draw(st.floats(-2.5, 2.5).filter(lambda x: abs(x) > 0.05)) for k in leaves}
    bound = list(leaves)
    functions = [f for f in function_names() if f in ops]

    def expr(depth: int) -> str:
        choices = ["atom"] + (["binary", "chain", "neg", "pow"] if depth < 3 else [])
        choices += ["call"] if depth < 3 and functions else []
        kind = draw(st.sampled_from(choices))
        if kind == "atom":
            if draw(st.integers(0, 4)) == 0:
                return repr(draw(st.sampled_from([0.5, 1.0, 2.0, 3.0, 10.0])))
            return draw(st.sampled_from(bound))
        if kind == "binary":
            op = draw(st.sampled_from([o for o in ("+", "-", "*", "/") if {"+": "add", "-": "sub", "*": "mul",
                                                                         "/": "div"}[o] in ops]))
            return f"({expr(depth + 1)} {op} {expr(depth + 1)})"
        if kind == "chain":  # as written, nested as Python nests it
            parts = [expr(depth + 1) for _ in range(draw(st.integers(2, 3)))]
            return " + ".join(parts) if "add" in ops else parts[0]
        if kind == "neg":
            return f"(-{expr(depth + 1)})" if "neg" in ops else expr(depth + 1)
        if kind == "pow":
            k = draw(st.sampled_from([2, 3, -1, 0.5] if "pow" in ops else [1]))
            return f"({expr(depth + 1)})**{k}" if "pow" in ops else expr(depth + 1)
        f = draw(st.sampled_from(functions))
        if f in ("Max", "Min"):
            return f"{f}({expr(depth + 1)}, {expr(depth + 1)})"
        return f"{f}({expr(depth + 1)})"

    lines = []
    for _ in range(draw(st.integers(1, 5))):
        target = draw(st.sampled_from(NAMES + tuple(bound)))
        lines.append(f"{target} = {expr(0)}")
        if target not in bound:
            bound.append(target)
    return values, "\n".join(lines)


def _well_behaved(s, record) -> bool:
    """Finite, moderate numbers, away from the kinks where a derivative jumps and from a domain's edge."""
    values, grads = record.values, record.gradients
    if not (np.isfinite(values).all() and np.isfinite(grads).all()):
        return False
    if np.abs(values).max() > 1e6 or np.abs(grads).max() > 1e6:
        return False
    for n in s.program.nodes:
        if n.op in KINKED:
            x = [values[j] for j in n.args]
            if n.op in ("relu", "abs") and abs(x[0]) < 1e-6:
                return False
            if n.op in ("Max", "Min") and abs(x[0] - x[1]) < 1e-6:
                return False
        if n.op in ("log", "sqrt", "div", "pow") and any(abs(values[j]) < 1e-3 for j in n.args):
            return False
    return True


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(MICROGRAD_OPS))
def test_drawn_programs_equal_micrograd(drawn):
    values, program = drawn
    with np.errstate(all="ignore"):
        s, record, mine = engine(values, program)
    assume(_well_behaved(s, record))
    data, grads = micrograd_run(values, program)
    size = magnitudes(s, record)
    assert close(record.loss, data, 1 + float(np.abs(record.values).max()))
    for k in values:
        assert close(mine[k], grads[k], 1 + size[s.program.leaf(k)]), (k, mine[k], grads[k])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(tuple(OPS)))
@example(({"a": -1.0, "b": 1.0}, "u = (10.0 * a)\nu = sigmoid((u)**3)"))  # autograd's slope overflows: nan, not 0
def test_drawn_programs_equal_autograd_and_central_differences(drawn):
    values, program = drawn
    with np.errstate(all="ignore"):
        s, record, mine = engine(values, program)
    assume(_well_behaved(s, record))
    size = magnitudes(s, record)
    f = program_function(values, program, MPMATH)
    with mpmath.workdps(40):
        exact = float(f(*[mpmath.mpf(v) for v in values.values()]))
    assert close(record.loss, exact, 1 + float(np.abs(record.values).max()))
    references = (autograd_gradients(values, program), central_differences(values, program))
    # a reference that overflows judges nothing (autograd's sigmoid at -1000: inf/inf, nan, where the slope is 0)
    assume(all(np.isfinite(r[k]) for r in references for k in values))
    for reference in references:
        for k in values:
            assert close(mine[k], reference[k], 1 + size[s.program.leaf(k)]), (k, mine[k], reference[k], program)


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda o: o.name)
def test_each_ops_local_derivative_is_its_forward_functions_slope(op):
    arity = op.arity or 2
    rng = np.random.default_rng(len(op.name))
    for _ in range(20):
        x = [np.float64(v) for v in rng.uniform(0.3, 2.0, arity) * rng.choice([-1, 1], arity)]
        if op.name in ("log", "sqrt"):
            x = [abs(v) for v in x]
        k = 3.0 if op.name == "pow" else None
        out = op.forward(x, k)
        local = op.local(x, out, k)
        assert len(local) == arity
        for i in range(arity):
            with mpmath.workdps(30):
                h = 1e-6
                up, down = list(x), list(x)
                up[i] += h
                down[i] -= h
                numeric = (op.forward(up, k) - op.forward(down, k)) / (2 * h)
            assert float(local[i]) == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)


# ------------------------------------------------------------------------------------- the loader

@pytest.mark.parametrize("program, extra, line, key, words", [
    ("c = a + b\nd = q * 2", "", 6, "graph.program", "line 2 of the program, column 5: undefined name 'q'"),
    ("c = foo(a)", "", 5, "graph.program", "line 1 of the program, column 5: call of 'foo'"),
    ("c = a ** b", "", 5, "graph.program", "numeric exponent"),
    ("c = sign(a)", "", 5, "graph.program", "call of 'sign' is not allowed"),
    ("# nothing\n\n", "", None, "graph.program", "the program is empty"),
    ("c = a + b", 'learn = ["c"]\n', None, "graph.learn", "'c' is computed by the program, not a leaf"),
    ("c = a + b", 'learn = ["z"]\n', None, "graph.learn", "unknown name 'z'"),
    ("c = a + b", 'output = "zz"\n', None, "graph.output", "output 'zz' is never bound"),
    ("exp = a + b", "", 5, "graph.program", "'exp' is a function's name"),
    ("c = a +", "", 5, "graph.program", "line 1 of the program, column"),
])
def test_program_errors_name_the_line_and_column(tmp_path, program, extra, line, key, words):
    path = tmp_path / "g.toml"
    path.write_text(graph_text({"a": 1.0, "b": 2.0}, program, extra))
    with pytest.raises(ScenarioError) as info:
        load_any(path)
    message = str(info.value)
    assert "\n" not in message and f": {key}: " in message and words in message, message
    if line is not None:
        assert message.startswith(f"{path}:{line}: "), message


def test_a_leaf_cannot_take_a_functions_name(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(graph_text({"tanh": 1.0}, "c = tanh * 2"))
    with pytest.raises(ScenarioError, match=r"graph\.values\.tanh: 'tanh' is a function's name"):
        load_any(path)


def test_a_graph_with_a_network_section_is_refused_in_one_line(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(graph_text({"a": 1.0}, "c = a * 2") + "\n[network]\nlayers = [1, 1]\n")
    with pytest.raises(ScenarioError, match=r"network: \[graph\] replaces \[network\]"):
        load_any(path)


def test_a_network_reader_refuses_a_graph_in_one_line():  # the app opens it: tests/test_graph_app.py
    with pytest.raises(ScenarioError, match="a graph scenario, which this reads only as a network"):
        load("scenarios/micrograd.toml")


def test_names_bound_again_are_name_at_k():
    s = load_any("scenarios/micrograd.toml")
    p = s.program
    assert [p.nodes[i].key for i in p.bindings["c"]] == ["c@1", "c@2", "c@3"]
    record = GraphTrace(s).epoch(1)
    assert record.values[p.resolve("c@1")] == -2.0 and record.values[p.resolve("c")] == record.values[p.resolve("c@3")]
    # c + c: c@1 is used twice by one node, and its gradient has a term for each use
    twice = [u for u, _ in p.users[p.resolve("c@1")]]
    assert len(twice) > len(set(twice))


# ------------------------------------------------------------------------------------- the protocol

def test_steps_never_show_numbers_from_the_future():
    s = load_any("scenarios/micrograd.toml")
    trace = GraphTrace(s, 2)
    assert isinstance(trace, TraceProtocol) and isinstance(trace[0], StepProtocol)
    n = trace.steps_per_epoch
    kinds = [trace[i].kind for i in range(n)]
    assert kinds == sorted(kinds, key=[GraphStepKind.FORWARD, GraphStepKind.BACKWARD, GraphStepKind.UPDATE].index)
    a = s.param("a")
    assert a is not None
    for i in range(n):
        step = trace[i]
        for name in step.computes:
            assert step.is_known(name)
            if i > 0:
                assert not trace[i - 1].is_known(name)
                with pytest.raises(KeyError):
                    trace[i - 1].value(name)
        if step.gradient(a) is None:
            with pytest.raises(KeyError):
                step.value("grad.a")
    last_backward = trace.first_step_of(1, kind="update") - 1
    step = trace[last_backward]
    assert step.computes == ("grad.a",) and round(step.value("grad.a"), 4) == 138.8338
    # the gradient is the sum of its terms, one per use
    terms = step.terms()
    assert len(terms) == len(s.program.users[s.program.leaf("a")])
    assert math.fsum(t.product for t in terms) == pytest.approx(step.value("grad.a"), rel=1e-12)
    assert trace[n].epoch == 2 and trace[n].value("a") == trace[n - 1].value("a.after")


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(programs(tuple(OPS)), st.data())
def test_a_drawn_programs_steps_know_each_number_from_its_step_on(drawn, data):
    values, program = drawn
    with np.errstate(all="ignore"):
        s, record, _ = engine(values, program)
        trace = GraphTrace(s, 1)
        n = len(trace)
        i = data.draw(st.integers(0, n - 1))
        step = trace[i]
        for name in step.computes:
            assert step.is_known(name) and name in step.known
            value = step.value(name)
            assert value == value or math.isnan(value)
            if i:
                assert not trace[i - 1].is_known(name)
                with pytest.raises(KeyError):
                    trace[i - 1].value(name)
        assert step.known <= trace[n - 1].known  # nothing known is forgotten later
        if i:
            assert trace[i - 1].known < step.known


def test_far_epochs_report_progress_and_stop_when_asked():
    s = load_any("scenarios/rnn.toml")
    trace = GraphTrace(s)
    seen: list[tuple[int, int]] = []
    assert trace.advance(3000, progress=lambda d, t: seen.append((d, t))) == 3000
    assert seen[-1] == (3000, 3000) and len(trace) == 3000 * trace.steps_per_epoch
    assert trace.loss(2999) == GraphTrace(s).epoch(2999).loss
    stopped = GraphTrace(s)
    assert stopped.advance(10**6, should_stop=lambda: True) == 0


def test_the_epoch_cache_stays_within_its_bytes():
    s = load_any("scenarios/rnn.toml")
    trace = GraphTrace(s, cache_bytes=4096)
    for e in range(1, 60):
        trace.epoch(e)
    assert trace.cached_epochs <= max(2, 4096 // trace.epoch(1).nbytes())
    assert trace.epoch(3).leaves_after.tolist() == GraphTrace(s).epoch(3).leaves_after.tolist()


def test_divergence_names_the_node_and_the_cause():
    s = loads_any(graph_text({"a": 0.0}, "b = log(a)\nc = b * 2"))
    d = GraphTrace(s).divergence()
    assert d is not None and d.quantity == "b" and "log of 0" in d.cause and d.step == 0


def test_frozen_leaves_do_not_move():
    text = Path("scenarios/rnn.toml").read_text().replace("[training]\n", '[training]\nfrozen = ["wh"]\n')
    s = loads_any(text)
    record = GraphTrace(s).epoch(3)
    i = s.program.leaf("wh")
    assert record.leaves_after[i] == s.program.start[i]
    assert record.leaves_after[s.program.leaf("wx")] != s.program.start[s.program.leaf("wx")]


def test_a_large_unrolled_rnn_builds_and_walks():
    steps = 500
    lines = [f"h{t} = tanh(wx*x{t % 4} + wh*h{t - 1} + b)" for t in range(1, steps + 1)]
    lines.append(f"E = (h{steps} - 0.5)**2")
    values = {"wx": 0.5, "wh": -0.3, "b": 0.1, "h0": 0.0, "x0": 1.0, "x1": -0.5, "x2": 0.25, "x3": 0.8}
    text = graph_text(values, "\n".join(lines), 'learn = ["wx", "wh", "b"]\n') + "[training]\nlearning_rate = 0.1\n"
    s = loads_any(text)
    assert len(s.program.nodes) > 2500
    trace = GraphTrace(s)
    assert trace[len(trace) - 1].kind == "update"
    assert np.isfinite(trace.epoch(1).gradients).all()


# ------------------------------------------------------------------------------------ the command line

def test_check_holds_three_of_three_and_json_is_one_object(capsys):
    assert cli.main(["check", "scenarios/micrograd.toml"]) == 0
    assert "expectations: 3 of 3 hold" in capsys.readouterr().out
    assert cli.main(["check", "--json", "--gradcheck", "scenarios/micrograd.toml"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["holds"] for e in doc["expectations"]] == [True] * 3 and doc["gradcheck"]["passes"]
    assert {e["diagnosis"]["verdict"] for e in doc["expectations"]} == {"holds"}


def test_a_printed_figure_that_does_not_hold_fails_check(tmp_path, capsys):
    text = Path("scenarios/micrograd.toml").read_text().replace("value = 138.8338", "value = 138.9")
    path = tmp_path / "m.toml"
    path.write_text(text)
    assert cli.main(["check", str(path)]) == 1
    assert "2 of 3 hold" in capsys.readouterr().out


def test_gradcheck_of_every_bundled_graph(capsys):
    for path in GRAPHS:
        assert cli.main(["check", "--gradcheck", str(path)]) == 0, path
        assert "passes" in capsys.readouterr().out


@pytest.mark.parametrize("condition, code, words", [
    ("a<-5", 3, "a went from -4 to -5.388338192"),
    ("grad>600", 3, "∂g/∂b"),
    ("step=backward", 3, "∂g/∂g"),
    ("expect", 0, "no condition held"),
    ("dead", 2, "about a network's layers"),
    ("grad[1]<1", 2, "a graph has no layers"),
    ("step=delta2", 2, "a graph's steps are forward, backward, update"),
    ("zz<1", 2, "unknown name 'zz'"),
])
def test_run_with_graph_conditions(capsys, condition, code, words):
    assert cli.main(["run", "scenarios/micrograd.toml", "--break", condition]) == code
    captured = capsys.readouterr()
    assert words in captured.out + captured.err
    if code == 2:
        assert captured.err.count("\n") == 1


def test_run_stops_at_the_first_non_finite_number(capsys):
    assert cli.main(["run", "scenarios/micrograd.toml", "--epochs", "10", "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["stop"]["condition"] == "nan" and doc["diverged"]["epoch"] == 5


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_export_json_is_strict_and_the_py_export_reproduces_it(path, tmp_path, capsys):
    assert cli.main(["export", str(path), "--format", "json", "--epochs", "3"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert doc["format"] == "bpdebug-graph-transcript/1" and len(doc["nodes"]) == len(doc["epochs"][0]["values"])
    assert cli.main(["export", str(path), "--format", "py", "--epochs", "3", "-o", str(tmp_path / "g.py")]) == 0
    capsys.readouterr()
    ran = subprocess.run([sys.executable, str(tmp_path / "g.py")], capture_output=True, text=True, check=True)
    reproduced = json.loads(ran.stdout)
    assert reproduced["epochs"] == doc["epochs"] and reproduced["final"] == doc["final"]


def test_export_refuses_what_a_graph_has_not_yet_in_one_line(capsys):
    assert cli.main(["export", "scenarios/micrograd.toml", "--format", "ipynb"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "json or py" in err


def test_every_node_kind_is_in_the_json_and_leaves_come_first(capsys):
    cli.main(["export", "scenarios/neuron.toml", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    ops = [n["op"] for n in doc["nodes"]]
    assert ops[:5] == [LEAF] * 5 and {"mul", "add", "neg", "exp", "div"} <= set(ops)
    out = next(n for n in doc["nodes"] if n["key"] == "out")
    assert out["label"] == OPS["div"].label() and out["line"] is not None


# ----------------------------------------------------------------------------------------------- slips

def _slipped(path: str, slip: str, quantity: str) -> tuple[float, dict]:
    from bpdebug.core.graph.slips import GRAPH_SLIPS, slipped_backward

    s = load_any(path)
    trace = GraphTrace(s)
    grads = slipped_backward(trace.tape, trace.program, trace.epoch(1).values, GRAPH_SLIPS[slip])
    return float(grads[s.program.resolve(quantity)]), GRAPH_SLIPS


@pytest.mark.parametrize("path, slip, quantity", [
    ("scenarios/micrograd.toml", "overwritten", "a"),
    ("scenarios/micrograd.toml", "sub-sign", "b"),
    ("scenarios/micrograd.toml", "pow-factor", "a"),
    ("scenarios/neuron.toml", "no-upstream", "w0"),
    ("scenarios/rnn.toml", "tanh-square", "wh"),
])
def test_a_printed_gradient_made_with_a_slip_is_named_as_that_slip(tmp_path, capsys, path, slip, quantity):
    value, catalogue = _slipped(path, slip, quantity)
    text = Path(path).read_text()
    printed = f'\n[[expect]]\nquantity = "grad.{quantity}"\nvalue = {value!r}\ntolerance = 1e-9\n'
    mine = tmp_path / "slipped.toml"
    mine.write_text(text + printed)
    assert cli.main(["check", str(mine)]) == 1
    assert catalogue[slip].sentence in capsys.readouterr().out
    cli.main(["check", "--json", str(mine)])
    last = json.loads(capsys.readouterr().out)["expectations"][-1]
    assert not last["holds"] and slip in last["diagnosis"]["slips"] and last["diagnosis"]["verdict"] == "root"


def test_micrograd_with_equals_instead_of_plus_equals_is_named(tmp_path, capsys):
    """micrograd's own _backward with = (one order of its set of children gives -7 for a and b)."""
    text = Path("scenarios/micrograd.toml").read_text().replace("value = 138.8338", "value = -7.0")
    mine = tmp_path / "equals.toml"
    mine.write_text(text)
    assert cli.main(["check", str(mine)]) == 1
    assert "overwritten instead of added" in capsys.readouterr().out


def test_slips_of_the_catalogue_leave_a_slip_free_graph_alone():
    """With no value used twice, the overwriting slip is the engine itself (a tree has one use per value)."""
    from bpdebug.core.graph.slips import GRAPH_SLIPS, slipped_backward

    s = load_any("scenarios/circuit.toml")
    trace = GraphTrace(s)
    record = trace.epoch(1)
    assert not GRAPH_SLIPS["overwritten"].applies(s.program)
    same = slipped_backward(trace.tape, trace.program, record.values, GRAPH_SLIPS["overwritten"])
    np.testing.assert_array_equal(same, record.gradients)


def test_dot_draws_a_record_per_value_and_a_node_per_operation(capsys):
    s = load_any("scenarios/circuit.toml")
    assert cli.main(["export", "scenarios/circuit.toml", "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert text.count("shape=record") == len(s.program.nodes)
    assert text.count("shape=ellipse") == sum(n.computed for n in s.program.nodes)
    assert '"{ q | data 3 | grad −4 }"' in text.replace("-", "−") and "op4 -> v4;" in text


@pytest.mark.skipif(not __import__("shutil").which("dot"), reason="Graphviz is not installed")
def test_svg_of_a_graph(tmp_path, capsys):
    out = tmp_path / "m.svg"
    assert cli.main(["export", "scenarios/micrograd.toml", "--format", "svg", "--epoch", "1", "-o", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml") and "138.8338" in out.read_text()


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_every_step_of_every_bundled_graph_is_narrated_from_known_numbers(path):
    """narrate asks each step only for what it knows (value raises KeyError otherwise); a forward line ends in the
    node's value, a backward sum in its gradient, an update in each leaf after it."""
    from bpdebug.text.graph_narrate import narrate
    from bpdebug.text.numbers import number

    s = load_any(path)
    trace = GraphTrace(s, 2 if s.learn else 1)
    for step in trace:
        lines = narrate(step)
        assert lines and all("\n" not in line for line in lines)
        if step.kind == "update":
            for name in s.learn:
                assert any(line.strip().startswith(name) and line.endswith(number(step.value(f"{name}.after")))
                           for line in lines)
        else:
            assert number(step.value(step.computes[0])) in lines[0] + (lines[1] if len(lines) > 1 else "")


@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_the_sum_over_every_path_is_the_gradient(path):
    """Program.paths: the chain rule as a sum over paths of products of local derivatives equals the engine's
    gradient (path_counts says how many terms); depths put every argument left of its node."""
    s = load_any(path)
    p = s.program
    record = GraphTrace(s).epoch(1)
    counts, depth = p.path_counts(), p.depths()
    for node in p.nodes:
        assert all(depth[j] < depth[node.index] for j in node.args)
    for name in p.leaves:
        i = p.leaf(name)
        paths = p.paths(i)
        assert len(paths) == counts[i]
        total = 0.0
        for walk in paths:
            product = 1.0
            for user, position in walk:
                u = p.nodes[user]
                x = [np.float64(record.values[j]) for j in u.args]
                product *= float(OPS[u.op].local(x, np.float64(record.values[user]), u.k)[position])
            total += product
        assert close(total, float(record.gradients[i]), 1 + magnitudes(s, record)[i] * 4)


def test_practice_on_a_graph_asks_values_then_gradients_and_names_a_slip():
    from bpdebug.text.graph_practice import GraphPracticeSession

    s = load_any("scenarios/micrograd.toml")
    session = GraphPracticeSession(GraphTrace(s))
    whats = [q.what for q in session.questions]
    assert whats == sorted(whats, key=["value", "grad", "after"].index) and whats.count("after") == 2
    assert session.answer("-2").correct  # c@1 = a + b
    hint = session.hint() + session.hint()
    assert "a * b" in hint and "(−4) * 2" in hint and "−8" not in hint.split(":")[-1]  # the numbers, not the answer
    while session.current is not None and session.current.names[0] != "∂g/∂a":
        session.reveal()
    feedback = session.answer("-7")
    assert not feedback.correct and "overwritten instead of added" in feedback.message
    assert session.answer("138.8338").correct
    record = session.record()
    assert record["score"]["right"] == 2 and json.dumps(record, allow_nan=False)


def test_practice_command_reads_a_graph(capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("3\n-12\nq\n"))
    assert cli.main(["practice", "scenarios/circuit.toml"]) == 0
    out = capsys.readouterr().out
    assert "right: q = 3" in out and "right: f = −12" in out and "score: 2 of" in out
    assert cli.main(["practice", "scenarios/circuit.toml", "--param", "x"]) == 2


def test_what_if_a_leaf_starts_elsewhere(capsys):
    assert cli.main(["run", "scenarios/circuit.toml", "--set", "x=-3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["edits"] == ["x=-3"] and doc["state"]["loss"] == (-3 + 5) * -4
    assert cli.main(["run", "scenarios/rnn.toml", "--set", "learning_rate=0.1", "--json"]) == 0
    slower = json.loads(capsys.readouterr().out)["state"]["parameters"]["wx"]
    text = Path("scenarios/rnn.toml").read_text().replace("learning_rate = 0.5", "learning_rate = 0.1")
    assert slower == GraphTrace(loads_any(text)).final()[1][0]
    assert cli.main(["run", "scenarios/rnn.toml", "--set", "h1=0.5"]) == 2
    assert "not a leaf" in capsys.readouterr().err


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda o: o.name)
def test_each_ops_sympy_form_derives_to_its_local_derivative(op):
    import sympy

    arity = op.arity or 2
    xs = sympy.symbols(f"x0:{arity}", real=True)
    k = 3.0 if op.name == "pow" else None
    form = op.sympy(sympy, list(xs), k)
    point = [np.float64(v) for v in (0.7, -1.3)[:arity]]
    if op.name in ("log", "sqrt"):
        point = [abs(v) for v in point]
    local = op.local(point, op.forward(point, k), k)
    for i, x in enumerate(xs):
        derived = float(sympy.diff(form, x).subs(dict(zip(xs, map(float, point), strict=True))).evalf())
        assert derived == pytest.approx(float(local[i]), rel=1e-12, abs=1e-12)


def test_the_graph_core_never_imports_sympy():
    code = ("import sys\n"
            "from bpdebug.core.scenario import load_any\n"
            "from bpdebug.core.graph.trace import GraphTrace\n"
            "from bpdebug.core.graph import conditions, gradcheck, slips, whatif\n"
            "t = GraphTrace(load_any('scenarios/micrograd.toml'), 2)\n"
            "[t[i].value(t[i].computes[0]) for i in range(len(t))]\n"
            "gradcheck.check_scenario(t.scenario)\n"
            "assert 'sympy' not in sys.modules and 'textual' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_a_run_that_stops_being_finite_fails_check_and_json_says_where(tmp_path, capsys):
    text = Path("scenarios/micrograd.toml").read_text()
    text = text.replace("learning_rate = 0.01", "learning_rate = 0.01\nepochs = 10")
    path = tmp_path / "far.toml"
    path.write_text(text)
    assert cli.main(["check", str(path)]) == 1
    assert "diverged: epoch 5, step f (forward): f = inf (overflow in e**2)" in capsys.readouterr().out
    assert cli.main(["export", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["epochs"]) == 5 and doc["diverged"]["quantity"] == "f" and doc["final"]["loss"] is None
