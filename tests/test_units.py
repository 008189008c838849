"""Unit-by-unit steps and the example a batch pass narrates, in the session (no terminal) and the narration.

Expected numbers come from an independent route: a forward and backward pass written here with NumPy from the
scenario file's weights, the figures Matt Mazur's post prints, and the engine's own arrays for the entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _bundled import NETWORKS
from _wide import wide_scenario

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.text.narrate import (
    MAX_UNITS_WALKED,
    NEW,
    fmt,
    narrate,
    narrate_unit,
    unit_walk,
)
from bpdebug.tui.session import Session

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BLOG = SCENARIOS / "blog.toml"
MAZUR = SCENARIOS / "mazur.toml"
XOR = SCENARIOS / "xor.toml"
SOFTMAX = SCENARIOS / "softmax.toml"
IRIS = SCENARIOS / "iris.toml"


def where(s: Session) -> tuple[str, int | None, int | None]:
    return str(s.step.kind), s.step.layer, s.unit


def last_new(narration) -> str:
    """The text of the narration's last computed number (the unit's value)."""
    spans = [span for line in narration.lines for span in line if span.role == NEW]
    return spans[-1].text


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def blog_by_hand() -> dict[str, np.ndarray]:
    """The blog's first pass written out with NumPy from the numbers in scenarios/blog.toml (sigmoid, bias
    units, half the squared error), not through the engine."""
    x = np.array([0.85, 0.25])
    t = np.array([0.6905, 0.8657])
    w1 = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    w2 = np.array([[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]])
    z2 = w1 @ np.concatenate(([1.0], x))
    a2 = sigmoid(z2)
    z3 = w2 @ np.concatenate(([1.0], a2))
    a3 = sigmoid(z3)
    delta3 = (a3 - t) * a3 * (1 - a3)
    delta2 = (w2[:, 1:].T @ delta3) * a2 * (1 - a2)
    return {"z2": z2, "a2": a2, "z3": z3, "a3": a3, "delta3": delta3, "delta2": delta2}


# ------------------------------------------------------------------------------------------------- walk

BLOG_WALK = [("z", 2, 1), ("z", 2, 2), ("a", 2, 1), ("a", 2, 2), ("z", 3, 1), ("z", 3, 2), ("a", 3, 1),
             ("a", 3, 2), ("error", 3, None), ("delta", 3, 1), ("delta", 3, 2), ("delta", 2, 1), ("delta", 2, 2),
             ("gradient", 2, None), ("gradient", 1, None), ("update", None, None)]


def test_unit_steps_walk_the_blog_unit_by_unit_and_back():
    s = Session(BLOG)
    assert s.unit is None and s.unit_status() == ""
    s.toggle_units()
    walked = [where(s)]
    for _ in range(len(BLOG_WALK) - 1):
        assert s.next_step().moved
        walked.append(where(s))
    assert walked == BLOG_WALK
    back = [where(s)]
    for _ in range(len(BLOG_WALK) - 1):
        assert s.previous_step().moved
        back.append(where(s))
    assert back == BLOG_WALK[::-1]  # walking back enters a layer at its last unit
    assert s.index == 0 and s.unit == 1 and s.previous_step().refused


def test_a_unit_move_changes_the_position_the_app_repaints_on():
    s = Session(BLOG)
    s.toggle_units()
    first = s.position
    s.next_step()
    assert s.position != first and s.position.index == first.index and s.position.unit == 2


def test_the_status_names_the_unit_or_why_the_step_is_whole():
    s = Session(BLOG)
    s.toggle_units()
    assert s.unit_status() == "unit h1 of 2" and s.unit_status(short=True) == "h1/2"
    s.next_step()
    assert s.unit_status() == "unit h2 of 2"
    while s.step.kind != "error":
        s.next_step()
    assert s.unit is None and s.unit_status() == "whole step"
    s.toggle_units()
    assert s.unit is None and s.unit_status() == ""


def test_toggling_off_walks_whole_layers_again():
    s = Session(BLOG)
    s.toggle_units()
    s.next_step()
    assert where(s) == ("z", 2, 2)
    s.toggle_units()
    assert where(s) == ("z", 2, None)
    s.next_step()
    assert where(s) == ("a", 2, None)
    s.toggle_units()
    assert where(s) == ("a", 2, 1)  # switched on in the middle of a layer: its first unit


# ---------------------------------------------------------------------------------------------- numbers

def test_each_unit_of_the_blog_is_its_number_recomputed_with_numpy():
    hand = blog_by_hand()
    s = Session(BLOG)
    s.toggle_units()
    seen = 0
    while s.step.kind != "gradient":
        step, unit = s.step, s.unit
        if unit is not None:
            name = f"{'delta' if step.kind == 'delta' else step.kind}{step.layer}"
            expected = hand[name][unit - 1]
            engine = np.asarray(step.value(name))[0, unit - 1]
            assert engine == pytest.approx(expected, rel=1e-12, abs=1e-15)
            narration = s.narration()
            assert last_new(narration) == fmt(expected)
            assert f"unit {unit} of 2" in narration.heading
            seen += 1
        s.next_step()
    assert seen == 12  # z, a of two layers and two deltas, two units each


def test_the_blog_net_input_of_h1_is_written_as_the_text_writes_it():
    s = Session(BLOG)
    s.toggle_units()
    lines = s.narration().text_lines()
    assert lines[0] == "net_h1 = w1·i1 + w2·i2 + b1·1"
    assert lines[1] == "   = 0.2·0.85 + 0.3·0.25 + 0.1·1"  # theta1 row 1 of the file: b1 0.1, w1 0.2, w2 0.3
    assert lines[2] == f"   = {fmt(0.1 + 0.2 * 0.85 + 0.3 * 0.25)}"


def test_mazur_prints_net_h1_and_out_h1_and_the_output_deltas():
    """The figures of "A Step by Step Backpropagation Example": net_h1 = 0.3775, out_h1 = 0.593269992,
    out_o1 = 0.75136507, δ_o1 = 0.138498562 (his ∂E/∂net_o1), computed one unit at a time."""
    s = Session(MAZUR)
    s.toggle_units()
    assert s.narration().text_lines()[-1] == "   = 0.3775"
    printed = {("a", 2, 1): 0.593269992, ("a", 3, 1): 0.75136507, ("delta", 3, 1): 0.138498562}
    found = {}
    while s.step.kind != "gradient":
        if where(s) in printed:
            found[where(s)] = float(last_new(s.narration()).replace("−", "-"))
        s.next_step()
    assert found.keys() == printed.keys()
    for key, value in printed.items():
        assert found[key] == pytest.approx(value, abs=5e-7)


@pytest.mark.parametrize("path", list(NETWORKS), ids=lambda p: p.stem)
def test_every_unit_of_every_bundled_scenario_adds_up(path):
    """Each walked unit's products add up to the engine's entry, and its value is that entry, for every
    example of the first pass (sums recomputed here from the step's weights and inputs)."""
    scenario = load(path)
    trace = Trace(scenario)
    for step in list(trace)[: len(trace.templates)]:
        walk = unit_walk(step, scenario)
        for unit in range(1, walk.units + 1):
            l, i = step.layer, unit - 1
            assert l is not None
            rows = len(step.record.rows)
            for row in range(rows):
                narration = narrate_unit(step, scenario, unit, row)
                if step.kind == "z":
                    theta = np.asarray(step.value(f"theta{l - 1}"))
                    a_prev = np.asarray(step.value(f"a{l - 1}"))[row]
                    inputs = np.concatenate(([1.0], a_prev)) if scenario.bias else a_prev
                    z = float(np.asarray(step.value(f"z{l}"))[row, i])
                    assert float(theta[i] @ inputs) == pytest.approx(z, rel=1e-12, abs=1e-12)
                    name = f"z{l}"
                else:
                    name = f"{'delta' if step.kind == 'delta' else 'a'}{l}"
                assert last_new(narration) == fmt(float(np.asarray(step.value(name))[row, i]))
                if rows > 1:
                    assert f"example {step.record.rows[row] + 1}" in narration.heading


def test_a_unit_too_many_is_refused():
    scenario = load(BLOG)
    step = Trace(scenario)[0]
    with pytest.raises(ValueError):
        narrate_unit(step, scenario, 3)


# ------------------------------------------------------------------------------------------------- where

def test_epoch_moves_keep_the_unit_and_a_stop_lands_on_the_first():
    s = Session(BLOG)
    s.toggle_units()
    s.next_step()
    assert where(s) == ("z", 2, 2)
    s.next_epoch()
    assert s.step.epoch == 2 and where(s) == ("z", 2, 2)
    s.previous_epoch()
    assert s.step.epoch == 1 and where(s) == ("z", 2, 2)
    s.add_condition("step=delta2")

    def to_delta2() -> None:  # the blog's failing printed figures stop c on the way
        s.continue_run()
        while where(s)[:2] != ("delta", 2):
            assert s.unit in (None, 1)  # every stop lands on a step's first unit
            s.continue_run()

    to_delta2()
    assert s.step.epoch == 1 and where(s) == ("delta", 2, 1)
    s.next_step()
    assert where(s) == ("delta", 2, 2)
    to_delta2()  # the same step of the next epoch: its first unit again
    assert s.step.epoch == 2 and where(s) == ("delta", 2, 1)
    s.next_step()
    s.go_to_epoch(3)
    assert s.step.epoch == 3 and where(s) == ("delta", 2, 2)


def test_a_divergence_lands_on_the_unit_it_names(tmp_path):
    """The blog with a linear output and 1e308 weights into o2: net_o2 overflows at the first z3 step while
    net_o1 stays finite, so n stops at z3 on unit o2 (not on the step's first unit)."""
    text = BLOG.read_text().replace('activation = "sigmoid"', 'activation = ["sigmoid", "linear"]')
    text = text.replace("[0.2, 0.5, 0.1]]", "[1e308, 1e308, 1e308]]")
    path = tmp_path / "overflow.toml"
    path.write_text(text)
    s = Session(path)
    s.toggle_units()
    notes = []
    for _ in range(5):
        notes += [n.text for n in s.next_step().notes]
        if notes:
            break
    assert any("diverged" in n for n in notes)
    z3 = np.asarray(s.step.value("z3"))[0]
    assert np.isfinite(z3[0]) and np.isinf(z3[1])
    assert where(s) == ("z", 3, 2) and s.unit_status() == "unit o2 of 2"
    assert last_new(s.narration()) == "inf"


def test_a_784_128_10_network_is_not_walked_unit_by_unit(tmp_path):
    s = Session(wide_scenario(tmp_path / "wide.toml"))
    s.toggle_units()
    assert s.scenario.layers[1] > MAX_UNITS_WALKED and s.scenario.layers[2] > MAX_UNITS_WALKED
    assert s.unit_status() == "whole layer (128 units > 8)"
    assert s.narration() == narrate(s.step, s.scenario)
    for _ in range(len(s.trace.templates)):
        assert s.unit is None and unit_walk(s.step, s.scenario).units == 0
        s.next_step()


def test_softmax_walks_its_net_inputs_but_not_its_outputs_or_delta():
    s = Session(SOFTMAX)
    s.toggle_units()
    kinds = {}
    for _ in range(30):
        key = (str(s.step.kind), s.step.layer)
        kinds.setdefault(key, set()).add(s.unit)
        if s.step.kind == "update":
            break
        s.next_step()
    assert kinds[("z", 3)] == {1, 2, 3}
    assert kinds[("a", 3)] == {None} and kinds[("delta", 3)] == {None}
    assert kinds[("a", 2)] == {1, 2, 3, 4} and kinds[("delta", 2)] == {1, 2, 3, 4}


def test_iris_walks_its_eight_hidden_units():
    s = Session(IRIS)
    s.toggle_units()
    units = []
    while s.step.kind == "z":
        units.append(s.unit)
        s.next_step()
    assert units == list(range(1, 9))


# --------------------------------------------------------------------------------------- batch examples

def test_the_step_shows_the_whole_batch_until_an_example_is_chosen():
    s = Session(XOR)
    xor = load(XOR)
    assert s.chosen_row is None and s.narration().heading.endswith("· all 4 examples")
    assert "ex 4 = " in "\n".join(s.narration().text_lines())
    move = s.next_example()
    assert move.moved and s.chosen_row == 1 and s.row == 1
    narration = s.narration()
    assert narration.heading.endswith("· example 2 of 4")
    text = "\n".join(narration.text_lines())
    assert "ex " not in text  # one example: no example labels line by line
    z = xor.weights[0][:, 0] + xor.weights[0][:, 1:] @ xor.inputs[1]  # example 2's net input, by hand
    assert narration.text_lines()[-1] == "   = [" + " ".join(fmt(v) for v in z) + "]"
    s.next_example()
    assert s.narration().heading.endswith("· example 3 of 4")
    assert s.whole_batch().moved and s.chosen_row is None and s.row == 2  # the network keeps example 3
    assert s.narration().heading.endswith("· all 4 examples")
    assert s.whole_batch().moved is False  # already the whole batch: said so


def test_a_chosen_example_narrates_its_unit_and_sums_say_the_others_count():
    s = Session(XOR)
    xor = load(XOR)
    s.next_example()
    s.toggle_units()
    lines = s.narration().text_lines()
    z = xor.weights[0][0, 0] + xor.weights[0][0, 1:] @ xor.inputs[1]
    assert lines[-1] == f"   = {fmt(z)}" and "example 2 of 4" in s.narration().heading
    s.toggle_units()
    while s.step.kind != "gradient":
        s.next_step()
    text = "\n".join(s.narration().text_lines())
    assert "+ the same for the other 3 examples of the pass" in text
    while s.step.kind != "error":
        s.previous_step()
    text = "\n".join(s.narration().text_lines())
    assert "+ the same for the other 3 examples of the pass" in text and "E_total = " in text


def test_one_example_per_pass_has_nothing_to_choose():
    s = Session(BLOG)
    assert s.next_example().moved is False and s.whole_batch().moved is False
    assert s.chosen_row is None and "example" not in s.narration().heading
