"""The chain rule shown beside the numbers: it must be the engine's gradient, at every step, for every net.

Each derivation is evaluated three ways (the substituted numbers, the symbolic chain with the factors'
numbers, the closed form with the base numbers) and compared with the engine's gradient to 1e-12.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy
from _bundled import NETWORKS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpdebug import derivation
from bpdebug.core.engine import Network, Trace, batch_loss
from bpdebug.core.scenario import Scenario, load, loads
from bpdebug.derivation import Derivation, derive

SCENARIOS = list(NETWORKS)
RTOL = 1e-12
ATOL = 1e-14  # a floor for gradients that are 0 up to rounding (dead relu units, cancelling paths)


def evaluate(expr: sympy.Expr, values: dict) -> float:
    """A derivation's expression as a number: Σ_n expanded, symbols replaced, unevaluated parts done."""
    if isinstance(expr, sympy.Sum):  # Σ_n written out term by term (Sum.doit would try to sum symbolically)
        body, (n, first, last) = expr.function, expr.limits[0]
        expr = sympy.Add(*(body.xreplace({n: sympy.Integer(k)}) for k in range(int(first), int(last) + 1)))
    return float(sympy.sympify(expr.xreplace(values)).doit())


def close(a: float, b: float, scale: float = 0.0) -> bool:
    return abs(a - b) <= RTOL * max(abs(b), scale) + ATOL


def path_scale(d: Derivation) -> float:
    """Σ |path products|: the size of what was summed, for gradients that cancel to near 0."""
    if d.contributions is not None:
        return sum(abs(c) for c in d.contributions)
    return sum(abs(float(np.prod([f.value for f in path]))) for path in d.terms)


def finite_difference(step, scenario: Scenario, p) -> float | None:
    """∂E/∂p of the step's pass by central differences of its loss (forward passes only, independent of the
    backward pass); None where the loss is not smooth on the scale of the step (a relu kink nearby): two
    step sizes then disagree."""
    record = step.record
    net = Network(scenario)
    x, t = scenario.inputs[list(record.rows)], record.targets
    w0 = record.weights_before[p.layer - 1][p.row, p.col]

    def loss(delta: float) -> float:
        weights = tuple(np.array(w) for w in record.weights_before)
        weights[p.layer - 1][p.cells] = w0 + delta  # a shared bias: its whole column
        with np.errstate(all="ignore"):
            return batch_loss(net, weights, x, t)[0]

    h = 1e-5 * max(1.0, abs(w0))
    coarse = (loss(h) - loss(-h)) / (2 * h)
    fine = (loss(h / 4) - loss(-h / 4)) / (h / 2)
    if not (np.isfinite(coarse) and np.isfinite(fine)) or abs(coarse - fine) > 1e-6 * max(abs(fine), 1e-3):
        return None
    return fine


def check_proof(step, scenario: Scenario, names: str = "text", factors: bool = True) -> None:
    """At a step where every gradient is known: every parameter's derivation equals the engine's
    (and, with ``factors``, every factor's number is its closed form at the step's numbers)."""
    for p in scenario.params:
        d = derive(step, p, names, scenario=scenario)
        g = step.gradient(p)
        assert g is not None and d.value is not None
        fd = finite_difference(step, scenario, p)
        if fd is not None:  # the derivation's ∂E/∂p against central differences of the pass's own loss
            assert abs(d.value - fd) <= 1e-6 * max(abs(fd), path_scale(d)) + 1e-9, (p.short, d.value, fd)
        scale = path_scale(d)
        values = d.symbol_values()
        assert d.substituted is not None
        got = {
            "substituted": float(d.substituted.doit()),
            "chain": evaluate(d.chain, values),
            "closed_form": evaluate(d.closed_form, values),
        }
        for what, x in got.items():
            assert close(x, g, scale), (p.short, what, x, g, "\n".join(d.text_lines()))
        for path in d.terms if factors else ():
            for f in path:
                assert f.value is not None
                assert close(evaluate(f.closed_form, values), f.value, abs(f.value)), (p.short, f.label)
        lines = d.text_lines()
        assert derivation.PENDING not in "\n".join(lines)
        assert len(d.latex_lines()) == len(lines)


# ----------------------------------------------------------------------------------------- the blog

@pytest.fixture(scope="module")
def blog() -> tuple[Scenario, Trace]:
    s = load(Path(__file__).parent.parent / "bpdebug" / "scenarios" / "blog.toml")
    return s, Trace(s)


NUMBER = re.compile(r"[−-]?\d+\.\d+(?:e[−-]?\d+)?")


def numbers_in(lines: list[str]) -> list[float]:
    return [float(m.replace("−", "-")) for m in NUMBER.findall("\n".join(lines))]


def shows(lines: list[str], value: float, digits: int) -> bool:
    """Some number in the lines rounds to ``value`` at ``digits`` significant digits."""
    return any(float(f"{x:.{digits}g}") == value for x in numbers_in(lines))


def test_blog_w5_at_the_update_of_epoch_1(blog):
    s, trace = blog
    step = trace[trace.first_step_of(1, kind="update")]
    d = derive(step, s.params.get("w5"), scenario=s)
    assert d.name == "w5" and d.form == "output" and len(d.terms) == 1
    dE_dout, dout_dnet, dnet_dw = d.terms[0]
    assert [f.label for f in d.terms[0]] == ["∂E_total/∂out_o1", "∂out_o1/∂net_o1", "∂net_o1/∂w5"]
    assert str(dE_dout.closed_form) == "out_o1 - t_o1"
    assert sympy.sstr(dout_dnet.closed_form, order="none") == "out_o1*(1 - out_o1)"
    assert str(dnet_dw.closed_form) == "out_h1"
    # consistent arithmetic: out_o1 = 0.7215165, so out_o1 − t_o1 = 0.0310165 (a figure of 0.0310225 would
    # not follow from the blog's own 0.72152); the product and the update are as scenarios/blog.toml records
    assert dE_dout.value == pytest.approx(0.7215165 - 0.6905, abs=1e-7)
    assert dout_dnet.value == pytest.approx(0.20093, abs=5e-6)
    assert dnet_dw.value == pytest.approx(0.58540, abs=5e-6)
    assert d.value == pytest.approx(0.0036483, abs=5e-8)
    assert d.old_value == 0.4 and d.new_value == pytest.approx(0.3996352, abs=5e-8)
    lines = d.text_lines()
    for value, digits in ((0.72152, 5), (0.6905, 4), (0.03102, 4), (0.20093, 5), (0.5854, 4),
                          (0.0036483, 5), (0.3996352, 7)):
        assert shows(lines, value, digits), (value, lines)
    assert any("0.7215165 − 0.6905" in line for line in lines)
    assert any(line.startswith("w5 ← w5 − α") and line.endswith("= 0.3996352") for line in lines)
    latex = d.latex_lines()
    assert latex[0].startswith(r"\frac{\partial E_{total}}{\partial w_{5}} = ")
    assert any(r"\leftarrow" in line for line in latex)


def test_blog_w1_sums_both_output_paths(blog):
    s, trace = blog
    step = trace[trace.first_step_of(1, kind="update")]
    d = derive(step, s.params.get("w1"), scenario=s)
    assert d.form == "paths" and len(d.terms) == 2
    assert [f.label for f in d.terms[1]] == ["∂E_total/∂out_o2", "∂out_o2/∂net_o2", "∂net_o2/∂out_h1",
                                             "∂out_h1/∂net_h1", "∂net_h1/∂w1"]
    assert d.terms[0][2].value == 0.4 and d.terms[1][2].value == 0.5  # w5 and w7
    assert d.value == pytest.approx(-0.0049199, abs=5e-8)
    assert shows(d.text_lines(), -0.0049199, 5)
    assert len(d.chain.args) == 2  # a sum of two products


def test_blog_pending_factors_show_an_ellipsis(blog):
    s, trace = blog
    step = trace[1]  # after a2: the hidden outputs are known, nothing of the output layer is
    assert step.kind == "a" and step.layer == 2
    d = derive(step, s.params.get("w5"), scenario=s)
    dE_dout, dout_dnet, dnet_dw = d.terms[0]
    assert dE_dout.value is None and dout_dnet.value is None
    assert dnet_dw.value == pytest.approx(0.5854046, abs=1e-7)
    assert d.value is None and d.substituted is None and d.new_value is None
    text = "\n".join(d.text_lines())
    assert "…" in text and "0.7215" not in text  # nothing from the future
    assert "\\ldots" in "\n".join(d.latex_lines())
    # at step 0 (z2 only) even out_h1 is pending
    assert derive(trace[0], s.params.get("w5"), scenario=s).terms[0][2].value is None


def test_factors_become_known_at_their_steps(blog):
    """∂E/∂out after the error step, ∂out/∂net after its layer's delta, the total after its gradient step."""
    s, trace = blog
    w1 = s.params.get("w1")
    seen = []
    for i in range(trace.steps_per_pass):
        step = trace[i]
        d = derive(step, w1, scenario=s)
        f = d.terms[0]
        seen.append((step.kind, step.layer, f[0].value is not None, f[1].value is not None,
                     f[3].value is not None, d.value is not None, d.new_value is not None))
    assert seen == [
        ("z", 2, False, False, False, False, False),
        ("a", 2, False, False, False, False, False),
        ("z", 3, False, False, False, False, False),
        ("a", 3, False, False, False, False, False),
        ("error", 3, True, False, False, False, False),
        ("delta", 3, True, True, False, False, False),
        ("delta", 2, True, True, True, False, False),
        ("gradient", 2, True, True, True, False, False),
        ("gradient", 1, True, True, True, True, False),
        ("update", None, True, True, True, True, True),
    ]


def test_canonical_names(blog):
    s, trace = blog
    step = trace[trace.first_step_of(1, kind="update")]
    d = derive(step, s.params.get("theta2[1,1]"), "canonical", scenario=s)
    assert d.name == "theta2[1,1]"
    assert [f.label for f in d.terms[0]] == ["∂E/∂a3_1", "∂a3_1/∂z3_1", "∂z3_1/∂theta2[1,1]"]
    assert d.value == derive(step, s.params.get("w5"), scenario=s).value


def test_scenario_found_from_the_step(blog):
    s, trace = blog
    step = trace[9]
    assert derive(step, s.params.get("w5")).value == derive(step, s.params.get("w5"), scenario=s).value
    assert derive(step, "w5", scenario=s).name == "w5"


def test_bias_factor_is_one_and_frozen_parameters_say_so():
    s = loads(MAZUR)
    trace = Trace(s)
    d = derive(trace[9], s.params.get("b3"), scenario=s)
    assert d.terms[0][-1].closed_form == 1 and d.terms[0][-1].value == 1.0
    assert d.frozen and d.new_value == d.old_value == 0.6
    assert "frozen" in d.text_lines()[-1]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_bundled_scenario(path):
    s = load(path)
    trace = Trace(s)
    for names in ("text", "canonical"):
        check_proof(trace[trace.first_step_of(1, kind="update")], s, names)
    if s.update == "online" and s.n_examples > 1:
        check_proof(trace[trace.first_step_of(1, example=s.n_examples, kind="update")], s)


# --------------------------------------------------------------------------- Matt Mazur's example

MAZUR = """
title = "Matt Mazur, A Step by Step Backpropagation Example"
[network]
layers = [2, 2, 2]
activation = "sigmoid"
[loss]
function = "half_sse"
[training]
learning_rate = 0.5
frozen = ["b1", "b2", "b3", "b4"]
[data]
inputs = [[0.05, 0.10]]
targets = [[0.01, 0.99]]
[weights]
theta1 = [[0.35, 0.15, 0.20], [0.35, 0.25, 0.30]]
theta2 = [[0.60, 0.40, 0.45], [0.60, 0.50, 0.55]]
"""


def test_mazur_step_by_step_example():
    s = loads(MAZUR)
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    w5 = derive(step, s.params.get("w5"), scenario=s)
    assert [f.value for f in w5.terms[0]] == pytest.approx([0.74136507, 0.186815602, 0.593269992], abs=5e-9)
    assert w5.value == pytest.approx(0.082167041, abs=5e-10)
    assert w5.new_value == pytest.approx(0.35891648, abs=5e-9)
    assert shows(w5.text_lines(), 0.08216704, 7) and shows(w5.text_lines(), 0.3589165, 7)
    w1 = derive(step, s.params.get("w1"), scenario=s)
    assert w1.terms[0][-1].label == "∂net_h1/∂w1" and str(w1.terms[0][-1].closed_form) == "i1"
    assert w1.value == pytest.approx(0.000438568, abs=5e-10)
    assert w1.new_value == pytest.approx(0.149780716, abs=5e-10)


# --------------------------------------------------------------------------------- closed forms

def one_layer(loss: str, activation: str, targets: str = "[[0.2, 0.7]]", extra: str = "",
              update: str = "batch", inputs: str = "[[0.3, -0.4]]") -> Scenario:
    return loads(f"""
[network]
layers = [2, 2]
activation = "{activation}"
[loss]
function = "{loss}"
[training]
learning_rate = 0.1
update = "{update}"
[data]
inputs = {inputs}
targets = {targets}
[weights]
theta1 = [[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]]
{extra}
""")


def first_factor(s: Scenario, factor: int = 0) -> sympy.Expr:
    trace = Trace(s)
    return derive(trace[trace.first_step_of(1, kind="update")], s.params.get("w1"), scenario=s).terms[0][factor]


@pytest.mark.parametrize(("loss", "activation", "factor", "expected"), [
    ("sse", "sigmoid", 0, "2*(out_o1 - t_o1)"),
    ("half_sse", "tanh", 1, "1 - out_o1**2"),
    ("mse", "linear", 0, "2*(out_o1 - t_o1)/K"),
    ("mse", "linear", 1, "1"),
    ("half_sse", "relu", 1, "Heaviside(net_o1, 0)"),
    ("cross_entropy", "softmax", 0, "out_o1 - t_o1"),
    ("cross_entropy", "sigmoid", 0, "-t_o1/out_o1"),
    ("binary_cross_entropy", "sigmoid", 0, "(out_o1 - t_o1)/(out_o1*(1 - out_o1))"),
])
def test_closed_forms_are_the_textbook_ones(loss, activation, factor, expected):
    targets = "[[0.25, 0.75]]" if activation == "softmax" else "[[0.2, 0.7]]"  # softmax: summing to 1
    f = first_factor(one_layer(loss, activation, targets), factor)
    assert sympy.sstr(f.closed_form, order="none") == expected


def test_batch_mean_divides_by_n_and_sums_over_examples():
    s = one_layer("mse", "sigmoid", targets="[[0.2, 0.7], [0.9, 0.1]]", inputs="[[0.3, -0.4], [1.0, 2.0]]")
    trace = Trace(s)
    d = derive(trace[trace.first_step_of(1, kind="update")], s.params.get("w1"), scenario=s)
    assert d.n_examples == 2 and len(d.terms) == 2  # one path per example, written out
    assert [f.label for f in d.terms[1]][0] == "∂E_total/∂out_o1⁽²⁾"
    assert sympy.sstr(d.terms[0][0].closed_form, order="none") == "2*(out_o1[1] - t_o1[1])/(K*N)"
    check_proof(trace[trace.first_step_of(1, kind="update")], s)


def test_softmax_with_targets_not_summing_to_one_uses_the_jacobian():
    s = one_layer("cross_entropy", "softmax", targets="[[0.2, 0.7]]")
    trace = Trace(s)
    d = derive(trace[trace.first_step_of(1, kind="update")], s.params.get("w1"), scenario=s)
    assert len(d.terms) == 2 and d.terms[1][1].label == "∂out_o2/∂net_o1"
    assert sympy.sstr(d.terms[1][1].closed_form, order="none") == "-out_o2*out_o1"
    check_proof(trace[trace.first_step_of(1, kind="update")], s)


def test_custom_activation_is_differentiated_by_sympy():
    s = one_layer("half_sse", "softplus", extra="[activations.softplus]\nexpr = \"log(1 + exp(x))\"")
    f = first_factor(s, 1)
    assert f.label == "∂out_o1/∂net_o1"
    assert sympy.simplify(f.closed_form - sympy.exp(sympy.Symbol("net_o1"))
                          / (1 + sympy.exp(sympy.Symbol("net_o1")))) == 0


def test_many_examples_are_a_bounded_sum():
    rng = np.random.default_rng(1)
    xs = rng.uniform(-1, 1, (9, 2)).round(3).tolist()
    ts = rng.uniform(0, 1, (9, 2)).round(3).tolist()
    s = one_layer("sse", "tanh", targets=str(ts), inputs=str(xs))
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    d = derive(step, s.params.get("w1"), scenario=s, example=3)
    assert isinstance(d.chain, sympy.Sum) and d.example == 3 and len(d.contributions) == 9
    assert d.terms[0][0].label == "∂E_total/∂out_o1⁽³⁾"
    assert d.terms[0][0].value == pytest.approx(2 * (step.value("a2")[2, 0] - ts[2][0]), rel=1e-15)
    assert len(d.text_lines()) < 20 and "(9 examples)" in "\n".join(d.text_lines())
    check_proof(step, s)


def test_deep_and_wide_networks_use_deltas():
    s = loads("""
[network]
layers = [3, 20, 6, 5]
activation = ["tanh", "sigmoid", "softmax"]
[loss]
function = "sse"
[training]
learning_rate = 0.1
[data]
inputs = [[0.3, -0.2, 0.9]]
targets = [[0.1, 0.2, 0.3, 0.2, 0.2]]
[weights]
init = "uniform"
seed = 3
""")
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    forms = {p.layer: derive(step, p, scenario=s).form for p in s.params}
    assert forms == {1: "delta", 2: "delta", 3: "delta-compact"}  # 5 softmax outputs > MAX_FULL_PATHS
    first = derive(step, s.params.get("theta1[4,2]"), scenario=s)
    assert len(first.terms) == 6 and first.terms[0][0].label == "δ_h2_1"
    s2 = loads("""
[network]
layers = [2, 20, 2]
[training]
learning_rate = 0.1
[data]
inputs = [[0.3, -0.2]]
targets = [[0.1, 0.2]]
[weights]
init = "uniform"
""")
    trace2 = Trace(s2)
    check_proof(trace2[trace2.first_step_of(1, kind="update")], s2)
    check_proof(step, s)
    wide = loads("""
[network]
layers = [2, 3, 17, 1]
[training]
learning_rate = 0.1
[data]
inputs = [[0.3, -0.2]]
targets = [[0.1]]
[weights]
init = "uniform"
""")
    trace3 = Trace(wide)
    step3 = trace3[trace3.first_step_of(1, kind="update")]
    d = derive(step3, wide.params.get("w1"), scenario=wide)
    assert d.form == "delta-compact" and len(d.terms) == 1 and d.terms[0][0].label == "δ_h1_1"
    check_proof(step3, wide)


# ------------------------------------------------------------------------------ random networks

ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", "softplus")


@st.composite
def scenarios(draw) -> str:
    depth = draw(st.integers(2, 4))
    layers = [draw(st.integers(1, 4)) for _ in range(depth)]
    hidden = [draw(st.sampled_from(ACTIVATIONS)) for _ in range(depth - 2)]
    loss = draw(st.sampled_from(("sse", "half_sse", "mse", "cross_entropy", "binary_cross_entropy")))
    if loss == "cross_entropy" and draw(st.booleans()):
        layers[-1] = max(layers[-1], 2)
        out = "softmax"
    elif loss in ("cross_entropy", "binary_cross_entropy"):
        out = "sigmoid"  # outputs in (0, 1) for the logarithms
    else:
        out = draw(st.sampled_from(ACTIVATIONS + (("softmax",) if layers[-1] > 1 else ())))
    n = draw(st.integers(1, 4))
    unit = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))
    prob = st.floats(0.01, 0.99).map(lambda v: round(v, 3))
    inputs = [[draw(unit) for _ in range(layers[0])] for _ in range(n)]
    if out == "softmax" and loss == "cross_entropy" and draw(st.booleans()):
        targets = []  # targets summing to 1 (one-hot or a distribution): δ = out − t
        for _ in range(n):
            hot = draw(st.integers(0, layers[-1] - 1))
            targets.append([1.0 if k == hot else 0.0 for k in range(layers[-1])])
    else:
        targets = [[draw(prob) for _ in range(layers[-1])] for _ in range(n)]
    bias = draw(st.booleans())
    update = draw(st.sampled_from(("batch", "online")))
    seed = draw(st.integers(0, 2**16))
    frozen = '["w1"]' if draw(st.booleans()) else "[]"
    return f"""
[network]
layers = {layers}
activation = {hidden + [out]}
bias = {str(bias).lower()}
[activations.softplus]
expr = "log(1 + exp(x))"
[loss]
function = "{loss}"
[training]
learning_rate = 0.3
update = "{update}"
frozen = {frozen}
[data]
inputs = {inputs}
targets = {targets}
[weights]
init = "uniform"
range = [-1.0, 1.0]
seed = {seed}
""".replace("'", '"')


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_random_networks_agree_with_the_engine(text, data):
    s = loads(text)
    trace = Trace(s)
    example = s.n_examples if s.update == "online" else None
    check_proof(trace[trace.first_step_of(1, example=example, kind="update")], s,
                data.draw(st.sampled_from(("text", "canonical"))), factors=False)
    # at any step: a factor has a value exactly when the step that computes it has run, and then the
    # value is the closed form at that step's numbers
    index = data.draw(st.integers(0, trace.steps_per_pass - 1))
    step = trace[index]
    checked = data.draw(st.sampled_from(s.params.params))
    for p in s.params:
        d = derive(step, p, scenario=s)
        assert (d.value is None) == (not step.is_known(f"grad.theta{p.layer}"))
        assert (d.substituted is None) == any(f.value is None for path in d.terms for f in path)
        if d.value is None:
            assert d.text_lines()[-2].endswith("= …")
        if p is not checked:
            continue
        values = d.symbol_values()
        for path in d.terms:
            for f in path:
                if f.value is not None:
                    assert close(evaluate(f.closed_form, values), f.value, abs(f.value))
