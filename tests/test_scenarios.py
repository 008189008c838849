"""The bundled scenarios: each loads, checks as intended, and teaches what its comments say."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from _bundled import NETWORKS

from bpdebug import cli
from bpdebug.core.engine import Trace, train
from bpdebug.core.scenario import load, loads

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
# exit status of `bpdebug check`: the blog records the post's printed figures, most of which do not hold
EXIT_STATUS = {"blog.toml": 1, "mazur.toml": 0, "mazur_frozen.toml": 0, "xor.toml": 0, "deep.toml": 0,
               "softmax.toml": 0, "online.toml": 0, "momentum.toml": 0, "adam.toml": 0, "iris.toml": 0}


def test_the_bundle_is_what_this_file_covers():
    assert sorted(p.name for p in NETWORKS) == sorted(EXIT_STATUS)
    top = SCENARIOS.parent.parent / "scenarios"
    if top.exists():  # the top-level scenarios/ is the same directory
        assert top.resolve() == SCENARIOS.resolve()


@pytest.mark.parametrize("name", sorted(EXIT_STATUS))
def test_bundled_scenario_loads_checks_and_teaches(name, capsys):
    path = SCENARIOS / name
    s = load(path)
    assert s.title and s.title != path.stem
    assert len(s.description) > 80
    text = path.read_text()
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 5  # comments that teach
    assert s.expectations
    assert cli.main(["check", str(path)]) == EXIT_STATUS[name]
    out = capsys.readouterr().out
    assert s.title in out
    results = Trace(s).check_all()
    assert len(results) == len(s.expectations)
    if EXIT_STATUS[name] == 0:
        assert all(r.holds for r in results), [r for r in results if not r.holds]
    else:
        assert not all(r.holds for r in results)


def final_outputs(s, epochs):
    """The outputs each example gets with the weights after ``epochs`` epochs, by the fast path."""
    from bpdebug.core.engine import Network, batch_loss

    weights = train(s, epochs).weights
    return batch_loss(Network(s), weights, s.inputs, s.targets)


def test_xor_learns_exclusive_or():
    s = load(SCENARIOS / "xor.toml")
    assert s.layers == (2, 2, 1) and s.activation_names == ("tanh", "sigmoid")
    assert s.epochs >= 1000
    np.testing.assert_array_equal(s.targets.ravel(), np.logical_xor(s.inputs[:, 0], s.inputs[:, 1]))
    loss, outputs = final_outputs(s, s.epochs)
    assert np.all(np.abs(outputs.ravel() - s.targets.ravel()) < 0.05)
    assert loss < 0.002
    start = Trace(s).epoch(1)
    assert np.all(np.abs(start.outputs - 0.5) < 0.1)  # it starts out undecided
    assert start.loss > 100 * loss


def test_deep_has_three_weight_layers_mixed_activations_and_a_dead_relu():
    s = load(SCENARIOS / "deep.toml")
    assert s.n_layers - 1 >= 3
    assert {"tanh", "relu", "sigmoid"} <= set(s.activation_names)
    bits = np.array(list(itertools.product([0, 1], repeat=3)))
    np.testing.assert_array_equal(s.inputs, bits)
    np.testing.assert_array_equal(s.targets.ravel(), bits.sum(axis=1) % 2)
    loss, outputs = final_outputs(s, s.epochs)
    assert np.all(np.abs(outputs.ravel() - s.targets.ravel()) < 0.01) and loss < 0.001
    # unit 4 of layer 3 is relu with z < 0 for every example at every epoch it is shown: it never learns
    relu_layer = s.activation_names.index("relu") + 2
    trace = Trace(s)
    for e in (1, 2, 100, s.epochs):
        p = trace.epoch(e).passes[0]
        assert np.all(p.numbers.z[relu_layer][:, 3] < 0)
        assert np.all(p.numbers.gradients[relu_layer - 2][3] == 0.0)
    final = trace.epoch(s.epochs).weights_after
    assert np.array_equal(final[relu_layer - 2][3], s.weights[relu_layer - 2][3])


def test_softmax_classifier_starts_undecided_and_separates_three_classes():
    s = load(SCENARIOS / "softmax.toml")
    assert s.activation_names[-1] == "softmax" and s.loss.name == "cross_entropy" and s.layers[-1] == 3
    np.testing.assert_array_equal(s.targets.sum(axis=1), 1.0)  # one-hot
    trace = Trace(s)
    first = trace.epoch(1).passes[0]
    assert first.loss == pytest.approx(np.log(3), abs=1e-15)
    assert np.all(first.numbers.gradients[0] == 0.0)  # nothing reaches the hidden layer while theta2 = 0
    assert np.any(trace.epoch(2).passes[0].numbers.gradients[0] != 0.0)
    np.testing.assert_allclose(first.numbers.delta[3], (first.outputs - s.targets) / s.n_examples, atol=1e-16)
    _, outputs = final_outputs(s, s.epochs)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0)
    assert np.array_equal(outputs.argmax(axis=1), s.targets.argmax(axis=1))
    assert np.all(outputs[s.targets == 1] > 0.95)


def test_online_each_example_starts_from_the_weights_the_previous_one_left():
    s = load(SCENARIOS / "online.toml")
    assert s.update == "online" and s.n_examples >= 3
    trace = Trace(s)
    passes = trace.epoch(1).passes
    assert [p.example for p in passes] == list(range(1, s.n_examples + 1))
    assert passes[0].weights_before is s.weights or np.array_equal(passes[0].weights_before[0], s.weights[0])
    for before, after in itertools.pairwise(passes):
        assert np.array_equal(after.weights_before[0], before.weights_after[0])
        assert not np.array_equal(after.weights_after[0], before.weights_after[0])
    np.testing.assert_allclose(passes[-1].weights_after[0], [[0.7672, 0.8124, 0.6672]], rtol=1e-12)
    assert np.array_equal(trace.epoch(2).weights_before[0], passes[-1].weights_after[0])
    # the same examples in batch mode: one update from the sum of the gradients at the zero weights
    batch = loads((SCENARIOS / "online.toml").read_text().replace('update = "online"', 'update = "batch"'))
    np.testing.assert_allclose(train(batch, 1).weights[0], [[1.0, 1.2, 0.9]], rtol=1e-12)
    # and it learns t = x1 + 2 x2
    np.testing.assert_allclose(train(s, s.epochs).weights[0], [[0.0, 1.0, 2.0]], atol=1e-3)


def test_momentum_starts_as_plain_descent_then_outruns_it():
    """momentum.toml is mazur_frozen.toml with momentum 0.9: v = g at the first update, so epoch 2 starts from the
    same weights; from then on momentum's loss is lower, and far lower by epoch 100. (Its biases are one per unit,
    the shared ones' values, all frozen: the same network while no bias learns.)"""
    plain, momentum = load(SCENARIOS / "mazur_frozen.toml"), load(SCENARIOS / "momentum.toml")
    assert (plain.layers, plain.learning_rate) == (momentum.layers, momentum.learning_rate)
    assert all(p.canonical in s.frozen for s in (plain, momentum) for p in s.params if p.is_bias)
    assert all(np.array_equal(a, b) for a, b in zip(plain.weights, momentum.weights, strict=True))
    assert momentum.plan.optimizer.name == "momentum" and plain.plan.optimizer.name == "sgd"
    a, b = train(plain, 100), train(momentum, 100)
    assert all(np.array_equal(x, y) for x, y in zip(train(plain, 1).weights, train(momentum, 1).weights,
                                                    strict=True))
    assert (b.losses[2:] < a.losses[2:]).all() and b.losses[-1] < a.losses[-1] / 20


def test_adams_first_step_moves_every_blog_weight_by_the_learning_rate():
    blog, adam = load(SCENARIOS / "blog.toml"), load(SCENARIOS / "adam.toml")
    g = Trace(blog).epoch(1).passes[0].numbers.gradients
    after = train(adam, 1).weights
    for w, a, gl in zip(blog.weights, after, g, strict=True):
        np.testing.assert_allclose(a - w, -adam.learning_rate * np.sign(gl), atol=1e-5)


def test_iris_learns_the_species_with_mini_batches():
    s = load(SCENARIOS / "iris.toml")
    assert s.layers == (4, 8, 3) and s.activation_names == ("tanh", "softmax") and s.n_examples == 150
    assert s.plan.mode == "mini-batch" and s.plan.batch_size == 10 and s.plan.shuffle
    trace = Trace(s)
    assert len(trace.epoch(1).passes) == 15
    loss, outputs = final_outputs(s, 200)
    assert loss < 0.1
    assert (outputs.argmax(axis=1) == s.targets.argmax(axis=1)).mean() > 0.95
