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
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from ..divergence import Divergence, cause_text, trouble
from ..lazy import RECORD_CACHE_BYTES, LazyTrace, TemplateStep
from ..quantity import Phase
from ..storage import CHECKPOINT_BYTES, Checkpoints
from .engine import GraphPass, Tape, epoch_pass, learned_mask, tape, zero_state
from .ops import OPS
from .program import CONST, LEAF, Node, Program
from .scenario import GraphExpectation, GraphParam, GraphScenario

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
class GraphStep(TemplateStep):
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
    def kind(self) -> GraphStepKind:
        return self.template.kind

    @property
    def layer(self) -> None:
        return None

    @property
    def node(self) -> int | None:
        return self.template.node

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


class GraphTrace(LazyTrace[GraphPass, GraphStep, np.ndarray]):
    """The steps of a graph scenario, computed lazily an epoch at a time, within bounded memory
    (:class:`LazyTrace`)."""

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
        index = {name: k for k, name in enumerate(self.program.leaves)}
        self.learned = np.array([index[n] for n in scenario.learn], dtype=np.intp)
        self.mask = learned_mask(self.program, scenario.learn, scenario.frozen)
        start = self.program.start
        start.setflags(write=False)
        super().__init__(epochs or scenario.epochs,
                         Checkpoints((start, *zero_state(self.plan, len(self.learned))), checkpoint_bytes),
                         cache_epochs, cache_bytes)

    @property
    def params(self) -> tuple[GraphParam, ...]:
        return self.scenario.params

    # ------------------------------------------------------------------------------------------ epochs
    def _pass(self, leaves: np.ndarray, state: tuple, epoch: int) -> GraphPass:
        return epoch_pass(self.program, self.tape, self.plan, self.learned, self.mask, leaves, state, epoch)

    def _start_of(self, record: GraphPass) -> tuple[np.ndarray, tuple]:
        return record.leaves_before, record.state_before

    def _pack(self, record: GraphPass) -> tuple:
        return (record.leaves_after, *record.state_after)

    def _unpack(self, packed: tuple) -> tuple[np.ndarray, tuple]:
        return packed[0], tuple(packed[1:])

    def _replay(self, start: int, position: tuple[np.ndarray, tuple], epoch: int) -> tuple[np.ndarray, tuple]:
        leaves, state = position
        for e in range(start, epoch):
            record = self._pass(leaves, state, e)
            leaves, state = record.leaves_after, record.state_after
            self._checkpoints.put(e + 1, (leaves, *state))
        return leaves, state

    def _compute(self, epoch: int) -> GraphPass:
        leaves, state = self.position_before(epoch)
        return self._pass(leaves, state, epoch)

    def _step_at(self, index: int, total: int) -> GraphStep:
        epoch, position = divmod(index, self.steps_per_epoch)
        return GraphStep(index, self.templates[position], self.epoch(epoch + 1), self.layout, self.scenario, total)

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
    def _train(self, first: int, n: int, to_epoch: int) -> tuple[np.ndarray, tuple[int, int] | None]:
        leaves, state = self.position_before(first)
        losses = np.empty(n)
        bad: tuple[int, int] | None = None
        for k in range(n):
            e = first + k
            record = self._cache.get(e) or self._pass(leaves, state, e)
            losses[k] = record.loss
            if bad is None and not _finite(record):
                bad = (e, e)
            leaves, state = record.leaves_after, record.state_after
            self._checkpoints.put(e + 1, (leaves, *state))
        return losses, bad

    def final(self, epochs: int | None = None) -> tuple[float, np.ndarray]:
        """The output's value and the leaves after ``epochs`` epochs (the output recomputed from those leaves)."""
        from .engine import forward_pass

        epochs = epochs or self.epochs
        leaves = self.epoch(epochs).leaves_after
        with np.errstate(all="ignore"):
            values = forward_pass(self.tape, leaves)
        return float(values[self.program.output]), leaves

    # --------------------------------------------------------------------------------------- divergence
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
