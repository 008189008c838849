"""The fast path (compute.train) is compute_pass, bit for bit, on every bundled scenario and its variants.

The plain batch case runs a loop of its own (compute._train_plain_batch: in-place updates, views taken once),
so it is checked here against a chain of compute_pass calls, epoch by epoch, with the checkpoints ``keep``
received compared after training ended (an in-place update must never reach a kept array)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from _bundled import NETWORKS

from bpdebug.core import optimizers
from bpdebug.core.compute import Network, compute_pass, start_state, train, unpack
from bpdebug.core.scenario import Scenario, load, loads
from bpdebug.core.training import Plan

SCENARIOS = list(NETWORKS)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def as_batch(s: Scenario) -> Scenario:
    """The scenario trained on the whole batch with its own optimizer (the plain loop when that is sgd)."""
    plan = dataclasses.replace(s.plan, batch_size=None, shuffle=False)
    return dataclasses.replace(s, plan=plan, update=plan.mode)


def plain(s: Scenario) -> Scenario:
    plan = Plan(optimizers.Hyperparameters(s.learning_rate), optimizers.get("sgd"), s.plan.batch_size,
                s.plan.shuffle, s.plan.seed)
    return dataclasses.replace(s, plan=plan, update=plan.mode)


def reference(s: Scenario, epochs: int) -> tuple[list[tuple], list[float]]:
    """The weights before each epoch 2 … epochs+1 and each epoch's loss, by compute_pass one batch at a time."""
    net = Network(s)
    weights, state = tuple(np.array(w) for w in s.weights), None
    state = start_state(net, weights)
    kept, losses = [], []
    with np.errstate(all="ignore"):
        for e in range(1, epochs + 1):
            numbers = compute_pass(net, weights, s.inputs, s.targets, state, s.plan.first_update(s.n_examples, e))
            losses.append(numbers.loss)
            weights, state = numbers.weights_after, numbers.state_after
            kept.append(weights)
    return kept, losses


def variants(path: Path) -> list[tuple[str, Scenario]]:
    s = load(path)
    out = [(path.stem, as_batch(s)), (f"{path.stem}, plain", as_batch(plain(s)))]
    if s.bias:  # the same network without bias units (the theta matrices lose their column 0)
        text = path.read_text(encoding="utf-8")
        if "bias = true" in text and "[weights]" in text:
            out.append((f"{path.stem}, no bias", dataclasses.replace(
                as_batch(plain(s)), bias=False, weights=tuple(np.array(w[:, 1:]) for w in s.weights))))
    return out


CASES = [case for path in SCENARIOS for case in variants(path)]


@pytest.mark.parametrize(("name", "s"), CASES, ids=[c[0] for c in CASES])
def test_train_is_compute_pass_bit_for_bit_and_keeps_what_it_was_given(name: str, s: Scenario) -> None:
    epochs = 25
    expected_weights, expected_losses = reference(s, epochs)
    got: dict[int, tuple] = {}
    result = train(s, epochs, keep=lambda e, packed: got.__setitem__(e, packed))
    assert same_bits(result.losses, np.array(expected_losses))
    for w, expected in zip(result.weights, expected_weights[-1], strict=True):
        assert same_bits(w, expected)
    n = len(s.weights)
    for e in range(2, epochs + 2):  # checked after training: no later update wrote into a kept array
        for w, expected in zip(got[e][:n], expected_weights[e - 2], strict=True):
            assert same_bits(w, expected), (name, e)
    # resumed from the middle, from copies of the kept weights: the same bits
    half = epochs // 2
    weights, state = unpack(Network(s), got[half + 1])
    rest = train(s, epochs - half, start=weights, first_epoch=half + 1, state=state)
    for w, expected in zip(rest.weights, expected_weights[-1], strict=True):
        assert same_bits(w, expected)


def test_train_leaves_the_weights_it_starts_from_alone() -> None:
    s = as_batch(plain(load(SCENARIOS[0])))
    start = tuple(np.array(w) for w in s.weights)
    copy = tuple(np.array(w) for w in start)
    train(s, 5, start=start)
    for a, b in zip(start, copy, strict=True):
        assert same_bits(a, b)
    for a, b in zip(s.weights, load(SCENARIOS[0]).weights, strict=True):
        assert same_bits(a, b)


def test_a_diverging_batch_run_agrees_bit_for_bit_nan_and_inf_included() -> None:
    text = (SCENARIOS[0].parent / "blog.toml").read_text(encoding="utf-8")
    text = text.replace("learning_rate = 0.1", "learning_rate = 1e10").replace('"sigmoid"', '"linear"')
    s = as_batch(plain(loads(text, "<diverging>")))
    expected_weights, expected_losses = reference(s, 30)
    result = train(s, 30)
    assert not result.finite
    assert same_bits(result.losses, np.array(expected_losses))
    for w, expected in zip(result.weights, expected_weights[-1], strict=True):
        assert same_bits(w, expected)


# ------------------------------------------------------------------------------ long runs: what is kept, when


def test_checkpoints_kept_through_wanted_are_those_every_epoch_would_leave() -> None:
    from bpdebug.core.compute import pack
    from bpdebug.core.storage import Checkpoints, weights_bytes

    s = as_batch(plain(load(SCENARIOS[0].parent / "blog.toml")))
    start = pack(s.weights, ())
    ceiling = 20 * weights_bytes(start)  # a small store: the grid thins several times within the run
    every, narrowed = Checkpoints(start, ceiling), Checkpoints(start, ceiling)
    total, first = 700, 1
    weights_every = weights_narrowed = s.weights
    for n in (1, 2, 4, 8, 16, 32, 64, 128, 256, 189):  # chunks, as a trace trains them
        r1 = train(s, n, start=weights_every, first_epoch=first, keep=every.put)
        r2 = train(s, n, start=weights_narrowed, first_epoch=first, keep=narrowed.put,
                   wanted=lambda a, b: narrowed.wanted(a, b, total))
        weights_every, weights_narrowed, first = r1.weights, r2.weights, first + n
    assert first == total + 1
    assert len(narrowed) == len(every)
    for e in range(1, total + 2):
        a, b = every.get(e), narrowed.get(e)
        assert (a is None) == (b is None), e
        if a is not None:
            assert all(same_bits(x, y) for x, y in zip(a, b, strict=True)), e


def test_a_search_skimming_chunks_stops_where_one_walking_every_epoch_does() -> None:
    from bpdebug.core.conditions import first_stop, parse_condition
    from bpdebug.core.engine import Trace

    text = (SCENARIOS[0].parent / "blog.toml").read_text(encoding="utf-8")
    text = text.replace("learning_rate = 0.1", "learning_rate = 30").replace('"sigmoid"', '"linear"')
    s = loads(text.replace("epochs = 1\n", "epochs = 5000\n"), "<diverging>")
    nan = parse_condition("nan", s)
    assert nan.entry.skim is not None
    never = parse_condition("w5>1e308", s)  # no skim: every epoch is walked
    assert never.entry.skim is None
    skimmed = first_stop(Trace(s, 5000), [nan], 0, 5000)
    walked = first_stop(Trace(s, 5000), [nan, never], 0, 5000)
    assert skimmed is not None and skimmed == walked
    assert first_stop(Trace(load(SCENARIOS[0].parent / "blog.toml"), 3000), [nan], 0, 3000) is None
