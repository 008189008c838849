"""The stepped path: the ordered steps of training, computed lazily an epoch at a time.

The trace wraps each pass of :func:`~bpdebug.core.compute.compute_pass` in a :class:`PassRecord` and cuts it
into :class:`Step` values a view walks one at a time. Far epochs are reached with the fast path
(:func:`~bpdebug.core.compute.train`, bit-identical) from the nearest checkpoint; checkpoints and the loss
history stay within fixed memory whatever the run's length (:mod:`bpdebug.core.storage`). The trace also
knows where the run first stops being finite (:meth:`Trace.divergence`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .computations import computation
from .compute import (
    Network,
    PassNumbers,
    TrainResult,
    batch_loss,
    compute_pass,
    gradient,
    hidden_delta,
    optimizer_update,
    output_delta,
    pack,
    start_state,
    train,
    unpack,
    update,
)
from .lazy import RECORD_CACHE_BYTES, LazyTrace, Pace, TemplateStep
from .params import Param
from .quantity import LAYER_KINDS, Kind, Phase, Quantity, StepKind, UpdateMode, When, unit_name
from .scenario import Expectation, Scenario
from .storage import CHECKPOINT_BYTES, Checkpoints
from .training import select

if TYPE_CHECKING:
    from .divergence import Divergence

PHASES = tuple(Phase)


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class EpochNumbers:
    """One epoch as the fast path leaves it: its loss before its first update, the weights before and after."""

    epoch: int
    loss: float | None  # None: a chunk skimmed up to this epoch (see Trace.fast_epochs)
    weights_before: tuple[np.ndarray, ...]
    weights_after: tuple[np.ndarray, ...]


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class PassRecord:
    """All numbers of one update, for the steps that show it. Immutable; shared by its steps."""

    epoch: int  # 1-based
    example: int | None  # 1-based example in online mode; None when the pass is a (mini-)batch
    update: int  # 1-based count of updates since the start of training
    rows: tuple[int, ...]  # 0-based examples included, in the order of the pass's rows
    weights_before: tuple[np.ndarray, ...] = field(repr=False)
    numbers: PassNumbers = field(repr=False)
    targets: np.ndarray = field(repr=False)  # the targets of the rows, examples × outputs
    scenario: Scenario | None = field(default=None, repr=False, compare=False)  # whose training this is
    state_before: tuple = field(default=(), repr=False, compare=False)  # the optimizer's, per matrix
    batch: int = 1  # 1-based mini-batch of the epoch

    @property
    def weights_after(self) -> tuple[np.ndarray, ...]:
        return self.numbers.weights_after

    @property
    def state_after(self) -> tuple:
        return self.numbers.state_after

    def state(self, name: str, p: Param) -> float | None:
        """The optimizer's ``name`` ("v", "m", or Adam's "mhat", "vhat") for ``p`` after this pass's update;
        None when the optimizer keeps no such value."""
        upd = self.numbers.optimizer
        if upd is None or self.scenario is None:
            return None
        opt = self.scenario.plan.optimizer
        if name in opt.state_names:
            return float(upd.state[p.layer - 1][opt.state_names.index(name)][p.row, p.col])
        if name in opt.shown_names:
            return float(upd.shown[p.layer - 1][opt.shown_names.index(name)][p.row, p.col])
        return None

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


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
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

    def nbytes(self) -> int:
        """Memory its arrays take (weights before are shared with the previous pass or a checkpoint)."""
        total = self.outputs.nbytes
        for p in self.passes:
            n = p.numbers
            arrays = [*n.z, *n.a, n.terms, n.dE_dout, *n.delta, *n.gradients, *n.weights_after,
                      *(a for per_matrix in n.state_after for a in per_matrix)]
            total += sum(x.nbytes for x in arrays if x is not None)
        return total


@dataclass(frozen=True)
class StepTemplate:
    """The shape of one step inside any pass (the same for every pass of a scenario)."""

    position: int
    phase: Phase
    kind: StepKind
    layer: int | None  # z/a/delta: the layer; gradient/update: the l of theta_l (None = every theta)
    computes: tuple[str, ...]  # quantity names: ("z2",), ("error", "loss"), ("grad.theta1",)
    uses: tuple[str, ...]  # quantity names it reads
    title: str

    @property
    def quantities(self) -> tuple[Quantity, ...]:
        """What it computes, as typed quantities."""
        return tuple(Quantity.parse(name) for name in self.computes)


def step_templates(L: int) -> tuple[StepTemplate, ...]:
    """forward z2, a2 … zL, aL; error; backward deltaL … delta2, then ∂E/∂theta_{L-1} … theta_1; update."""
    out: list[StepTemplate] = []

    def add(phase: str, kind: str, layer: int | None, computes: tuple[str, ...], uses: tuple[str, ...],
            title: str) -> None:
        out.append(StepTemplate(len(out), Phase(phase), StepKind(kind), layer, computes, uses, title))

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
class Step(TemplateStep):
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
    def kind(self) -> StepKind:
        return self.template.kind

    @property
    def layer(self) -> int | None:
        return self.template.layer

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """The weights this step's pass computes with (before its update)."""
        return self.record.weights_before

    @property
    def known(self) -> frozenset[str]:
        return _known_sets(len(self.record.numbers.a) - 1)[self.template.position]

    def is_known(self, name: str | Quantity) -> bool:
        try:
            q = Quantity.parse(name)
        except ValueError:
            return False
        return _base_name(q) in self.known

    def value(self, name: str | Quantity) -> np.ndarray | float:
        """A quantity of this pass (a :class:`Quantity` or its name: ``z2``, ``a1``, ``delta3``,
        ``grad.theta1``, ``theta2``, ``theta2.after``, ``error``, ``loss``, ``outputs``, ``targets``,
        ``dE_dout``, one entry ``grad.theta1[2,0]``); KeyError when it is not yet computed at this step
        (or is no quantity)."""
        try:
            q = Quantity.parse(name)
        except ValueError as exc:
            raise KeyError(str(exc)) from None
        if _base_name(q) not in self.known:
            raise KeyError(f"{q} is not computed yet at step {self.index + 1}")
        return quantity(self.record, q)

    def param(self, p: Param, which: str = "before") -> float:
        w = self.record.weights_before if which == "before" else self.record.weights_after
        return float(w[p.layer - 1][p.row, p.col])

    def gradient(self, p: Param) -> float | None:
        """∂E/∂p for this pass, or None while its gradient step is still ahead."""
        if not self.is_known(f"grad.theta{p.layer}"):
            return None
        return float(self.record.numbers.gradients[p.layer - 1][p.row, p.col])


def _base_name(q: Quantity) -> str:
    """The name the known-sets use: the whole matrix; ∂E/∂o is known with the error, and a layer's chain factors
    ∂E/∂a and ∂a/∂z with its delta."""
    if q.kind is Kind.DE_DOUT:
        return "error"
    if q.kind in (Kind.DADZ, Kind.DE_DA):
        return f"delta{q.layer}"
    return q.base.name


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


def quantity(record: PassRecord, name: str | Quantity) -> np.ndarray | float:
    """A named quantity of a pass, whether or not a step has reached it (views use Step.value)."""
    q = Quantity.parse(name)
    n = record.numbers
    L = len(n.a) - 1
    k = q.kind
    if k is Kind.LOSS:
        return n.loss
    if k is Kind.ERROR:
        return n.terms
    if k is Kind.DE_DOUT:
        return n.dE_dout
    if k is Kind.OUTPUTS:
        return n.a[L]
    if k is Kind.INPUTS:
        return n.a[1]
    if k is Kind.TARGETS:
        return record.targets
    l = q.layer if q.layer is not None else -1
    if k in (Kind.DADZ, Kind.DE_DA):
        if not 2 <= l <= L:
            raise KeyError(f"unknown quantity {q}: the network has layers 2 … {L} after its inputs")
        scenario = record.scenario
        activations = scenario.activations if scenario is not None else ()
        return chain_factor(n, record.weights_before, activations, k, l)
    if k in (Kind.Z, Kind.A, Kind.DELTA):
        values = {Kind.Z: n.z, Kind.A: n.a, Kind.DELTA: n.delta}[k]
        if 0 <= l < len(values) and values[l] is not None:
            return values[l]
        raise KeyError(f"unknown quantity {q}: the network has layers 1 … {L}")
    if not 1 <= l < L:
        raise KeyError(f"unknown quantity {q}: theta_l exists for l = 1 … {L - 1}")
    if k is Kind.GRAD:
        matrix = n.gradients[l - 1]
    elif q.when is When.AFTER:
        matrix = n.weights_after[l - 1]
    else:
        matrix = record.weights_before[l - 1]
    if q.param is None:
        return matrix
    i, j = q.param
    bias = matrix.shape[1] == n.a[l].shape[1] + 1
    row, col = i - 1, (j if bias else j - 1)
    if not (0 <= row < matrix.shape[0] and 0 <= col < matrix.shape[1]):
        raise KeyError(f"unknown quantity {q}: theta{l} is {matrix.shape[0]}x{matrix.shape[1]}")
    return float(matrix[row, col])

def chain_factor(n: PassNumbers, weights: tuple, activations: tuple, kind: Kind, l: int) -> np.ndarray:
    """A factor of delta_l = ∂E/∂a_l · ∂a_l/∂z_l of a pass: ``kind`` DE_DA (∂E/∂o for the output layer, the
    error sent back through theta_l for a hidden one) or DADZ (the activation's derivative f'(z_l))."""
    L = len(n.a) - 1
    if kind is Kind.DE_DA:
        if l == L:
            return n.dE_dout
        w = weights[l - 1]
        return n.delta[l + 1] @ (w[:, 1:] if w.shape[1] == n.a[l].shape[1] + 1 else w)
    derivative = activations[l - 2].derivative if 0 <= l - 2 < len(activations) else None
    if derivative is None:
        raise KeyError(f"dadz{l}: layer {l} has no elementwise derivative (softmax, or no scenario)")
    return derivative(n.z[l], n.a[l])


def expectation_value(n: PassNumbers, weights: tuple, activations: tuple, e: Expectation, row: int) -> np.ndarray:
    """The engine's value of expectation ``e`` in a pass (``row``: the example's row in it; the pass's loss for
    "loss"), as a 1-d array of as many numbers as were printed (a whole matrix row by row)."""
    kind = e.kind
    if kind in LAYER_KINDS:
        assert e.layer is not None
        if kind in ("dadz", "dE/da"):
            values = chain_factor(n, weights, activations, Kind(kind), e.layer)
        else:
            values = {"z": n.z, "a": n.a, "delta": n.delta}[kind][e.layer]
        values = np.atleast_1d(np.asarray(values)[row])
        return values[e.unit - 1:e.unit] if e.unit is not None else values
    if kind == "error":
        return np.atleast_1d(n.terms[row])
    if kind == "loss":
        return np.array([n.loss])
    l = e.param.layer if e.param is not None else e.layer
    assert l is not None
    if kind == "change":
        matrix = np.asarray(n.weights_after[l - 1]) - np.asarray(weights[l - 1])
    else:
        matrix = {"grad": n.gradients, "param": weights, "param_after": n.weights_after}[kind][l - 1]
    if e.param is None:
        return np.asarray(matrix, dtype=float).ravel()
    return np.array([matrix[e.param.row, e.param.col]])


class Trace(LazyTrace[EpochRecord, Step, tuple[np.ndarray, ...]]):
    """The sequence of steps for a scenario, computed lazily an epoch at a time and cached.

    Steps are numbered 0 … ``len(trace) - 1``; the trace covers ``epochs`` epochs (the scenario's by
    default) and can be :meth:`extend`-ed or :meth:`advance`-d, for "go to epoch N" past the end. Epochs are
    recomputed from the nearest stored checkpoint with the fast path, which is bit-identical to stepping.
    Memory stays bounded: ``checkpoint_bytes`` for checkpoints, ``cache_bytes`` (and at most
    ``cache_epochs`` epochs) for whole epochs, a fixed size for the loss history (:class:`LazyTrace`).
    """

    def __init__(self, scenario: Scenario, epochs: int | None = None, cache_epochs: int = 32,
                 checkpoint_bytes: int = CHECKPOINT_BYTES, cache_bytes: int = RECORD_CACHE_BYTES) -> None:
        self.scenario = scenario
        self.net = Network(scenario)
        self.templates = step_templates(scenario.n_layers)
        self.steps_per_pass = len(self.templates)
        self.update_mode = UpdateMode(scenario.update)
        self.plan = scenario.plan
        self.passes_per_epoch = self.plan.updates_per_epoch(scenario.n_examples)
        self.steps_per_epoch = self.steps_per_pass * self.passes_per_epoch
        # a checkpoint keeps the weights and the optimizer's state before an epoch (compute.pack)
        # (a what-if fork starts from the original's optimizer state: compute.start_state)
        super().__init__(epochs or scenario.epochs,
                         Checkpoints(pack(scenario.weights, start_state(self.net, scenario.weights)),
                                     checkpoint_bytes), cache_epochs, cache_bytes)

    # --------------------------------------------------------------------------------------- weights
    def weights_before(self, epoch: int) -> tuple[np.ndarray, ...]:
        """The weights at the start of ``epoch`` (1-based)."""
        return self.position_before(epoch)[0]

    def _start_of(self, record: EpochRecord) -> tuple[tuple[np.ndarray, ...], tuple]:
        return record.weights_before, record.passes[0].state_before

    def _pack(self, record: EpochRecord) -> tuple:
        return pack(record.weights_after, record.passes[-1].state_after)

    def _unpack(self, packed: tuple) -> tuple[tuple[np.ndarray, ...], tuple]:
        return unpack(self.net, packed)

    def _replay(self, start: int, position: tuple[tuple[np.ndarray, ...], tuple],
                epoch: int) -> tuple[tuple[np.ndarray, ...], tuple]:
        weights, state = position
        result = train(self.scenario, epoch - start, start=weights, first_epoch=start, net=self.net,
                       keep=self._checkpoints.put, state=state, wanted=self._checkpoints.wanted)
        return result.weights, result.state

    def _compute(self, epoch: int) -> EpochRecord:
        weights, state = self.position_before(epoch)
        s = self.scenario
        passes = []
        first_update = self.plan.first_update(s.n_examples, epoch) - 1  # updates before this epoch's
        with np.errstate(all="ignore"):
            if self.update_mode is UpdateMode.BATCH:
                numbers = compute_pass(self.net, weights, s.inputs, s.targets, state, first_update + 1)
                passes.append(PassRecord(epoch, None, first_update + 1, tuple(range(s.n_examples)), weights,
                                         numbers, s.targets, s, state))
                loss, outputs = numbers.loss, numbers.a[-1]  # the batch pass is the epoch's forward pass
            else:
                loss, outputs = batch_loss(self.net, weights, s.inputs, s.targets)
                online = self.update_mode is UpdateMode.ONLINE
                for k, rows in enumerate(self.plan.batches(s.n_examples, epoch)):
                    x, t = select(s.inputs, s.targets, rows)
                    numbers = compute_pass(self.net, weights, x, t, state, first_update + k + 1)
                    passes.append(PassRecord(epoch, rows[0] + 1 if online else None, first_update + k + 1, rows,
                                             weights, numbers, t, s, state, k + 1))
                    weights, state = numbers.weights_after, numbers.state_after
        return EpochRecord(epoch, loss, outputs, tuple(passes))

    def _step_at(self, index: int, total: int) -> Step:
        epoch, rest = divmod(index, self.steps_per_epoch)
        pass_no, position = divmod(rest, self.steps_per_pass)
        record = self.epoch(epoch + 1).passes[pass_no]
        return Step(index, self.templates[position], record, total)

    def pass_of(self, epoch: int, example: int) -> tuple[int, int]:
        """Which pass of ``epoch`` uses ``example`` (1-based), and its row in that pass: (0-based, 0-based)."""
        if self.update_mode is UpdateMode.BATCH:
            return 0, example - 1
        for k, rows in enumerate(self.plan.batches(self.scenario.n_examples, epoch)):
            if example - 1 in rows:
                return k, rows.index(example - 1)
        raise KeyError(f"example {example}: the data has {self.scenario.n_examples} examples")

    def first_step_of(self, epoch: int, example: int | None = None, kind: str | None = None,
                      layer: int | None = None) -> int:
        """The index of the first step of ``epoch`` (and of the pass that uses ``example``, when an epoch has
        several passes) of the given kind."""
        base = (epoch - 1) * self.steps_per_epoch
        if example is not None and self.passes_per_epoch > 1:
            base += self.pass_of(epoch, example)[0] * self.steps_per_pass
        for t in self.templates:
            if (kind is None or t.kind == kind) and (layer is None or t.layer == layer):
                return base + t.position
        raise KeyError(f"no {kind} step for layer {layer}")

    # ------------------------------------------------------------------------------------ long runs
    def fast_epochs(self, start: int, to_epoch: int,
                    skim: Callable[[TrainResult], bool] | None = None) -> Iterator[EpochNumbers]:
        """Each epoch ``start`` … ``to_epoch`` in turn (its loss, the weights before and after) by the fast path,
        trained in chunks of about :data:`~bpdebug.core.lazy.CHUNK_SECONDS`, each under the trace's lock (another
        thread waits at most a chunk; a consumer that stops mid-chunk has trained at most that much more). The trace
        keeps its checkpoints from this training, so stepping to an epoch reached, or past it, costs little.

        With ``skim``, a chunk is first trained keeping only the checkpoints the trace will still hold at
        ``to_epoch``; when ``skim`` of its result says nothing of interest can be in it, one entry with loss
        None stands for the chunk (its last epoch, the weights after it), else the chunk is trained again (the
        same bits) keeping each epoch's weights."""
        with self._lock:
            weights, state = self.position_before(start)
        epoch, pace = start, Pace()

        def wanted(first: int, last: int) -> Container[int]:  # the checkpoints still held at to_epoch
            return self._checkpoints.wanted(first, last, to_epoch)

        while epoch <= to_epoch:
            n = min(pace.size, to_epoch - epoch + 1)
            if skim is not None:
                started = time.perf_counter()
                with self._lock:
                    result = train(self.scenario, n, start=weights, first_epoch=epoch, net=self.net,
                                   keep=self._checkpoints.put, state=state, wanted=wanted)
                pace.timed(time.perf_counter() - started)
                if not skim(result):
                    weights, state, epoch = result.weights, result.state, epoch + n
                    yield EpochNumbers(epoch - 1, None, weights, weights)
                    continue
            afters: list[tuple[np.ndarray, ...]] = []

            def keep(e: int, packed: tuple, afters: list[tuple[np.ndarray, ...]] = afters) -> None:
                afters.append(unpack(self.net, packed)[0])  # the weights (a checkpoint also keeps the state)
                self._checkpoints.put(e, packed)

            started = time.perf_counter()
            with self._lock:
                result = train(self.scenario, n, start=weights, first_epoch=epoch, net=self.net, keep=keep,
                               state=state)
            if skim is None:
                pace.timed(time.perf_counter() - started)
            state = result.state
            for i in range(n):
                yield EpochNumbers(epoch + i, float(result.losses[i]), weights, afters[i])
                weights = afters[i]
            epoch += n

    def _train(self, first: int, n: int, to_epoch: int) -> tuple[np.ndarray, tuple[int, int] | None]:
        def wanted(first: int, last: int) -> Container[int]:  # the checkpoints still held at to_epoch
            return self._checkpoints.wanted(first, last, to_epoch)

        weights, state = self.position_before(first)
        result = train(self.scenario, n, start=weights, first_epoch=first, net=self.net,
                       keep=self._checkpoints.put, state=state, wanted=wanted)
        return result.losses, (None if result.finite else (first, first + n - 1))

    def final(self, epochs: int | None = None) -> tuple[float, np.ndarray, tuple]:
        """Loss, outputs and weights after ``epochs`` epochs."""
        epochs = epochs or self.epochs
        weights = self.epoch(epochs).weights_after
        with np.errstate(all="ignore"):
            loss, outputs = batch_loss(self.net, weights, self.scenario.inputs, self.scenario.targets)
        return loss, outputs, weights

    # ------------------------------------------------------------------------------------ divergence
    def _first_flagged_epoch(self, first: int, last: int) -> int | None:
        weights, state = self.position_before(first)
        for e in range(first, last + 1):
            result = train(self.scenario, 1, start=weights, first_epoch=e, net=self.net, state=state)
            if not result.finite:
                self._flagged = (e, e)
                return e
            weights, state = result.weights, result.state
        return None  # pragma: no cover - the stretch was flagged by the same arithmetic

    def _locate(self, epoch: int) -> Divergence | None:
        """Replay ``epoch`` step by step: the first quantity with a non-finite number."""
        from .divergence import Divergence, cause_text, first_bad, trouble  # only a run that diverged gets here
        record = self.epoch(epoch)
        base = (epoch - 1) * self.steps_per_epoch
        online = self.update_mode is not UpdateMode.BATCH  # the epoch's loss is computed on its own
        s = self.scenario
        for k, p in enumerate(record.passes):
            for tpl in self.templates:
                index = base + k * self.steps_per_pass + tpl.position
                for q in tpl.quantities:
                    values = quantity(p, q)
                    bad = first_bad(values)
                    if bad is not None:
                        return self._report(record, p, tpl, q, bad, index)
                if online and k == 0 and tpl.kind is StepKind.ERROR and not np.isfinite(record.loss):
                    # the epoch's loss over every example, shown at the first error step
                    kind = trouble(lambda: batch_loss(self.net, record.weights_before, s.inputs, s.targets))
                    return Divergence(epoch, None, index, "loss", None,
                                      cause_text(kind, f"the epoch's loss {s.loss.formula}"),
                                      float(record.loss), str(tpl.phase), "E_total (all examples)")
        return None

    def _report(self, record: EpochRecord, p: PassRecord, tpl: StepTemplate, q: Quantity,
                bad: tuple[int, ...], index: int) -> Divergence:
        from .divergence import Divergence, cause_text, label, product_trouble, trouble
        s, net, n = self.scenario, self.net, p.numbers
        w, L = p.weights_before, s.n_layers
        value = float(np.asarray(quantity(p, q))[bad])
        unit: str | None = None
        if q.kind in (Kind.Z, Kind.A, Kind.DELTA) and q.layer is not None:
            unit = unit_name(s.layers, q.layer, bad[1] + 1)
        elif q.kind is Kind.ERROR:
            unit = unit_name(s.layers, L, bad[1] + 1)
        elif q.kind in (Kind.GRAD, Kind.THETA) and q.layer is not None:
            unit = s.params.at(q.layer, *bad).short
        l = q.layer or 0
        # the numbers recomputed (under np.errstate, which names the trouble); the words from the step's description
        about = computation(s, tpl.kind, tpl.layer, "theta.after" if q.kind is Kind.THETA else q.name)
        where = f"{about.words} {unit}" if about.names_unit else about.words
        if q.kind is Kind.Z:
            kind = trouble(lambda: n.a[l - 1] @ w[l - 2][:, 1:].T + w[l - 2][:, 0] if net.bias
                           else n.a[l - 1] @ w[l - 2].T)
            kind = kind or product_trouble(value)
        elif q.kind is Kind.A:
            kind = trouble(lambda: net.activations[l - 2].function(n.z[l]))
        elif q.kind is Kind.ERROR:
            kind = trouble(lambda: s.loss.terms(n.a[L], p.targets))
        elif q.kind is Kind.LOSS:
            kind = trouble(lambda: s.loss.batch_loss(n.terms))
        elif q.kind is Kind.DELTA and l == L:
            kind = trouble(lambda: output_delta(net, n.z[L], n.a[L], s.loss.grad(n.a[L], p.targets)))
        elif q.kind is Kind.DELTA:
            kind = trouble(lambda: hidden_delta(net, w, l, n.delta[l + 1], n.z[l], n.a[l]))
            kind = kind or product_trouble(value)
        elif q.kind is Kind.GRAD:
            kind = trouble(lambda: gradient(net, n.delta[l + 1], n.a[l]))
            kind = kind or product_trouble(value)
        elif net.plain:  # theta.after
            kind = trouble(lambda: update(net, w, n.gradients))
        else:
            kind = trouble(lambda: optimizer_update(net, w, n.gradients, p.state_before, p.update))
        cause = cause_text(kind, where)
        return Divergence(record.epoch, p.example, index, q.name, unit, cause, value, str(tpl.phase),
                          label(q, unit))

    # ----------------------------------------------------------------------------------- expectations
    def check(self, expectation: Expectation) -> ExpectationResult:
        """Compute an expectation's quantity and compare it with the printed value (the trace is unchanged:
        the epoch is computed, not added to the walk)."""
        e = expectation
        record = self.epoch(e.epoch)
        pass_no, row = self.pass_of(e.epoch, e.example)
        pass_ = record.passes[pass_no]
        kind = e.kind
        if kind in ("z", "a"):
            assert e.layer is not None
            step = self.first_step_of(e.epoch, e.example, kind if e.layer > 1 else None,
                                      e.layer if e.layer > 1 else None)
        elif kind in ("delta", "dadz", "dE/da"):
            step = self.first_step_of(e.epoch, e.example, "delta", e.layer)
        elif kind in ("error", "loss"):  # the epoch's loss is shown at its first pass's error step
            step = self.first_step_of(e.epoch, None if self.epoch_loss(e) else e.example, "error")
        elif kind == "grad":
            step = self.first_step_of(e.epoch, e.example, "gradient", e.param.layer if e.param else e.layer)
        elif kind == "param":
            step = self.first_step_of(e.epoch, e.example)
        elif kind == "state":
            step = self.first_step_of(e.epoch, e.example, "update")
        else:  # param_after
            step = self.first_step_of(e.epoch, e.example, "update")
        if kind == "loss" and self.epoch_loss(e):
            computed = np.array([record.loss])
        elif kind == "state":  # the optimizer's state (or Adam's m̂, v̂) after the pass's update
            assert e.param is not None and e.state is not None
            value = pass_.state(e.state, e.param)
            computed = np.array([np.nan if value is None else value])
        else:
            computed = expectation_value(pass_.numbers, pass_.weights_before, self.scenario.activations, e, row)
        printed = np.array(e.value)
        with np.errstate(all="ignore"):
            holds = bool(np.all(np.abs(printed - computed) <= e.tolerance + 1e-15))
        return ExpectationResult(e, tuple(float(v) for v in computed), holds, step)

    def epoch_loss(self, e: Expectation) -> bool:
        """Whether a printed ``loss`` is the epoch's (over every example, before its first update): always in
        batch mode; in online or mini-batch mode unless ``example = k`` was written, which makes it that
        example's (that mini-batch's) loss at its update, as a text prints it."""
        return e.kind == "loss" and (self.passes_per_epoch == 1 or not e.example_given)

    def check_all(self) -> tuple[ExpectationResult, ...]:
        return tuple(self.check(e) for e in self.scenario.expectations)


@dataclass(frozen=True)
class ExpectationResult:
    """An expectation, the value the engine computed for it, and whether the printed figure holds."""

    expectation: Expectation
    computed: tuple[float, ...]
    holds: bool
    step: int  # index of the step at which it is checked
