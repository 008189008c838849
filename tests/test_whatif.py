"""What-if edits and forks, and the scenario writer that saves a fork as a file reproducing it bit for bit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from _bundled import NETWORKS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpdebug.cli import main
from bpdebug.core.engine import Trace, train
from bpdebug.core.scenario import Scenario, load, loads
from bpdebug.core.scenario_writer import to_toml, toml_string
from bpdebug.core.whatif import EditError, Target, apply_edits, fork, parse_edit

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BLOG = load(SCENARIOS / "blog.toml")


# ------------------------------------------------------------------------------------------------ edits

@pytest.mark.parametrize("text, target, canonical", [
    ("w5=0.5", Target.PARAMETER, "w5=0.5"),
    ("theta2[1,1] = 0.5", Target.PARAMETER, "w5=0.5"),
    ("learning_rate=1", Target.LEARNING_RATE, "learning_rate=1.0"),
    ("x1=0.3", Target.INPUT, "x1=0.3"),
    ("x2@1=0.3", Target.INPUT, "x2=0.3"),
    ("x2@all=0", Target.INPUT, "x2@all=0.0"),
    ("t2=1", Target.TARGET, "t2=1.0"),
])
def test_each_form_of_edit_parses(text, target, canonical):
    e = parse_edit(text, BLOG)
    assert (e.target, e.text) == (target, canonical)


@pytest.mark.parametrize("text, says", [
    ("w9=1", "unknown name 'w9'"),
    ("w5=abc", "value 'abc' is not a number"),
    ("w5=nan", "value nan is not finite"),
    ("learning_rate=0", "expected a number > 0"),
    ("x3=1", "no input unit 3, expected x1..x2"),
    ("x1@2=1", "no example 2, expected @1..@1 or @all"),
    ("w5", "expected NAME=VALUE"),
])
def test_a_bad_edit_is_one_line_naming_it(text, says):
    with pytest.raises(EditError) as err:
        parse_edit(text, BLOG)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_blog_with_w5_edited_to_half_has_z3_1_0105368():
    forked = fork(BLOG, BLOG.weights, [parse_edit("w5=0.5", BLOG)])
    trace = Trace(forked)
    z3 = trace.step(trace.first_step_of(1, kind="z", layer=3)).value("z3")[0]
    # independently: h = sigmoid(theta1 · [1, x]), z3_1 = b3 + w5 h1 + w6 h2 with w5 = 0.5
    x = (0.85, 0.25)
    h1 = 1 / (1 + np.exp(-(0.1 + 0.2 * x[0] + 0.3 * x[1])))
    h2 = 1 / (1 + np.exp(-(0.4 + 0.5 * x[0] + 0.6 * x[1])))
    assert abs(z3[0] - (0.5 + 0.5 * h1 + 0.3 * h2)) < 1e-15
    assert round(z3[0], 7) == 1.0105368
    assert abs(z3[1] - (0.2 + 0.5 * h1 + 0.1 * h2)) < 1e-15  # the other output is untouched
    assert BLOG.param_value(BLOG.params.get("w5")) == 0.4  # the original is unchanged


def test_a_fork_without_edits_continues_the_original_run_bit_for_bit():
    trace = Trace(BLOG, 40)
    forked = fork(BLOG, trace, [], epoch=11)
    assert forked.epochs == 1  # the blog runs one epoch; a fork covers at least one
    original = train(BLOG, 30)
    continued = train(forked, 20)
    assert all(np.array_equal(a, b) for a, b in zip(original.weights, continued.weights, strict=True))
    assert np.array_equal(train(BLOG, 30).losses[10:], continued.losses)


def test_learning_rate_input_and_target_edits_change_what_they_name():
    s = load(SCENARIOS / "xor.toml")
    edited = apply_edits(s, [parse_edit(t, s) for t in ("learning_rate=2", "x1@3=0.25", "t1@all=0.5")])
    assert edited.learning_rate == 2
    assert edited.inputs[2, 0] == 0.25 and np.array_equal(np.delete(edited.inputs, 2, 0), np.delete(s.inputs, 2, 0))
    assert (edited.targets[:, 0] == 0.5).all()


def test_saving_a_fork_writes_a_scenario_whose_check_reproduces_the_fork(tmp_path, capsys):
    trace = Trace(BLOG, 5)
    forked = fork(BLOG, trace, [parse_edit("w5=0.5", BLOG), parse_edit("learning_rate=1", BLOG)], epoch=3)
    forked = dataclasses.replace(forked, epochs=4)
    path = tmp_path / "fork.toml"
    path.write_text(to_toml(forked))
    assert main(["check", str(path)]) == 0  # valid, and no expectations past epoch 1 are carried over
    capsys.readouterr()
    assert main(["export", str(path), "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    ref = Trace(forked, 4)
    for e, epoch in enumerate(exported["epochs"], start=1):
        assert epoch["loss"] == ref.epoch(e).loss
    w5 = forked.params.get("w5")
    assert exported["epochs"][0]["params_before"]["w5"] == 0.5
    assert exported["epochs"][-1]["params_after"]["w5"] == ref.epoch(4).weights_after[1][w5.row, w5.col]


# ----------------------------------------------------------------------------------------------- writer

def _same_run(a: Scenario, b: Scenario, epochs: int = 7) -> None:
    strip = lambda s: dataclasses.replace(  # noqa: E731
        s, path="", init=None, expectations=tuple(dataclasses.replace(e, line=None) for e in s.expectations))
    assert strip(a) == strip(b)
    for x, y in ((a.inputs, b.inputs), (a.targets, b.targets), *zip(a.weights, b.weights, strict=True)):
        assert np.array_equal(x, y) and x.tobytes() == y.tobytes()
    with np.errstate(all="ignore"):
        ra, rb = train(a, epochs), train(b, epochs)
    assert ra.losses.tobytes() == rb.losses.tobytes()
    assert all(x.tobytes() == y.tobytes() for x, y in zip(ra.weights, rb.weights, strict=True))


@pytest.mark.parametrize("name", sorted(p.name for p in NETWORKS))
def test_every_bundled_scenario_round_trips_through_the_writer(name):
    s = load(SCENARIOS / name)
    _same_run(s, loads(to_toml(s)))


def test_the_writer_accounts_for_every_field_of_a_scenario():
    from bpdebug.core.scenario_writer import NOT_WRITTEN, WRITTEN
    assert {f.name for f in dataclasses.fields(Scenario)} == WRITTEN | NOT_WRITTEN


def test_toml_strings_escape_what_toml_requires():
    import tomllib
    for text in ['a "quoted" \\ back', "tab\tnew\nline", "\x00\x1f\x7f", "ü ∂E/∂w 😀"]:
        assert tomllib.loads(f"k = {toml_string(text)}")["k"] == text


FLOATS = st.floats(-5, 5, allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 5e-324, 1e-300, 0.1, 1 / 3, -2.5e-8, 123456.789])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@st.composite
def scenarios(draw) -> str:
    layers = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    n = len(layers) - 1
    bias = draw(st.booleans())
    acts = draw(st.lists(st.sampled_from(["sigmoid", "tanh", "relu", "linear", "soft"]), min_size=n, max_size=n))
    loss = draw(st.sampled_from(["sse", "half_sse", "mse"]))
    examples = draw(st.integers(1, 3))
    rows = lambda k, m: [[draw(FLOATS) for _ in range(m)] for _ in range(k)]  # noqa: E731
    lines = [f"title = {toml_string(draw(TEXT))}", f"description = {toml_string(draw(TEXT))}", "[network]",
             f"layers = {layers}", f"activation = {json.dumps(acts)}", f"bias = {str(bias).lower()}"]
    if "soft" in acts:
        lines += ["[activations.soft]", 'expr = "log(1 + exp(x)) / 2"']
    lines += ["[loss]", f'function = "{loss}"', "[training]",
              f"learning_rate = {draw(st.floats(1e-4, 2))!r}", f"epochs = {draw(st.integers(1, 5))}",
              f'update = "{draw(st.sampled_from(["batch", "online"]))}"']
    if draw(st.booleans()):
        lines.append('frozen = ["w1"]')
    lines += ["[data]", f"inputs = {rows(examples, layers[0])!r}", f"targets = {rows(examples, layers[-1])!r}",
              "[weights]"]
    for l in range(1, len(layers)):
        lines.append(f"theta{l} = {rows(layers[l], layers[l - 1] + bias)!r}")
    if draw(st.booleans()):
        lines += ["[[expect]]", 'quantity = "w1"', f"value = {draw(FLOATS)!r}",
                  f"source = {toml_string(draw(TEXT))}", f"tolerance = {draw(st.floats(0, 1))!r}"]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_drawn_scenarios_round_trip_bit_for_bit(text):
    s = loads(text)
    written = to_toml(s)
    _same_run(s, loads(written))
    assert to_toml(loads(written)) == written  # and writing again changes nothing
