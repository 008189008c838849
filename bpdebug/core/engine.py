"""The NumPy engine: the ordered steps of training, and a fast path that skips them.

Everything numeric is computed by :func:`compute_pass`, one update's worth of work (forward pass,
error terms, backward pass, gradients, update). The stepped path (:class:`Trace`) wraps each pass in a
:class:`PassRecord` and cuts it into :class:`Step` values a view walks one at a time; the fast path
(:func:`train`) calls the very same function and keeps only the weights, so both agree bit for bit.

Conventions. Examples are rows: ``a[l]`` is examples × units of layer ``l`` (bias unit excluded),
``z[l+1] = a[l] · theta_l[:, 1:]ᵀ + theta_l[:, 0]`` when the network has bias units. ``delta[l]`` is
∂E/∂z[l], rows = examples. Gradients of a pass are always computed from the weights *before* its update
(``PassRecord.weights_before``); the update writes ``weights_after``.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .params import Param
from .scenario import Expectation, Scenario

PHASES = ("forward", "error", "backward", "update")


# ------------------------------------------------------------------------------------------- the numbers

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


class Network:
    """What compute_pass needs of a scenario, looked up once (activations, loss, masks)."""

    def __init__(self, scenario: Scenario) -> None:
        self.L = scenario.n_layers
        self.bias = scenario.bias
        self.activations = scenario.activations
        self.loss = scenario.loss
        self.lr = scenario.learning_rate
        # True where a parameter learns, False where frozen; None when nothing is frozen (the common case)
        if scenario.frozen:
            masks = [np.ones(w.shape, dtype=bool) for w in scenario.weights]
            for p in scenario.params:
                if p.canonical in scenario.frozen:
                    masks[p.layer - 1][p.row, p.col] = False
            self.masks: tuple | None = tuple(masks)
        else:
            self.masks = None


def forward(net: Network, weights: tuple, x: np.ndarray) -> tuple[list, list]:
    """z and a of every layer for the examples in the rows of ``x``."""
    L, bias = net.L, net.bias
    z: list = [None, None]
    a: list = [None, x]
    for l in range(1, L):
        w = weights[l - 1]
        zl = a[l] @ w[:, 1:].T + w[:, 0] if bias else a[l] @ w.T
        z.append(zl)
        a.append(net.activations[l - 1].function(zl))
    return z, a


def compute_pass(net: Network, weights: tuple, x: np.ndarray, t: np.ndarray) -> PassNumbers:
    """One update: forward, error, backward, gradients, and the new weights (weights are not changed)."""
    L, bias = net.L, net.bias
    z, a = forward(net, weights, x)
    o = a[L]
    terms = net.loss.terms(o, t)
    loss = net.loss.batch_loss(terms)
    dE_dout = net.loss.grad(o, t)
    out_act = net.activations[-1]
    delta: list = [None] * (L + 1)
    if out_act.derivative is None:  # softmax: the Jacobian applied to ∂E/∂o
        delta[L] = o * (dE_dout - (dE_dout * o).sum(axis=1, keepdims=True))
    else:
        delta[L] = dE_dout * out_act.derivative(z[L], o)
    for l in range(L - 1, 1, -1):
        w = weights[l - 1]
        back = delta[l + 1] @ (w[:, 1:] if bias else w)
        delta[l] = back * net.activations[l - 2].derivative(z[l], a[l])
    gradients = []
    for l in range(1, L):
        gw = delta[l + 1].T @ a[l]
        if bias:
            gw = np.hstack([delta[l + 1].sum(axis=0)[:, None], gw])
        gradients.append(gw)
    lr, masks = net.lr, net.masks
    if masks is None:
        after = tuple(w - lr * g for w, g in zip(weights, gradients, strict=True))
    else:
        # a frozen parameter keeps its value exactly, even when its gradient is inf or nan
        after = tuple(np.where(m, w - lr * g, w) for w, g, m in zip(weights, gradients, masks, strict=True))
    return PassNumbers(z, a, terms, loss, dE_dout, delta, tuple(gradients), after)


def batch_loss(net: Network, weights: tuple, x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss over all examples (and the outputs), without a backward pass."""
    _, a = forward(net, weights, x)
    o = a[net.L]
    return net.loss.batch_loss(net.loss.terms(o, t)), o


# ----------------------------------------------------------------------------------------- the fast path

@dataclass(frozen=True)
class TrainResult:
    """Where training got to: the weights after ``epochs`` epochs and the loss of each epoch."""

    epochs: int
    weights: tuple[np.ndarray, ...] = field(repr=False)
    losses: np.ndarray = field(repr=False)  # losses[e-1] = epoch e's loss before its first update


def train(scenario: Scenario, epochs: int, start: tuple | None = None, first_epoch: int = 1,
          net: Network | None = None) -> TrainResult:
    """Train ``epochs`` epochs without materializing steps (bit-identical to the stepped path)."""
    net = net or Network(scenario)
    weights = tuple(np.array(w) for w in (start if start is not None else scenario.weights))
    x, t = scenario.inputs, scenario.targets
    losses = np.empty(epochs)
    if scenario.update == "batch":
        for e in range(epochs):
            numbers = compute_pass(net, weights, x, t)
            losses[e] = numbers.loss
            weights = numbers.weights_after
    else:
        rows = [(x[i:i + 1], t[i:i + 1]) for i in range(x.shape[0])]
        for e in range(epochs):
            losses[e] = batch_loss(net, weights, x, t)[0]
            for xi, ti in rows:
                weights = compute_pass(net, weights, xi, ti).weights_after
    return TrainResult(first_epoch - 1 + epochs, weights, losses)


# ------------------------------------------------------------------------------------- the stepped path

@dataclass(frozen=True)
class PassRecord:
    """All numbers of one update, for the steps that show it. Immutable; shared by its steps."""

    epoch: int  # 1-based
    example: int | None  # 1-based example in online mode; None when the pass is the whole batch
    update: int  # 1-based count of updates since the start of training
    rows: tuple[int, ...]  # 0-based examples included
    weights_before: tuple[np.ndarray, ...] = field(repr=False)
    numbers: PassNumbers = field(repr=False)
    targets: np.ndarray = field(repr=False)  # the targets of the rows, examples × outputs
    scenario: Scenario | None = field(default=None, repr=False, compare=False)  # whose training this is

    @property
    def weights_after(self) -> tuple[np.ndarray, ...]:
        return self.numbers.weights_after

    @property
    def outputs(self) -> np.ndarray:
        return self.numbers.a[-1]

    @property
    def loss(self) -> float:
        return self.numbers.loss

    @property
    def weights_label(self) -> str:
        """Which weights this pass used, in words."""
        if self.update == 1:
            return "the starting weights"
        return f"the weights after update {self.update - 1}"


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: its loss before any update, and its passes (1 in batch mode, one per example online)."""

    epoch: int
    loss: float  # the epoch's loss (over all examples) before its first update
    outputs: np.ndarray = field(repr=False)  # all examples' outputs before the first update
    passes: tuple[PassRecord, ...] = field(repr=False)

    @property
    def weights_before(self) -> tuple[np.ndarray, ...]:
        return self.passes[0].weights_before

    @property
    def weights_after(self) -> tuple[np.ndarray, ...]:
        return self.passes[-1].weights_after


@dataclass(frozen=True)
class StepTemplate:
    """The shape of one step inside any pass (the same for every pass of a scenario)."""

    position: int
    phase: str  # forward | error | backward | update
    kind: str  # z | a | error | delta | gradient | update
    layer: int | None  # z/a/delta: the layer; gradient/update: the l of theta_l (None = every theta)
    computes: tuple[str, ...]  # quantity names: ("z2",), ("error", "loss"), ("grad.theta1",)
    uses: tuple[str, ...]  # quantity names it reads
    title: str


def step_templates(L: int) -> tuple[StepTemplate, ...]:
    """forward z2, a2 … zL, aL; error; backward deltaL … delta2, then ∂E/∂theta_{L-1} … theta_1; update."""
    out: list[StepTemplate] = []

    def add(phase, kind, layer, computes, uses, title):
        out.append(StepTemplate(len(out), phase, kind, layer, computes, uses, title))

    for l in range(2, L + 1):
        add("forward", "z", l, (f"z{l}",), (f"theta{l - 1}", f"a{l - 1}"), f"net input of layer {l}")
        add("forward", "a", l, (f"a{l}",), (f"z{l}",), f"output of layer {l}")
    add("error", "error", L, ("error", "loss"), (f"a{L}", "targets"), "errors and total error")
    add("backward", "delta", L, (f"delta{L}",), (f"a{L}", "targets", f"z{L}"), f"delta of output layer {L}")
    for l in range(L - 1, 1, -1):
        add("backward", "delta", l, (f"delta{l}",), (f"delta{l + 1}", f"theta{l}", f"z{l}"),
            f"delta of hidden layer {l}")
    for l in range(L - 1, 0, -1):
        add("backward", "gradient", l, (f"grad.theta{l}",), (f"delta{l + 1}", f"a{l}"),
            f"gradients of theta{l}")
    add("update", "update", None, tuple(f"theta{l}.after" for l in range(1, L)),
        tuple(f"grad.theta{l}" for l in range(1, L)), "gradient descent update")
    return tuple(out)


@dataclass(frozen=True)
class Step:
    """One keypress of the debugger: a quantity computed, from which inputs, with the pass's numbers.

    ``record`` holds the whole pass, later quantities included; :meth:`value` only answers for the
    quantities known at this step, so a view cannot show numbers from the future by accident.
    """

    index: int  # 0-based position in the trace
    template: StepTemplate
    record: PassRecord = field(repr=False)
    total: int = 0  # number of steps in the trace (for "step k of n")

    @property
    def scenario(self) -> Scenario | None:
        return self.record.scenario

    @property
    def epoch(self) -> int:
        return self.record.epoch

    @property
    def example(self) -> int | None:
        return self.record.example

    @property
    def phase(self) -> str:
        return self.template.phase

    @property
    def kind(self) -> str:
        return self.template.kind

    @property
    def layer(self) -> int | None:
        return self.template.layer

    @property
    def computes(self) -> tuple[str, ...]:
        return self.template.computes

    @property
    def uses(self) -> tuple[str, ...]:
        return self.template.uses

    @property
    def title(self) -> str:
        return self.template.title

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """The weights this step's pass computes with (before its update)."""
        return self.record.weights_before

    @property
    def known(self) -> frozenset[str]:
        return _known_at(self.record.numbers, self.template.position, len(self.record.numbers.a) - 1)

    def is_known(self, name: str) -> bool:
        return _base_quantity(name) in self.known

    def value(self, name: str) -> np.ndarray | float:
        """A quantity of this pass by name (``z2``, ``a1``, ``delta3``, ``grad.theta1``, ``theta2``,
        ``theta2.after``, ``error``, ``loss``, ``outputs``, ``targets``, ``dE_dout``); KeyError when it
        is not yet computed at this step."""
        if not self.is_known(name):
            raise KeyError(f"{name} is not computed yet at step {self.index + 1}")
        return quantity(self.record, name)

    def param(self, p: Param, which: str = "before") -> float:
        w = self.record.weights_before if which == "before" else self.record.weights_after
        return float(w[p.layer - 1][p.row, p.col])

    def gradient(self, p: Param) -> float | None:
        """∂E/∂p for this pass, or None while its gradient step is still ahead."""
        if not self.is_known(f"grad.theta{p.layer}"):
            return None
        return float(self.record.numbers.gradients[p.layer - 1][p.row, p.col])


def _base_quantity(name: str) -> str:
    return "error" if name == "dE_dout" else name


def _known_at(numbers: PassNumbers, position: int, L: int) -> frozenset[str]:
    return _known_sets(L)[position]


@lru_cache(maxsize=64)
def _known_sets(L: int) -> tuple[frozenset[str], ...]:
    """For each step position, the quantities known once that step has run."""
    known = {"a1", "inputs", "targets"} | {f"theta{l}" for l in range(1, L)}
    sets = []
    for tpl in step_templates(L):
        known |= set(tpl.computes)
        if f"a{L}" in known:
            known.add("outputs")
        sets.append(frozenset(known))
    return tuple(sets)


def quantity(record: PassRecord, name: str) -> np.ndarray | float:
    """A named quantity of a pass, whether or not a step has reached it (views use Step.value)."""
    n = record.numbers
    L = len(n.a) - 1
    if name == "loss":
        return n.loss
    if name == "error":
        return n.terms
    if name == "dE_dout":
        return n.dE_dout
    if name in ("outputs",):
        return n.a[L]
    if name == "inputs":
        return n.a[1]
    if name == "targets":
        return record.targets
    kind = name.rstrip("0123456789")
    if kind in ("z", "a", "delta") and name[len(kind):].isdigit():
        l = int(name[len(kind):])
        values = {"z": n.z, "a": n.a, "delta": n.delta}[kind]
        if 0 <= l < len(values) and values[l] is not None:
            return values[l]
    if name.startswith("grad.theta"):
        return n.gradients[int(name[10:]) - 1]
    if name.startswith("theta"):
        if name.endswith(".after"):
            return n.weights_after[int(name[5:-6]) - 1]
        return record.weights_before[int(name[5:]) - 1]
    raise KeyError(f"unknown quantity {name}")


class Trace:
    """The sequence of steps for a scenario, computed lazily an epoch at a time and cached.

    Steps are numbered 0 … ``len(trace) - 1``; the trace covers ``epochs`` epochs (the scenario's by
    default) and can be :meth:`extend`-ed, for "go to epoch N" past the end. Epochs are recomputed from
    the nearest stored checkpoint with the fast path, which is bit-identical to stepping.
    """

    def __init__(self, scenario: Scenario, epochs: int | None = None, cache_epochs: int = 32) -> None:
        self.scenario = scenario
        self.net = Network(scenario)
        self.templates = step_templates(scenario.n_layers)
        self.steps_per_pass = len(self.templates)
        self.passes_per_epoch = 1 if scenario.update == "batch" else scenario.n_examples
        self.steps_per_epoch = self.steps_per_pass * self.passes_per_epoch
        self.epochs = epochs or scenario.epochs
        self._cache: OrderedDict[int, EpochRecord] = OrderedDict()
        self._cache_size = cache_epochs
        # weights before an epoch, kept every `_checkpoint_every` epochs (about 64 MB per 1000 epochs at most)
        # plus the latest one reached, so stepping forward never retrains from far back
        self._checkpoints: dict[int, tuple] = {1: scenario.weights}
        self._checkpoint_epochs: list[int] = [1]  # sorted keys of _checkpoints
        self._latest: tuple[int, tuple] = (1, scenario.weights)
        n_params = sum(w.size for w in scenario.weights)
        self._checkpoint_every = max(1, (n_params * 8 * 1000) // (64 << 20))
        self._losses = np.empty(0)  # loss of epochs 1 … len, from the fast path

    def __len__(self) -> int:
        return self.epochs * self.steps_per_epoch

    def extend(self, epochs: int) -> None:
        """Make the trace cover at least ``epochs`` epochs."""
        self.epochs = max(self.epochs, epochs)

    def weights_before(self, epoch: int) -> tuple[np.ndarray, ...]:
        """The weights at the start of ``epoch`` (1-based)."""
        if epoch in self._cache:
            return self._cache[epoch].weights_before
        if epoch in self._checkpoints:
            return self._checkpoints[epoch]
        start = self._checkpoint_epochs[bisect.bisect_right(self._checkpoint_epochs, epoch) - 1]
        if start < self._latest[0] <= epoch:
            start = self._latest[0]
        weights = self._latest[1] if start == self._latest[0] else self._checkpoints[start]
        for e in range(start, epoch):
            weights = train(self.scenario, 1, start=weights, net=self.net).weights
            self._remember(e + 1, weights)
        return weights

    def _remember(self, epoch: int, weights: tuple) -> None:
        """Keep the weights before ``epoch`` as the latest, and as a checkpoint on the checkpoint grid."""
        if epoch >= self._latest[0]:
            self._latest = (epoch, weights)
        if epoch % self._checkpoint_every == 0 and epoch not in self._checkpoints:
            self._checkpoints[epoch] = weights
            bisect.insort(self._checkpoint_epochs, epoch)

    def epoch(self, epoch: int) -> EpochRecord:
        """Every number of ``epoch`` (1-based), computed on first use."""
        if epoch < 1:
            raise IndexError(f"epoch {epoch}: epochs start at 1")
        if epoch in self._cache:
            self._cache.move_to_end(epoch)
            return self._cache[epoch]
        weights = self.weights_before(epoch)
        s = self.scenario
        passes = []
        first_update = (epoch - 1) * self.passes_per_epoch
        if s.update == "batch":
            numbers = compute_pass(self.net, weights, s.inputs, s.targets)
            passes.append(PassRecord(epoch, None, first_update + 1, tuple(range(s.n_examples)), weights,
                                     numbers, s.targets, s))
            loss, outputs = numbers.loss, numbers.a[-1]  # the batch pass is the epoch's forward pass
        else:
            loss, outputs = batch_loss(self.net, weights, s.inputs, s.targets)
            for i in range(s.n_examples):
                numbers = compute_pass(self.net, weights, s.inputs[i:i + 1], s.targets[i:i + 1])
                passes.append(PassRecord(epoch, i + 1, first_update + i + 1, (i,), weights, numbers,
                                         s.targets[i:i + 1], s))
                weights = numbers.weights_after
        record = EpochRecord(epoch, loss, outputs, tuple(passes))
        self._cache[epoch] = record
        self._remember(epoch + 1, record.weights_after)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return record

    def step(self, index: int) -> Step:
        """Step ``index`` (0-based); negative indices count from the end."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"step {index} outside 0..{n - 1}")
        epoch, rest = divmod(index, self.steps_per_epoch)
        pass_no, position = divmod(rest, self.steps_per_pass)
        record = self.epoch(epoch + 1).passes[pass_no]
        return Step(index, self.templates[position], record, n)

    def __getitem__(self, index: int) -> Step:
        return self.step(index)

    def __iter__(self):
        return (self.step(i) for i in range(len(self)))

    def first_step_of(self, epoch: int, example: int | None = None, kind: str | None = None,
                      layer: int | None = None) -> int:
        """The index of the first step of ``epoch`` (and example, in online mode) of the given kind."""
        base = (epoch - 1) * self.steps_per_epoch
        if example is not None and self.passes_per_epoch > 1:
            base += (example - 1) * self.steps_per_pass
        for t in self.templates:
            if (kind is None or t.kind == kind) and (layer is None or t.layer == layer):
                return base + t.position
        raise KeyError(f"no {kind} step for layer {layer}")

    @property
    def losses_computed(self) -> int:
        """How many epochs' losses :meth:`loss_history` has already computed."""
        return len(self._losses)

    def loss_history(self, epochs: int | None = None) -> np.ndarray:
        """Loss of each epoch 1 … ``epochs`` (default: the trace's) before its first update.

        Computed with the fast path (bit-identical to ``epoch(e).loss``) and kept, so asking again or
        for a few more epochs costs only the new ones."""
        n = epochs or self.epochs
        done = len(self._losses)
        if done < n:
            weights, parts, epoch = self.weights_before(done + 1), [self._losses], done + 1
            while epoch <= n:  # in chunks that end on the checkpoint grid, so later jumps start nearby
                chunk = min(n + 1, (epoch // self._checkpoint_every + 1) * self._checkpoint_every) - epoch
                result = train(self.scenario, chunk, start=weights, net=self.net)
                parts.append(result.losses)
                weights, epoch = result.weights, epoch + chunk
                self._remember(epoch, weights)
            self._losses = np.concatenate(parts)
        return self._losses[:n].copy()

    def final(self, epochs: int | None = None) -> tuple[float, np.ndarray, tuple]:
        """Loss, outputs and weights after ``epochs`` epochs."""
        epochs = epochs or self.epochs
        weights = self.epoch(epochs).weights_after
        loss, outputs = batch_loss(self.net, weights, self.scenario.inputs, self.scenario.targets)
        return loss, outputs, weights

    # ----------------------------------------------------------------------------------- expectations
    def check(self, expectation: Expectation) -> ExpectationResult:
        """Compute an expectation's quantity and compare it with the printed value."""
        e = expectation
        self.extend(e.epoch)
        record = self.epoch(e.epoch)
        online = self.passes_per_epoch > 1
        pass_ = record.passes[e.example - 1] if online else record.passes[0]
        row = 0 if online else e.example - 1
        kind = e.kind
        if kind in ("z", "a"):
            step = self.first_step_of(e.epoch, e.example, kind if e.layer > 1 else None,
                                      e.layer if e.layer > 1 else None)
            computed = np.atleast_1d(quantity(pass_, f"{kind}{e.layer}")[row])
        elif kind == "error":
            step = self.first_step_of(e.epoch, e.example, "error")
            computed = np.atleast_1d(pass_.numbers.terms[row])
        elif kind == "loss":
            step = self.first_step_of(e.epoch, 1 if online else None, "error")
            computed = np.array([record.loss])
        elif kind == "grad":
            p = e.param
            step = self.first_step_of(e.epoch, e.example, "gradient", p.layer)
            computed = np.array([pass_.numbers.gradients[p.layer - 1][p.row, p.col]])
        elif kind == "param":
            p = e.param
            step = self.first_step_of(e.epoch, e.example)
            computed = np.array([pass_.weights_before[p.layer - 1][p.row, p.col]])
        else:  # param_after
            p = e.param
            step = self.first_step_of(e.epoch, e.example, "update")
            computed = np.array([pass_.weights_after[p.layer - 1][p.row, p.col]])
        printed = np.array(e.value)
        holds = bool(np.all(np.abs(printed - computed) <= e.tolerance + 1e-15))
        return ExpectationResult(e, tuple(float(v) for v in computed), holds, step)

    def check_all(self) -> tuple[ExpectationResult, ...]:
        return tuple(self.check(e) for e in self.scenario.expectations)


@dataclass(frozen=True)
class ExpectationResult:
    """An expectation, the value the engine computed for it, and whether the printed figure holds."""

    expectation: Expectation
    computed: tuple[float, ...]
    holds: bool
    step: int  # index of the step at which it is checked
