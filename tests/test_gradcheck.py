"""The numeric gradient check: central differences agree with the backward pass where the loss is smooth,
and say so plainly where it is not (a kink) or where a derivative is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from bpdebug.cli import main
from bpdebug.core.activations import Activation
from bpdebug.core.engine import Network, Trace
from bpdebug.core.gradcheck import EPS, STEP, Verdict, check_parameter, check_scenario, check_step
from bpdebug.core.scenario import load, loads

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BLOG = SCENARIOS / "blog.toml"

SOFTPLUS = """
[network]
layers = [2, 3, 1]
activation = ["softplus", "sigmoid"]
[activations.softplus]
expr = "log(1 + exp(x))"
[loss]
function = "sse"
[training]
learning_rate = 0.5
[data]
inputs = [[0.3, -0.7], [1.2, 0.4]]
targets = [[1.0], [0.0]]
[weights]
theta1 = [[0.1, -0.4, 0.25], [0.3, 0.8, -0.6], [-0.2, 0.05, 0.9]]
theta2 = [[0.2, 0.7, -0.5, 0.3]]
"""

# one relu unit whose net input is exactly 0 for the only example: relu is not differentiable there
KINK = """
[network]
layers = [1, 1, 1]
activation = ["relu", "linear"]
[loss]
function = "half_sse"
[training]
learning_rate = 0.1
[data]
inputs = [[1.0]]
targets = [[2.0]]
[weights]
theta1 = [[-0.5, 0.5]]
theta2 = [[0.0, 1.5]]
"""


def test_check_gradcheck_blog_exits_0_with_max_relative_error_below_1e_7(capsys):
    assert main(["check", "--gradcheck", str(BLOG)]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("max relative error ") and last.endswith("passes")
    assert float(last.split()[3]) < 1e-7
    assert check_scenario(load(BLOG)).max_relative_error < 1e-7
    assert out.count(" agrees") == 12  # every parameter listed


def test_blog_w5_numeric_matches_an_independent_central_difference():
    # the loss of the blog's network, written out by hand, differenced at w5 with the documented step
    s = load(BLOG)
    x, t = s.inputs[0], s.targets[0]

    def loss(w5: float) -> float:
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        h = sig(np.array([0.1 + 0.2 * x[0] + 0.3 * x[1], 0.4 + 0.5 * x[0] + 0.6 * x[1]]))
        o = sig(np.array([0.5 + w5 * h[0] + 0.3 * h[1], 0.2 + 0.5 * h[0] + 0.1 * h[1]]))
        return float(0.5 * ((t - o) ** 2).sum())

    h = (0.4 + STEP) - 0.4
    c = check_scenario(s).checks[s.params.shorts.index("w5")]
    # the same difference up to the rounding of a loss summed in another order (≈ 1e-17 / 1e-5)
    assert abs(c.numeric - (loss(0.4 + h) - loss(0.4 - h)) / (2 * h)) < 1e-10
    assert abs(c.analytic - 0.003648332) < 5e-10  # the README's figure
    assert c.verdict is Verdict.AGREES


def test_step_size_is_the_cube_root_of_epsilon_scaled_by_the_weight():
    assert abs(STEP - EPS ** (1 / 3)) < 1e-20
    s = load(BLOG)
    w = dataclasses.replace(s, weights=(s.weights[0] * 100, s.weights[1]))
    c = check_scenario(w).checks[s.params.shorts.index("w1")]
    assert abs(c.step - STEP * 20.0) < 1e-12  # w1 = 0.2 * 100


def test_a_custom_activation_with_its_sympy_derivative_passes(tmp_path, capsys):
    path = tmp_path / "softplus.toml"
    path.write_text(SOFTPLUS)
    report = check_scenario(load(path))
    assert report.passes and report.max_relative_error < 1e-6
    assert main(["check", "--gradcheck", str(path)]) == 0


def test_a_wrong_derivative_is_found_and_named(tmp_path):
    s = loads(SOFTPLUS)
    good = s.activations[0]
    wrong = Activation("softplus", good.function, lambda z, a: 1 / (1 + np.exp(z)), good.tree)  # sign slip
    bad = dataclasses.replace(s, activations=(wrong, s.activations[1]))
    report = check_scenario(bad)
    assert not report.passes
    failing = {c.param.short for c in report.checks if c.verdict is Verdict.DISAGREES}
    # every weight into or below the softplus layer is wrong; the output layer's are not
    assert failing == {f"w{i}" for i in range(1, 7)} | {"b1", "b2", "b3"}
    assert all(c.verdict is Verdict.AGREES for c in report.checks if c.param.layer == 2)


def test_a_non_differentiable_point_is_reported_as_a_kink_and_fails(tmp_path, capsys):
    path = tmp_path / "kink.toml"
    path.write_text(KINK)
    s = load(path)
    report = check_scenario(s)
    by = {c.param.short: c for c in report.checks}
    w1 = by["w1"]  # z = -0.5 + 0.5 * 1 = 0 exactly
    assert w1.analytic == 0.0  # relu'(0) = 0 in the engine
    assert w1.verdict is Verdict.KINK
    # one-sided slopes by hand: to the right z > 0, dE/dw1 = (o - t) * 1.5 * x = (0 - 2) * 1.5 = -3; left 0
    assert abs(w1.right - (-3.0)) < 1e-4 and w1.left == 0.0
    assert abs(w1.numeric - (-1.5)) < 1e-4  # the central difference is their mean
    assert main(["check", "--gradcheck", str(path)]) == 1
    out = capsys.readouterr().out
    assert "kink" in out and "FAILS for" in out and "w1" in out.splitlines()[-1]


def test_gradients_too_small_to_resolve_are_compared_absolutely():
    deep = load(SCENARIOS / "deep.toml")
    report = check_scenario(deep)
    assert report.passes
    dead = next(c for c in report.checks if c.param.canonical == "theta2[4,1]")  # into the dead relu unit
    assert dead.analytic == 0.0 and dead.numeric == 0.0 and dead.verdict is Verdict.BELOW_RESOLUTION


def test_non_finite_loss_is_a_verdict_not_a_crash():
    s = load(BLOG)
    huge = dataclasses.replace(s, weights=(s.weights[0], s.weights[1] * np.inf))
    net = Network(huge)
    c = check_parameter(net, huge.weights, huge.inputs, huge.targets, huge.params.get("w5"))
    assert c.verdict is Verdict.NOT_FINITE and not c.verdict.passes
    assert not np.isfinite(c.numeric)


def test_check_step_uses_the_steps_weights_and_examples():
    s = load(SCENARIOS / "online.toml")
    trace = Trace(s, 3)
    step = trace.step(trace.first_step_of(2, 3, "update"))  # epoch 2, example 3
    w1 = s.params.get("w1")
    c = check_step(step, w1)
    assert c.value == step.param(w1) and c.analytic == step.gradient(w1)
    assert c.verdict.passes
