"""The optimizer registry against independent implementations and figures computed by hand.

The references below are transcriptions of torch.optim's single-tensor algorithms (momentum buffer cloned from the
first gradient; Adam's ``step_size = lr / bias_correction1`` and ``denom = sqrt(v) / sqrt(bc2) + eps``; Adagrad's
``clr = lr / (1 + (step - 1)·lr_decay)``, ``state_sum += g²``, ``p -= clr·g/(sqrt(state_sum) + eps)``), one element
at a time with Python floats, so they share no code and little arithmetic order with the engine. Every entry is
tested: the registry's and a formula optimizer a scenario defines (Adagrad, ``[optimizers.adagrad]``).
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from _reference import reference_epochs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpdebug.core import expr as ex
from bpdebug.core import optimizers as opt
from bpdebug.core.engine import train
from bpdebug.core.optimizers import Hyperparameters, Optimizer
from bpdebug.core.scenario import load, loads
from bpdebug.text.update_rule import rule_text, symbol_name, sympy_rule, worked

ADAGRAD_RULE = ("r = r + g**2", "p = p - learning_rate*g/(sqrt(r) + epsilon)")  # SCENARIO-FORMAT version 3's
ADAGRAD = opt.from_formulas("adagrad", {"epsilon": 1e-10}, ["r"], list(ADAGRAD_RULE))
ENTRIES = [*opt.OPTIMIZERS.values(), ADAGRAD]
IDS = [f"{o.name}{'-formula' if o.is_formula else ''}" for o in ENTRIES]


# ------------------------------------------------------------------------------- independent references

def _sgd(p, g, s, step, h):
    return p - h.learning_rate * g


def _momentum(p, g, s, step, h, nesterov=False):
    b = g if step == 1 else s["v"] * h.momentum + g
    s["v"] = b
    return p - h.learning_rate * ((g + h.momentum * b) if nesterov else b)


def _adam(p, g, s, step, h):
    s["m"] = s["m"] * h.beta1 + g * (1 - h.beta1)
    s["v"] = s["v"] * h.beta2 + g * g * (1 - h.beta2)
    bc1, bc2 = 1 - h.beta1 ** step, 1 - h.beta2 ** step
    denom = math.sqrt(s["v"]) / math.sqrt(bc2) + h.epsilon
    return p - (h.learning_rate / bc1) * s["m"] / denom


def _rmsprop(p, g, s, step, h):
    s["v"] = s["v"] * h.alpha + g * g * (1 - h.alpha)
    return p - h.learning_rate * g / (math.sqrt(s["v"]) + h.epsilon)


def _adagrad(p, g, s, step, h, lr_decay=0.0):
    clr = h.learning_rate / (1 + (step - 1) * lr_decay)
    s["r"] = s["r"] + g * g  # state_sum.addcmul_(grad, grad, value=1), initial_accumulator_value 0
    std = math.sqrt(s["r"]) + h.epsilon
    return p - clr * g / std  # param.addcdiv_(grad, std, value=-clr)


# torch.optim's algorithm for each optimizer an entry is named after (a new entry's test is its transcription here)
TORCH = {"sgd": _sgd, "momentum": _momentum, "nesterov": functools.partial(_momentum, nesterov=True),
         "adam": _adam, "rmsprop": _rmsprop, "adagrad": _adagrad}


def reference_run(o: Optimizer, h: Hyperparameters, p0: np.ndarray, grads: list[np.ndarray],
                  frozen: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every step, element by element with Python floats, weight decay as torch adds it (g + λ·p)."""
    algorithm = TORCH[o.name]
    p = p0.astype(float).copy()
    states = {idx: dict.fromkeys(o.state_names, 0.0) for idx in np.ndindex(p.shape)}
    for step, grad in enumerate(grads, start=1):
        for idx in np.ndindex(p.shape):
            if frozen[idx]:
                continue
            g = float(grad[idx])
            if h.weight_decay != 0:
                g = g + h.weight_decay * p[idx]
            p[idx] = algorithm(float(p[idx]), g, states[idx], step, h)
    state = {n: np.array([[states[idx][n] for idx in np.ndindex(p.shape)]]).reshape(p.shape)
             for n in o.state_names}
    return p, state


def registry_run(o: Optimizer, h: Hyperparameters, p0: np.ndarray, grads: list[np.ndarray],
                 frozen: np.ndarray) -> opt.Update:
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
# values inside every entry's range (a formula optimizer's hyperparameters accept any finite number)
VALUES = {"momentum": st.floats(0.01, 0.99), "beta1": st.floats(0.0, 0.99), "beta2": st.floats(0.5, 0.9999),
          "epsilon": st.sampled_from([1e-10, 1e-8, 1e-6, 1e-3]), "alpha": st.floats(0.0, 0.999)}


@st.composite
def runs(draw, o: Optimizer, min_steps=20, max_steps=40, decay=None):
    shape = draw(shapes)
    n_steps = draw(st.integers(min_steps, max_steps))
    p0 = draw(hnp.arrays(float, shape, elements=finite))
    grads = [draw(hnp.arrays(float, shape, elements=finite)) for _ in range(n_steps)]
    frozen = draw(hnp.arrays(bool, shape))
    own = {k: draw(VALUES[k]) for k in o.hyperparameters}
    wd = draw(st.sampled_from([0.0, 0.0, 1e-4, 0.01, 0.1])) if decay is None else decay
    return o.hyperparameters_with(draw(st.floats(1e-4, 0.5)), weight_decay=wd, **own), p0, grads, frozen


# ------------------------------------------------------------------------------------------------ tests

@pytest.mark.parametrize("o", ENTRIES, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_optimizer_agrees_with_torchs_algorithm(o, data):
    h, p0, grads, frozen = data.draw(runs(o))
    update = registry_run(o, h, p0, grads, frozen)
    expected_p, expected_state = reference_run(o, h, p0, grads, frozen)
    scale = 1.0 + np.abs(expected_p)
    np.testing.assert_allclose(update.weights[0], expected_p, rtol=1e-12, atol=1e-12 * scale.max())
    assert set(o.state_names) == set(expected_state)
    for k, state_name in enumerate(o.state_names):
        want = expected_state[state_name]
        np.testing.assert_allclose(update.state[0][k], want, rtol=1e-12, atol=1e-12 * (1 + np.abs(want).max()))
    # a frozen parameter never changes, whatever the optimizer or the weight decay, and keeps a zero state
    assert np.array_equal(update.weights[0][frozen], p0[frozen])
    for arr in update.state[0]:
        assert not arr[frozen].any()


@pytest.mark.parametrize("o", list(opt.OPTIMIZERS.values()), ids=list(opt.OPTIMIZERS))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_built_in_step_computes_its_rule_bit_for_bit(o, data):
    """The hand-written step (what the py export pastes) and the NumPy code generated from the entry's rule (what
    a formula optimizer runs) give the same bits: the rule is the step's definition, not a description of it."""
    code = opt.step_code(o.name, o.hyperparameters, o.state_names, o.assignments)
    namespace: dict = {"np": np}
    exec(code, namespace)
    generated = namespace[f"{o.name}_step"]
    h, p0, grads, _ = data.draw(runs(o, 3, 6))
    state = tuple(np.zeros_like(p0) for _ in o.state_names)
    p = p0
    for t, g in enumerate(grads, start=1):
        mine, theirs = o.step(p, g, state, t, h), generated(p, g, state, t, h)
        assert mine[0].tobytes() == theirs[0].tobytes()
        assert all(a.tobytes() == b.tobytes() for a, b in zip(mine[1] + mine[2], theirs[1] + theirs[2], strict=True))
        p, state = mine[0], mine[1]


def test_adam_first_step_matches_the_published_figures():
    """g = 4, η = 0.1, β₁ = 0.9, β₂ = 0.999: m = 0.1·4 = 0.4, v = 0.001·16 = 0.016, m̂ = 0.4/0.1 = 4,
    v̂ = 0.016/0.001 = 16, step = −0.1·4/(√16 + 1e-8) = −0.1 (to 1e-9)."""
    o = opt.get("adam")
    w = (np.array([[3.0]]),)
    u = opt.apply(o, o.hyperparameters_with(0.1), w, (np.array([[4.0]]),), opt.zero_state(o, w), 1)
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
    u = opt.apply(o, o.hyperparameters_with(lr), w, (np.full((1, 1), g),), opt.zero_state(o, w), 1)
    assert u.weights[0][0, 0] == pytest.approx(-math.copysign(lr, g), rel=1e-5)


@pytest.mark.parametrize(("o", "lr", "expected"), [
    # momentum, μ = 0.9, η = 0.1, p = 1, g = 2 twice:
    #   v = 2, p = 1 − 0.1·2 = 0.8;  v = 0.9·2 + 2 = 3.8, p = 0.8 − 0.1·3.8 = 0.42
    (opt.get("momentum"), 0.1, [(0.8, {"v": 2.0}), (0.42, {"v": 3.8})]),
    # Nesterov, same numbers: v = 2, p = 1 − 0.1·(2 + 0.9·2) = 0.62;
    #   v = 3.8, p = 0.62 − 0.1·(2 + 0.9·3.8) = 0.62 − 0.542 = 0.078
    (opt.get("nesterov"), 0.1, [(0.62, {"v": 2.0}), (0.078, {"v": 3.8})]),
    # RMSProp, α = 0.99, η = 0.01, p = 1, g = 2 twice:
    #   v = 0.01·4 = 0.04, p = 1 − 0.01·2/0.2 = 0.9;
    #   v = 0.99·0.04 + 0.04 = 0.0796, √v = 0.28213472, p = 0.9 − 0.02/0.28213472 = 0.9 − 0.07088812 = 0.82911188
    (opt.get("rmsprop"), 0.01, [(0.9, {"v": 0.04}), (0.82911188, {"v": 0.0796})]),
    # gradient descent, η = 0.1: p = 1 − 0.2 = 0.8, then 0.6
    (opt.get("sgd"), 0.1, [(0.8, {}), (0.6, {})]),
    # Adagrad (the formula), η = 0.1, ε = 1e-10: r = 4, p = 1 − 0.1·2/2 = 0.9; r = 8, p = 0.9 − 0.2/√8 = 0.82928932
    (ADAGRAD, 0.1, [(0.9, {"r": 4.0}), (0.82928932, {"r": 8.0})]),
], ids=["momentum", "nesterov", "rmsprop", "sgd", "adagrad-formula"])
def test_two_steps_computed_by_hand(o, lr, expected):
    weights: tuple[np.ndarray, ...] = (np.array([[1.0]]),)
    state = opt.zero_state(o, weights)
    for t, (p_after, state_after) in enumerate(expected, start=1):
        u = opt.apply(o, o.hyperparameters_with(lr), weights, (np.array([[2.0]]),), state, t)
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


@pytest.mark.parametrize("o", ENTRIES, ids=IDS)
def test_a_frozen_parameter_keeps_its_value_even_when_its_gradient_is_not_finite(o):
    w = (np.array([[1.0, 2.0]]),)
    with np.errstate(all="ignore"):
        u = opt.apply(o, o.hyperparameters_with(0.1, weight_decay=0.5), w, (np.array([[np.nan, np.inf]]),),
                      opt.zero_state(o, w), 1, (np.array([[False, False]]),))
    assert np.array_equal(u.weights[0], w[0])
    assert not any(a.any() for a in u.state[0])


@functools.cache
def _lambdified(expr, symbols):
    return sp.lambdify(symbols, expr, modules="math")


@pytest.mark.parametrize("o", ENTRIES, ids=IDS)
@pytest.mark.parametrize("decay", [0.0, 0.05])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_displayed_rule_computes_what_the_step_computed(o, decay, data):
    """The SymPy rule, evaluated line by line, gives the engine's numbers; ``worked`` shows those numbers."""
    h, p0, grads, _ = data.draw(runs(o, 4, 4, decay))
    weights: tuple[np.ndarray, ...] = (p0,)
    state = opt.zero_state(o, weights)
    for t, g in enumerate(grads, start=1):
        u = opt.apply(o, h, weights, (g,), state, t)
        before, after = opt.values_at(o, u, weights, (g,), state, 1, 0, 0)
        lines = worked(o, h, t, before, after)
        assert [line.target for line in lines] == [target for target, _ in sympy_rule(o, bool(decay))]
        for line in lines:
            recomputed = _lambdified(line.expr, tuple(line.inputs))(*line.inputs.values())
            assert recomputed == pytest.approx(line.value, rel=1e-12, abs=1e-12)
            assert not line.substituted().free_symbols  # the substituted form holds exactly the numbers read
        assert lines[-1].value == u.weights[0][0, 0]
        weights, state = u.weights, u.state


@pytest.mark.parametrize("o", ENTRIES, ids=IDS)
def test_every_entry_is_complete_and_its_source_defines_its_step(o):
    assert o is ADAGRAD or opt.OPTIMIZERS[o.name] is o
    assert o.source.startswith(f"def {o.step.__name__}(p, g, state, t, h):")
    namespace: dict = {"np": np}
    exec(o.source, namespace)  # the pasted source alone defines the same step
    h = o.hyperparameters_with(0.05)
    p, g = np.array([[0.3, -1.2]]), np.array([[0.7, 2.5]])
    state = tuple(np.array([[0.1, 0.2]]) for _ in o.state_names)
    pasted = namespace[o.step.__name__](p, g, state, 3, h)
    mine = o.step(p, g, state, 3, h)
    assert np.array_equal(pasted[0], mine[0])
    targets = [target for target, _ in o.assignments]
    assert set(targets) == {"p", *o.state_names, *o.shown_names} and targets[-1] == "p"
    # shown_names is read off the rule's text (no parsing at load): the parsed targets, in order
    assert tuple(t for t in targets if t != "p" and t not in o.state_names) == o.shown_names
    read = set().union(*(ex.names(tree) for _, tree in o.assignments))
    assert set(o.hyperparameters) <= read and "learning_rate" in read
    assert o.uses_step_count == ("t" in read)
    for hp in o.hyper:  # its own defaults, inside its own ranges
        assert hp.default is not None and hp.accepts(hp.default) and hp.expected.startswith("a ")


def test_each_optimizer_has_its_own_defaults_adagrad_10_to_the_minus_10_adam_10_to_the_minus_8():
    assert ADAGRAD.hyperparameters_with(0.1).epsilon == 1e-10
    assert opt.get("adam").hyperparameters_with(0.1).epsilon == 1e-8
    with pytest.raises(AttributeError):
        opt.get("sgd").hyperparameters_with(0.1).epsilon  # noqa: B018 - sgd reads no epsilon


@pytest.mark.parametrize(("name", "key", "good", "bad"), [
    ("sgd", "learning_rate", [1e-9, 3.0], [0.0, -1.0, math.inf]),
    ("momentum", "momentum", [0.0, 0.9, 1.0], [-0.1, 1.5, math.nan]),
    ("nesterov", "momentum", [0.1, 1.0], [0.0]),  # torch.optim refuses Nesterov without momentum
    ("adam", "beta1", [0.0, 0.9], [1.0, -0.1]),
    ("adam", "beta2", [0.999], [1.0]),
    ("adam", "epsilon", [1e-8], [0.0, -1e-8]),
    ("rmsprop", "alpha", [0.0, 0.99, 1.0], [1.01]),
    ("sgd", "weight_decay", [0.0, 1e-4], [-1e-4]),
])
def test_the_contracts_hyperparameter_ranges(name, key, good, bad):
    hp = opt.get(name).hyperparameter(key)
    assert all(hp.accepts(v) for v in good)
    assert not any(hp.accepts(v) for v in bad)


# --------------------------------------------------------- the formula adagrad on the blog's network

BLOG_ADAGRAD = """
title = "Adagrad on the blog's network"
[network]
layers = [2, 2, 2]
activation = "sigmoid"
[loss]
function = "half_sse"
[optimizers.adagrad]
hyper = { epsilon = 1e-10 }
state = ["r"]
rule = ["r = r + g**2", "p = p - learning_rate*g/(sqrt(r) + epsilon)"]
[training]
learning_rate = 0.5
epochs = 6
optimizer = "adagrad"
weight_decay = 0.01
[data]
inputs = [[0.85, 0.25]]
targets = [[0.6905, 0.8657]]
[weights]
theta1 = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
theta2 = [[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]]
"""


def test_the_formula_adagrad_on_the_blog_equals_torchs_adagrad_epoch_by_epoch():
    """Gradients from an independent backprop (tests/_reference.py), updates as torch.optim.Adagrad(lr,
    eps=1e-10, lr_decay=0, initial_accumulator_value=0, weight_decay=0.01) computes them: the engine to 1e-10."""
    s = loads(BLOG_ADAGRAD)
    assert s.plan.optimizer.name == "adagrad" and s.plan.hyper.epsilon == 1e-10
    lr, wd, eps = 0.5, 0.01, 1e-10
    w = [np.array(m) for m in s.weights]
    state_sum = [np.zeros_like(m) for m in w]
    for epoch in range(1, 7):
        (first,) = reference_epochs(["sigmoid", "sigmoid"], "half_sse", lr, s.inputs, s.targets, w, 1)
        for l, grad in enumerate(first.gradients):
            grad = grad + wd * w[l]
            state_sum[l] = state_sum[l] + grad * grad
            w[l] = w[l] - lr * grad / (np.sqrt(state_sum[l]) + eps)
        result = train(s, epoch)
        for mine, theirs in zip(result.weights, w, strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-10)
        for (r,), theirs in zip(result.state, state_sum, strict=True):
            np.testing.assert_allclose(r, theirs, rtol=1e-10, atol=1e-12)
    assert not np.allclose(train(s, 6).weights[0], train(loads(BLOG_ADAGRAD.replace("adagrad\"\n", "sgd\"\n")),
                                                               6).weights[0])


def test_a_bundled_scenario_still_loads_its_optimizer_with_its_own_defaults():
    adam = load(Path(__file__).resolve().parent.parent / "scenarios" / "adam.toml")
    assert adam.plan.hyper.keys == ("learning_rate", "beta1", "beta2", "epsilon", "weight_decay")


def test_loading_and_training_with_any_optimizer_leaves_sympy_unimported():
    """The core keeps rules as data (core/expr trees): SymPy is the text layer's, loaded when a rule is printed."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bpdebug.core.scenario import load, loads\n"
        "from bpdebug.core.engine import Trace, train\n"
        "for p in sorted(Path('scenarios').glob('*.toml')):\n"
        "    if '[graph]' not in p.read_text(): s = load(p); train(s, 2); Trace(s).epoch(1)\n"
        f"s = loads({BLOG_ADAGRAD!r}); train(s, 2); Trace(s).epoch(1)\n"
        "assert 'sympy' not in sys.modules, sorted(m for m in sys.modules if m.startswith('sympy'))[:3]\n"
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, capture_output=True, text=True,
                   env={"PYTHONPATH": str(root), "PATH": ""})


def _short_number(v: float) -> str:
    return re.sub(r"e([+-])0(\d)", r"e\1\2", f"{v:g}")


def test_the_readmes_optimizer_lists_are_the_registrys():
    """The README's [training] keys and its table of optimizers, written from the registry (a new entry's line
    is printed by the failure: paste it)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    names = ", ".join(f"{n} (default)" if n == opt.DEFAULT else n for n in opt.OPTIMIZERS)
    keys = [f'optimizer = "adam"          # {names}']
    for key, users in opt.keys_of(opt.OPTIMIZERS.values()).items():
        default = opt.get(users[0]).hyperparameter(key).default
        assert default is not None
        keys.append(f"{key} = {_short_number(default)}".ljust(28) + "# " + ", ".join(users))
    rows = []
    for o in opt.OPTIMIZERS.values():
        hyper = ", ".join(f"{h.key} = {_short_number(h.default or 0.0)} {h.expected.removeprefix('a number ')}"
                          for h in o.hyper)
        rows.append(f"| `{o.name}` | {';  '.join(rule_text(o, False))} | {hyper} | "
                    f"`{o.torch.removeprefix('torch.optim.')}` |")
    assert "\n".join(keys) in readme, "\n".join(keys)
    assert "\n".join(rows) in readme, "\n".join(rows)


def _same_tree(a, b) -> bool:
    if a.func != b.func or len(a.args) != len(b.args):
        return False
    return a == b if not a.args else all(_same_tree(x, y) for x, y in zip(a.args, b.args, strict=True))


@pytest.mark.parametrize("o", ENTRIES, ids=IDS)
def test_the_rule_is_made_sympy_as_sympys_parser_makes_it(o):
    """The printed rule keeps the terms as written because its SymPy form is the one ``parse_expr(...,
    evaluate=False)`` gives for the line's text, node for node (sums and products of a chain in one node)."""
    from sympy.parsing.sympy_parser import parse_expr

    for (target, tree), (symbol, form) in zip(opt.rule(o, True), sympy_rule(o, True), strict=True):
        names = {n: sp.Symbol(symbol_name(o, n), real=True) for n in ex.names(tree) | {target}}
        parsed = parse_expr(ex.text(tree), local_dict={**names, "sqrt": sp.sqrt}, evaluate=False)
        assert symbol == names[target] and _same_tree(form, parsed), (sp.srepr(form), sp.srepr(parsed))
