"""Conditions to stop on: parsed once, found at the epoch and step a hand-written training loop says."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from _reference import of
from hypothesis import given, settings
from hypothesis import strategies as st

from bpdebug.core.conditions import KINDS, ConditionError, Per, first_stop, grammar, parse_condition
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BLOG = load(SCENARIOS / "blog.toml")
DEEP = load(SCENARIOS / "deep.toml")
ONLINE = load(SCENARIOS / "online.toml")
STEPS = 10  # a 2-2-2 pass: z2 a2 z3 a3 error delta3 delta2 grad2 grad1 update


# ------------------------------------------------------------------------------------------------ parsing

@pytest.mark.parametrize("text, kind, canonical", [
    ("nan", "nan", "nan"),
    (" loss-up ", "loss-up", "loss-up"),
    ("grad>1e3", "grad", "grad>1000"),
    ("grad[1] < 1e-6", "grad", "grad[1]<1e-06"),
    ("dead", "dead", "dead"),
    ("w5<0.3", "param", "w5<0.3"),
    ("theta2[1,1] > .5", "param", "w5>0.5"),
    ("b3~sign", "sign", "b3~sign"),
    ("theta1[2, 0] ~ sign", "sign", "b2~sign"),
    ("step=delta2", "step", "step=delta2"),
    ("step = z[3]", "step", "step=z3"),
    ("step=update", "step", "step=update"),
    ("step=grad1", "step", "step=gradient1"),
    ("expect", "expect", "expect"),
])
def test_each_form_parses_to_its_kind_and_canonical_text(text, kind, canonical):
    c = parse_condition(text, BLOG)
    assert (c.kind, c.text) == (kind, canonical)
    assert parse_condition(c.text, BLOG) == c  # the canonical text parses back to the same value


@pytest.mark.parametrize("text, says", [
    ("w99<1", "unknown parameter 'w99', expected w1..w8, b1..b4"),
    ("grad[3]<1", "no theta3, expected grad[l] with l from 1 to 2"),
    ("step=delta1", "delta has no layer 1 in this network, expected layers 2 to 3"),
    ("step=update2", "update has no layer 2 in this network, expected no layer"),
    ("step=bogus", "unknown kind of step 'bogus', expected one of z, a, error, delta, gradient, update"),
    ("w5<", f"not a condition, expected one of {grammar()}"),
    ("w5<1e999", "threshold 1e999 is not finite"),
    ("", "empty condition"),
])
def test_a_bad_condition_is_one_line_naming_it_and_what_was_expected(text, says):
    with pytest.raises(ConditionError) as err:
        parse_condition(text, BLOG)
    message = str(err.value)
    assert "\n" not in message and says in message
    assert message.startswith(text.strip() or "''")


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["w5<", "grad>", "grad[2]<", "b1>"]))
def test_canonical_text_keeps_the_threshold_exactly(x, form):
    c = parse_condition(f"{form}{x!r}", BLOG)
    assert c.threshold == x and parse_condition(c.text, BLOG) == c


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.name)
def test_registry_entries_say_everything_about_a_kind(kind):
    assert kind.grammar in grammar() and kind.sentence and isinstance(kind.per, Per)
    assert kind.examples, "an entry gives an example, for the hints and the tooltip"
    for text in kind.examples:  # each example is a condition of its own kind on a 2-2-2 net
        assert parse_condition(text, BLOG).kind == kind.name
    if not kind.stepped:  # a kind that reads no pass's numbers searches batch mode on the fast path
        c = parse_condition(kind.examples[0], BLOG)
        assert not c.needs_steps(Trace(BLOG))


def test_parameter_conditions_need_the_steps_only_online():
    c = parse_condition("w1<0", ONLINE)
    assert not c.needs_steps(Trace(BLOG)) and c.needs_steps(Trace(ONLINE))
    assert not parse_condition("loss-up", BLOG).needs_steps(Trace(BLOG))


# ------------------------------------------------------------------------------------ against a reference

def _first(epochs, predicate) -> int | None:
    return next((e.epoch for e in epochs if predicate(e)), None)


def test_w5_below_x_stops_after_the_update_the_reference_crosses_it():
    # w5 starts at 0.4 and falls; the first epoch whose update leaves it below 0.39
    expected = _first(of(BLOG, 2000), lambda e: e.weights_after[1][0, 1] < 0.39)
    stop = first_stop(Trace(BLOG, 2000), [parse_condition("w5<0.39", BLOG)])
    assert expected is not None and expected > 1
    assert (stop.epoch, stop.step) == (expected, (expected - 1) * STEPS + 9)  # the update step
    after = next(e for e in of(BLOG, expected) if e.epoch == expected).weights_after[1][0, 1]
    assert stop.reason == f"w5 < 0.39: w5 = {after:.7g} after epoch {expected} update"


@settings(max_examples=25, deadline=None)
@given(st.floats(0.33, 0.3999))
def test_w5_threshold_anywhere_matches_the_reference(x):
    expected = _first(of(BLOG, 1500), lambda e: e.weights_after[1][0, 1] < x)
    stop = first_stop(Trace(BLOG, 1500), [parse_condition(f"w5<{x!r}", BLOG)])
    assert (stop.epoch if stop else None) == expected


def test_w5_above_its_start_never_holds_and_the_search_says_none():
    assert first_stop(Trace(BLOG, 300), [parse_condition("w5>0.4", BLOG)]) is None


def test_grad_1_below_x_stops_at_the_gradient_step_of_theta1():
    norm = lambda e: np.linalg.norm(e.gradients[0])  # noqa: E731
    expected = _first(of(BLOG, 2000), lambda e: norm(e) < 1e-3)
    stop = first_stop(Trace(BLOG, 2000), [parse_condition("grad[1]<1e-3", BLOG)])
    assert expected is not None and expected > 1
    assert (stop.epoch, stop.step) == (expected, (expected - 1) * STEPS + 8)  # grad1 is the 9th step
    assert "grad[1]<0.001: ‖∂E/∂theta1‖ = " in stop.reason


def test_grad_above_x_without_a_layer_is_any_layer_and_the_first_step_wins():
    # at epoch 1 both gradient norms exceed 1e-4; theta2's step (position 7) comes before theta1's (8)
    stop = first_stop(Trace(BLOG, 5), [parse_condition("grad>1e-4", BLOG)])
    assert (stop.epoch, stop.step) == (1, 7)


def test_loss_up_on_deep_stops_at_the_epoch_the_reference_loss_rises():
    losses = [e.loss for e in of(DEEP, 200)]
    expected = next(i + 1 for i in range(1, len(losses)) if losses[i] > losses[i - 1])
    stop = first_stop(Trace(DEEP, 200), [parse_condition("loss-up", DEEP)])
    steps = 4 * 3 + 2
    assert (stop.epoch, stop.step) == (expected, (expected - 1) * steps + 6)  # the error step
    assert stop.reason == (f"loss-up: loss {losses[expected - 1]:.7g} at epoch {expected} > "
                           f"{losses[expected - 2]:.7g} at epoch {expected - 1}")
    # continuing from the next step finds the next rise
    later = next(i + 1 for i in range(expected, len(losses)) if losses[i] > losses[i - 1])
    again = first_stop(Trace(DEEP, 200), [parse_condition("loss-up", DEEP)], from_step=stop.step + 1)
    assert again.epoch == later


def test_dead_names_the_relu_units_whose_z_is_negative_for_every_example_at_epoch_1():
    # independently: tanh of the inputs, then theta2; a relu unit with z < 0 for all 8 examples is dead
    w1, w2 = DEEP.weights[0], DEEP.weights[1]
    a2 = np.tanh(DEEP.inputs @ w1[:, 1:].T + w1[:, 0])
    z3 = a2 @ w2[:, 1:].T + w2[:, 0]
    dead = [u + 1 for u in range(4) if (z3[:, u] < 0).all()]
    assert 4 in dead  # the unit the scenario was written to have dead
    stop = first_stop(Trace(DEEP), [parse_condition("dead", DEEP)])
    assert stop.epoch == 1 and stop.step == 8  # delta3: z2 a2 z3 a3 z4 a4 error delta4 [delta3]
    assert f"units {', '.join(map(str, dead))} of layer 3 (relu)" in stop.reason


def test_dead_stops_again_only_when_a_unit_becomes_dead_again():
    reference = list(of(DEEP, 400))
    def dead(e):
        return {(l, u + 1) for l in (2, 3) for u in range(4) if (e.delta[l][:, u] == 0).all()
                and (l == 3 and (e.z[3][:, u] <= 0).all())}
    expected = next((e.epoch for e, before in zip(reference[1:], reference, strict=False)
                     if dead(e) - dead(before)), None)
    assert expected is not None
    stop = first_stop(Trace(DEEP, 400), [parse_condition("dead", DEEP)], from_step=9)
    assert (stop.epoch if stop else None) == expected


def test_step_kind_stops_at_its_position_in_each_pass():
    trace = Trace(BLOG, 3)
    c = parse_condition("step=delta2", BLOG)
    assert first_stop(trace, [c]).step == 6
    assert first_stop(trace, [c], from_step=7).step == STEPS + 6
    assert first_stop(trace, [parse_condition("step=update", BLOG)], from_step=10).step == 19
    online = Trace(ONLINE, 2)  # a 2-1 network: z2 a2 error delta2 grad1 update, one pass per example
    stop = first_stop(online, [parse_condition("step=delta2", ONLINE)], from_step=7)
    assert (stop.step, stop.example) == (6 + 3, 2)


def test_expect_stops_at_the_first_printed_figure_that_fails():
    stop = first_stop(Trace(BLOG), [parse_condition("expect", BLOG)])
    assert stop.step == 0 and stop.reason.startswith("expect: z2 = [0.345, 0.975] at epoch 1, printed [1.02, 0.975]")
    # then a2 (printed [0.735, 0.726] after the wrong z2) at step 1, then z3 at step 2
    assert first_stop(Trace(BLOG), [parse_condition("expect", BLOG)], from_step=1).step == 1
    assert first_stop(Trace(BLOG), [parse_condition("expect", BLOG)], from_step=2).step == 2


def test_sign_change_of_a_parameter_is_found_where_the_reference_crosses_zero():
    s = dataclasses.replace(BLOG, weights=(BLOG.weights[0], np.array([[0.5, -0.001, 0.3], [0.2, 0.5, 0.1]])))
    expected = _first(of(s, 500), lambda e: e.weights_after[1][0, 1] > 0)
    stop = first_stop(Trace(s, 500), [parse_condition("w5~sign", s)])
    assert expected is not None and stop.epoch == expected


def test_of_two_conditions_the_earlier_step_wins():
    trace = Trace(BLOG, 2000)
    a, b = parse_condition("w5<0.39", BLOG), parse_condition("step=delta2", BLOG)
    assert first_stop(trace, [a, b]).condition == b
    assert first_stop(trace, [a, b], from_step=7).condition == b  # epoch 2's delta2 still comes first


def test_online_parameter_condition_stops_after_the_example_that_crosses():
    trace = Trace(ONLINE, 200)
    w1 = ONLINE.params.get("w1")
    start = ONLINE.param_value(w1)
    # walk the updates independently of the search: every pass's weights after
    found = None
    for e in range(1, 201):
        for p in trace.epoch(e).passes:
            if p.weights_after[0][w1.row, w1.col] > start + 0.5:
                found = (e, p.example)
                break
        if found:
            break
    stop = first_stop(Trace(ONLINE, 200), [parse_condition(f"w1>{start + 0.5!r}", ONLINE)])
    assert found is not None and (stop.epoch, stop.example) == found


def test_should_stop_interrupts_a_long_search_with_a_stop_saying_so():
    seen = []
    stop = first_stop(Trace(BLOG, 10**6), [parse_condition("w5<-100", BLOG)],
                      progress=lambda e, n: seen.append(e), should_stop=lambda: len(seen) >= 2)
    assert stop is not None and stop.interrupted and stop.condition is None
    assert stop.reason == f"interrupted after epoch {stop.epoch}" and seen[-1] == stop.epoch


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["w5<", "w1>", "b3<", "w8>"]), st.floats(-0.5, 0.8), st.integers(0, 400))
def test_fast_and_stepped_paths_stop_at_the_same_step(form, x, from_step):
    # a condition that never holds (a norm is never below 0) but reads the steps forces the stepped path
    c, never = parse_condition(f"{form}{x!r}", BLOG), parse_condition("grad<0", BLOG)
    fast = first_stop(Trace(BLOG, 300), [c], from_step=from_step)
    stepped = first_stop(Trace(BLOG, 300), [c, never], from_step=from_step)
    assert fast == stepped
