"""A what-if fork continues the original run's training: the optimizer's state (velocity, Adam's moments), the
update count t and the shuffled order of each epoch go on from where the original was, so a fork whose edit
changes nothing repeats the original's numbers bit for bit, whatever the optimizer and the mode.

A saved fork cannot carry that state (the scenario format has no key for it): the file says so at its top,
and the app's note too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpdebug.core import optimizers
from bpdebug.core.engine import Trace, train
from bpdebug.core.scenario import Scenario, load, loads
from bpdebug.core.scenario_writer import restarted, to_toml, toml_number
from bpdebug.core.whatif import fork, parse_edit
from bpdebug.tui.session import Session

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
MODES = ("batch", "online", "mini-batch")


def _same(a: np.ndarray | float, b: np.ndarray | float) -> bool:
    """Bit for bit (NaN payloads included): the same computation gives the same bytes."""
    return np.asarray(a, dtype=float).tobytes() == np.asarray(b, dtype=float).tobytes()


def _same_arrays(a, b) -> bool:
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))


@st.composite
def runs(draw) -> tuple[Scenario, int, str]:
    """A small network with any optimizer and mode, an epoch > 1 to fork at, and the parameter to edit."""
    layers = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(2, 3)) + 1)]
    mode = draw(st.sampled_from(MODES))
    examples = draw(st.integers(3 if mode == "mini-batch" else 1, 5))  # batch_size 2 of fewer is a batch
    unit = st.floats(-1, 1, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    rows = lambda k, m, values=unit: [[draw(values) for _ in range(m)] for _ in range(k)]  # noqa: E731
    matrix = lambda r: "[" + ", ".join("[" + ", ".join(toml_number(v) for v in row) + "]" for row in r) + "]"  # noqa: E731
    optimizer = draw(st.sampled_from(sorted(optimizers.OPTIMIZERS)))
    training = [f"learning_rate = {toml_number(draw(st.floats(0.01, 1)))}", "epochs = 12",
                f'optimizer = "{optimizer}"']
    if draw(st.booleans()):
        training.append(f"weight_decay = {toml_number(draw(st.floats(0, 0.1)))}")
    training.append({"batch": 'update = "batch"', "online": 'update = "online"', "mini-batch": "batch_size = 2"}[mode])
    if mode != "batch" and examples > 1 and draw(st.booleans()):
        training += ["shuffle = true", f"seed = {draw(st.integers(0, 2**32 - 1))}"]
    weights = [f"theta{l} = {matrix(rows(layers[l], layers[l - 1] + 1))}" for l in range(1, len(layers))]
    text = "\n".join([
        'title = "fork"', "[network]", f"layers = {layers}",
        f'activation = "{draw(st.sampled_from(["sigmoid", "tanh"]))}"', "bias = true",
        "[loss]", f'function = "{draw(st.sampled_from(["half_sse", "mse"]))}"',
        "[training]", *training,
        "[data]", f"inputs = {matrix(rows(examples, layers[0]))}",
        f"targets = {matrix(rows(examples, layers[-1], st.floats(0, 1)))}",
        "[weights]", *weights])
    scenario = loads(text)
    param = draw(st.sampled_from([p.short for p in scenario.params]))
    return scenario, draw(st.integers(2, 9)), param


def assert_fork_repeats_original(original: Trace, forked: Trace, epoch: int, epochs: int = 3) -> None:
    """Epochs 1 … ``epochs`` of the fork are the original's ``epoch`` … on, number for number."""
    for e in range(1, epochs + 1):
        o, f = original.epoch(epoch + e - 1), forked.epoch(e)
        assert _same(o.loss, f.loss) and _same(o.outputs, f.outputs)
        assert len(o.passes) == len(f.passes)
        for po, pf in zip(o.passes, f.passes, strict=True):
            assert (po.rows, po.update, po.example, po.batch) == (pf.rows, pf.update, pf.example, pf.batch)
            assert _same_arrays(po.weights_before, pf.weights_before)
            assert _same_arrays(po.numbers.gradients, pf.numbers.gradients)
            assert _same_arrays(po.weights_after, pf.weights_after)
            assert len(po.state_after) == len(pf.state_after)
            assert all(_same_arrays(a, b) for a, b in zip(po.state_after, pf.state_after, strict=True))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_a_fork_whose_edit_changes_nothing_repeats_the_original_bit_for_bit(run):
    scenario, epoch, name = run
    original = Trace(scenario, epoch + 3)
    p = scenario.params.get(name)
    value = float(original.weights_before(epoch)[p.layer - 1][p.row, p.col])
    forked = fork(scenario, original, [parse_edit(f"{name}={value!r}", scenario)], epoch)
    assert forked.plan.epochs_before == epoch - 1
    assert_fork_repeats_original(original, Trace(forked), epoch)
    # the fast path (what `c`, `g` and the loss curve use) continues the same way
    with np.errstate(all="ignore"):
        whole, continued = train(scenario, epoch + 2), train(forked, 3)
    assert _same(whole.losses[epoch - 1:], continued.losses)
    assert _same_arrays(whole.weights, continued.weights)
    assert all(_same_arrays(a, b) for a, b in zip(whole.state, continued.state, strict=True))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs(), st.integers(1, 3))
def test_a_fork_of_a_fork_still_continues_the_original(run, later):
    scenario, epoch, name = run
    original = Trace(scenario, epoch + later + 3)
    first = Trace(fork(scenario, original, [], epoch))
    second = fork(first.scenario, first, [], later)
    assert second.plan.epochs_before == epoch + later - 2
    assert_fork_repeats_original(original, Trace(second), epoch + later - 1)


# ---------------------------------------------------------------------------------------- in the app's model

@pytest.mark.parametrize("name", ["adam.toml", "momentum.toml", "iris.toml", "online.toml", "blog.toml"])
def test_the_session_forks_at_epoch_7_with_the_selected_value_and_nothing_differs(name):
    s = Session(SCENARIOS / name)
    s.go_to_epoch(7)
    s.next_step()
    s.next_step()
    index = s.index
    value = s.step.param(s.selected, "before")
    assert s.fork(repr(value)).moved and s.showing_fork
    assert s.differences() == []  # no parameter differs from the original at this step
    assert_fork_repeats_original(s.original.trace, s.trace, 7, 2)
    s.switch_run()
    assert s.index == index


def test_a_fork_restarting_the_optimizer_differs_so_the_continued_state_matters():
    """The control: a fork handed bare weights starts Adam afresh, and its numbers differ from the original's."""
    adam = load(SCENARIOS / "adam.toml")
    original = Trace(adam, 10)
    fresh = fork(adam, original.weights_before(7), [], 7)
    continued = fork(adam, original, [], 7)
    assert fresh.plan.resume is None and continued.plan.resume is not None
    assert not _same(train(fresh, 3).losses, train(adam, 9).losses[6:])
    assert _same(train(continued, 3).losses, train(adam, 9).losses[6:])


# ------------------------------------------------------------------------------------------------- saving

@pytest.mark.parametrize("name, says", [
    ("adam.toml", ("Adam's m and v start again at 0", "the update count t starts again at 1")),
    ("momentum.toml", ("momentum's v starts again at 0",)),
    ("iris.toml", ("Adam's m and v start again at 0", "the shuffled order starts again from epoch 1's")),
])
def test_a_saved_fork_of_a_stateful_run_says_at_its_top_that_it_restarts(name, says):
    s = load(SCENARIOS / name)
    forked = fork(s, Trace(s, 8), [parse_edit(f"{s.params.first_weight(1).short}=0.25", s)], 7)
    text = to_toml(forked)
    head = " ".join(line[2:] for line in text.split("\n\n", 1)[0].splitlines())
    assert text.startswith("# Not the fork's run:") and "epoch 7" in head
    assert all(phrase in head for phrase in says), head
    saved = loads(text)  # still a valid scenario, restarting the training state as the comment says
    assert saved.plan.resume is None
    assert not _same(train(saved, 2).losses, train(forked, 2).losses)


@pytest.mark.parametrize("name", ["blog.toml", "online.toml"])
def test_a_saved_fork_of_plain_descent_reproduces_it_and_says_nothing(name):
    s = load(SCENARIOS / name)
    forked = fork(s, Trace(s, 8), [parse_edit(f"{s.params.first_weight(1).short}=0.25", s)], 7)
    assert restarted(forked) is None
    text = to_toml(forked)
    assert not text.startswith("#")
    assert _same(train(loads(text), 4).losses, train(forked, 4).losses)


def test_a_fork_at_epoch_1_saves_whole_whatever_the_optimizer():
    s = load(SCENARIOS / "adam.toml")
    forked = fork(s, Trace(s, 3), [parse_edit("w5=0.25", s)], 1)
    assert restarted(forked) is None and forked.plan.resume is None
    assert _same(train(loads(to_toml(forked)), 4).losses, train(forked, 4).losses)


def test_saving_a_continued_adam_fork_in_the_app_warns_in_the_note(tmp_path):
    s = Session(SCENARIOS / "adam.toml")
    s.go_to_epoch(7)
    s.fork("0.25")
    note = s.save_fork(tmp_path / "fork.toml")
    assert note.severity == "warning" and "start again at 0" in note.text and "wrote" in note.text
    assert (tmp_path / "fork.toml").read_text().startswith("# Not the fork's run:")


def test_the_py_export_of_a_continued_adam_fork_warns_that_its_code_starts_afresh(tmp_path):
    s = Session(SCENARIOS / "adam.toml")
    s.go_to_epoch(7)
    s.fork("0.25")
    note = s.export("py", tmp_path / "fork.py", 8)
    assert note.severity == "warning" and "the exported code" in note.text and "t starts again at 1" in note.text
    blog = Session(SCENARIOS / "blog.toml")
    blog.go_to_epoch(7)
    blog.fork("0.25")
    assert blog.export("py", tmp_path / "blog.py", 8).severity == "information"
