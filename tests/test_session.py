"""The debugging session without a terminal: moves, breakpoints, long runs, reload, derivations, exports.

Expected values come from an independent route: walking the trace step by step, the engine's fast path
``train``, or the parameters' own description of what they connect.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from _diverging import diverging_softmax_text
from hypothesis import given, settings
from hypothesis import strategies as st

from bpdebug.core.engine import Trace, train
from bpdebug.core.scenario import load
from bpdebug.tui.session import DERIVATION_CACHE, Breakpoint, Note, Session

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"
XOR = ROOT / "scenarios" / "xor.toml"
ONLINE = ROOT / "scenarios" / "online.toml"
SOFTMAX = ROOT / "scenarios" / "softmax.toml"


def test_a_session_imports_no_terminal_code():
    import subprocess
    import sys

    code = ("import sys, bpdebug.tui.session; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------------- moving

def test_stepping_walks_the_trace_and_past_its_end():
    s = Session(BLOG)
    n = len(s.trace)
    for k in range(1, n):
        assert s.next_step().moved and s.index == k
    move = s.next_step()  # past the scenario's single epoch: trains one more
    assert s.index == n and s.step.epoch == 2 and s.trace.epochs == 2
    assert any("training past the scenario's 1 epoch" in note.text for note in move.notes)
    assert s.previous_step().moved and s.index == n - 1
    for _ in range(n - 1):
        s.previous_step()
    assert s.index == 0
    assert s.previous_step().refused  # nothing before step 1: the app rings the bell


def test_epoch_moves_keep_the_step_position():
    s = Session(ONLINE)  # online: several passes per epoch
    for _ in range(7):
        s.next_step()
    here = (s.step.example, s.step.kind, s.step.layer)
    s.next_epoch()
    assert s.step.epoch == 2 and (s.step.example, s.step.kind, s.step.layer) == here
    s.go_to_epoch(5)
    assert s.step.epoch == 5 and (s.step.example, s.step.kind, s.step.layer) == here
    s.previous_epoch()
    assert s.step.epoch == 4
    assert Session(ONLINE).previous_epoch().refused


@pytest.mark.parametrize(("text", "ok"), [("12", True), ("1", True), ("0", False), ("-3", False),
                                          ("twelve", False), ("1.5", False)])
def test_an_epoch_typed_is_a_whole_number_from_1(text, ok):
    answer = Session.parse_epoch(text)
    assert (answer == int(text)) if ok else (isinstance(answer, Note) and answer.severity == "error")


# ------------------------------------------------------------------------------------------ parameters

def test_selecting_by_name_and_by_turn():
    s = Session(BLOG)
    assert s.selected.short == "w5"  # the blog follows w5
    s.select("w1")
    assert s.param == "theta1[1,1]"
    move = s.select("w99")
    assert not move.moved and s.param == "theta1[1,1]"
    assert "unknown parameter 'w99'" in move.notes[0].text and "w1..w8" in move.notes[0].text
    shorts = [s.selected.short]
    for _ in range(len(s.scenario.params)):
        s.select_next(1)
        shorts.append(s.selected.short)
    assert shorts[0] == shorts[-1] and len(set(shorts[:-1])) == len(s.scenario.params)


@pytest.mark.parametrize("path", [BLOG, XOR, ROOT / "scenarios" / "deep.toml"])
def test_a_clicked_unit_selects_a_weight_that_touches_it(path):
    s = Session(path)
    sizes = s.scenario.layers
    for layer, size in enumerate(sizes, start=1):
        units = list(range(1, size + 1)) + ([0] if s.scenario.bias and layer < len(sizes) else [])
        for unit in units:
            p = s.param_for_unit(layer, unit)
            if layer == len(sizes) or unit == 0 or layer == 1:
                if layer == len(sizes):  # an output unit: a weight into it
                    assert p is not None and p.layer == layer - 1 and p.receiving_unit == unit and not p.is_bias
                else:  # an input or a bias unit: a weight out of it
                    assert p is not None and p.layer == layer and p.sending_unit == unit
            else:  # a hidden unit: a weight into it, from a real unit
                assert p is not None and p.layer == layer - 1 and p.receiving_unit == unit and not p.is_bias
            s.select_unit(layer, unit)
            assert s.param == p.canonical


# ----------------------------------------------------------------------------------------- breakpoints

def walk_to(s: Session, index: int) -> None:
    while s.index < index:
        s.next_step()
    while s.index > index:
        s.previous_step()


def _first_later_step(trace: Trace, here: int, kind: str, layer: int | None) -> int | None:
    """Walk the trace step by step (the independent route)."""
    for i in range(here + 1, len(trace)):
        if (trace[i].kind, trace[i].layer) == (kind, layer):
            return i
    return None


@settings(max_examples=25, deadline=None)
@given(here=st.integers(0, 29), pick=st.integers(0, 9))
def test_the_next_stop_is_the_next_step_of_that_kind(here, pick):
    s = Session(XOR)
    assert all(r.holds for r in s.results)  # so only the breakpoint stops
    t = s.trace.templates[pick % len(s.trace.templates)]
    walk_to(s, t.position)
    s.toggle_breakpoint()
    assert s.breakpoints == {Breakpoint(t.kind, t.layer)}
    walk_to(s, here)
    assert s.next_stop() == _first_later_step(s.trace, s.index, t.kind, t.layer)


def test_breakpoints_toggle_and_continue_stops_at_failing_figures():
    s = Session(BLOG)
    for _ in range(7):
        s.next_step()
    assert (s.step.kind, s.step.layer) == ("gradient", 2)
    s.toggle_breakpoint()
    assert Breakpoint("gradient", 2) in s.breakpoints and Breakpoint("gradient", 2).label == "∂E/∂Θ2"
    s.previous_step()
    s.previous_step()
    s.continue_run()
    assert s.index == 7
    failing = [r.step for r in s.results if not r.holds and r.step > 7]
    s.continue_run()
    assert s.index == min(failing) == 9  # w5.after, which the blog prints wrong
    assert not s.continue_run().moved
    s.go_to_epoch(1)
    s.toggle_breakpoint()  # at step 10's kind (update): a second breakpoint
    assert len(s.breakpoints) == 2


def test_figure_counts_follow_the_walk():
    s = Session(BLOG)
    for index in range(len(s.trace)):
        while s.index < index:
            s.next_step()
        reached = [r for r in s.results if r.step <= index]
        assert s.figure_counts() == (sum(r.holds for r in reached), sum(not r.holds for r in reached))


# -------------------------------------------------------------------------------------------- losses

def test_losses_known_are_those_whose_error_step_was_reached():
    s = Session(XOR)
    reference = train(s.scenario, 4).losses  # the fast path, independently
    s.go_to_epoch(3)
    error_step = next(t.position for t in s.trace.templates if t.kind == "error")
    while s.step.epoch == 3:
        known = s.losses_reached()
        expected = 3 if s.index % s.trace.steps_per_epoch >= error_step else 2
        assert len(known) == expected and np.array_equal(known, reference[:expected])
        s.next_step()
    assert len(Session(XOR).losses_reached()) == 0  # one loss is not a curve


# ------------------------------------------------------------------------------------------- long runs

def test_a_long_run_reports_progress_stops_when_asked_and_lands_on_the_last_epoch():
    s = Session(XOR)
    for _ in range(3):
        s.next_step()
    offset = s.index
    assert s.is_long_run(10**8) and not s.is_long_run(s.trace.losses_computed + 10)
    seen: list[tuple[int, int]] = []
    outcome = s.run_to(10**8, lambda done, total: seen.append((done, total)), lambda: len(seen) >= 3)
    assert outcome.cancelled and outcome.asked == 10**8 and 1 <= outcome.reached < 10**8
    assert seen and all(total == 10**8 and 0 <= done <= total for done, total in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert s.index == offset  # nothing moved until the run is finished on the UI thread
    move = s.finish_run(outcome)
    assert s.step.epoch == outcome.reached and s.index % s.trace.steps_per_epoch == offset
    assert any(f"stopped at epoch {outcome.reached}" in n.text for n in move.notes)
    # the weights there are those of the fast path, trained independently
    expected = train(s.scenario, outcome.reached - 1).weights
    assert all(np.array_equal(a, b) for a, b in zip(s.step.weights, expected, strict=True))


def test_a_long_run_to_its_end_lands_there():
    s = Session(XOR)
    target = s.trace.epochs + 500
    outcome = s.run_to(target)
    assert not outcome.cancelled and outcome.reached == target
    s.finish_run(outcome)
    assert s.step.epoch == target and s.index == (target - 1) * s.trace.steps_per_epoch


# ---------------------------------------------------------------------------------------------- reload

def test_reload_keeps_the_position_and_refuses_a_broken_file(tmp_path):
    path = tmp_path / "blog.toml"
    shutil.copy(BLOG, path)
    s = Session(path)
    for _ in range(3):
        s.next_step()
    s.select("w1")
    path.write_text(BLOG.read_text().replace("learning_rate = 0.1", "learning_rate = 0.5"))
    result = s.reload()
    assert result.ok and result.same_shape and s.generation == 1
    assert s.index == 3 and s.param == "theta1[1,1]" and s.scenario.learning_rate == 0.5
    path.write_text(BLOG.read_text().replace("layers = [2, 2, 2]", "layers = [2, 2]"))
    result = s.reload()
    assert not result.ok and result.note.severity == "error" and str(path) in result.note.text
    assert s.scenario.learning_rate == 0.5 and s.index == 3 and s.generation == 1
    shutil.copy(ROOT / "scenarios" / "deep.toml", path)  # another network: back to the start
    result = s.reload()
    assert result.ok and not result.same_shape and s.index == 0 and s.generation == 2


# ------------------------------------------------------------------------------------------ derivation

def test_derivations_are_cached_per_generation_and_bounded():
    s = Session(BLOG)
    assert not s.derivation_is_quick()
    lines = s.derivation(9, "theta2[1,1]")
    assert isinstance(lines, list) and s.derivation_is_quick()
    # w5's gradient and new value, computed independently by the fast path
    w_after = train(s.scenario, 1).weights[1][0, 1]
    assert any(f"{w_after:.7f}"[:8] in line for line in lines)
    assert s.derivation(9, "theta2[1,1]") is lines  # cached
    assert s._derivation.cache_info().maxsize == DERIVATION_CACHE
    stale = s.generation
    s.reload()
    assert s.derivation(9, "theta2[1,1]", stale) is None  # a reload came in between
    assert not s.derivation_is_quick()


# ---------------------------------------------------------------------------------------------- export

def test_export_never_targets_the_files_read(tmp_path):
    path = tmp_path / "blog.toml"
    shutil.copy(BLOG, path)
    s = Session(path)
    assert s.is_protected(path) and s.is_protected(tmp_path / "." / "blog.toml")
    assert not s.is_protected(tmp_path / "blog.md")
    link = tmp_path / "link.toml"
    link.symlink_to(path)
    assert s.is_protected(link)
    assert s.would_overwrite(path) and not s.would_overwrite(tmp_path / "new.md")
    note = s.export("md", path, 1)
    assert note.severity == "error" and path.read_text() == BLOG.read_text()
    note = s.export("md", tmp_path / "blog.md", 1)
    assert note.severity == "information" and (tmp_path / "blog.md").read_text().startswith("#")


def test_export_stem_is_next_to_the_scenario(tmp_path):
    path = tmp_path / "mine.toml"
    shutil.copy(BLOG, path)
    assert Session(path).export_stem() == str(tmp_path / "mine")


# -------------------------------------------------------------------------------------------- divergence

def _first_non_finite_step(trace: Trace, epochs: int) -> int | None:
    """Walk every step and look at what it computes (the independent route)."""
    for i in range(epochs * trace.steps_per_epoch):
        step = trace[i]
        for name in step.computes:
            value = step.value(name)
            if not np.all(np.isfinite(value)):
                return i
    return None


@pytest.fixture
def diverging(tmp_path) -> Path:
    path = tmp_path / "sm.toml"
    path.write_text(diverging_softmax_text())
    return path


def test_moves_stop_once_at_the_first_non_finite_step(diverging):
    s = Session(diverging)
    s.trace.extend(6)
    expected = _first_non_finite_step(Trace(load(diverging), 6), 6)
    assert expected is not None
    stops = []
    for _ in range(5):
        move = s.next_epoch()
        if any("diverged" in n.text for n in move.notes):
            stops.append(s.index)
    assert stops == [expected]  # stopped there once, then went on past it
    assert s.divergence is not None and math.isfinite(s.divergence.epoch)


def test_continue_stops_at_the_first_non_finite_step(diverging):
    s = Session(diverging)
    expected = _first_non_finite_step(Trace(load(diverging), 6), 6)
    assert s.divergence is None or s.divergence.step == expected  # only what has been computed is known
    while s.next_stop() is not None and s.next_stop() < expected:
        s.continue_run()  # a failing printed figure on the way, if any
    move = s.continue_run()
    assert s.index == expected and any("diverged" in n.text for n in move.notes)
    assert s.divergence is not None and s.divergence.step == expected


def test_knowing_the_divergence_trains_nothing_ahead_of_the_walk():
    s = Session(XOR)
    before = s.trace.losses_computed
    assert s.divergence is None
    assert s.trace.losses_computed <= max(before, 1)


# ------------------------------------------------------------------------------- conditions, forks, watches

def test_nan_is_on_from_the_start_and_the_editor_adds_toggles_and_removes():
    s = Session(BLOG)
    assert [(e.text, e.enabled) for e in s.conditions] == [("nan", True)]
    assert s.breakpoint_labels() == ""  # the default is not news on the status line
    assert not s.add_condition("w5<<0.3").moved  # one line naming it, nothing added
    assert s.add_condition("w5 < 0.3").moved and s.conditions[-1].text == "w5<0.3"
    s.add_condition("w5<0.3")  # again: still one
    assert [e.text for e in s.conditions] == ["nan", "w5<0.3"]
    s.toggle_condition(0)
    assert not s.conditions[0].enabled and s.breakpoint_labels() == "w5<0.3"
    s.remove_condition(1)
    assert [e.text for e in s.conditions] == ["nan"]
    assert s.suggested_condition() == "step=z2"  # the current step's kind, as b offers it


def test_the_default_nan_is_there_whichever_act_first_needs_the_breakpoints(tmp_path):
    """nan is parsed when the breakpoints are first needed (start-up does not import the condition language):
    each act that can come first finds it on."""
    path = tmp_path / "blog.toml"
    shutil.copy(BLOG, path)
    firsts = {
        "toggle": (lambda s: s.toggle_condition(0), [("nan", False)]),
        "remove": (lambda s: s.remove_condition(0), []),
        "add": (lambda s: s.add_condition("w5<0.3"), [("nan", True), ("w5<0.3", True)]),
        "add nan": (lambda s: s.add_condition("nan"), [("nan", True)]),
        "B": (lambda s: s.toggle_breakpoint(), [("nan", True), ("step=z2", True)]),
        "reload": (lambda s: s.reload(), [("nan", True)]),
    }
    for act, expected in firsts.values():
        s = Session(path)
        assert s.breakpoint_labels() == ""
        act(s)
        assert [(e.text, e.enabled) for e in s.conditions] == expected
    s = Session(path)
    s.toggle_condition(0)
    assert s.reload().ok and [(e.text, e.enabled) for e in s.conditions] == [("nan", False)]  # kept off
    s.add_condition("w5<0.3")
    assert s.breakpoint_labels() == "w5<0.3"


def test_a_fresh_sessions_search_stops_at_nan_by_the_default_breakpoint(diverging):
    def first_condition_stop(s: Session):
        found = s.search()
        while found.stop is not None and found.stop.condition is None:  # failing printed figures on the way
            s.finish_search(found)
            found = s.search()
        return found.stop

    stop = first_condition_stop(Session(diverging))  # nothing has asked for the breakpoints before the search
    assert stop is not None and stop.condition is not None and stop.condition.text == "nan"
    assert stop.reason.startswith("nan: ")
    off = Session(diverging)
    off.toggle_condition(0)
    assert first_condition_stop(off) is None  # it was the default breakpoint that stopped it


def _losses(trace: Trace, epochs: int) -> list[float]:
    return [float(trace.loss(e)) for e in range(1, epochs + 1)]


def test_continue_stops_where_loss_rises_and_says_why():
    deep = ROOT / "scenarios" / "deep.toml"
    s = Session(deep)
    s.add_condition("loss-up")
    trace = Trace(load(deep))
    losses = _losses(trace, s.trace.epochs)
    # independently: the first epoch whose loss exceeds the one before, at its error step
    up = next((e for e in range(2, len(losses) + 1) if losses[e - 1] > losses[e - 2]), None)
    assert up is not None
    assert s.continue_run().moved
    assert s.step.epoch == up and s.step.kind == "error"
    assert s.stopped_here is not None and s.stopped_here.startswith("loss-up")
    s.next_step()
    assert s.stopped_here is None  # the reason goes once the walk moves on


def test_a_long_search_reports_progress_and_can_be_stopped(monkeypatch):
    import itertools
    import time
    import types

    from bpdebug.core import conditions

    # the search reports about ten times a second: its clock here moves a second each time it is read, so its
    # first report is due after its first epoch however fast the machine (it once finished before any was due)
    clock = itertools.count(0.0, 1.0)
    monkeypatch.setattr(conditions, "time", types.SimpleNamespace(monotonic=lambda: next(clock),
                                                                  perf_counter=time.perf_counter))
    s = Session(XOR)
    s.add_condition("grad>1e9")  # needs the steps of every epoch: a long search
    assert s.search_is_long()
    seen: list[tuple[int, int]] = []
    found = s.search(lambda d, t: seen.append((d, t)), lambda: bool(seen))
    assert seen and all(1 <= done <= total == s.trace.epochs for done, total in seen)
    assert found.stop is not None and found.stop.interrupted
    move = s.finish_search(found)
    assert move.moved and s.step.epoch == found.stop.epoch and "interrupted" in (s.stopped_here or "")


def test_what_if_forks_keeps_the_original_and_switches_between_them(tmp_path):
    s = Session(BLOG)
    assert s.param == "theta2[1,1]"  # w5
    assert s.fork("0.5").moved and s.showing_fork
    while not (s.step.kind == "z" and s.step.layer == 3):
        s.next_step()
    x = (0.85, 0.25)
    h1 = 1 / (1 + np.exp(-(0.1 + 0.2 * x[0] + 0.3 * x[1])))
    h2 = 1 / (1 + np.exp(-(0.4 + 0.5 * x[0] + 0.6 * x[1])))
    z3 = s.step.value("z3")[0]  # example 1
    assert abs(z3[0] - (0.5 + 0.5 * h1 + 0.3 * h2)) < 1e-15 and round(float(z3[0]), 7) == 1.0105368
    assert s.differences() == [("w5", "0.4", "0.5")]
    index = s.index
    s.switch_run()
    assert not s.showing_fork and s.index == index
    assert abs(s.step.value("z3")[0][0] - (0.5 + 0.4 * h1 + 0.3 * h2)) < 1e-15  # the original, untouched
    s.switch_run()
    assert s.showing_fork
    saved = tmp_path / "fork.toml"
    assert "wrote" in s.save_fork(saved).text
    again = Trace(load(saved))
    assert np.array_equal(again.step(index).value("z3"), s.step.value("z3"))  # the saved file reproduces it
    assert _losses(again, 1) == _losses(s.trace, 1)
    assert s.save_fork(BLOG).severity == "error"  # never over the scenario
    s.drop_fork()
    assert s.forked is None and not s.showing_fork and s.scenario.params.get("theta2[1,1]") is not None
    assert s.step.param(s.selected) == 0.4


def test_a_fork_from_a_later_epoch_maps_the_steps_both_ways():
    s = Session(XOR)
    s.go_to_epoch(3)
    here = s.index
    spe = s.trace.steps_per_epoch
    s.fork("learning_rate=1")
    assert s.step.epoch == 1 and s.index == here - 2 * spe
    assert s.differences()[0] == ("learning_rate", "", "1.0")
    s.switch_run()
    assert s.step.epoch == 3 and s.index == here


def test_watches_show_only_what_is_known_and_the_change_from_the_last_epoch():
    s = Session(BLOG)
    assert s.toggle_watch("delta2").moved and s.toggle_watch("grad.w1").moved and s.toggle_watch("w5").moved
    assert not s.toggle_watch("nothing").moved
    rows = s.watch_rows()
    assert [r.name for r in rows] == ["delta2", "grad.w1", "w5"]
    assert rows[0].now == "…" and rows[1].now == "…" and rows[2].now == "0.4" and rows[2].before == ""
    s.go_to_epoch(2)
    walk_to(s, s.trace.first_step_of(2, None, "update"))
    delta2, grad_w1, w5 = s.watch_rows()
    trace = Trace(load(BLOG), 2)
    first, second = trace.epoch(1).passes[0], trace.epoch(2).passes[0]
    assert delta2.now == fmt_values(second.numbers.delta[2]) and delta2.before == fmt_values(first.numbers.delta[2])
    assert grad_w1.now == f"{second.numbers.gradients[0][0, 1]:.7g}"
    assert w5.now == f"{second.weights_after[1][0, 1]:.7g}" and w5.before == f"{first.weights_after[1][0, 1]:.7g}"
    assert w5.change == f"{second.weights_after[1][0, 1] - first.weights_after[1][0, 1]:.7g}"
    s.toggle_watch("delta2")
    assert [r.name for r in s.watch_rows()] == ["grad.w1", "w5"]


def fmt_values(a) -> str:
    return "[" + ", ".join(f"{x:.7g}" for x in np.ravel(a)) + "]"


def test_watches_are_nan_safe(diverging):
    s = Session(diverging)
    for name in ("loss", "a3", "delta2", "grad.theta1"):
        s.toggle_watch(name)
    for _ in range(6):
        s.next_epoch()
        assert len(s.watch_rows()) == 4  # never raises, whatever the numbers


def test_the_gradient_check_of_the_selected_parameter_agrees_on_the_blog():
    s = Session(BLOG)
    while not s.step.is_known(f"grad.theta{s.selected.layer}"):  # before it, the check says when it is available
        assert "available from" in s.gradient_check().text
        s.next_step()
    note = s.gradient_check()
    analytic = float(Trace(load(BLOG)).epoch(1).passes[0].numbers.gradients[1][0, 1])
    assert f"{analytic:.10g}" in note.text and "agrees" in note.text and note.severity == "information"


def test_a_forks_transcript_names_the_fork_and_its_edited_weights(tmp_path):
    s = Session(BLOG)
    s.go_to_epoch(3)
    s.fork("w5=0.5")
    assert s.showing_fork and s.step.epoch == 1
    target = tmp_path / "fork.md"
    note = s.export("md", target, s.export_epochs())
    assert "wrote" in note.text
    text = target.read_text()
    assert "computed by bpdebug on a what-if fork of `blog.toml` (w5=0.5 from epoch 3)" in text
    assert "computed by bpdebug from" not in text
    assert "Its epoch 1 is epoch 3 of the original run" in text
    # blog updates once an epoch: the fork starts from the weights after update 2, with w5 edited
    assert "With the weights after update 2 of the original run, edited (w5=0.5), one column" in text
    s.switch_run()  # the original's transcript is the plain one
    original = tmp_path / "original.md"
    s.export("md", original, s.export_epochs())
    assert "computed by bpdebug from `" in original.read_text() and "what-if" not in original.read_text()


def test_a_fork_from_epoch_1_says_its_starting_weights_are_edited(tmp_path):
    s = Session(BLOG)
    s.fork("learning_rate=1")
    s.select("theta2[1,1]")
    s.fork("0.25")
    target = tmp_path / "fork.txt"
    s.export("txt", target, 1)
    text = target.read_text()
    assert s.run.edits == ("learning_rate=1.0", "w5=0.25")
    assert "what-if fork of blog.toml (learning_rate=1.0, w5=0.25): 1 epoch of" in " ".join(text.split())
    assert "With the starting weights of the original run, edited (w5=0.25)" in text
