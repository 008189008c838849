"""Conditions to stop on in a graph: the network's condition language (:mod:`bpdebug.core.conditions`), read
for a graph. A condition is recognised by the network's own patterns (so both read the same text); each kind
that means something for a graph is one entry of :data:`GRAPH_KINDS` (parse and evaluate); a kind that only
means something for layers (``dead``, ``grad[L]``, ``step=z2``) is refused in one line.

- ``nan``: the first number of the walk that is not finite (a value, a gradient, a leaf after the update).
- ``loss-up``: the output's value rose from the previous epoch's, at its forward step.
- ``NAME<X``, ``NAME>X``: a learned leaf crosses X at an update; a computed value is below or above X at its
  forward step.
- ``NAME~sign``: a learned leaf changes sign at an update.
- ``grad>X``, ``grad<X``: a leaf's gradient is above or below X in absolute value, at its backward step.
- ``step=forward``, ``step=backward``, ``step=update``: the next step of that kind.
- ``expect``: a printed figure does not hold, at the step that computes it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..conditions import KINDS, ConditionError
from .engine import GraphPass
from .program import LEAF
from .scenario import GraphScenario
from .trace import GraphStepKind, GraphTrace


@dataclass(frozen=True)
class GraphCondition:
    kind: str  # its entry in GRAPH_KINDS (the network's kind name)
    text: str
    op: str | None = None
    threshold: float | None = None
    node: int | None = None
    step_kind: str | None = None


@dataclass(frozen=True)
class GraphStop:
    """Where a search stopped (``condition`` None: interrupted)."""

    step: int
    epoch: int
    condition: GraphCondition | None
    reason: str
    example: None = None

    @property
    def interrupted(self) -> bool:
        return self.condition is None


Parser = Callable[[re.Match[str], GraphScenario, str, str], GraphCondition]
Evaluator = Callable[[GraphCondition, GraphTrace, GraphPass, float | None], tuple[int, str] | None]


@dataclass(frozen=True)
class GraphConditionKind:
    name: str
    grammar: str
    sentence: str
    parse: Parser = field(repr=False)
    evaluate: Evaluator = field(repr=False)  # (step, reason) where it holds in an epoch, or None


def _num(x: float) -> str:
    return f"{x:.10g}"


def _plain(m: re.Match[str], s: GraphScenario, text: str, kind: str) -> GraphCondition:
    return GraphCondition(kind, text)


def _threshold(m: re.Match[str], text: str) -> float:
    x = float(m["x"])
    if not math.isfinite(x):
        raise ConditionError(text, "expected a finite number")
    return x


def _node(name: str, s: GraphScenario, text: str) -> int:
    try:
        return s.program.resolve(name.replace(" ", ""))
    except KeyError:
        raise ConditionError(text, f"unknown name '{name}', expected a name of the program: "
                             f"{', '.join(s.program.bindings)}") from None


def _parse_value(m: re.Match[str], s: GraphScenario, text: str, kind: str) -> GraphCondition:
    return GraphCondition(kind, text, m["op"], _threshold(m, text), _node(m["name"], s, text))


def _parse_sign(m: re.Match[str], s: GraphScenario, text: str, kind: str) -> GraphCondition:
    node = _node(m["name"], s, text)
    if s.program.nodes[node].op != LEAF or s.program.nodes[node].key not in s.learn:
        raise ConditionError(text, f"expected NAME~sign of a learned leaf: {', '.join(s.learn) or '(none)'}")
    return GraphCondition(kind, text, node=node)


def _parse_grad(m: re.Match[str], s: GraphScenario, text: str, kind: str) -> GraphCondition:
    if m["layer"] is not None:
        raise ConditionError(text, "a graph has no layers, expected grad>X or grad<X (a leaf's gradient)")
    return GraphCondition(kind, text, m["op"], _threshold(m, text))


def _parse_step(m: re.Match[str], s: GraphScenario, text: str, kind: str) -> GraphCondition:
    wanted = m["kind"]
    kinds = [k.value for k in GraphStepKind if k is not GraphStepKind.UPDATE or s.learn]
    if wanted not in kinds or m["layer1"] or m["layer2"]:
        raise ConditionError(text, f"a graph's steps are {', '.join(kinds)}, expected step=" + " or step=".join(kinds))
    return GraphCondition(kind, text, step_kind=wanted)


def _eval_nan(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    if np.isfinite(r.values).all() and np.isfinite(r.gradients).all() and np.isfinite(r.leaves_after).all():
        return None
    d = t.divergence(r.epoch)
    return None if d is None else (d.step, d.describe())


def _eval_loss_up(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    if previous is None or not r.loss > previous:
        return None
    return (t.step_of(r.epoch, "value", t.program.output),
            f"the output {t.layout.output_key} rose from {_num(previous)} to {_num(r.loss)}")


def _eval_value(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    assert c.node is not None and c.threshold is not None and c.op is not None
    key, x = t.program.nodes[c.node].key, c.threshold
    below = (lambda v: v < x) if c.op == "<" else (lambda v: v > x)
    if t.program.nodes[c.node].op == LEAF:
        if key not in t.scenario.learn or t.layout.update_at is None:
            return None
        before, after = float(r.leaves_before[c.node]), float(r.leaves_after[c.node])
        if below(after) and not below(before):
            return t.step_of(r.epoch, "after", c.node), f"{key} went from {_num(before)} to {_num(after)} ({c.text})"
        return None
    value = float(r.values[c.node])
    if below(value):
        return t.step_of(r.epoch, "value", c.node), f"{key} = {_num(value)} ({c.text})"
    return None


def _eval_sign(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    assert c.node is not None
    before, after = float(r.leaves_before[c.node]), float(r.leaves_after[c.node])
    if np.sign(before) != np.sign(after):
        key = t.program.nodes[c.node].key
        return t.step_of(r.epoch, "after", c.node), f"{key} changed sign: {_num(before)} to {_num(after)}"
    return None


def _eval_grad(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    assert c.threshold is not None
    hits = []
    for p in t.params:
        g = abs(float(r.gradients[p.node]))
        if (g > c.threshold) if c.op == ">" else (g < c.threshold):
            hits.append((t.step_of(r.epoch, "grad", p.node), f"|∂{t.layout.output_key}/∂{p.name}| = {_num(g)} "
                         f"({c.text})"))
    return min(hits) if hits else None


def _eval_step(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    step = t.first_step_of(r.epoch, kind=c.step_kind)
    return step, f"a {c.step_kind} step"


def _eval_expect(c: GraphCondition, t: GraphTrace, r: GraphPass, previous: float | None) -> tuple[int, str] | None:
    hits = []
    for e in t.scenario.expectations:
        if e.epoch == r.epoch:
            result = t.check(e)
            if not result.holds:
                hits.append((result.step, f"{e.quantity} printed {_num(e.value[0])}, computed "
                             f"{_num(result.computed[0])}"))
    return min(hits) if hits else None


def _steps_of_kind(c: GraphCondition, t: GraphTrace, epoch: int) -> list[int]:
    base = (epoch - 1) * t.steps_per_epoch
    return [base + tpl.position for tpl in t.templates if tpl.kind == c.step_kind]


GRAPH_KINDS: dict[str, GraphConditionKind] = {k.name: k for k in (
    GraphConditionKind("nan", "nan", "the first number that is not finite", _plain, _eval_nan),
    GraphConditionKind("loss-up", "loss-up", "the output's value rose from the previous epoch's", _plain,
                       _eval_loss_up),
    GraphConditionKind("grad", "grad>X, grad<X", "a leaf's gradient is above or below X in absolute value",
                       _parse_grad, _eval_grad),
    GraphConditionKind("step", "step=forward, step=backward, step=update", "the next step of that kind",
                       _parse_step, _eval_step),
    GraphConditionKind("expect", "expect", "a printed figure does not hold", _plain, _eval_expect),
    GraphConditionKind("sign", "NAME~sign", "a learned leaf changes sign at an update", _parse_sign, _eval_sign),
    GraphConditionKind("param", "NAME<X, NAME>X", "a learned leaf crosses X at an update; a computed value is "
                       "below or above X", _parse_value, _eval_value),
)}


def grammar() -> str:
    return ", ".join(k.grammar for k in GRAPH_KINDS.values())


def parse_condition(text: str, scenario: GraphScenario) -> GraphCondition:
    """One condition for a graph; ConditionError (one line) for a kind that only means something for layers."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(repr(text), f"empty condition, expected one of {grammar()}")
    for kind in KINDS.values():
        m = kind.pattern.match(text)
        if m:
            entry = GRAPH_KINDS.get(kind.name)
            if entry is None:
                raise ConditionError(text.strip(), f"{kind.grammar} is about a network's layers, which a graph has "
                                     f"not; expected one of {grammar()}")
            return entry.parse(m, scenario, text.strip(), kind.name)
    raise ConditionError(text.strip(), f"not a condition, expected one of {grammar()}")


def first_stop(trace: GraphTrace, conditions: tuple[GraphCondition, ...], from_step: int = 0,
               to_epoch: int | None = None, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> GraphStop | None:
    """The first step at or after ``from_step`` (within epochs up to ``to_epoch``) where a condition holds."""
    last = to_epoch or trace.epochs
    first = from_step // trace.steps_per_epoch + 1
    previous = trace.loss(first - 1) if first > 1 else None
    for epoch in range(first, last + 1):
        if should_stop is not None and should_stop():
            return GraphStop((epoch - 1) * trace.steps_per_epoch, epoch, None, "interrupted")
        record = trace.epoch(epoch)
        hits = []
        for c in conditions:
            entry = GRAPH_KINDS[c.kind]
            if c.kind == "step":
                steps = [s for s in _steps_of_kind(c, trace, epoch) if s >= from_step]
                if steps:
                    hits.append((steps[0], f"a {c.step_kind} step", c))
                continue
            hit = entry.evaluate(c, trace, record, previous)
            if hit is not None and hit[0] >= from_step:
                hits.append((hit[0], hit[1], c))
        if hits:
            step, reason, c = min(hits, key=lambda h: h[0])
            trace.extend(epoch)
            return GraphStop(step, epoch, c, reason)
        previous = record.loss
        if progress is not None:
            progress(epoch, last)
    return None
