"""The numbers of training: one pass (:func:`compute_pass`) and the fast path (:func:`train`).

Conventions. Examples are rows: ``a[l]`` is examples × units of layer ``l`` (bias unit excluded),
``z[l+1] = a[l] · theta_l[:, 1:]ᵀ + theta_l[:, 0]`` when the network has bias units. ``delta[l]`` is
∂E/∂z[l], rows = examples. Gradients of a pass are always computed from the weights *before* its update;
the update writes ``weights_after``. The update is the scenario's optimizer (:mod:`.optimizers`): plain
gradient descent by default, else one with state (momentum's v, Adam's m and v) that each pass takes in and
gives back, so a pass is everything needed to step back. An epoch is cut into the plan's mini-batches
(:mod:`.training`).

Floating-point trouble (overflow, log of 0, …) is never printed: the callers run these functions under
``np.errstate(all="ignore")`` and report divergence themselves (:mod:`bpdebug.core.divergence`).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from . import optimizers
from .optimizers import Update, apply, zero_state
from .scenario import Scenario
from .training import select

Weights = tuple[np.ndarray, ...]
State = optimizers.State
# (quantity name, value) -> the value the pass goes on with: z2, a2, …, error, loss, dE/daL, deltaL … delta2,
# grad.theta1 …, theta1.after …. Only for the diagnosis of printed figures (substituting a text's numbers for
# the engine's); None everywhere else, where the pass is what it always was.
Hook = Callable[[str, Any], Any]


class PassNumbers(NamedTuple):
    """Raw results of one pass; plain tuples so the fast path pays nothing for structure."""

    z: list  # z[l] for l = 0 … L (None for 0 and 1)
    a: list  # a[l] for l = 0 … L (None for 0; a[1] = inputs)
    terms: np.ndarray  # per-output error terms, examples × outputs
    loss: float
    dE_dout: np.ndarray  # ∂E/∂o of the batch loss
    delta: list  # delta[l] = ∂E/∂z[l] for l = 2 … L (None below)
    gradients: tuple  # ∂E/∂theta_l for l = 1 … L-1
    weights_after: tuple
    state_after: tuple = ()  # the optimizer's state after the update (per matrix: one array per state name)
    # the update's own numbers (state, Adam's m̂ and v̂); None for plain gradient descent
    optimizer: Update | None = None


class Network:
    """What compute_pass needs of a scenario, looked up once (activations, loss, masks)."""

    def __init__(self, scenario: Scenario) -> None:
        self.L = scenario.n_layers
        self.bias = scenario.bias
        self.shared = scenario.shared_bias  # one bias per layer: its gradient the sum over the units it feeds
        self.activations = scenario.activations
        self.loss = scenario.loss
        self.lr = scenario.learning_rate
        self.plan = scenario.plan
        self.n_examples = scenario.n_examples
        self.plain = scenario.plan.is_plain  # plain gradient descent: the update below, no state
        self.optimizer = scenario.plan.optimizer
        self.hyper = scenario.plan.hyper
        # True where a parameter learns, False where frozen; None when nothing is frozen (the common case)
        if scenario.frozen:
            masks = [np.ones(w.shape, dtype=bool) for w in scenario.weights]
            for p in scenario.params:
                if p.canonical in scenario.frozen:
                    masks[p.layer - 1][p.cells] = False
            self.masks: tuple | None = tuple(masks)
        else:
            self.masks = None


def forward(net: Network, weights: tuple, x: np.ndarray, hook: Hook | None = None) -> tuple[list, list]:
    """z and a of every layer for the examples in the rows of ``x``."""
    L, bias = net.L, net.bias
    z: list = [None, None]
    a: list = [None, x]
    for l in range(1, L):
        w = weights[l - 1]
        zl = a[l] @ w[:, 1:].T + w[:, 0] if bias else a[l] @ w.T
        if hook is not None:
            zl = hook(f"z{l + 1}", zl)
        z.append(zl)
        al = net.activations[l - 1].function(zl)
        a.append(al if hook is None else hook(f"a{l + 1}", al))
    return z, a


def output_delta(net: Network, z: np.ndarray, o: np.ndarray, dE_dout: np.ndarray) -> np.ndarray:
    """∂E/∂z of the output layer from ∂E/∂o."""
    out_act = net.activations[-1]
    if out_act.derivative is None:  # softmax: the Jacobian applied to ∂E/∂o
        return o * (dE_dout - (dE_dout * o).sum(axis=1, keepdims=True))
    return dE_dout * out_act.derivative(z, o)


def hidden_delta(net: Network, weights: tuple, l: int, delta_next: np.ndarray, z: np.ndarray,
                 a: np.ndarray) -> np.ndarray:
    """∂E/∂z of hidden layer ``l`` from the delta of layer ``l + 1``."""
    w = weights[l - 1]
    back = delta_next @ (w[:, 1:] if net.bias else w)
    derivative = net.activations[l - 2].derivative
    assert derivative is not None, "softmax is an output activation"
    return back * derivative(z, a)


def gradient(net: Network, delta_next: np.ndarray, a: np.ndarray) -> np.ndarray:
    """∂E/∂theta_l from the delta of layer l + 1 and the outputs of layer l. A shared bias's gradient is the sum
    over the units it feeds, written in every row of column 0 (so the update keeps the column equal)."""
    gw = delta_next.T @ a
    if net.bias:
        db = delta_next.sum(axis=0)
        if net.shared:
            db = np.full_like(db, db.sum())
        gw = np.hstack([db[:, None], gw])
    return gw


def parameter_gradients(g: np.ndarray, shared: bool) -> np.ndarray:
    """The gradients of the parameters of one theta: the matrix itself, or with a shared bias its one gradient
    (column 0 repeats it in every row) and the weights' (a layer's gradient norm counts the shared bias once)."""
    return np.concatenate(([g[0, 0]], g[:, 1:].ravel())) if shared else g


def update(net: Network, weights: tuple, gradients: tuple | list) -> tuple:
    """Gradient descent: the new weights (frozen parameters keep theirs exactly, even with a nan gradient)."""
    lr, masks = net.lr, net.masks
    if masks is None:
        return tuple(w - lr * g for w, g in zip(weights, gradients, strict=True))
    return tuple(np.where(m, w - lr * g, w) for w, g, m in zip(weights, gradients, masks, strict=True))


def initial_state(net: Network, weights: tuple) -> State:
    """The optimizer's state before the first update: zeros (an empty tuple per matrix for plain descent)."""
    return zero_state(net.optimizer, weights)


def start_state(net: Network, weights: tuple) -> State:
    """The optimizer's state before the plan's epoch 1: a continued run's (a what-if fork, ``plan.resume``),
    else :func:`initial_state`'s zeros."""
    resume = net.plan.resume
    return resume.state if resume is not None else initial_state(net, weights)


def pack(weights: tuple, state: State) -> tuple:
    """Weights and optimizer state as one flat tuple of arrays: what a checkpoint keeps."""
    return tuple(weights) + tuple(a for per_matrix in state for a in per_matrix)


def unpack(net: Network, packed: tuple) -> tuple[tuple, State]:
    """The weights and the state of a :func:`pack`-ed tuple."""
    n, k = net.L - 1, len(net.optimizer.state_names)
    flat = packed[n:]
    return tuple(packed[:n]), tuple(tuple(flat[l * k:(l + 1) * k]) for l in range(n))


def optimizer_update(net: Network, weights: tuple, gradients: tuple, state: State, count: int) -> Update:
    """The optimizer's update number ``count`` (1-based), frozen parameters kept."""
    return apply(net.optimizer, net.hyper, weights, gradients, state, count, net.masks)


def compute_pass(net: Network, weights: tuple, x: np.ndarray, t: np.ndarray, state: State | None = None,
                 count: int = 1, hook: Hook | None = None) -> PassNumbers:
    """One update: forward, error, backward, gradients, and the new weights (weights are not changed).
    ``state`` is the optimizer's before it, ``count`` the update's number from 1 (Adam's t). ``hook``, when
    given, sees each quantity as it is computed and returns the value the pass goes on with."""
    L = net.L
    z, a = forward(net, weights, x, hook)
    o = a[L]
    terms = net.loss.terms(o, t)
    if hook is not None:
        terms = hook("error", terms)
    loss = net.loss.batch_loss(terms)
    dE_dout = net.loss.grad(o, t)
    if hook is not None:
        loss, dE_dout = hook("loss", loss), hook(f"dE/da{L}", dE_dout)
    delta: list = [None] * (L + 1)
    delta[L] = output_delta(net, z[L], o, dE_dout)
    if hook is not None:
        delta[L] = hook(f"delta{L}", delta[L])
    for l in range(L - 1, 1, -1):
        delta[l] = hidden_delta(net, weights, l, delta[l + 1], z[l], a[l])
        if hook is not None:
            delta[l] = hook(f"delta{l}", delta[l])
    gradients = tuple(gradient(net, delta[l + 1], a[l]) for l in range(1, L))
    if hook is not None:
        gradients = tuple(hook(f"grad.theta{l}", g) for l, g in enumerate(gradients, 1))
    if net.plain:
        after = update(net, weights, gradients)
        if hook is not None:
            after = tuple(hook(f"theta{l}.after", w) for l, w in enumerate(after, 1))
        return PassNumbers(z, a, terms, loss, dE_dout, delta, gradients, after,
                           state if state is not None else tuple(() for _ in gradients))
    if state is None:
        state = initial_state(net, weights)
    done = optimizer_update(net, weights, gradients, state, count)
    after = done.weights
    if hook is not None:
        after = tuple(hook(f"theta{l}.after", w) for l, w in enumerate(after, 1))
    return PassNumbers(z, a, terms, loss, dE_dout, delta, gradients, after, done.state, done)


def batch_loss(net: Network, weights: tuple, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss over all examples (and the outputs), without a backward pass."""
    _, a = forward(net, weights, x)
    o = a[net.L]
    return net.loss.batch_loss(net.loss.terms(o, t)), o


def all_finite(weights: tuple) -> bool:
    return all(bool(np.isfinite(w).all()) for w in weights)


# ----------------------------------------------------------------------------------------- the fast path

@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class TrainResult:
    """Where training got to: the weights after ``epochs`` epochs and the loss of each epoch."""

    epochs: int
    weights: tuple[np.ndarray, ...] = field(repr=False)
    losses: np.ndarray = field(repr=False)  # losses[e-1] = epoch e's loss before its first update
    state: tuple = field(default=(), repr=False)  # the optimizer's state after the last epoch

    @property
    def finite(self) -> bool:
        """Every loss and the final weights are finite. Weights that stop being finite never become finite
        again (nan and inf stay), so this says no epoch of the run lost its loss or its weights."""
        return bool(np.isfinite(self.losses).all()) and all_finite(self.weights)


def train(scenario: Scenario, epochs: int, start: tuple | None = None, first_epoch: int = 1,
          net: Network | None = None, keep: Callable[[int, tuple], None] | None = None,
          state: State | None = None, wanted: Callable[[int, int], Container[int]] | None = None) -> TrainResult:
    """Train ``epochs`` epochs without materializing steps (bit-identical to the stepped path).

    ``start`` and ``state`` are the weights and the optimizer state before ``first_epoch`` (default: the
    scenario's weights, a zero state). ``keep(e, packed)``, when given, is called with :func:`pack` of the
    weights and state before each epoch ``e`` reached (``first_epoch + 1`` … ``first_epoch + epochs``): the
    trace stores checkpoints this way. ``wanted(first_epoch, last)``, when given, narrows those to the epochs
    it returns (``last`` = ``first_epoch + epochs``): :meth:`~.storage.Checkpoints.wanted`, so a long run
    copies only what is kept."""
    net = net or Network(scenario)
    weights = tuple(np.array(w) for w in (start if start is not None else scenario.weights))
    state = state if state is not None else start_state(net, weights)
    x, t = scenario.inputs, scenario.targets
    plan, n = net.plan, net.n_examples
    losses = np.empty(epochs)
    keep_all = keep
    epochs_kept = None if keep is None or wanted is None else wanted(first_epoch, first_epoch + epochs)
    if keep is not None and epochs_kept is not None:
        keep = partial(_keep_wanted, keep, epochs_kept)
    with np.errstate(all="ignore"):
        if plan.mode == "batch" and net.plain and net.masks is None:
            weights = _train_plain_batch(net, weights, state, x, t, losses, first_epoch, keep_all, epochs_kept)
        elif plan.mode == "batch":
            for e in range(epochs):
                numbers = compute_pass(net, weights, x, t, state, plan.first_update(n, first_epoch + e))
                losses[e] = numbers.loss
                weights, state = numbers.weights_after, numbers.state_after
                if keep is not None:
                    keep(first_epoch + e + 1, pack(weights, state))
        else:
            fixed = None if plan.shuffle else [select(x, t, rows) for rows in plan.batches(n, 1)]
            for e in range(epochs):
                epoch = first_epoch + e
                losses[e] = batch_loss(net, weights, x, t)[0]
                count = plan.first_update(n, epoch) - 1
                for xi, ti in fixed or [select(x, t, rows) for rows in plan.batches(n, epoch)]:
                    count += 1
                    numbers = compute_pass(net, weights, xi, ti, state, count)
                    weights, state = numbers.weights_after, numbers.state_after
                if keep is not None:
                    keep(epoch + 1, pack(weights, state))
    return TrainResult(first_epoch - 1 + epochs, weights, losses, state)


def _keep_wanted(keep: Callable[[int, tuple], None], epochs: Container[int], e: int, packed: tuple) -> None:
    if e in epochs:
        keep(e, packed)


def _train_plain_batch(net: Network, weights: tuple, state: State, x: np.ndarray, t: np.ndarray,
                       losses: np.ndarray, first_epoch: int, keep: Callable[[int, tuple], None] | None,
                       epochs_kept: Container[int] | None) -> tuple:
    """The fast path's common case: plain gradient descent on the whole batch, nothing frozen.

    :func:`compute_pass`'s operations on the same operands, so bit-identical to it (the tests check it epoch
    by epoch), without what only the stepped path keeps (hooks, the pass's quantities, its record): the
    helpers (:func:`forward`, :func:`output_delta`, :func:`hidden_delta`, :func:`gradient`, :func:`update`)
    written out in one loop (a change to a helper's arithmetic is made here too). ``weights`` are this
    function's own arrays: each epoch's update is written into them (``w − lr·g`` computed in place is the
    same subtraction), their views are taken once, and ``keep`` is given copies (of ``epochs_kept`` only, when
    given). Fills ``losses``; returns the weights after the last epoch (``state``, empty for
    plain descent, is kept as it is)."""
    L, bias, lr, shared = net.L, net.bias, net.lr, net.shared
    flat_state = pack((), state)
    functions = [act.function for act in net.activations]
    derivatives = [act.derivative for act in net.activations]
    out_derivative = derivatives[-1]
    terms_of, combine, grad_of = net.loss.terms, net.loss.combine, net.loss.grad
    multiply, subtract, add_reduce = np.multiply, np.subtract, np.add.reduce
    # per matrix theta_l (l = 1 … L-1): the block multiplying the units, its transpose, the bias column
    # (views into the weights, which are updated in place), and the array its gradient is built in
    blocks = [w[:, 1:] if bias else w for w in weights]
    blocks_t = [b.T for b in blocks]
    biases = [w[:, 0] if bias else None for w in weights]
    grads = [np.empty(w.shape, dtype=w.dtype) for w in weights] if bias else []
    z: list = [None] * (L + 1)
    a: list = [None] * (L + 1)
    a[1] = x
    for e in range(len(losses)):
        for l in range(1, L):  # forward: z[l+1] = a[l] · theta_l[:, 1:]ᵀ + theta_l[:, 0]
            zl = a[l] @ blocks_t[l - 1]
            if bias:
                zl += biases[l - 1]
            z[l + 1] = zl
            a[l + 1] = functions[l - 1](zl)
        o = a[L]
        losses[e] = combine(terms_of(o, t))
        dE_dout = grad_of(o, t)
        if out_derivative is None:  # softmax: the Jacobian applied to ∂E/∂o
            delta = o * (dE_dout - add_reduce(dE_dout * o, axis=1, keepdims=True))
        else:
            delta = dE_dout * out_derivative(z[L], o)
        for l in range(L - 1, 0, -1):  # backward: theta_l's gradient from delta[l+1], then delta[l]
            if bias:
                g = grads[l - 1]
                db = add_reduce(delta, axis=0)
                g[:, 0] = add_reduce(db) if shared else db  # a shared bias: the sum over its units, every row
                g[:, 1:] = delta.T @ a[l]
            else:
                g = delta.T @ a[l]
            if l > 1:
                derivative = derivatives[l - 2]
                assert derivative is not None, "softmax is an output activation"
                delta = (delta @ blocks[l - 1]) * derivative(z[l], a[l])
            subtract(weights[l - 1], multiply(lr, g, out=g), out=weights[l - 1])  # w - lr * g
        if keep is not None and (epochs_kept is None or first_epoch + e + 1 in epochs_kept):
            keep(first_epoch + e + 1, tuple([w.copy() for w in weights]) + flat_state)  # pack(copies, state)
    return weights
