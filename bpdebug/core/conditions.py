"""Conditions to stop on: one small language, shared by the app and ``bpdebug run``.

A condition is text such as ``w5<0.3`` or ``grad[1]<1e-6``, parsed once against a scenario into a frozen
:class:`Condition`. Each kind of condition is one entry of :data:`KINDS`: its name, its grammar, a sentence
saying what it means, whether it is looked at per step, per update or per epoch, whether it needs the stepped
path, how to parse it and how to evaluate it. Adding a kind is adding one entry.

:func:`first_stop` searches a :class:`~bpdebug.core.engine.Trace` epoch by epoch for the first step at which
any condition holds. Where no condition needs the numbers of the steps (loss-up, parameter thresholds in batch
mode, step=KIND) it trains on the fast path; otherwise it walks the trace's epoch records.

Layers and units are named as everywhere else: ``z3[2]`` is unit 2 of layer 3 (the input layer is 1);
``grad[l]`` is the gradient of ``theta_l``, the weights leaving layer ``l`` (1 … L-1).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .compute import TrainResult, parameter_gradients
from .engine import EpochRecord, PassRecord, StepKind, Trace
from .params import Param
from .scenario import Scenario

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


class ConditionError(ValueError):
    """A condition that cannot be parsed. ``str()`` is one line naming it and what was expected."""

    def __init__(self, text: str, message: str) -> None:
        self.text, self.message = text, message
        super().__init__(f"{text}: {message}")


class Per(Enum):
    """When a condition is looked at."""

    STEP = "step"  # at a position in the walk, whatever the numbers
    UPDATE = "update"  # after each update (one per epoch in batch mode, one per example online)
    EPOCH = "epoch"  # once per epoch


@dataclass(frozen=True)
class Condition:
    """A parsed condition. Only the fields its kind uses are set."""

    kind: str  # the name of its entry in KINDS
    text: str  # canonical text: "w5<0.3", "grad[1]<1e-06", "step=delta2"
    op: str | None = None  # "<" or ">"
    threshold: float | None = None
    layer: int | None = None  # grad: l of theta_l; step: the step's layer
    param: Param | None = None
    step_kind: str | None = None  # step=: z, a, error, delta, gradient, update

    @property
    def entry(self) -> ConditionKind:
        return KINDS[self.kind]

    def needs_steps(self, trace: Trace) -> bool:
        """True when evaluating it needs the stepped path on this trace."""
        return self.entry.stepped or (self.entry.per is Per.UPDATE and trace.passes_per_epoch > 1)

    @property
    def params(self) -> tuple[Param, ...]:
        """The parameters it names (shown beside a stop)."""
        return (self.param,) if self.param is not None else ()


@dataclass(frozen=True)
class Hit:
    """Where a condition holds inside one epoch."""

    step: int  # index in the trace
    example: int | None
    reason: str


@dataclass(frozen=True)
class Stop:
    """Where a search stopped: at a step where ``condition`` holds, or (``condition`` None) where the
    user interrupted it."""

    step: int
    epoch: int
    example: int | None
    condition: Condition | None
    reason: str

    @property
    def interrupted(self) -> bool:
        return self.condition is None


class _EpochView:
    """What the evaluators see of one epoch. ``record`` is the stepped path (computed on first use);
    ``loss`` and the weights come from the fast path when no condition asked for the record."""

    def __init__(self, trace: Trace, epoch: int, from_step: int, loss: float, weights_before: tuple,
                 weights_after: tuple, record: EpochRecord | None, state: dict) -> None:
        self.trace, self.epoch, self.from_step = trace, epoch, from_step
        self.loss, self.weights_before, self.weights_after = loss, weights_before, weights_after
        self._record = record
        self.state = state  # per condition text: what it remembers between epochs

    @property
    def record(self) -> EpochRecord:
        if self._record is None:
            self._record = self.trace.epoch(self.epoch)
        return self._record

    @property
    def first_step(self) -> int:
        return (self.epoch - 1) * self.trace.steps_per_epoch

    def step_of(self, pass_no: int, kind: str, layer: int | None = None) -> int:
        """Index of the step of ``kind`` (and layer) in pass ``pass_no`` (0-based) of this epoch."""
        for t in self.trace.templates:
            if t.kind == kind and (layer is None or t.layer == layer):
                return self.first_step + pass_no * self.trace.steps_per_pass + t.position
        raise KeyError(f"no {kind} step for layer {layer}")

    def updates(self) -> list[tuple[int, int | None, tuple, tuple]]:
        """(pass number, example, weights before, weights after) of each update of the epoch."""
        if self.trace.passes_per_epoch == 1 and self._record is None:
            return [(0, None, self.weights_before, self.weights_after)]
        return [(n, p.example, p.weights_before, p.weights_after) for n, p in enumerate(self.record.passes)]

    def previous_loss(self) -> float | None:
        if self.epoch == 1:
            return None
        return float(self.trace.loss(self.epoch - 1))


def _fmt(v: float) -> str:
    return f"{v:.7g}"


def _where(epoch: int, example: int | None) -> str:
    return f"epoch {epoch}" + (f" example {example}" if example is not None else "")


# ------------------------------------------------------------------------------------------- the kinds

def _parse_plain(m: re.Match[str], s: Scenario, text: str, kind: str) -> Condition:
    return Condition(kind, kind)


def _num(x: float) -> str:
    """A threshold as short as it reads back exactly: 0.3, 1e-06, 0.1234567891."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _threshold(raw: str, text: str) -> float:
    x = float(raw)
    if not math.isfinite(x):
        raise ConditionError(text, f"threshold {raw} is not finite, expected a finite number")
    return x


def _parse_grad(m: re.Match[str], s: Scenario, text: str, kind: str) -> Condition:
    layer = int(m["layer"]) if m["layer"] is not None else None
    n = s.n_layers - 1
    if layer is not None and not 1 <= layer <= n:
        raise ConditionError(text, f"no theta{layer}, expected grad[l] with l from 1 to {n} "
                             "(the layer the weights leave)")
    x = _threshold(m["x"], text)
    where = f"[{layer}]" if layer is not None else ""
    return Condition(kind, f"grad{where}{m['op']}{_num(x)}", op=m["op"], threshold=x, layer=layer)


def _find_param(name: str, s: Scenario, text: str) -> Param:
    p = s.params.find(name)
    if p is None:
        raise ConditionError(text, f"unknown parameter '{name.strip()}', expected {s.params.describe_names()}")
    return p


def _parse_param(m: re.Match[str], s: Scenario, text: str, kind: str) -> Condition:
    p = _find_param(m["name"], s, text)
    x = _threshold(m["x"], text)
    return Condition(kind, f"{p.short}{m['op']}{_num(x)}", op=m["op"], threshold=x, param=p)


def _parse_sign(m: re.Match[str], s: Scenario, text: str, kind: str) -> Condition:
    p = _find_param(m["name"], s, text)
    return Condition(kind, f"{p.short}~sign", param=p)


STEP_KINDS = tuple(k.value for k in StepKind)  # z, a, error, delta, gradient, update


def _parse_step(m: re.Match[str], s: Scenario, text: str, kind: str) -> Condition:
    step_kind = m["kind"]
    if step_kind == "grad":
        step_kind = "gradient"
    if step_kind not in STEP_KINDS:
        raise ConditionError(text, f"unknown kind of step '{step_kind}', expected one of "
                             f"{', '.join(STEP_KINDS)}, with a layer for z, a, delta and gradient")
    raw = m["layer1"] if m["layer1"] is not None else m["layer2"]
    layer = int(raw) if raw is not None else None
    L = s.n_layers
    valid = {"z": range(2, L + 1), "a": range(2, L + 1), "delta": range(2, L + 1), "gradient": range(1, L),
             "error": range(0), "update": range(0)}[step_kind]
    if layer is not None and layer not in valid:
        expected = (f"layers {valid.start} to {valid.stop - 1}" if len(valid) else "no layer")
        raise ConditionError(text, f"{step_kind} has no layer {layer} in this network, expected {expected}")
    return Condition(kind, f"step={step_kind}{layer if layer is not None else ''}", layer=layer,
                     step_kind=step_kind)


def _eval_loss_up(c: Condition, v: _EpochView) -> Hit | None:
    key = c.text
    before = v.state[key] if key in v.state else v.previous_loss()
    v.state[key] = v.loss
    if before is None or not v.loss > before:
        return None
    step = v.step_of(0, "error")
    if step < v.from_step:
        return None
    return Hit(step, 1 if v.trace.passes_per_epoch > 1 else None,
               f"loss-up: loss {_fmt(v.loss)} at epoch {v.epoch} > {_fmt(before)} at epoch {v.epoch - 1}")


def _holds(op: str, value: float, x: float) -> bool:
    return value < x if op == "<" else value > x


def _eval_grad(c: Condition, v: _EpochView) -> Hit | None:
    assert c.op is not None and c.threshold is not None
    L = v.trace.scenario.n_layers
    layers = [c.layer] if c.layer is not None else list(range(L - 1, 0, -1))  # the order of the steps
    for n, p in enumerate(v.record.passes):
        for l in layers:
            shared = v.trace.scenario.shared_bias  # a shared bias counts once
            norm = float(np.linalg.norm(parameter_gradients(p.numbers.gradients[l - 1], shared)))
            if _holds(c.op, norm, c.threshold):
                step = v.step_of(n, "gradient", l)
                if step >= v.from_step:
                    return Hit(step, p.example, f"{c.text}: ‖∂E/∂theta{l}‖ = {_fmt(norm)} at "
                               f"{_where(v.epoch, p.example)}")
    return None


def _eval_dead(c: Condition, v: _EpochView) -> Hit | None:
    s = v.trace.scenario
    passes: tuple[PassRecord, ...] = v.record.passes
    dead_now = _dead_units(s, passes)
    key = c.text
    if key in v.state:
        before = v.state[key]
    else:  # the first epoch looked at: compare with the epoch before it (every unit is alive before epoch 1)
        before = _dead_units(s, v.trace.epoch(v.epoch - 1).passes) if v.epoch > 1 else set()
    v.state[key] = dead_now
    new = sorted(dead_now - before)
    if not new:
        return None
    top = max(l for l, _ in new)  # backward steps go from the output down: the highest layer is known first
    step = v.step_of(len(passes) - 1, "delta", top)
    if step < v.from_step:
        return None
    names = []
    for l in sorted({l for l, _ in new}, reverse=True):
        units = [u for m, u in new if m == l]
        label = "unit" if len(units) == 1 else "units"
        names.append(f"{label} {', '.join(str(u) for u in units)} of layer {l} ({s.activation(l).name})")
    return Hit(step, passes[-1].example, f"dead: {'; '.join(names)}: f'(z) = 0, so ∂E/∂z = 0, for every "
               f"example of epoch {v.epoch}")


def _dead_units(s: Scenario, passes: tuple[PassRecord, ...]) -> set[tuple[int, int]]:
    """(layer, unit) of every unit whose own slope f'(z) is exactly 0 for every example of these passes, so
    that dE/dz is 0 whatever comes from above (a unit that is merely unused, its outgoing weights 0, is not
    dead: its incoming weights still learn once those weights move)."""
    out: set[tuple[int, int]] = set()
    for l in range(2, s.n_layers + 1):
        f = s.activation(l)
        if f.derivative is None:  # softmax: a Jacobian, never exactly 0
            continue
        zero = np.ones(s.layers[l - 1], dtype=bool)
        for p in passes:
            slope = f.derivative(p.numbers.z[l], p.numbers.a[l])
            zero &= np.all(slope == 0.0, axis=0) & np.all(p.numbers.delta[l] == 0.0, axis=0)
        out |= {(l, int(u) + 1) for u in np.flatnonzero(zero)}
    return out


def _value(p: Param, weights: tuple) -> float:
    return float(weights[p.layer - 1][p.row, p.col])


def _eval_param(c: Condition, v: _EpochView) -> Hit | None:
    assert c.param is not None and c.op is not None and c.threshold is not None
    p, x = c.param, c.threshold
    for n, example, before, after in v.updates():
        b, a = _value(p, before), _value(p, after)
        if _holds(c.op, a, x) and not _holds(c.op, b, x):
            step = v.step_of(n, "update")
            if step >= v.from_step:
                return Hit(step, example, f"{p.short} {c.op} {_num(x)}: {p.short} = {_fmt(a)} after "
                           f"{_where(v.epoch, example)} update")
    return None


def _eval_sign(c: Condition, v: _EpochView) -> Hit | None:
    assert c.param is not None
    p = c.param
    for n, example, before, after in v.updates():
        b, a = _value(p, before), _value(p, after)
        if np.sign(a) != np.sign(b) and math.isfinite(a) and math.isfinite(b):
            step = v.step_of(n, "update")
            if step >= v.from_step:
                return Hit(step, example, f"{p.short} ~ sign: {p.short} = {_fmt(a)} after "
                           f"{_where(v.epoch, example)} update, was {_fmt(b)}")
    return None


def _eval_step(c: Condition, v: _EpochView) -> Hit | None:
    tr = v.trace
    for n in range(tr.passes_per_epoch):
        for t in tr.templates:
            if t.kind == c.step_kind and (c.layer is None or t.layer == c.layer):
                step = v.first_step + n * tr.steps_per_pass + t.position
                if step >= v.from_step:
                    example = n + 1 if tr.passes_per_epoch > 1 else None
                    return Hit(step, example, f"{c.text}: {t.title}, {_where(v.epoch, example)}")
    return None


def _eval_expect(c: Condition, v: _EpochView) -> Hit | None:
    best: Hit | None = None
    for e in v.trace.scenario.expectations:
        if e.epoch != v.epoch:
            continue
        r = v.trace.check(e)
        if r.holds or r.step < v.from_step or (best is not None and best.step <= r.step):
            continue
        computed = _fmt(r.computed[0]) if e.scalar else "[" + ", ".join(_fmt(x) for x in r.computed) + "]"
        printed = _fmt(e.value[0]) if e.scalar else "[" + ", ".join(_fmt(x) for x in e.value) + "]"
        online = v.trace.passes_per_epoch > 1
        best = Hit(r.step, e.example if online else None,
                   f"expect: {e.quantity} = {computed} at epoch {e.epoch}, printed {printed}"
                   + (f" ({e.source})" if e.source else ""))
    return best


def _eval_nan(c: Condition, v: _EpochView) -> Hit | None:
    # Training has diverged by the end of an epoch when its loss or the weights after it are not finite;
    # then the engine locates the first non-finite number exactly. (A non-finite intermediate that leaves
    # both finite, an infinite z that a sigmoid squashes to 1, does not stop a search by itself.)
    if v.state.get("nan:done") or (math.isfinite(v.loss) and all(np.isfinite(w).all() for w in v.weights_after)):
        return None
    d = v.trace.divergence(epochs=v.epoch)
    if d is None or d.step < v.from_step:  # it diverged before where this search started: nothing new
        v.state["nan:done"] = True
        return None
    return Hit(d.step, d.example, f"nan: {d.describe()}")


def _skim_nan(c: Condition, result: TrainResult, state: dict) -> bool:
    # weights that stop being finite never become finite again, so a chunk whose losses and final weights
    # are finite holds no epoch _eval_nan would stop at (nor does any chunk once it is done)
    return not state.get("nan:done") and not result.finite


Parser = Callable[[re.Match[str], Scenario, str, str], Condition]
Evaluator = Callable[[Condition, _EpochView], Hit | None]
Skimmer = Callable[[Condition, TrainResult, dict], bool]


@dataclass(frozen=True)
class ConditionKind:
    """One kind of condition: everything about it in one place."""

    name: str
    grammar: str
    sentence: str
    per: Per
    stepped: bool  # needs the numbers of the steps (the stepped path)
    pattern: re.Pattern[str] = field(repr=False)
    parse: Parser = field(repr=False)
    evaluate: Evaluator = field(repr=False)
    examples: tuple[str, ...] = ()  # conditions of this kind as a user types them (on a 2-2-2 net with w5)
    # whether the condition may hold in a chunk of fast-path epochs, from the chunk's result alone (False only
    # when it surely does not); None: every epoch is evaluated. A search whose conditions all have one walks
    # only the chunks some condition may hold in, so a long run pays nothing per epoch for them.
    skim: Skimmer | None = field(default=None, repr=False)


def _kind(name: str, grammar: str, sentence: str, per: Per, stepped: bool, pattern: str, parse: Parser,
          evaluate: Evaluator, examples: tuple[str, ...], skim: Skimmer | None = None) -> ConditionKind:
    return ConditionKind(name, grammar, sentence, per, stepped, re.compile(rf"^\s*{pattern}\s*$"), parse,
                         evaluate, examples, skim)


_NAME = r"(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\s*\[\s*\d+\s*,\s*\d+\s*\])?)"
_KINDS = (
    _kind("nan", "nan", "the first number that is not finite (NaN or ±inf): names epoch, example, step, "
          "quantity, unit and cause; stops once", Per.STEP, False, r"nan", _parse_plain, _eval_nan, ("nan",),
          _skim_nan),
    _kind("loss-up", "loss-up", "the epoch's loss rose from the previous epoch's", Per.EPOCH, False,
          r"loss-up", _parse_plain, _eval_loss_up, ("loss-up",)),
    _kind("grad", "grad>X, grad<X, grad[L]>X, grad[L]<X", "the L2 norm of the gradient of theta_L (the weights "
          "leaving layer L; without [L]: of any layer) is above or below X at an update",
          Per.UPDATE, True, rf"grad\s*(?:\[\s*(?P<layer>\d+)\s*\])?\s*(?P<op>[<>])\s*(?P<x>{_NUMBER})",
          _parse_grad, _eval_grad, ("grad[1]<1e-6", "grad>1e3")),
    _kind("dead", "dead", "a unit whose dE/dz is exactly 0 for every example over a whole epoch because its own "
          "slope f'(z) is (a dead relu, or a saturated unit), named; stops at the epoch a unit becomes dead",
          Per.EPOCH, True,
          r"dead", _parse_plain, _eval_dead, ("dead",)),
    _kind("step", "step=KIND, step=KIND[LAYER]", "the next step of a kind (z, a, error, delta, gradient, "
          "update), of one layer if given: step=delta2, step=z3, step=update", Per.STEP, False,
          r"step\s*=\s*(?P<kind>[a-z]+)\s*(?:(?P<layer1>\d+)|\[\s*(?P<layer2>\d+)\s*\])?",
          _parse_step, _eval_step, ("step=delta2", "step=update")),
    _kind("expect", "expect", "a printed figure ([[expect]]) does not hold, at the step that computes it",
          Per.STEP, True, r"expect", _parse_plain, _eval_expect, ("expect",)),
    _kind("sign", "NAME~sign", "the parameter NAME (short or canonical) changes sign at an update",
          Per.UPDATE, False, rf"{_NAME}\s*~\s*sign", _parse_sign, _eval_sign, ("w5~sign",)),
    _kind("param", "NAME<X, NAME>X", "an update takes the parameter NAME (short or canonical) below or above "
          "X (it crosses X)", Per.UPDATE, False, rf"{_NAME}\s*(?P<op>[<>])\s*(?P<x>{_NUMBER})",
          _parse_param, _eval_param, ("w5<0.3", "w5>1")),
)
KINDS: dict[str, ConditionKind] = {k.name: k for k in _KINDS}


def grammar() -> str:
    """Every form a condition may take, for messages and help."""
    return ", ".join(k.grammar for k in KINDS.values())


def examples() -> tuple[str, ...]:
    """One condition of each kind as a user types it (``w5<0.3``, ``loss-up``, …), for hints and tooltips."""
    return tuple(k.examples[0] for k in KINDS.values() if k.examples)


def suggestions(scenario: Scenario) -> list[str]:
    """Every example condition that parses against ``scenario``, for completion as one types."""
    out = []
    for kind in KINDS.values():
        for text in kind.examples:
            try:
                parse_condition(text, scenario)
            except ConditionError:
                continue
            out.append(text)
    return out


def kind_of(text: str) -> ConditionKind | None:
    """The kind a condition being typed is (it parses as one, or it starts one of the kind's examples), or None."""
    text = text.strip()
    if not text:
        return None
    for kind in KINDS.values():
        if kind.pattern.match(text):
            return kind
    for kind in KINDS.values():
        if any(e.startswith(text) for e in kind.examples):
            return kind
    return None


def parse_condition(text: str, scenario: Scenario) -> Condition:
    """Parse one condition against a scenario; ConditionError names it and what was expected."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(repr(text), f"empty condition, expected one of {grammar()}")
    for kind in KINDS.values():
        m = kind.pattern.match(text)
        if m:
            return kind.parse(m, scenario, text.strip(), kind.name)
    raise ConditionError(text.strip(), f"not a condition, expected one of {grammar()}")


# ------------------------------------------------------------------------------------------ the search

def first_stop(trace: Trace, conditions: tuple[Condition, ...] | list[Condition], from_step: int = 0,
               to_epoch: int | None = None, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Stop | None:
    """The first step at index ``from_step`` or later, up to the end of ``to_epoch`` (default: the
    trace's epochs), at which one of ``conditions`` holds; None when none does.

    ``progress(epoch, to_epoch)`` is called about ten times a second on long searches; when
    ``should_stop()`` answers True the search returns a Stop with ``condition`` None where it got to.
    Of conditions holding at the same step, the first given wins."""
    to_epoch = to_epoch or trace.epochs
    trace.extend(to_epoch)
    conditions = tuple(conditions)
    if not conditions or from_step >= to_epoch * trace.steps_per_epoch:
        return None
    start = max(1, from_step // trace.steps_per_epoch + 1)
    state: dict = {}
    stepped = any(c.needs_steps(trace) for c in conditions)
    skim = _skimmer(conditions, state)
    epochs = _stepped_epochs(trace, start, to_epoch) if stepped else (
        (e.epoch, e.loss, e.weights_before, e.weights_after, None) for e in trace.fast_epochs(start, to_epoch, skim))
    clock = time.monotonic()
    with np.errstate(all="ignore"):
        for epoch, loss, before, after, record in epochs:
            if loss is not None:  # None: a chunk skimmed, no condition can hold in it
                view = _EpochView(trace, epoch, from_step, loss, before, after, record, state)
                hits = [(h.step, i, h, c) for i, c in enumerate(conditions)
                        if (h := c.entry.evaluate(c, view)) is not None]
                if hits:
                    step, _, hit, cond = min(hits, key=lambda x: (x[0], x[1]))
                    return Stop(step, epoch, hit.example, cond, hit.reason)
            if progress is not None or should_stop is not None:
                now = time.monotonic()
                if now - clock >= 0.1:
                    clock = now
                    if progress is not None:
                        progress(epoch, to_epoch)
                    if should_stop is not None and should_stop():
                        step = epoch * trace.steps_per_epoch - 1
                        return Stop(step, epoch, None, None, f"interrupted after epoch {epoch}")
    return None


def _skimmer(conditions: tuple[Condition, ...], state: dict) -> Callable[[TrainResult], bool] | None:
    """Whether any of ``conditions`` may hold in a chunk's result; None when one of them cannot tell."""
    skims = [(c, c.entry.skim) for c in conditions]
    if any(s is None for _, s in skims):
        return None
    return lambda result: any(s(c, result, state) for c, s in skims if s is not None)


# epoch, loss, weights before / after, record; loss None: the epochs up to this one were skimmed
_EpochNumbers = tuple[int, float | None, tuple, tuple, EpochRecord | None]


def _stepped_epochs(trace: Trace, start: int, to_epoch: int) -> Iterator[_EpochNumbers]:
    for epoch in range(start, to_epoch + 1):
        record = trace.epoch(epoch)
        yield epoch, record.loss, record.weights_before, record.weights_after, record


def parameter_value_at(trace: Trace, step: int, p: Param) -> float:
    """A parameter's value at a step: after the update at an update step, before it elsewhere."""
    st = trace.step(step)
    return st.param(p, "after" if st.kind == "update" else "before")
