"""The engine is right to the last digit.

Every gradient of random networks is checked against central finite differences and against an
independent autodiff (HIPS autograd, the forward pass written the way the format document writes it:
column vectors, ``z = theta · a``); the stepped and the fast path agree bit for bit; and two published
worked examples (the blog's, computed consistently, and Matt Mazur's) come out to every printed digit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from bpdebug import cli
from bpdebug.core import functions
from bpdebug.core.engine import Network, Trace, batch_loss, compute_pass, step_templates, train
from bpdebug.core.params import ParamIndex
from bpdebug.core.scenario import load, loads
from bpdebug.transcript import Options, json_format

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
LOSSES = tuple(functions.LOSSES)  # every registered loss; each needs its entries in REFERENCE_LOSSES and GRAD_SCALES
ELEMENTWISE = ("sigmoid", "tanh", "relu", "linear", "softplus")  # softplus: the custom activation below
SOFTPLUS = "log(1 + exp(x))"


# ----------------------------------------------------------------------------------- random scenarios

def same_bits(a, b) -> bool:
    """Bit for bit: same shape, same dtype, same bytes (a diverging run's nan and inf included)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def toml_matrix(m: np.ndarray) -> str:
    """A matrix as TOML, every float written with repr so loading gives back the very same bits."""
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in m) + "]"


def scenario_text(layers, activations, loss, bias, update, lr, inputs, targets, weights, frozen=(), epochs=1,
                  activation_as_list=True) -> str:
    same = len(set(activations)) == 1
    activation = (f'"{activations[0]}"' if same and not activation_as_list
                  else "[" + ", ".join(f'"{a}"' for a in activations) + "]")
    lines = [
        'title = "random network"',
        "[network]",
        f"layers = {list(layers)}",
        f"activation = {activation}",
        f"bias = {'true' if bias else 'false'}",
        "[loss]",
        f'function = "{loss}"',
        "[training]",
        f"learning_rate = {lr!r}",
        f"epochs = {epochs}",
        f'update = "{update}"',
        "frozen = [" + ", ".join(f'"{n}"' for n in frozen) + "]",
        "[data]",
        f"inputs = {toml_matrix(inputs)}",
        f"targets = {toml_matrix(targets)}",
        "[weights]",
    ]
    lines += [f"theta{l} = {toml_matrix(w)}" for l, w in enumerate(weights, start=1)]
    if "softplus" in activations:
        lines += ["[activations.softplus]", f'expr = "{SOFTPLUS}"']
    return "\n".join(lines) + "\n"


# Learning rates and weight scales. "tame" networks cannot leave the finite numbers within their epoch (see
# networks()); "any" includes rates that make many runs diverge, for the properties that must hold regardless;
# "wild" makes most of them diverge, for the divergence report.
RATES = {"tame": (0.01, 0.05, 0.1), "any": (0.01, 0.1, 0.5, 1.0, 2.5), "wild": (0.5, 2.5, 10.0, 1e3, 1e6, 1e12)}
SCALES = {"tame": (1.0,), "any": (1.0,), "wild": (1.0, 10.0, 100.0)}


@st.composite
def networks(draw, max_epochs: int = 1, rates: str = "any"):
    """A random scenario (as TOML text) and what it was drawn from.

    Tame networks are finite by construction: weights start in ±1/(fan-in), so with inputs in [-1, 1] every
    net input starts within about ±3 (softplus adds at most log 2 a layer), sigmoid and softmax outputs stay
    well inside (0, 1), and with a rate of at most 0.1 five updates move a weight by well under 1."""
    n_weight_layers = draw(st.integers(1, 4))
    layers = [draw(st.integers(1, 6)) for _ in range(n_weight_layers + 1)]
    loss = draw(st.sampled_from(LOSSES))
    if needs_probabilities(functions.LOSSES[loss]):  # its logs are defined for outputs in (0, 1) only
        softmax = functions.LOSSES[loss].softmax_shortcut and layers[-1] >= 2
        output = draw(st.sampled_from(("softmax", "sigmoid") if softmax else ("sigmoid",)))
    else:
        output = draw(st.sampled_from(ELEMENTWISE + (("softmax",) if layers[-1] >= 2 else ())))
    activations = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(n_weight_layers - 1)] + [output]
    bias = draw(st.booleans())
    update = draw(st.sampled_from(("batch", "online")))
    n_examples = draw(st.integers(1, 5))
    lr = draw(st.sampled_from(RATES[rates]))
    scale = draw(st.sampled_from(SCALES[rates]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs = rng.uniform(-1.0, 1.0, size=(n_examples, layers[0]))
    targets = rng.uniform(0.0, 1.0, size=(n_examples, layers[-1]))
    weights = [rng.uniform(-scale, scale, size=(layers[l], layers[l - 1] + bias))
               / (layers[l - 1] + bias if rates == "tame" else 1) for l in range(1, len(layers))]
    params = ParamIndex(tuple(layers), bias)
    frozen = [p.short if rng.random() < 0.5 else p.canonical for p in params if rng.random() < 0.2]
    epochs = draw(st.integers(1, max_epochs))
    text = scenario_text(layers, activations, loss, bias, update, lr, inputs, targets, weights, frozen, epochs,
                         activation_as_list=draw(st.booleans()))
    return text, activations


# -------------------------------------------------------------------- the independent reference (autograd)

def _softmax_columns(z):
    e = anp.exp(z - anp.max(z, axis=0, keepdims=True))
    return e / anp.sum(e, axis=0, keepdims=True)


REFERENCE_ACTIVATIONS = {
    "sigmoid": lambda z: 1.0 / (1.0 + anp.exp(-z)),
    "tanh": anp.tanh,
    "relu": lambda z: anp.where(z > 0, z, 0.0),
    "linear": lambda z: z,
    "softplus": lambda z: anp.log(1.0 + anp.exp(z)),
    "softmax": _softmax_columns,
}


def reference_forward(thetas, x_rows, activations, bias):
    """z and a of every layer, one column per example, a(l+1) = f(theta_l · [1; a(l)])."""
    a = x_rows.T
    zs = []
    for theta, name in zip(thetas, activations, strict=True):
        if bias:
            a = anp.concatenate([anp.ones((1, a.shape[1])), a], axis=0)
        z = anp.dot(theta, a)
        zs.append(z)
        a = REFERENCE_ACTIVATIONS[name](z)
    return zs, a


REFERENCE_LOSSES = {  # the batch loss of o and t (outputs × examples), as the table of the format document defines it
    "sse": lambda o, t, k, n: anp.sum((t - o) ** 2),
    "half_sse": lambda o, t, k, n: 0.5 * anp.sum((t - o) ** 2),
    "mse": lambda o, t, k, n: anp.sum(anp.sum((t - o) ** 2, axis=0) / k) / n,
    "cross_entropy": lambda o, t, k, n: anp.sum(-anp.sum(t * anp.log(o), axis=0)) / n,
    "binary_cross_entropy": lambda o, t, k, n: anp.sum(-anp.sum(t * anp.log(o) + (1.0 - t) * anp.log(1.0 - o),
                                                               axis=0)) / n,
}


def needs_probabilities(loss) -> bool:
    """True for a loss not defined at outputs outside (0, 1) (its logs): the random networks end in a sigmoid."""
    with np.errstate(all="ignore"):
        return not np.all(np.isfinite(loss.terms(np.array([[-0.5, 2.0]]), np.array([[0.5, 0.5]]))))


def reference_of(table: dict, name: str):
    """The table's entry for the loss ``name``, or a failure saying it has none (a newly registered loss)."""
    if name not in table:
        which = "REFERENCE_LOSSES" if table is REFERENCE_LOSSES else "GRAD_SCALES"
        pytest.fail(f"the loss {name!r} has no independent reference in test_engine.py's {which}: add one")
    return table[name]


def reference_loss(thetas, x_rows, t_rows, activations, loss, bias):
    """The batch loss, as the table of the format document defines it."""
    _, o = reference_forward(thetas, x_rows, activations, bias)
    t = t_rows.T  # outputs × examples
    k, n = o.shape
    return reference_of(REFERENCE_LOSSES, loss)(o, t, k, n)


EPS = np.finfo(float).eps


def central_differences(f, thetas, f_rounding):
    """∂f/∂theta by central differences, each with a bound on its own float64 error.

    D(h) = (f(θ+h) − f(θ−h)) / 2h has truncation error C·h² + O(h⁴) and rounding error at most
    2·r/2h, where r bounds the rounding error of one evaluation of f (``f_rounding``), plus the error of
    the step itself (θ ± h is rounded: ε·|θ|/h relative); h = ε^(1/3)·max(1, |θ|) balances the two. The
    truncation error is estimated from D(2h) − D(h) = 3C·h², Richardson's way, so the bound holds whatever
    the third derivative; everything is doubled for safety."""
    out, bounds = [], []
    for l, theta in enumerate(thetas):
        g = np.empty_like(theta)
        bound = np.empty_like(theta)
        for idx in np.ndindex(theta.shape):
            h = EPS ** (1 / 3) * max(1.0, abs(theta[idx]))

            def at(delta, idx=idx, l=l):
                moved = [t.copy() for t in thetas]
                moved[l][idx] += delta
                return f(moved)

            fp, fm, fp2, fm2 = at(h), at(-h), at(2 * h), at(-2 * h)
            d1 = (fp - fm) / (2 * h)
            d2 = (fp2 - fm2) / (4 * h)
            rounding = f_rounding / h + 2 * EPS * max(1.0, abs(theta[idx])) / h * abs(d1)
            g[idx] = d1
            bound[idx] = 2 * (abs(d2 - d1) / 3 + rounding)
        out.append(g)
        bounds.append(bound)
    return out, bounds


def forward_scales(s, p):
    """How large the float64 error of each z and a can be, over ε per operation: the forward pass run on
    absolute values (a sum of products errs by about n·ε·Σ|x|·|y|), each layer adding |f'(z)| times the
    scale of its net input to the scale of its output. Returns {l: (scale of z_l, scale of a_l)}."""
    n = p.numbers
    scales = {1: (None, np.abs(n.a[1]))}
    a_scale = scales[1][1]
    for l in range(2, s.n_layers + 1):
        w = np.abs(p.weights_before[l - 2])
        z_scale = np.abs(n.z[l]) + (a_scale @ w[:, 1:].T + w[:, 0] if s.bias else a_scale @ w.T)
        act = s.activations[l - 2]
        if act.derivative is None:  # softmax: o·(dz_k − Σ o_j dz_j)
            a_scale = np.abs(n.a[l]) + 2 * np.abs(n.a[l]) * z_scale.max(axis=1, keepdims=True)
        else:
            a_scale = np.abs(n.a[l]) + np.abs(act.derivative(n.z[l], n.a[l])) * z_scale
        scales[l] = (z_scale, a_scale)
    return scales


def output_scale(s, p):
    return forward_scales(s, p)[s.n_layers][1]


GRAD_SCALES = {  # |∂E/∂o| plus what cancels in it and |d²E/do²| times the scale of o, per loss (rows = examples)
    "sse": lambda o, t, os, k, m: 2.0 * (np.abs(o) + np.abs(t) + os),
    "half_sse": lambda o, t, os, k, m: np.abs(o) + np.abs(t) + os,
    "mse": lambda o, t, os, k, m: 2.0 / k / m * (np.abs(o) + np.abs(t) + os),
    "cross_entropy": lambda o, t, os, k, m: (np.abs(t) / np.abs(o) + np.abs(t) / o**2 * os) / m,
    "binary_cross_entropy": lambda o, t, os, k, m: (np.abs(t) / np.abs(o) + np.abs(1 - t) / np.abs(1 - o)
                                                    + (np.abs(t) / o**2 + np.abs(1 - t) / (1 - o) ** 2) * os) / m,
}


@pytest.mark.parametrize("name", LOSSES)
def test_every_registered_loss_has_an_independent_reference(name):
    reference_of(REFERENCE_LOSSES, name)
    reference_of(GRAD_SCALES, name)


def rounding_scale(s, p):
    """A bound on the size of the float64 rounding error of each gradient entry, up to a constant factor.

    Forward error analysis of sums of products: computed Σ x·y is off by at most about n·ε·Σ|x|·|y|, and an
    input known to within e moves a result by its derivative times e. So the backward pass is run again on
    scales: ∂E/∂o plus what cancels in it and what the error of o does to it (|d²E/do²| times the scale of
    o), |f'| plus the error of z (|f''| ≤ 1 for every activation here), |theta|, the scale of a; the gradient
    of that is the scale both the engine and autograd round against."""
    n = p.numbers
    L = s.n_layers
    fwd = forward_scales(s, p)
    o, t = n.a[L], p.targets
    o_scale = fwd[L][1]
    k, m = o.shape[1], o.shape[0]
    g = reference_of(GRAD_SCALES, s.loss.name)(o, t, o_scale, k, m)
    out = s.activations[-1]
    if out.derivative is None:
        d = o_scale * (g + (g * o_scale).sum(axis=1, keepdims=True))
    else:
        d = g * (np.abs(out.derivative(n.z[L], o)) + fwd[L][0])
    deltas = {L: d}
    for l in range(L - 1, 1, -1):
        w = np.abs(p.weights_before[l - 1])
        back = deltas[l + 1] @ (w[:, 1:] if s.bias else w)
        deltas[l] = back * (np.abs(s.activations[l - 2].derivative(n.z[l], n.a[l])) + fwd[l][0])
    scales = []
    for l in range(1, L):
        gw = deltas[l + 1].T @ fwd[l][1]
        if s.bias:
            gw = np.hstack([deltas[l + 1].sum(axis=0)[:, None], gw])
        scales.append(gw)
    return scales


# ------------------------------------------------------------------------------------- gradient checks

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(rates="tame"))
def test_every_gradient_matches_finite_differences_and_autograd(drawn):
    text, activations = drawn
    s = loads(text, "<random>")  # loading is exercised too
    assert s.activation_names == tuple(activations)
    loss_name, bias = s.loss.name, s.bias
    trace = Trace(s)
    assert trace.divergence() is None  # tame networks stay finite by construction
    record = trace.epoch(1)
    assert len(record.passes) == (1 if s.update == "batch" else s.n_examples)
    # the constant of the rounding bound: a few ε per operation on the longest chain of operations
    ops = 8 * (s.n_layers + max(s.layers) + s.n_examples)
    for p in record.passes:
        x, t = s.inputs[list(p.rows)], s.targets[list(p.rows)]
        thetas = [np.array(w) for w in p.weights_before]
        for l, name in enumerate(activations, start=2):  # keep finite differences off the relu kink
            if name == "relu":
                assume(np.all(np.abs(p.numbers.z[l]) > 1e-4))
        o = p.numbers.a[-1]
        if needs_probabilities(s.loss):
            assert np.all((o > 1e-9) & (o < 1 - 1e-9))  # tame: the logs are far from 0

        def f(ws, x=x, t=t):
            return reference_loss(ws, x, t, activations, loss_name, bias)

        ref_loss = f(thetas)
        assert p.loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-14)
        by_autograd = autograd.grad(f)(thetas)
        # one evaluation of f rounds by at most about ops·ε·(|f| + Σ|∂f/∂o|·scale of o)
        f_rounding = ops * EPS * (abs(ref_loss) + float(np.sum(np.abs(p.numbers.dE_dout) * output_scale(s, p))))
        by_differences, fd_bounds = central_differences(f, thetas, f_rounding)
        for g, ga, gd, bound, scale in zip(p.numbers.gradients, by_autograd, by_differences, fd_bounds,
                                           rounding_scale(s, p), strict=True):
            assert g.shape == ga.shape
            rounding = ops * EPS * scale  # both sides round against the same scale
            assert np.all(np.abs(g - ga) <= 2 * rounding), (g, ga, rounding)
            assert np.all(np.abs(g - gd) <= bound + rounding), (g, gd, bound)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(max_epochs=6))
def test_every_update_is_plain_gradient_descent_and_frozen_parameters_never_move(drawn):
    text, _ = drawn
    s = loads(text, "<random>")
    trace = Trace(s)
    frozen = [s.params.get(c) for c in s.frozen]
    start = s.weights
    with np.errstate(all="ignore"):  # a large learning rate may diverge: the bits must agree all the same
        for e in range(1, s.epochs + 1):
            for p in trace.epoch(e).passes:
                for before, after, g, l in zip(p.weights_before, p.weights_after, p.numbers.gradients,
                                               range(1, s.n_layers), strict=True):
                    expected = before - s.learning_rate * g
                    for q in frozen:
                        if q.layer == l:
                            expected[q.row, q.col] = before[q.row, q.col]
                    assert same_bits(after, expected)
        final = trace.epoch(s.epochs).weights_after
    for q in frozen:
        assert same_bits(final[q.layer - 1][q.row, q.col], start[q.layer - 1][q.row, q.col])


# ------------------------------------------------------------------------------------- stepped == fast

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(max_epochs=6))
def test_stepped_and_fast_paths_agree_bit_for_bit(drawn):
    text, _ = drawn
    s = loads(text, "<random>")
    epochs = s.epochs
    trace = Trace(s)
    with np.errstate(all="ignore"):
        # walk the steps one by one: every pass starts from the weights the previous update left
        previous = s.weights
        losses = []
        for step in trace:
            if step.kind == "z" and step.layer == 2:
                for w, before in zip(previous, step.weights, strict=True):
                    assert same_bits(w, before)
                if step.example in (None, 1):
                    losses.append(trace.epoch(step.epoch).loss)
            if step.kind == "update":
                previous = tuple(step.value(f"theta{l}.after") for l in range(1, s.n_layers))
        fast = train(s, epochs)
        assert len(fast.weights) == len(previous)
        for a, b in zip(fast.weights, previous, strict=True):
            assert same_bits(a, b)
        assert same_bits(fast.losses, np.array(losses))
        assert same_bits(fast.losses, trace.loss_history())
        # and the fast path resumed from the middle lands on the same bits
        if epochs > 1:
            half = train(s, epochs // 2)
            rest = train(s, epochs - epochs // 2, start=half.weights, first_epoch=epochs // 2 + 1)
            assert rest.epochs == epochs
            for a, b in zip(rest.weights, fast.weights, strict=True):
                assert same_bits(a, b)


# ------------------------------------------------------------------------------------------ divergence

def first_non_finite(s):
    """Where a plain loop over epochs says the run first stops being finite: (epoch, example, step index,
    quantity, first bad entry) or None. An epoch counts as diverging when its loss or the weights after it
    are not finite (weights never become finite again); within it, the quantities are looked at in the
    order the debugger shows them."""
    net, L = Network(s), s.n_layers
    online = s.update == "online"
    rows = [[i] for i in range(s.n_examples)] if online else [list(range(s.n_examples))]
    per_pass = 2 * (L - 1) + 1 + (L - 1) + (L - 1) + 1  # z, a per layer; error; deltas; gradients; update
    weights = tuple(np.array(w) for w in s.weights)
    with np.errstate(all="ignore"):
        for epoch in range(1, s.epochs + 1):
            epoch_loss = batch_loss(net, weights, s.inputs, s.targets)[0]
            passes, w = [], weights
            for r in rows:
                numbers = compute_pass(net, w, s.inputs[r], s.targets[r])
                passes.append(numbers)
                w = numbers.weights_after
            if np.isfinite(epoch_loss) and all(np.isfinite(x).all() for x in w):
                weights = w
                continue
            for k, n in enumerate(passes):
                order = []
                for l in range(2, L + 1):
                    order += [(f"z{l}", n.z[l]), (f"a{l}", n.a[l])]
                order.append((("error", n.terms), ("loss", n.loss)))
                order += [(f"delta{l}", n.delta[l]) for l in range(L, 1, -1)]
                order += [(f"grad.theta{l}", n.gradients[l - 1]) for l in range(L - 1, 0, -1)]
                order.append(tuple((f"theta{l}.after", n.weights_after[l - 1]) for l in range(1, L)))
                assert len(order) == per_pass
                for position, entry in enumerate(order):
                    for name, value in entry if isinstance(entry, tuple) and isinstance(entry[0], tuple) \
                            else (entry,):
                        bad = np.argwhere(~np.isfinite(np.atleast_1d(value)))
                        if len(bad):
                            step = ((epoch - 1) * len(rows) + k) * per_pass + position
                            return epoch, (k + 1 if online else None), step, name, tuple(bad[0])
                    if online and k == 0 and name == "loss" and not np.isfinite(epoch_loss):
                        return epoch, None, (epoch - 1) * len(rows) * per_pass + position, "loss", ()
            raise AssertionError("a diverging epoch without a non-finite quantity")
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(max_epochs=6, rates="wild"))
def test_divergence_report_names_the_first_non_finite_step(drawn):
    text, _ = drawn
    s = loads(text, "<random>")
    expected = first_non_finite(s)
    event("diverges" if expected else "stays finite")
    trace = Trace(s)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing the run does may reach stderr as a RuntimeWarning
        d = trace.divergence()
        doc = json.loads(json_format.render(trace, Options(s.epochs)), parse_constant=_refuse)
    if expected is None:
        assert d is None and doc["diverged"] is None
        return
    epoch, example, step, name, bad = expected
    assert d is not None
    assert (d.epoch, d.example, d.step, d.quantity) == (epoch, example, step, name)
    assert trace[d.step].epoch == epoch and name in trace[d.step].computes + ("loss",)
    if name.startswith(("z", "a", "delta", "error")):
        assert d.unit is not None and d.unit.endswith(str(bad[1] + 1))
    elif name.startswith(("grad", "theta")):
        l = int(name.split("theta")[1].split(".")[0])
        assert d.unit == next(p.short for p in s.params if (p.layer, p.row, p.col) == (l, *bad))
    assert d.cause and "\n" not in d.describe() and d.describe().startswith(f"epoch {epoch}")
    assert trace.divergence(epoch - 1) is None
    assert doc["diverged"] == {**d.as_dict(), "message": d.describe()}


def _refuse(constant):
    raise AssertionError(f"bare {constant} in the JSON transcript")


@pytest.mark.parametrize("update", ["batch", "online"])
def test_stepped_path_agrees_with_fast_path_over_many_epochs_with_frozen_parameters(update):
    rng = np.random.default_rng(11)
    layers = (3, 4, 2)
    weights = [rng.uniform(-1, 1, size=(layers[l], layers[l - 1] + 1)) for l in (1, 2)]
    text = scenario_text(layers, ["tanh", "sigmoid"], "mse", True, update, 0.7, rng.uniform(-1, 1, (4, 3)),
                         rng.uniform(0, 1, (4, 2)), weights, frozen=["w2", "b1", "theta2[2,1]"], epochs=40)
    s = loads(text)
    trace = Trace(s, cache_epochs=4)  # a small cache: later epochs are recomputed from checkpoints
    for e in range(1, 41):
        fast = train(s, e)
        for a, b in zip(fast.weights, trace.epoch(e).weights_after, strict=True):
            assert np.array_equal(a, b)
        assert fast.losses[-1] == trace.epoch(e).loss
    # an epoch evicted from the cache and recomputed is the same bits
    again = Trace(s).epoch(3)
    assert all(np.array_equal(a, b) for a, b in zip(again.weights_after, trace.epoch(3).weights_after, strict=True))
    final = train(s, 40).weights
    assert final[0][0, 2] == s.weights[0][0, 2]  # w2 = theta1[1,2]
    assert final[0][0, 0] == s.weights[0][0, 0]  # b1
    assert final[1][1, 1] == s.weights[1][1, 1]  # theta2[2,1]
    assert not np.array_equal(final[1], s.weights[1])  # everything else learns


def test_same_scenario_twice_gives_identical_bits():
    text = (SCENARIOS / "blog.toml").read_text()
    a, b = loads(text), loads(text)
    ra, rb = train(a, 25), train(b, 25)
    assert all(np.array_equal(x, y) for x, y in zip(ra.weights, rb.weights, strict=True))
    assert np.array_equal(ra.losses, rb.losses)
    sa, sb = Trace(a, 3), Trace(b, 3)
    for i in range(len(sa)):
        for name in sa[i].known:
            assert np.array_equal(sa[i].value(name), sb[i].value(name))


def test_compute_pass_does_not_change_the_weights_it_is_given():
    s = load(SCENARIOS / "blog.toml")
    weights = tuple(np.array(w) for w in s.weights)
    copies = tuple(w.copy() for w in weights)
    compute_pass(Network(s), weights, s.inputs, s.targets)
    assert all(np.array_equal(w, c) for w, c in zip(weights, copies, strict=True))


# ------------------------------------------------------------------------------------ generated weights

def generated(init: str, seed: int, extra: str = "", bias: bool = True) -> str:
    return f"""
[network]
layers = [5, 4, 3]
bias = {'true' if bias else 'false'}
[training]
learning_rate = 0.1
[data]
inputs = [0.1, 0.2, 0.3, 0.4, 0.5]
targets = [0.0, 1.0, 0.0]
[weights]
init = "{init}"
seed = {seed}
{extra}
"""


@pytest.mark.parametrize("init", ["uniform", "xavier", "he"])
def test_generated_weights_are_reproducible(init):
    a, b = loads(generated(init, 3)), loads(generated(init, 3))
    c = loads(generated(init, 4))
    assert a.init is not None and a.init.method == init and a.init.seed == 3
    for wa, wb, wc, shape in zip(a.weights, b.weights, c.weights, [(4, 6), (3, 5)], strict=True):
        assert wa.shape == shape
        assert np.array_equal(wa, wb)
        assert not np.array_equal(wa, wc)
        assert not wa.flags.writeable


def test_uniform_weights_respect_the_range():
    s = loads(generated("uniform", 9, "range = [-0.05, 0.2]"))
    assert (s.init.low, s.init.high) == (-0.05, 0.2)
    for w in s.weights:
        assert np.all((w >= -0.05) & (w < 0.2))
    default = loads(generated("uniform", 9))
    for w in default.weights:
        assert np.all((w >= -0.5) & (w < 0.5))


@pytest.mark.parametrize("bias", [True, False])
def test_xavier_and_he_scale_by_fan_and_start_biases_at_zero(bias):
    for init in ("xavier", "he"):
        s = loads(generated(init, 1, bias=bias))
        for l, w in enumerate(s.weights, start=1):
            n_in, n_out = s.layers[l - 1], s.layers[l]
            assert w.shape == (n_out, n_in + bias)
            if bias:
                assert np.all(w[:, 0] == 0.0)
            body = w[:, 1:] if bias else w
            if init == "xavier":
                assert np.all(np.abs(body) <= np.sqrt(6.0 / (n_in + n_out)))
            assert np.all(np.isfinite(body)) and np.any(body != 0.0)
    big = loads(generated("he", 0).replace("[5, 4, 3]", "[400, 300, 3]").replace(
        "[0.1, 0.2, 0.3, 0.4, 0.5]", str([0.1] * 400)))
    assert np.std(big.weights[0][:, 1:]) == pytest.approx(np.sqrt(2.0 / 400), rel=0.02)


# --------------------------------------------------------------------------------------- the blog post

@pytest.fixture(scope="module")
def blog():
    s = load(SCENARIOS / "blog.toml")
    return s, Trace(s)


def near(value, printed, last_digit):
    """Equal to the printed figure within half a unit of its last printed digit."""
    return np.all(np.abs(np.asarray(value, dtype=float).ravel() - np.asarray(printed)) <= last_digit / 2 + 1e-15)


def test_blog_forward_pass_error_and_w5_consistently(blog):
    s, trace = blog
    w5, w1 = s.params.get("w5"), s.params.get("w1")
    assert w5.canonical == "theta2[1,1]" and w1.canonical == "theta1[1,1]"
    last = trace[9]
    assert near(last.value("z2"), [0.345, 0.975], 1e-3)
    assert near(last.value("a2"), [0.58540, 0.72611], 1e-5)
    assert near(last.value("z3"), [0.95200, 0.56531], 1e-5)
    assert near(last.value("a3"), [0.72152, 0.63768], 1e-5)
    assert near(last.value("loss"), 0.0264773, 1e-7)
    assert near(last.gradient(w5), 0.0036483, 1e-7)
    assert near(last.param(w5, "after"), 0.3996352, 1e-7)
    assert near(last.gradient(w1), -0.0049199, 1e-7)
    assert last.param(w5, "before") == 0.4
    # the update is w5 - 0.1 * dE/dw5, exactly
    assert last.param(w5, "after") == 0.4 - 0.1 * last.gradient(w5)


def test_blog_steps_of_epoch_one_in_order(blog):
    _, trace = blog
    assert trace.steps_per_epoch == 10 and len(trace) == 10
    expected = [
        ("forward", "z", 2, ("z2",), ("theta1", "a1")),
        ("forward", "a", 2, ("a2",), ("z2",)),
        ("forward", "z", 3, ("z3",), ("theta2", "a2")),
        ("forward", "a", 3, ("a3",), ("z3",)),
        ("error", "error", 3, ("error", "loss"), ("a3", "targets")),
        ("backward", "delta", 3, ("delta3",), ("a3", "targets", "z3")),
        ("backward", "delta", 2, ("delta2",), ("delta3", "theta2", "z2")),
        ("backward", "gradient", 2, ("grad.theta2",), ("delta3", "a2")),
        ("backward", "gradient", 1, ("grad.theta1",), ("delta2", "a1")),
        ("update", "update", None, ("theta1.after", "theta2.after"), ("grad.theta1", "grad.theta2")),
    ]
    got = [(step.phase, step.kind, step.layer, step.computes, step.uses) for step in trace]
    assert got == expected
    assert [t.position for t in step_templates(3)] == list(range(10))
    for i, step in enumerate(trace):
        assert step.index == i and step.epoch == 1 and step.example is None and step.total == 10
        for name in step.computes + step.uses:  # what a step computes or uses is known once it has run
            assert step.is_known(name)
    assert trace.first_step_of(1, kind="gradient", layer=2) == 7
    assert trace.first_step_of(1, kind="update") == 9


def test_step_value_refuses_quantities_not_yet_computed(blog):
    s, trace = blog
    w5, w1 = s.params.get("w5"), s.params.get("w1")
    first = trace[0]
    assert np.array_equal(first.value("inputs"), s.inputs)
    assert np.array_equal(first.value("a1"), s.inputs)
    assert np.array_equal(first.value("theta2"), s.weights[1])
    first.value("z2")
    for name in ("a2", "z3", "a3", "outputs", "error", "loss", "dE_dout", "delta3", "delta2", "grad.theta2",
                 "grad.theta1", "theta1.after", "theta2.after"):
        with pytest.raises(KeyError):
            first.value(name)
    error_step = trace[4]
    assert error_step.value("loss") == trace.epoch(1).loss
    for name in ("delta3", "grad.theta2", "theta2.after"):
        with pytest.raises(KeyError):
            error_step.value(name)
    assert trace[6].gradient(w5) is None and trace[7].gradient(w5) is not None
    assert trace[7].gradient(w1) is None and trace[8].gradient(w1) is not None
    with pytest.raises(KeyError):
        trace[8].value("theta1.after")
    assert np.array_equal(trace[9].value("theta1.after"), trace.epoch(1).weights_after[0])


def _independent_blog_value(s, e):
    """The consistent value of an expectation of the blog, from the autograd reference."""
    thetas = [np.array(w) for w in s.weights]
    names = list(s.activation_names)
    zs, o = reference_forward(thetas, s.inputs, names, s.bias)
    _, a2 = reference_forward(thetas[:1], s.inputs, names[:1], s.bias)
    loss = reference_loss(thetas, s.inputs, s.targets, names, s.loss.name, s.bias)
    grads = autograd.grad(lambda ws: reference_loss(ws, s.inputs, s.targets, names, s.loss.name, s.bias))(thetas)
    p = e.param
    if e.kind == "z":
        return zs[e.layer - 2][:, 0]
    if e.kind == "a":
        return {2: a2, 3: o}[e.layer][:, 0]
    if e.kind == "error":
        return 0.5 * (s.targets[0] - o[:, 0]) ** 2
    if e.kind == "loss":
        return [loss]
    if e.kind == "dE/da":  # ∂E/∂o by autograd of the reference loss as a function of the outputs
        o_row = o[:, 0]
        d = autograd.grad(lambda out: 0.5 * anp.sum((s.targets[0] - out) ** 2))(o_row)
        return d[e.unit - 1:e.unit]
    if e.kind == "dadz":  # the sigmoid's derivative by autograd at the reference z3
        z3 = zs[-1][:, 0]
        return [autograd.grad(lambda v: 1 / (1 + anp.exp(-v)))(float(z3[e.unit - 1]))]
    if e.kind == "param":
        return [thetas[p.layer - 1][p.row, p.col]]
    assert e.kind == "param_after"
    return [thetas[p.layer - 1][p.row, p.col] - s.learning_rate * grads[p.layer - 1][p.row, p.col]]


def test_blog_expectations_hold_exactly_where_the_consistent_arithmetic_agrees(blog):
    s, trace = blog
    results = trace.check_all()
    assert len(results) == len(s.expectations) == 12
    for r in results:
        e = r.expectation
        consistent = np.asarray(_independent_blog_value(s, e), dtype=float)
        np.testing.assert_allclose(r.computed, consistent, rtol=1e-12)
        assert r.holds == bool(np.all(np.abs(consistent - np.array(e.value)) <= e.tolerance))
    # blog-figures.md: only the hidden outputs the backpropagation post uses, and w5 itself, are right
    held = [(r.expectation.quantity, r.expectation.value) for r in results if r.holds]
    assert held == [("a2", (0.5854, 0.7261)), ("w5", (0.4,))]
    assert results[0].step == 0 and results[-1].step == 9  # z2 at its forward step, w5.after at the update


def test_bpdebug_check_exits_1_on_the_blog(capsys):
    assert cli.main(["check", str(SCENARIOS / "blog.toml")]) == 1
    out = capsys.readouterr().out
    assert "expectations: 2 of 12 hold" in out


# ------------------------------------------------------------------------- Matt Mazur's worked example

# "A Step by Step Backpropagation Example" (mattmazur.com, 2015): the figures exactly as printed
MAZUR = {
    "net_h1": "0.3775", "out_h1": "0.593269992", "out_h2": "0.596884378", "out_o1": "0.75136507",
    "out_o2": "0.772928465", "E_o1": "0.274811083", "E_o2": "0.023560026", "E_total": "0.298371109",
    "dE/dw5": "0.082167041", "w5+": "0.35891648", "w6+": "0.408666186", "w7+": "0.511301270",
    "w8+": "0.561370121", "dE/dw1": "0.000438568", "w1+": "0.149780716", "w2+": "0.19956143",
    "w3+": "0.24975114", "w4+": "0.29950229",
}


def half_unit(printed: str) -> float:
    """Half a unit of the last digit printed (trailing zeros count: 0.511301270 -> 5e-10)."""
    return 0.5 * 10.0 ** -len(printed.split(".")[1])


@pytest.mark.parametrize("name", ["mazur.toml", "mazur_frozen.toml"])
def test_mazur_every_printed_figure(name):
    """The post's network has one bias per layer shared by its units: mazur.toml trains them, mazur_frozen.toml
    keeps them as the post does; every figure the post prints of the first update is the same in both."""
    s = load(SCENARIOS / name)
    assert s.loss.name == "half_sse" and s.learning_rate == 0.5 and s.update == "batch" and s.shared_bias
    assert s.params.shorts[-2:] == ["b1", "b2"] and len(s.params) == 10
    assert s.frozen == ({"theta1[*,0]", "theta2[*,0]"} if name == "mazur_frozen.toml" else set())
    step = Trace(s)[-1]
    p = {n: s.params.get(n) for n in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8")}
    computed = {
        "net_h1": step.value("z2")[0, 0],
        "out_h1": step.value("a2")[0, 0], "out_h2": step.value("a2")[0, 1],
        "out_o1": step.value("a3")[0, 0], "out_o2": step.value("a3")[0, 1],
        "E_o1": step.value("error")[0, 0], "E_o2": step.value("error")[0, 1], "E_total": step.value("loss"),
        "dE/dw5": step.gradient(p["w5"]), "dE/dw1": step.gradient(p["w1"]),
        **{f"{n}+": step.param(q, "after") for n, q in p.items()},
    }
    for name, printed in MAZUR.items():
        assert abs(computed[name] - float(printed)) <= half_unit(printed), (name, computed[name], printed)
    delta_h, delta_o = step.value("delta2")[0], step.value("delta3")[0]
    for b, deltas in (("b1", delta_h), ("b2", delta_o)):
        before, after = step.param(s.params.get(b), "before"), step.param(s.params.get(b), "after")
        if s.frozen:  # the post never updates its biases
            assert after == before
        else:  # a shared bias learns from the sum of the deltas of the units it feeds
            assert step.gradient(s.params.get(b)) == pytest.approx(deltas.sum(), rel=1e-15)
            assert after == pytest.approx(before - 0.5 * deltas.sum(), rel=1e-15)
        assert len(set(step.record.weights_after[s.params.get(b).layer - 1][:, 0])) == 1  # still one number


def test_mazur_expectations_all_hold(capsys):
    s = load(SCENARIOS / "mazur.toml")
    results = Trace(s).check_all()
    assert len(results) >= 12
    assert all(r.holds for r in results), [r for r in results if not r.holds]
    printed = {float(v): v for v in MAZUR.values()}
    for r in results:  # each recorded figure is one the post prints, at half a unit of its last digit
        assert all(v in printed for v in r.expectation.value)
        coarsest = max(half_unit(printed[v]) for v in r.expectation.value)
        assert r.expectation.tolerance == pytest.approx(coarsest)
    assert cli.main(["check", str(SCENARIOS / "mazur.toml")]) == 0
    assert "hold" in capsys.readouterr().out


@pytest.mark.parametrize("name", LOSSES)
def test_the_hand_written_reference_has_every_registered_loss(name):
    """tests/_reference.py's batch descent (conditions, runs, optimizers) against each registered loss's entry."""
    from _reference import loss_and_grad

    rng = np.random.default_rng(7)
    o, t = rng.uniform(0.1, 0.9, size=(3, 2)), rng.uniform(0.0, 1.0, size=(3, 2))
    entry = functions.LOSSES[name]
    value, grad = loss_and_grad(name, o, t)
    assert value == pytest.approx(entry.batch_loss(entry.terms(o, t)), rel=1e-12)
    np.testing.assert_allclose(grad, entry.grad(o, t), rtol=1e-12)
