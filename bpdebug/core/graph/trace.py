"""The stepped path through a graph: forward one node at a time, backward in reverse, then the update.

:class:`GraphTrace` answers what :class:`bpdebug.core.trace.Trace` answers for a network (the questions of
:mod:`bpdebug.core.protocol`): steps by index, each with its phase, kind, what it computes and uses, and
``value(name)`` that raises KeyError for a number not computed yet at that step. Epochs are computed on first
use and kept within a byte budget; far epochs are reached from bounded checkpoints (the learned leaves and the
optimizer's state) with progress and cancellation, as for networks.

Per epoch the steps are: one ``forward`` step per operation node, in program order; one ``backward`` step per
node (unnamed constants aside) in reverse order, each computing that node's gradient as the sum over the nodes
that use it; and, when leaves are learned, one ``update`` step computing every ``NAME.after``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from ..divergence import Divergence, cause_text, trouble
from ..quantity import Phase
from ..storage import CHECKPOINT_BYTES, Checkpoints, LossHistory, LossSummary
from .engine import GraphPass, Tape, epoch_pass, learned_mask, tape, zero_state
from .ops import OPS
from .program import CONST, LEAF, Node, Program
from .scenario import GraphExpectation, GraphParam, GraphScenario

RECORD_CACHE_BYTES = 64 << 20
PROGRESS_INTERVAL = 0.05
CHUNK_SECONDS = 0.02
_NAME = re.compile(r"^(?P<grad>grad\.)?(?P<node>[A-Za-z_][A-Za-z0-9_]*(?:@[0-9]+)?|#[0-9]+)(?P<after>\.after)?$")


class GraphStepKind(StrEnum):
    FORWARD = "forward"
    BACKWARD = "backward"
    UPDATE = "update"


@dataclass(frozen=True)
class GraphStepTemplate:
    """One step of any epoch (the same in every epoch)."""

    position: int
    phase: Phase
    kind: GraphStepKind
    node: int | None  # the node computed (its value forward, its gradient backward); None for the update
    computes: tuple[str, ...]
    uses: tuple[str, ...]
    title: str

    @property
    def layer(self) -> None:
        """A graph has no layers (a network's step has one)."""
        return None


class Layout:
    """Where each number of an epoch becomes known: the steps of one epoch and each node's positions."""

    def __init__(self, program: Program, learn: tuple[str, ...]) -> None:
        self.program = program
        n = len(program.nodes)
        self.forward_at = np.full(n, -1, dtype=np.int64)  # -1: known from the start (a leaf, a constant)
        self.backward_at = np.zeros(n, dtype=np.int64)
        templates: list[GraphStepTemplate] = []
        nodes = program.nodes
        for node in nodes:
            if node.computed:
                self.forward_at[node.index] = len(templates)
                templates.append(GraphStepTemplate(
                    len(templates), Phase.FORWARD, GraphStepKind.FORWARD, node.index, (node.key,),
                    tuple(dict.fromkeys(nodes[j].key for j in node.args)),
                    f"{node.key} = {program.text(node.index)}"))
        stepped = set(program.stepped)
        for node in reversed(nodes):
            if node.index not in stepped:
                continue
            users = program.users[node.index]
            uses = tuple(dict.fromkeys(f"grad.{nodes[u].key}" for u, _ in users)) + tuple(
                dict.fromkeys(nodes[j].key for u, _ in users for j in nodes[u].args))
            self.backward_at[node.index] = len(templates)
            templates.append(GraphStepTemplate(len(templates), Phase.BACKWARD, GraphStepKind.BACKWARD, node.index,
                                               (f"grad.{node.key}",), uses, f"∂{self.output_key}/∂{node.key}"))
        end_of_backward = len(templates) - 1
        for node in nodes:
            if node.index not in stepped:
                self.backward_at[node.index] = end_of_backward
        self.update_at: int | None = None
        if learn:
            self.update_at = len(templates)
            templates.append(GraphStepTemplate(
                len(templates), Phase.UPDATE, GraphStepKind.UPDATE, None, tuple(f"{n}.after" for n in learn),
                tuple(f"grad.{nodes[program.leaf(n)].key}" for n in learn), "update of the learned leaves"))
        self.templates = tuple(templates)

    @property
    def output_key(self) -> str:
        """The output's name in ∂out/∂x: the name it is bound to last (g, not g@2), else its key."""
        node = self.program.nodes[self.program.output]
        for name, k in reversed(node.bindings):
            if len(self.program.bindings[name]) == k:
                return name
        return node.key

    def node_of(self, name: str) -> tuple[str, int]:
        """(what, node) of a quantity name: "value", "grad" or "after"; "loss" is the output's value."""
        if name in ("loss", "outputs"):
            return "value", self.program.output
        m = _NAME.match(name)
        if m is None or (m["grad"] and m["after"]):
            raise KeyError(f"{name}: not a quantity of a graph (NAME, NAME@k, #i, grad.NAME, NAME.after, loss)")
        node = self.program.resolve(m["node"])
        if m["after"]:
            if self.program.nodes[node].op != LEAF:
                raise KeyError(f"{name}: only a leaf has a value after the update")
            return "after", node
        return ("grad" if m["grad"] else "value"), node

    def known_at(self, what: str, node: int, position: int) -> bool:
        if what == "value":
            return bool(self.forward_at[node] <= position)
        if what == "grad":
            return bool(self.backward_at[node] <= position)
        return self.update_at is not None and self.update_at <= position


@dataclass(frozen=True)
class GraphStep:
    """One keypress through a graph: a node's value, a node's gradient, or the update. ``record`` holds the whole
    epoch; :meth:`value` answers only for what is known at this step (never numbers from the future)."""

    index: int
    template: GraphStepTemplate
    record: GraphPass = field(repr=False)
    layout: Layout = field(repr=False, compare=False)
    scenario: GraphScenario = field(repr=False, compare=False)
    total: int = 0

    example: None = None  # a graph has one example

    @property
    def epoch(self) -> int:
        return self.record.epoch

    @property
    def phase(self) -> Phase:
        return self.template.phase

    @property
    def kind(self) -> GraphStepKind:
        return self.template.kind

    @property
    def layer(self) -> None:
        return None

    @property
    def node(self) -> int | None:
        return self.template.node

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
    def known(self) -> frozenset[str]:
        """Every quantity name known at this step (built when asked: a large graph has many)."""
        p, lay = self.template.position, self.layout
        nodes = lay.program.nodes
        out = {n.key for n in nodes if lay.forward_at[n.index] <= p}
        out |= {f"grad.{n.key}" for n in nodes if lay.backward_at[n.index] <= p}
        if lay.update_at is not None and lay.update_at <= p:
            out |= {f"{n}.after" for n in self.scenario.learn}
        if lay.forward_at[lay.program.output] <= p:
            out.add("loss")
        return frozenset(out)

    def is_known(self, name: str) -> bool:
        try:
            what, node = self.layout.node_of(name)
        except KeyError:
            return False
        return self.layout.known_at(what, node, self.template.position)

    def value(self, name: str) -> float:
        """A number of this epoch: ``NAME``, ``NAME@k``, ``#i``, ``grad.NAME``, ``NAME.after``, ``loss``; KeyError
        when it is not computed yet at this step (or is no quantity of the graph)."""
        what, node = self.layout.node_of(name)
        if not self.layout.known_at(what, node, self.template.position):
            raise KeyError(f"{name} is not computed yet at step {self.index + 1}")
        return quantity(self.record, self.layout.program, what, node)

    def param(self, p: GraphParam, which: str = "before") -> float:
        leaves = self.record.leaves_before if which == "before" else self.record.leaves_after
        return float(leaves[p.node])

    def gradient(self, p: GraphParam) -> float | None:
        """∂output/∂leaf, or None while its backward step is still ahead."""
        if not self.layout.known_at("grad", p.node, self.template.position):
            return None
        return float(self.record.gradients[p.node])

    def terms(self) -> tuple[Term, ...]:
        """A backward step's sum: one term per use of its node, upstream gradient times local derivative (the
        output's own gradient, 1, has none); empty for other steps."""
        if self.kind is not GraphStepKind.BACKWARD or self.node is None:
            return ()
        return terms(self.layout.program, self.record, self.node)


@dataclass(frozen=True)
class Term:
    """One use of a node in the gradient's sum: ∂out/∂user · ∂user/∂node (argument ``position`` of ``user``)."""

    user: int
    position: int
    upstream: float
    local: float

    @property
    def product(self) -> float:
        with np.errstate(all="ignore"):
            return float(np.float64(self.upstream) * np.float64(self.local))


def terms(program: Program, record: GraphPass, node: int) -> tuple[Term, ...]:
    """The terms of node ``node``'s gradient, in the order the engine adds them (latest user first)."""
    out = []
    v = record.values
    for user, position in sorted(program.users[node], reverse=True):
        u = program.nodes[user]
        with np.errstate(all="ignore"):
            local = OPS[u.op].local([np.float64(v[j]) for j in u.args], np.float64(v[user]), u.k)
        out.append(Term(user, position, float(record.gradients[user]), float(local[position])))
    return tuple(out)


def quantity(record: GraphPass, program: Program, what: str, node: int) -> float:
    """A number of an epoch, whether or not a step has reached it (views use GraphStep.value)."""
    if what == "value":
        return float(record.values[node])
    if what == "grad":
        return float(record.gradients[node])
    return float(record.leaves_after[node])


@dataclass(frozen=True)
class GraphExpectationResult:
    expectation: GraphExpectation
    computed: tuple[float, ...]
    holds: bool
    step: int


class GraphTrace:
    """The steps of a graph scenario, computed lazily an epoch at a time, within bounded memory."""

    def __init__(self, scenario: GraphScenario, epochs: int | None = None, cache_epochs: int = 32,
                 checkpoint_bytes: int = CHECKPOINT_BYTES, cache_bytes: int = RECORD_CACHE_BYTES) -> None:
        self.scenario = scenario
        self.program = scenario.program
        self.tape: Tape = tape(scenario.program)
        self.layout = Layout(scenario.program, scenario.learn)
        self.templates = self.layout.templates
        self.steps_per_pass = self.steps_per_epoch = len(self.templates)
        self.passes_per_epoch = 1
        self.plan = scenario.plan
        self.epochs = epochs or scenario.epochs
        index = {name: k for k, name in enumerate(self.program.leaves)}
        self.learned = np.array([index[n] for n in scenario.learn], dtype=np.intp)
        self.mask = learned_mask(self.program, scenario.learn, scenario.frozen)
        start = self.program.start
        start.setflags(write=False)
        self._checkpoints = Checkpoints((start, *zero_state(self.plan, len(self.learned))), checkpoint_bytes)
        self._cache: OrderedDict[int, GraphPass] = OrderedDict()
        self._cache_size = cache_epochs
        self._cache_bytes = cache_bytes
        self._history = LossHistory()
        self._clean_through = 0
        self._flagged: int | None = None
        self._divergence: Divergence | None = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self.epochs * self.steps_per_epoch

    def extend(self, epochs: int) -> None:
        self.epochs = max(self.epochs, epochs)

    @property
    def params(self) -> tuple[GraphParam, ...]:
        return self.scenario.params

    @property
    def checkpoints(self) -> Checkpoints:
        return self._checkpoints

    @property
    def cached_epochs(self) -> int:
        """Epochs kept whole (every value and gradient) for stepping about; within the byte budget."""
        return len(self._cache)

    # ------------------------------------------------------------------------------------------ epochs
    def _pass(self, leaves: np.ndarray, state: tuple, epoch: int) -> GraphPass:
        return epoch_pass(self.program, self.tape, self.plan, self.learned, self.mask, leaves, state, epoch)

    def position_before(self, epoch: int) -> tuple[np.ndarray, tuple]:
        """The leaves and the optimizer's state at the start of ``epoch`` (1-based)."""
        cached = self._cache.get(epoch)
        if cached is not None:
            return cached.leaves_before, cached.state_before
        found = self._checkpoints.get(epoch)
        if found is None:
            start, found = self._checkpoints.nearest(epoch)
            leaves, state = found[0], tuple(found[1:])
            for e in range(start, epoch):
                record = self._pass(leaves, state, e)
                leaves, state = record.leaves_after, record.state_after
                self._checkpoints.put(e + 1, (leaves, *state))
            return leaves, state
        return found[0], tuple(found[1:])

    def epoch(self, epoch: int) -> GraphPass:
        """Every number of ``epoch`` (1-based), computed on first use."""
        if epoch < 1:
            raise IndexError(f"epoch {epoch}: epochs start at 1")
        with self._lock:
            if epoch in self._cache:
                self._cache.move_to_end(epoch)
                return self._cache[epoch]
            leaves, state = self.position_before(epoch)
            record = self._pass(leaves, state, epoch)
            if not self._cache:
                self._cache_size = max(2, min(self._cache_size, self._cache_bytes // max(1, record.nbytes())))
            self._cache[epoch] = record
            self._checkpoints.put(epoch + 1, (record.leaves_after, *record.state_after))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return record

    def step(self, index: int) -> GraphStep:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"step {index} outside 0..{n - 1}")
        epoch, position = divmod(index, self.steps_per_epoch)
        return GraphStep(index, self.templates[position], self.epoch(epoch + 1), self.layout, self.scenario, n)

    def __getitem__(self, index: int) -> GraphStep:
        return self.step(index)

    def __iter__(self) -> Iterator[GraphStep]:
        return (self.step(i) for i in range(len(self)))

    def first_step_of(self, epoch: int, example: int | None = None, kind: str | None = None,
                      layer: int | None = None, node: int | None = None) -> int:
        """The index of the first step of ``epoch`` of the given kind (and node)."""
        base = (epoch - 1) * self.steps_per_epoch
        for t in self.templates:
            if (kind is None or t.kind == kind) and (node is None or t.node == node):
                return base + t.position
        raise KeyError(f"no {kind or ''} step" + (f" for node {self.program.nodes[node].key}" if node is not None
                                                  else ""))

    def step_of(self, epoch: int, what: str, node: int) -> int:
        """The step at which a number of ``epoch`` becomes known (the first step for a leaf's value)."""
        base = (epoch - 1) * self.steps_per_epoch
        if what == "value":
            return base + max(0, int(self.layout.forward_at[node]))
        if what == "grad":
            return base + int(self.layout.backward_at[node])
        assert self.layout.update_at is not None
        return base + self.layout.update_at

    # --------------------------------------------------------------------------------------- long runs
    @property
    def losses_computed(self) -> int:
        return self._history.count

    def advance(self, to_epoch: int, progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> int:
        """Train until the losses of epochs 1 … ``to_epoch`` are known (bounded checkpoints on the way); returns
        the epoch reached and makes the trace cover it. ``progress(done, total)`` at most 20 times a second,
        ``should_stop()`` asked between chunks of about 20 ms."""
        reached = min(to_epoch, self._run(to_epoch, progress, should_stop))
        if reached >= 1:
            self.extend(reached)
        return reached

    def _run(self, to_epoch: int, progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None, until_flagged: bool = False) -> int:
        chunk, reported = 1, time.monotonic()
        done = self._history.count
        while True:
            if should_stop is not None and should_stop():
                break
            with self._lock:
                done = self._history.count
                if done >= to_epoch or (until_flagged and self._flagged is not None):
                    break
                n = min(chunk, to_epoch - done)
                started = time.perf_counter()
                leaves, state = self.position_before(done + 1)
                losses = np.empty(n)
                for k in range(n):
                    e = done + 1 + k
                    record = self._cache.get(e) or self._pass(leaves, state, e)
                    losses[k] = record.loss
                    if self._flagged is None and not _finite(record):
                        self._flagged = e
                    elif self._flagged is None:
                        self._clean_through = e
                    leaves, state = record.leaves_after, record.state_after
                    self._checkpoints.put(e + 1, (leaves, *state))
                self._history.append(losses)
                done += n
                elapsed = time.perf_counter() - started
            if elapsed < CHUNK_SECONDS / 2:
                chunk *= 2
            elif elapsed > CHUNK_SECONDS * 2 and chunk > 1:
                chunk //= 2
            now = time.monotonic()
            if progress is not None and (now - reported >= PROGRESS_INTERVAL or done >= to_epoch):
                progress(done, to_epoch)
                reported = now
        return done

    def loss_history(self, epochs: int | None = None) -> np.ndarray:
        """The output's value in each epoch 1 … ``epochs`` (before that epoch's update)."""
        n = epochs or self.epochs
        self._run(n)
        return self._history.exact(n)

    def loss_summary(self, epochs: int | None = None, buckets: int | None = None) -> LossSummary:
        n = epochs or self.epochs
        self._run(n)
        return self._history.summary(n, buckets)

    def loss(self, epoch: int) -> float:
        known = self._history.at(epoch)
        return known if known is not None else self.epoch(epoch).loss

    def final(self, epochs: int | None = None) -> tuple[float, np.ndarray]:
        """The output's value and the leaves after ``epochs`` epochs (the output recomputed from those leaves)."""
        from .engine import forward_pass

        epochs = epochs or self.epochs
        leaves = self.epoch(epochs).leaves_after
        with np.errstate(all="ignore"):
            values = forward_pass(self.tape, leaves)
        return float(values[self.program.output]), leaves

    # --------------------------------------------------------------------------------------- divergence
    def divergence(self, epochs: int | None = None) -> Divergence | None:
        """The first step, within epochs 1 … ``epochs``, whose number is not finite (a value, a gradient or a
        leaf after the update), or None."""
        n = self.epochs if epochs is None else epochs
        with self._lock:
            if self._divergence is not None:
                return self._divergence if self._divergence.epoch <= n else None
            if self._clean_through >= n:
                return None
            if self._flagged is None:
                self._run(n, until_flagged=True)
            if self._flagged is None or self._flagged > n:
                return None
            self._divergence = self._locate(self._flagged)
            return self._divergence

    def _locate(self, epoch: int) -> Divergence | None:
        record = self.epoch(epoch)
        base = (epoch - 1) * self.steps_per_epoch
        nodes = self.program.nodes
        for t in self.templates:
            if t.kind is GraphStepKind.FORWARD and t.node is not None:
                v = record.values[t.node]
                if not np.isfinite(v):
                    node = nodes[t.node]
                    kind = trouble(_recompute(node, record.values))
                    return Divergence(epoch, None, base + t.position, node.key, None,
                                      cause_text(kind, self.program.text(t.node)), float(v), "forward", node.key)
            elif t.kind is GraphStepKind.BACKWARD and t.node is not None:
                g = record.gradients[t.node]
                if not np.isfinite(g):
                    node = nodes[t.node]
                    return Divergence(epoch, None, base + t.position, f"grad.{node.key}", None,
                                      cause_text(None, f"the sum over the uses of {node.key}"), float(g),
                                      "backward", f"∂{self.layout.output_key}/∂{node.key}")
            elif t.kind is GraphStepKind.UPDATE:
                for name in self.scenario.learn:
                    i = self.program.leaf(name)
                    if not np.isfinite(record.leaves_after[i]):
                        return Divergence(epoch, None, base + t.position, f"{name}.after", name,
                                          cause_text(None, f"the {self.plan.optimizer.title} update"),
                                          float(record.leaves_after[i]), "update", f"{name} after the update")
        for i, v in enumerate(record.values):  # a constant or a leaf given as such (never at load)
            if not np.isfinite(v):
                return Divergence(epoch, None, base, nodes[i].key, None, "a non-finite start", float(v), "forward",
                                  nodes[i].key)
        return None

    # ------------------------------------------------------------------------------------- expectations
    def check(self, e: GraphExpectation) -> GraphExpectationResult:
        record = self.epoch(e.epoch)
        what = "value" if e.what == "loss" else e.what
        computed = quantity(record, self.program, what, e.node)
        with np.errstate(all="ignore"):
            holds = bool(abs(e.value[0] - computed) <= e.tolerance + 1e-15)
        return GraphExpectationResult(e, (computed,), holds, self.step_of(e.epoch, what, e.node))

    def check_all(self) -> tuple[GraphExpectationResult, ...]:
        return tuple(self.check(e) for e in self.scenario.expectations)


def _recompute(node: Node, values: np.ndarray) -> Callable[[], object]:
    """Node ``node``'s forward value from its arguments' values, to run again under np.errstate."""
    x = [np.float64(values[j]) for j in node.args]
    forward = OPS[node.op].forward
    return lambda: forward(x, node.k)


def _finite(record: GraphPass) -> bool:
    return bool(np.isfinite(record.values).all() and np.isfinite(record.gradients).all()
                and np.isfinite(record.leaves_after).all())


__all__ = ["CONST", "GraphExpectationResult", "GraphStep", "GraphStepKind", "GraphTrace", "Layout", "Term"]
