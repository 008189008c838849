"""Shared biases (``[network] bias = "shared"``, SCENARIO-FORMAT version 3): one bias per layer, fed to every unit
of the layer, as Mazur's post and many notebooks have it. Its gradient is the sum over the units it feeds."""

from __future__ import annotations

import json
from pathlib import Path

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from _reference import reference_epochs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpdebug import cli
from bpdebug.core.compute import Network, batch_loss, train
from bpdebug.core.conditions import first_stop, parse_condition
from bpdebug.core.engine import Trace
from bpdebug.core.gradcheck import check_scenario
from bpdebug.core.scenario import ScenarioError, loads
from bpdebug.core.scenario_writer import to_toml
from bpdebug.core.whatif import apply_edits, parse_edit
from bpdebug.derivation.derive import derive

# A notebook's 2-2-2 sigmoid network with shared biases: w1 … w8 = 0.20, 0.25, 0.30, 0.35, 0.45, 0.50, 0.55, 0.60
# (w1 = x1→h1, w2 = x2→h1, w3 = x1→h2, w4 = x2→h2, w5 = h1→o1, w6 = h2→o1, w7 = h1→o2, w8 = h2→o2), b1 = 0.40,
# b2 = 0.65, x = (0.1, 0.2), t = (0.05, 0.95), ½SSE, η = 0.3. It prints, after one update:
NOTEBOOK_PRINTS = {"b1": 0.393540595, "b2": 0.619586257, "out_h": (0.613817477, 0.620900166),
                   "out_o": (0.764458839, 0.791741512), "E_total": 0.267748591}
HALF_UNIT = 5e-10  # every figure printed to 9 decimals

NOTEBOOK = """\
title = "A notebook's shared biases"
[network]
layers = [2, 2, 2]
activation = "sigmoid"
bias = "shared"
[loss]
function = "half_sse"
[training]
learning_rate = 0.3
epochs = 2
{training}
[data]
inputs = [[0.1, 0.2]]
targets = [[0.05, 0.95]]
[weights]
theta1 = [[0.40, 0.20, 0.25],
          [0.40, 0.30, 0.35]]
theta2 = [[0.65, 0.45, 0.50],
          [{b2}, 0.55, 0.60]]
"""


def notebook(training: str = "", b2: str = "0.65"):
    return loads(NOTEBOOK.format(training=training, b2=b2), "notebook.toml")


def test_the_notebook_prints_every_figure_after_one_update():
    s = notebook()
    assert s.shared_bias and s.params.shorts == ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "b1", "b2"]
    trace = Trace(s, 2)
    first = trace.epoch(1).passes[0]
    b1, b2 = s.params.get("b1"), s.params.get("b2")
    assert abs(s.param_value(b1, first.weights_after) - NOTEBOOK_PRINTS["b1"]) <= HALF_UNIT
    assert abs(s.param_value(b2, first.weights_after) - NOTEBOOK_PRINTS["b2"]) <= HALF_UNIT
    # the column stays one number: every unit of the layer still has the same bias
    assert all(len(set(w[:, 0])) == 1 for w in first.weights_after)
    # after the update: the next forward pass (epoch 2's) from the new weights
    second = trace.epoch(2)
    n = second.passes[0].numbers
    np.testing.assert_allclose(n.a[2][0], NOTEBOOK_PRINTS["out_h"], rtol=0, atol=HALF_UNIT)
    np.testing.assert_allclose(n.a[3][0], NOTEBOOK_PRINTS["out_o"], rtol=0, atol=HALF_UNIT)
    assert abs(second.loss - NOTEBOOK_PRINTS["E_total"]) <= HALF_UNIT


def test_a_shared_bias_gradient_is_the_sum_over_the_units_it_feeds():
    s = notebook()
    step = Trace(s, 1)[-1]
    for name, layer in (("b1", 2), ("b2", 3)):
        deltas = step.value(f"delta{layer}")
        assert step.gradient(s.params.get(name)) == pytest.approx(float(deltas.sum()), rel=1e-15)


def _shared_loss(s):
    """The batch ½SSE as a function of the weights and one scalar bias per layer, written independently."""
    def loss(params):
        ws, bs = params
        a = anp.array(s.inputs)
        for w, b in zip(ws, bs, strict=True):
            a = 1.0 / (1.0 + anp.exp(-(anp.dot(a, w.T) + b)))
        return 0.5 * anp.sum((anp.array(s.targets) - a) ** 2)
    ws = [np.array(w[:, 1:]) for w in s.weights]
    bs = [float(w[0, 0]) for w in s.weights]
    return loss, (ws, bs)


@pytest.mark.parametrize("inputs, targets", [("[[0.1, 0.2]]", "[[0.05, 0.95]]"),
                                             ("[[0.1, 0.2], [0.7, -0.3], [0.4, 0.9]]",
                                              "[[0.05, 0.95], [0.6, 0.2], [1.0, 0.0]]")])
def test_the_gradient_agrees_with_autograd_and_central_differences(inputs, targets):
    text = NOTEBOOK.format(training="", b2="0.65").replace("[[0.1, 0.2]]", inputs).replace("[[0.05, 0.95]]",
                                                                                          targets)
    s = loads(text)
    gradients = Trace(s, 1).epoch(1).passes[0].numbers.gradients
    loss, start = _shared_loss(s)
    g_ws, g_bs = autograd.grad(loss)(start)
    for l, (g, gw, gb) in enumerate(zip(gradients, g_ws, g_bs, strict=True), start=1):
        np.testing.assert_allclose(g[:, 1:], gw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(g[:, 0], gb, rtol=1e-12)  # the one gradient, in every row of the column
        # and the loss moves as the whole column moves, by central difference
        h = 1e-6
        moved = [np.array(w) for w in s.weights]
        net = Network(s)
        moved[l - 1][:, 0] += h
        up = batch_loss(net, tuple(moved), s.inputs, s.targets)[0]
        moved[l - 1][:, 0] -= 2 * h
        down = batch_loss(net, tuple(moved), s.inputs, s.targets)[0]
        assert (up - down) / (2 * h) == pytest.approx(g[0, 0], rel=1e-7)
    report = check_scenario(s)  # bpdebug check --gradcheck: the shared parameter differenced as a whole
    assert report.passes and {c.param.short for c in report.checks} >= {"b1", "b2"}


def test_a_column_whose_rows_differ_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(ScenarioError) as err:
        notebook(b2="0.6")
    text = NOTEBOOK.format(training="", b2="0.6")
    line = text.splitlines().index("theta2 = [[0.65, 0.45, 0.50],") + 1
    assert str(err.value) == (f"notebook.toml:{line}: weights.theta2: bias = \"shared\" gives layer 3 one bias, "
                              "expected column 0 of theta2 to hold the same number in every row, got 0.65 in row 1 "
                              "and 0.6 in row 2")
    path = tmp_path / "uneven.toml"
    path.write_text(text)
    assert cli.main(["check", str(path)]) == 2
    out, errors = capsys.readouterr()
    assert out == "" and len(errors.strip().splitlines()) == 1 and "Traceback" not in errors
    with pytest.raises(ScenarioError, match='network.bias: expected true, false or "shared", got "one"'):
        loads(NOTEBOOK.format(training="", b2="0.65").replace('bias = "shared"', 'bias = "one"'))


def test_generated_weights_draw_one_bias_per_layer():
    text = NOTEBOOK.format(training="", b2="0.65")
    s = loads(text[:text.index("theta1")] + 'init = "uniform"\nseed = 3\n')
    assert all(len(set(w[:, 0])) == 1 for w in s.weights)


def test_names_short_canonical_and_every_row_of_the_column():
    s = notebook()
    b1, b2 = s.params.get("b1"), s.params.get("b2")
    assert (b1.canonical, b2.canonical) == ("theta1[*,0]", "theta2[*,0]") and b1.shared and b1.is_bias
    assert s.params.get("theta1[*,0]") == b1 and s.params.get(" THETA2[ * , 0 ] ") == b2
    assert s.params.get("theta1[2,0]") == b1 and s.params.at(2, 1, 0) == b2  # any row of column 0 is the bias
    assert s.params.find("b3") is None and s.params.find("theta1[*,1]") is None
    assert [s.params.index(p) for p in s.params] == list(range(10))
    assert "b1..b2" in s.params.describe_names() and "theta1[*,0]" in s.params.describe_names()
    layer, row, col, bias = s.params.arrays()
    assert list(layer[bias]) == [1, 2] and list(col[bias]) == [0, 0]


@pytest.mark.parametrize("frozen", ['"b1"', '"theta1[*,0]"', '"theta1[2,0]"'])
@pytest.mark.parametrize("optimizer", ["", 'optimizer = "adam"', 'optimizer = "momentum"\nmomentum = 0.9'])
def test_frozen_and_optimizers_keep_the_column_one_number(frozen, optimizer):
    s = notebook(f"frozen = [{frozen}]\n{optimizer}")
    assert s.frozen == {"theta1[*,0]"}
    result = train(s, 5)
    assert np.array_equal(result.weights[0][:, 0], s.weights[0][:, 0])  # frozen: the whole column
    assert len(set(result.weights[1][:, 0])) == 1 and result.weights[1][0, 0] != 0.65
    if optimizer:  # the state of a shared bias is one number too (per shared bias, not per unit)
        assert all(len(set(a[:, 0])) == 1 for per_matrix in result.state for a in per_matrix)


def test_adam_steps_the_shared_bias_with_its_one_summed_gradient():
    s = notebook('optimizer = "adam"')
    trace = Trace(s, 1)
    step = trace[-1]
    b2 = s.params.get("b2")
    g = float(step.value("delta3").sum())
    m, v = 0.1 * g, 0.001 * g * g  # one update: m = (1 − β1)g, v = (1 − β2)g²
    expected = 0.65 - 0.3 * (m / 0.1) / (np.sqrt(v / 0.001) + 1e-8)
    assert step.param(b2, "after") == pytest.approx(expected, rel=1e-12)


def test_the_derivation_writes_the_sum_over_the_units_it_feeds():
    s = notebook()
    trace = Trace(s, 1)
    d = derive(trace[-1], "b1")
    assert d.form == "shared" and len(d.terms) == 2
    text = "\n".join(d.text_lines())
    assert "b1 is one bias shared by the 2 units it feeds" in text
    assert "∂E_total/∂b1 = δ_h1 · ∂net_h1/∂b1" in text and "+ δ_h2 · ∂net_h2/∂b1" in text
    delta = trace[-1].value("delta2")[0]
    assert [f.value for f in d.terms[0]] == [pytest.approx(delta[0]), 1.0]
    assert [f.value for f in d.terms[1]] == [pytest.approx(delta[1]), 1.0]
    assert d.value == pytest.approx(delta.sum()) and d.new_value == pytest.approx(NOTEBOOK_PRINTS["b1"], abs=5e-10)
    assert "0.3935406" in text.splitlines()[-1]
    canonical = derive(trace[-1], "theta2[*,0]", names="canonical")
    assert canonical.name == "theta2[*,0]" and "∂E/∂theta2[*,0] = δ3_1 · ∂z3_1/∂theta2[*,0]" in canonical.text_lines()
    assert any(r"\theta^{(2)}_{*,0}" in line for line in canonical.latex_lines())
    # before the backward pass reaches the hidden layer its δs are pending, never numbers from the future
    early = derive(trace[trace.first_step_of(1, kind="delta", layer=3)], "b1")
    assert early.value is None and all(f.value is None for f in (early.terms[0][0], early.terms[1][0]))


def test_json_transcript_and_the_written_scenario(tmp_path, capsys):
    path = tmp_path / "notebook.toml"
    path.write_text(NOTEBOOK.format(training="", b2="0.65"))
    assert cli.main(["export", str(path), "--format", "json", "--epochs", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"] == ["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "b1", "b2"]
    step = doc["epochs"][0]["steps"][0]
    assert abs(step["params_after"]["b1"] - NOTEBOOK_PRINTS["b1"]) <= HALF_UNIT
    assert abs(doc["epochs"][0]["params_after"]["b2"] - NOTEBOOK_PRINTS["b2"]) <= HALF_UNIT
    assert step["gradients"]["b1"] == pytest.approx((0.4 - NOTEBOOK_PRINTS["b1"]) / 0.3, abs=2 * HALF_UNIT / 0.3)
    written = loads(to_toml(notebook()))
    assert written.shared_bias and 'bias = "shared"' in to_toml(notebook())
    assert np.array_equal(train(written, 3).weights[0], train(notebook(), 3).weights[0])


def test_every_transcript_format_knows_the_shared_bias(tmp_path, capsys):
    path = tmp_path / "notebook.toml"
    path.write_text(NOTEBOOK.format(training="", b2="0.65"))
    for fmt in ("md", "tex", "txt", "py", "ipynb", "dot"):
        assert cli.main(["export", str(path), "--format", fmt]) == 0, fmt
        out = capsys.readouterr().out
        assert "b1" in out, fmt
        if fmt in ("md", "txt"):  # Markdown escapes the star
            assert ("theta1[\\*,0]" if fmt == "md" else "theta1[*,0]") in out
            assert "one bias shared by the 2 units it feeds" in out
    namespace: dict = {"__name__": "notebook_script"}
    assert cli.main(["export", str(path), "--format", "py", "--epochs", "1"]) == 0
    exec(compile(capsys.readouterr().out, "notebook.py", "exec"), namespace)  # noqa: S102 - our own export
    namespace["main"]()
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("b"))
    assert abs(float(printed["b1"]) - NOTEBOOK_PRINTS["b1"]) <= HALF_UNIT


def test_what_if_sets_the_whole_column():
    s = notebook()
    edit = parse_edit("b1=0.5", s)
    forked = apply_edits(s, [edit])
    assert list(forked.weights[0][:, 0]) == [0.5, 0.5] and forked.shared_bias
    assert parse_edit("theta1[2,0]=0.5", s).param == s.params.get("b1")


def test_conditions_on_a_shared_bias_and_on_the_gradient_norm():
    s = notebook()
    trace = Trace(s, 2)
    stop = first_stop(trace, [parse_condition("b1<0.3936", s)])
    assert stop is not None and stop.epoch == 1 and "b1" in stop.reason
    g = trace.epoch(1).passes[0].numbers.gradients[1]
    once = float(np.sqrt(g[0, 0] ** 2 + (g[:, 1:] ** 2).sum()))  # the shared bias counted once, not per unit
    assert first_stop(trace, [parse_condition(f"grad[2]>{once * 1.0001!r}", s)], to_epoch=1) is None
    hit = first_stop(trace, [parse_condition(f"grad[2]>{once * 0.9999!r}", s)], to_epoch=1)
    assert hit is not None and hit.epoch == 1


def test_the_bundled_mazur_trains_its_shared_biases():
    root = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
    ref = next(reference_epochs(["sigmoid", "sigmoid"], "half_sse", 0.5,
                                loads((root / "mazur.toml").read_text()).inputs,
                                loads((root / "mazur.toml").read_text()).targets,
                                [np.array([[0.35, 0.15, 0.20], [0.35, 0.25, 0.30]]),
                                 np.array([[0.60, 0.40, 0.45], [0.60, 0.50, 0.55]])], 1))
    trace = Trace(loads((root / "mazur.toml").read_text()), 1)
    after = trace.epoch(1).passes[0].weights_after
    for l in (0, 1):  # per-unit biases would each take their own delta; the shared one takes their sum
        assert after[l][0, 0] == pytest.approx(ref.weights_before[l][0, 0] - 0.5 * ref.gradients[l][:, 0].sum())
        np.testing.assert_allclose(after[l][:, 1:], ref.weights_after[l][:, 1:], rtol=1e-15)


ACTIVATIONS = {"sigmoid": lambda z: 1.0 / (1.0 + anp.exp(-z)), "tanh": anp.tanh, "linear": lambda z: z}
LOSSES = {"sse": lambda o, t: anp.sum((t - o) ** 2), "half_sse": lambda o, t: 0.5 * anp.sum((t - o) ** 2),
          "mse": lambda o, t: anp.sum((t - o) ** 2) / o.shape[1] / o.shape[0]}


@st.composite
def shared_networks(draw):
    layers = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    acts = draw(st.lists(st.sampled_from(sorted(ACTIVATIONS)), min_size=len(layers) - 1,
                         max_size=len(layers) - 1))
    n = draw(st.integers(1, 3))
    number = st.floats(-1.5, 1.5, allow_nan=False).map(lambda v: round(v, 3))
    rows = lambda k, m: draw(st.lists(st.lists(number, min_size=m, max_size=m), min_size=k, max_size=k))  # noqa: E731
    thetas = []
    for l in range(1, len(layers)):
        b = draw(number)
        thetas.append([[b, *row] for row in rows(layers[l], layers[l - 1])])
    return layers, acts, draw(st.sampled_from(sorted(LOSSES))), rows(n, layers[0]), rows(n, layers[-1]), thetas


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_networks())
def test_any_shared_network_s_gradient_is_autograd_s(drawn):
    layers, acts, loss, x, t, thetas = drawn
    s = loads(f"""
[network]
layers = {layers}
activation = {json.dumps(acts)}
bias = "shared"
[loss]
function = "{loss}"
[training]
learning_rate = 0.1
[data]
inputs = {x}
targets = {t}
[weights]
""" + "\n".join(f"theta{l} = {m}" for l, m in enumerate(thetas, start=1)))

    def f(params):
        ws, bs = params
        a = anp.array(s.inputs)
        for w, b, name in zip(ws, bs, acts, strict=True):
            a = ACTIVATIONS[name](anp.dot(a, w.T) + b)
        return LOSSES[loss](a, anp.array(s.targets))
    start = ([np.array(w[:, 1:]) for w in s.weights], [float(w[0, 0]) for w in s.weights])
    g_ws, g_bs = autograd.grad(f)(start)
    record = Trace(s, 1).epoch(1).passes[0]
    for g, gw, gb, before, after in zip(record.numbers.gradients, g_ws, g_bs, record.weights_before,
                                        record.weights_after, strict=True):
        np.testing.assert_allclose(g[:, 1:], gw, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(g[:, 0], np.full(g.shape[0], gb), rtol=1e-9, atol=1e-12)
        assert len(set(after[:, 0])) == 1 and after[0, 0] == before[0, 0] - 0.1 * g[0, 0]


def test_printed_figures_of_a_shared_bias_are_checked(tmp_path, capsys):
    expects = "".join(f'\n[[expect]]\nquantity = "{q}"\nvalue = {v}\ntolerance = 5e-10\n'
                      for q, v in (("b1.after", NOTEBOOK_PRINTS["b1"]), ("theta2[*,0].after", NOTEBOOK_PRINTS["b2"]),
                                   ("a2", list(NOTEBOOK_PRINTS["out_h"])), ("loss", NOTEBOOK_PRINTS["E_total"])))
    text = NOTEBOOK.format(training="", b2="0.65") + expects.replace('"a2"', '"a2"\nepoch = 2').replace(
        '"loss"', '"loss"\nepoch = 2')
    path = tmp_path / "notebook.toml"
    path.write_text(text)
    assert cli.main(["check", str(path)]) == 0
    assert capsys.readouterr().out.count("holds  ") == 4


def test_the_step_panel_watches_and_practice_say_the_bias_is_shared():
    from bpdebug.text.narrate import narrate
    from bpdebug.text.practice import PracticeSession
    from bpdebug.tui.watching import parse_watch

    s = notebook()
    trace = Trace(s, 1)
    gradient = trace[trace.first_step_of(1, kind="gradient", layer=1)]
    lines = narrate(gradient, s).text_lines()
    assert "   column 0 = b1, shared by the units of layer 2: Σ_i δ2_i, in every row" in lines
    watch = parse_watch("grad.theta1[*,0]", s)
    assert watch.name == "grad.b1" and watch.read(gradient) == pytest.approx(gradient.value("delta2").sum())
    practice = PracticeSession(trace, s.params.get("b2"))
    asked = next(q for q in practice.questions if q.names == ("∂E/∂b2",))
    assert asked.formula.startswith("∂E/∂b2 = Σ_i δ3[i] · 1")
    deltas = trace[-1].value("delta3")[0]
    assert asked.answer == (pytest.approx(deltas.sum()),) and asked.substituted.count(" · 1") == 2


def test_a_wide_layer_s_shared_bias_writes_its_sum_as_one_factor():
    hidden = 20  # more units than the chain writes term by term
    text = f"""
[network]
layers = [2, {hidden}, 1]
bias = "shared"
[training]
learning_rate = 0.1
[data]
inputs = [[0.3, -0.2], [0.5, 0.9]]
targets = [[1.0], [0.0]]
[weights]
init = "uniform"
seed = 4
"""
    s = loads(text)
    trace = Trace(s, 1)
    step = trace[-1]
    d = derive(step, "b1")
    assert d.form == "shared-compact" and d.fed == hidden and len(d.text_lines()) < 15
    assert d.value == step.gradient(s.params.get("b1"))
    delta = step.value("delta2")
    assert [path[0].value for path in d.terms] == pytest.approx(list(delta.sum(axis=1)), rel=1e-14)
    assert float(d.substituted.doit()) == pytest.approx(float(delta.sum()), rel=1e-13)
    assert f"summed over the {hidden} units k" in "\n".join(d.text_lines())
