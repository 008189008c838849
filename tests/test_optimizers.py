"""The optimizer registry against an independent implementation and against figures computed by hand.

The reference below is written the way torch.optim's single-tensor code computes (momentum buffer cloned
from the first gradient, Adam's ``step_size = lr / bias_correction1`` and ``denom = sqrt(v) / sqrt(bc2) + eps``,
one element at a time with Python floats), so it shares no code and little arithmetic order with the engine.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpdebug.core import optimizers as opt
from bpdebug.core.optimizers import Hyperparameters

# ------------------------------------------------------------------------------- independent reference


def reference_run(name: str, h: Hyperparameters, p0: np.ndarray, grads: list[np.ndarray],
                  frozen: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every step, element by element with Python floats, in torch.optim's order of operations."""
    p = p0.astype(float).copy()
    buf = np.full(p.shape, np.nan)  # momentum buffer: none until the first step
    exp_avg = np.zeros(p.shape)
    exp_avg_sq = np.zeros(p.shape)
    square_avg = np.zeros(p.shape)
    for step, grad in enumerate(grads, start=1):
        for idx in np.ndindex(p.shape):
            if frozen[idx]:
                continue
            g = float(grad[idx])
            if h.weight_decay != 0:
                g = g + h.weight_decay * p[idx]
            if name == "sgd":
                p[idx] = p[idx] - h.learning_rate * g
            elif name in ("momentum", "nesterov"):
                b = g if step == 1 else buf[idx] * h.momentum + g
                buf[idx] = b
                d = g + h.momentum * b if name == "nesterov" else b
                p[idx] = p[idx] - h.learning_rate * d
            elif name == "adam":
                exp_avg[idx] = exp_avg[idx] * h.beta1 + g * (1 - h.beta1)
                exp_avg_sq[idx] = exp_avg_sq[idx] * h.beta2 + g * g * (1 - h.beta2)
                bc1 = 1 - h.beta1 ** step
                bc2 = 1 - h.beta2 ** step
                denom = math.sqrt(exp_avg_sq[idx]) / math.sqrt(bc2) + h.epsilon
                p[idx] = p[idx] - (h.learning_rate / bc1) * exp_avg[idx] / denom
            elif name == "rmsprop":
                square_avg[idx] = square_avg[idx] * h.alpha + g * g * (1 - h.alpha)
                p[idx] = p[idx] - h.learning_rate * g / (math.sqrt(square_avg[idx]) + h.epsilon)
    buf = np.where(np.isnan(buf), 0.0, buf)
    state = {"momentum": {"v": buf}, "nesterov": {"v": buf}, "adam": {"m": exp_avg, "v": exp_avg_sq},
             "rmsprop": {"v": square_avg}, "sgd": {}}[name]
    return p, state


def registry_run(name: str, h: Hyperparameters, p0: np.ndarray, grads: list[np.ndarray],
                 frozen: np.ndarray) -> opt.Update:
    o = opt.get(name)
    weights: tuple[np.ndarray, ...] = (p0.copy(),)
    state = opt.zero_state(o, weights)
    masks = (~frozen,) if frozen.any() else None
    update = None
    for t, g in enumerate(grads, start=1):
        update = opt.apply(o, h, weights, (g,), state, t, masks)
        weights, state = update.weights, update.state
    assert update is not None
    return update


# ------------------------------------------------------------------------------------------- strategies

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=4)


@st.composite
def runs(draw, min_steps=20, max_steps=40):
    shape = draw(shapes)
    n_steps = draw(st.integers(min_steps, max_steps))
    p0 = draw(hnp.arrays(float, shape, elements=finite))
    grads = [draw(hnp.arrays(float, shape, elements=finite)) for _ in range(n_steps)]
    frozen = draw(hnp.arrays(bool, shape))
    h = Hyperparameters(
        learning_rate=draw(st.floats(1e-4, 0.5)),
        momentum=draw(st.floats(0.0, 0.99)),
        beta1=draw(st.floats(0.0, 0.99)),
        beta2=draw(st.floats(0.5, 0.9999)),
        epsilon=draw(st.sampled_from([1e-8, 1e-6, 1e-3])),
        alpha=draw(st.floats(0.0, 0.999)),
        weight_decay=draw(st.sampled_from([0.0, 0.0, 1e-4, 0.01, 0.1])),
    )
    return h, p0, grads, frozen


# ------------------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("name", sorted(opt.OPTIMIZERS))
@settings(max_examples=25, deadline=None)
@given(run=runs())
def test_every_optimizer_agrees_with_an_independent_implementation(name, run):
    h, p0, grads, frozen = run
    update = registry_run(name, h, p0, grads, frozen)
    expected_p, expected_state = reference_run(name, h, p0, grads, frozen)
    scale = 1.0 + np.abs(expected_p)
    np.testing.assert_allclose(update.weights[0], expected_p, rtol=1e-12, atol=1e-12 * scale.max())
    o = opt.get(name)
    assert set(o.state_names) == set(expected_state)
    for k, state_name in enumerate(o.state_names):
        want = expected_state[state_name]
        np.testing.assert_allclose(update.state[0][k], want, rtol=1e-12, atol=1e-12 * (1 + np.abs(want).max()))
    # a frozen parameter never changes, whatever the optimizer or the weight decay, and keeps a zero state
    assert np.array_equal(update.weights[0][frozen], p0[frozen])
    for arr in update.state[0]:
        assert not arr[frozen].any()


def test_adam_first_step_matches_the_published_figures():
    """g = 4, η = 0.1, β₁ = 0.9, β₂ = 0.999: m = 0.1·4 = 0.4, v = 0.001·16 = 0.016, m̂ = 0.4/0.1 = 4,
    v̂ = 0.016/0.001 = 16, step = −0.1·4/(√16 + 1e-8) = −0.1 (to 1e-9)."""
    o = opt.get("adam")
    h = Hyperparameters(learning_rate=0.1)
    w = (np.array([[3.0]]),)
    u = opt.apply(o, h, w, (np.array([[4.0]]),), opt.zero_state(o, w), 1)
    m, v = u.state[0]
    m_hat, v_hat = u.shown[0]
    assert m[0, 0] == pytest.approx(0.4, abs=1e-15)
    assert v[0, 0] == pytest.approx(0.016, abs=1e-15)
    assert m_hat[0, 0] == pytest.approx(4.0, abs=1e-13)
    assert v_hat[0, 0] == pytest.approx(16.0, abs=1e-12)
    assert u.weights[0][0, 0] - 3.0 == pytest.approx(-0.1, abs=1e-9)


@given(g=st.floats(-1e6, 1e6).filter(lambda x: abs(x) > 1e-3), lr=st.floats(1e-4, 1.0))
def test_adams_first_step_has_the_size_of_the_learning_rate(g, lr):
    """Published property (Kingma & Ba 2015, section 2.1): the first step is ±η whatever the gradient's size."""
    o = opt.get("adam")
    w = (np.zeros((1, 1)),)
    u = opt.apply(o, Hyperparameters(lr), w, (np.full((1, 1), g),), opt.zero_state(o, w), 1)
    assert u.weights[0][0, 0] == pytest.approx(-math.copysign(lr, g), rel=1e-5)


@pytest.mark.parametrize(("name", "lr", "expected"), [
    # momentum, μ = 0.9, η = 0.1, p = 1, g = 2 twice:
    #   v = 2, p = 1 − 0.1·2 = 0.8;  v = 0.9·2 + 2 = 3.8, p = 0.8 − 0.1·3.8 = 0.42
    ("momentum", 0.1, [(0.8, {"v": 2.0}), (0.42, {"v": 3.8})]),
    # Nesterov, same numbers: v = 2, p = 1 − 0.1·(2 + 0.9·2) = 0.62;
    #   v = 3.8, p = 0.62 − 0.1·(2 + 0.9·3.8) = 0.62 − 0.542 = 0.078
    ("nesterov", 0.1, [(0.62, {"v": 2.0}), (0.078, {"v": 3.8})]),
    # RMSProp, α = 0.99, η = 0.01, p = 1, g = 2 twice:
    #   v = 0.01·4 = 0.04, p = 1 − 0.01·2/0.2 = 0.9;
    #   v = 0.99·0.04 + 0.04 = 0.0796, √v = 0.28213472, p = 0.9 − 0.02/0.28213472 = 0.9 − 0.07088812 = 0.82911188
    ("rmsprop", 0.01, [(0.9, {"v": 0.04}), (0.82911188, {"v": 0.0796})]),
    # gradient descent, η = 0.1: p = 1 − 0.2 = 0.8, then 0.6
    ("sgd", 0.1, [(0.8, {}), (0.6, {})]),
])
def test_two_steps_computed_by_hand(name, lr, expected):
    o = opt.get(name)
    weights: tuple[np.ndarray, ...] = (np.array([[1.0]]),)
    state = opt.zero_state(o, weights)
    for t, (p_after, state_after) in enumerate(expected, start=1):
        u = opt.apply(o, Hyperparameters(lr), weights, (np.array([[2.0]]),), state, t)
        weights, state = u.weights, u.state
        assert weights[0][0, 0] == pytest.approx(p_after, abs=5e-8)
        for k, state_name in enumerate(o.state_names):
            assert state[0][k][0, 0] == pytest.approx(state_after[state_name], abs=1e-12)


def test_weight_decay_is_added_to_the_gradient_before_the_step():
    """λ = 0.1, p = 1, g = 0.5, η = 0.1: g ← 0.5 + 0.1·1 = 0.6, p ← 1 − 0.1·0.6 = 0.94."""
    o = opt.get("sgd")
    w = (np.array([[1.0]]),)
    u = opt.apply(o, Hyperparameters(0.1, weight_decay=0.1), w, (np.array([[0.5]]),), opt.zero_state(o, w), 1)
    assert u.gradients[0][0, 0] == pytest.approx(0.6, abs=1e-15)
    assert u.weights[0][0, 0] == pytest.approx(0.94, abs=1e-15)


def test_a_frozen_parameter_keeps_its_value_even_when_its_gradient_is_not_finite():
    o = opt.get("adam")
    w = (np.array([[1.0, 2.0]]),)
    with np.errstate(invalid="ignore"):
        u = opt.apply(o, Hyperparameters(0.1, weight_decay=0.5), w, (np.array([[np.nan, np.inf]]),),
                      opt.zero_state(o, w), 1, (np.array([[False, False]]),))
    assert np.array_equal(u.weights[0], w[0])
    assert not any(a.any() for a in u.state[0])


@functools.cache
def _lambdified(expr, symbols):
    return sp.lambdify(symbols, expr, modules="math")


@pytest.mark.parametrize("name", sorted(opt.OPTIMIZERS))
@pytest.mark.parametrize("decay", [0.0, 0.05])
@settings(max_examples=15, deadline=None)
@given(run=runs(min_steps=4, max_steps=4))
def test_the_displayed_rule_computes_what_the_step_computed(name, decay, run):
    """The SymPy rule, evaluated line by line, gives the engine's numbers; ``worked`` shows those numbers."""
    h, p0, grads, _ = run
    h = Hyperparameters(h.learning_rate, h.momentum, h.beta1, h.beta2, h.epsilon, h.alpha, decay)
    o = opt.get(name)
    weights: tuple[np.ndarray, ...] = (p0,)
    state = opt.zero_state(o, weights)
    for t, g in enumerate(grads, start=1):
        u = opt.apply(o, h, weights, (g,), state, t)
        before, after = opt.values_at(o, u, weights, (g,), state, 1, 0, 0)
        lines = opt.worked(o, h, t, before, after)
        assert [line.target for line in lines] == [target for target, _ in opt.rule(o, bool(decay))]
        for line in lines:
            recomputed = _lambdified(line.expr, tuple(line.inputs))(*line.inputs.values())
            assert recomputed == pytest.approx(line.value, rel=1e-12, abs=1e-12)
            # the substituted form holds exactly the numbers the line read
            assert not line.substituted().free_symbols
        assert lines[-1].value == u.weights[0][0, 0]
        weights, state = u.weights, u.state


def test_every_entry_is_complete_and_its_source_defines_its_step():
    for name, o in opt.OPTIMIZERS.items():
        assert o.name == name
        assert o.source.startswith(f"def {o.step.__name__}(p, g, state, t, h):")
        namespace: dict = {"np": np}
        exec(o.source, namespace)  # the pasted source alone defines the same step
        h = Hyperparameters(0.05, weight_decay=0.0)
        p, g = np.array([[0.3, -1.2]]), np.array([[0.7, 2.5]])
        state = tuple(np.array([[0.1, 0.2]]) for _ in o.state_names)
        pasted = namespace[o.step.__name__](p, g, state, 3, h)
        mine = o.step(p, g, state, 3, h)
        assert np.array_equal(pasted[0], mine[0])
        targets = {target.name for target, _ in o.rule}
        assert targets == {"p", *o.state_names, *o.shown_names}
        for key in o.hyperparameters:
            assert opt.HYPERPARAMETERS[key].symbol in set().union(*(e.free_symbols for _, e in o.rule))
        assert o.uses_step_count == (name == "adam")


@pytest.mark.parametrize(("key", "good", "bad"), [
    ("learning_rate", [1e-9, 3.0], [0.0, -1.0, math.inf]),
    ("momentum", [0.0, 0.9, 1.0], [-0.1, 1.5, math.nan]),
    ("beta1", [0.0, 0.9], [1.0, -0.1]),
    ("beta2", [0.999], [1.0]),
    ("epsilon", [1e-8], [0.0, -1e-8]),
    ("alpha", [0.0, 0.99, 1.0], [1.01]),
    ("weight_decay", [0.0, 1e-4], [-1e-4]),
])
def test_hyperparameter_ranges(key, good, bad):
    hp = opt.HYPERPARAMETERS[key]
    assert all(hp.accepts(v) for v in good)
    assert not any(hp.accepts(v) for v in bad)
    assert hp.expected.startswith("a number")
    assert hp.default is None if key == "learning_rate" else hp.accepts(hp.default)
