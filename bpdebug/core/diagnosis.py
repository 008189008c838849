"""Which printed figure is the first slip, and which only follow from one.

For each printed figure that does not hold, the update that computes it is run again (the example's own
mini-batch, its row in it, the weights and optimizer state that update started from) with the *printed* values
of the quantities before it substituted for the engine's own, through
:func:`~bpdebug.core.compute.compute_pass`'s hook: every printed figure of the same update computed earlier
(each printed unit of a layer, each example's row; where a quantity is printed twice, each in turn), and the
weights the text printed after the update before (``NAME.after``, ``thetaL.after``: the next example's, or the
next epoch's, starting weights). The figure **follows** when it is that recomputation, within its tolerance
plus the rounding of the printed inputs carried through (Σ |∂q/∂input|·tolerance_input: the printed inputs
are only known to their digits), or that recomputation truncated rather than rounded to the digits it shows.
Otherwise it is a **root** slip, and every entry of the slip catalogue (:data:`~bpdebug.core.slips.SLIPS`)
that reproduces it from the same printed inputs is named (an entry with a ``fit``, such as another learning
rate, is tried when no other entry reproduces it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import slips as catalogue
from .compute import Network, compute_pass
from .scenario import Expectation, Scenario
from .slips import Slip, Variant
from .trace import ExpectationResult, Trace, expectation_value

MAX_COMBINATIONS = 64  # of the figures printed more than once, this many choices are tried at most
SENSITIVITY_STEP = 1e-7
SENSITIVITY_ENTRIES = 64  # a printed input of more numbers is bumped all at once (its spread bounded, not summed)
USED = 1e-9  # |∂q/∂input| above this: the figure was computed from that input

HOLDS, FOLLOWS, ROOT = "holds", "follows", "root"
PER_EXAMPLE = ("z", "a", "delta", "dadz", "dE/da", "error")  # kinds with one row per example of an update
FITTED_KINDS = ("param_after", "change")  # the figures a fitted slip (another learning rate) may explain
WEIGHTS_AFTER = ("param_after",)  # printed weights after an update: the next update's weights before


@dataclass(frozen=True)
class Diagnosis:
    """Why a printed figure is what it is. ``follows_from``: the indices of the printed figures it was
    recomputed from (for a root, those the reproducing slip used); ``causes``: the catalogue's sentences that
    reproduce a root; ``recomputed``: the value from the printed inputs (None for a figure that holds)."""

    verdict: str  # "holds" | "follows" | "root"
    follows_from: tuple[int, ...] = ()
    causes: tuple[str, ...] = ()
    recomputed: tuple[float, ...] | None = None
    truncated: bool = False  # follows, but printed truncated rather than rounded
    slips: tuple[str, ...] = ()  # catalogue names of the causes
    fitted: tuple[float, ...] = field(default=(), compare=False, repr=False)  # a fitted slip's numbers that fit

    @property
    def cause(self) -> str | None:
        return "; ".join(self.causes) if self.causes else None


@dataclass(frozen=True)
class Diagnosed:
    result: ExpectationResult
    diagnosis: Diagnosis

    @property
    def expectation(self) -> Expectation:
        return self.result.expectation


def backward_start(L: int) -> int:
    """Where in a pass the backward pass starts: ∂E/∂a of the output layer (see :func:`position`)."""
    return 2 * L + 4


def _matrix_of(e: Expectation) -> int:
    layer = e.param.layer if e.param is not None else e.layer
    assert layer is not None
    return layer


def position(e: Expectation, L: int) -> int:
    """Where in a pass the quantity of ``e`` is computed (the order of compute_pass's hook)."""
    backward = backward_start(L)
    grads = backward + 3 * (L - 1)
    if e.kind == "param":
        return 0
    if e.kind in ("z", "a"):
        assert e.layer is not None
        return 2 * e.layer + (e.kind == "a")
    if e.kind == "error":
        return 2 * L + 2
    if e.kind == "loss":
        return 2 * L + 3
    if e.kind in ("dE/da", "dadz", "delta"):
        assert e.layer is not None
        return backward + 3 * (L - e.layer) + ("dE/da", "dadz", "delta").index(e.kind)
    if e.kind == "grad":
        return grads + (L - 1 - _matrix_of(e))
    return grads + L  # param_after, change, state


# ------------------------------------------------------------------------------------- where a figure is

PassKey = tuple[int, int]  # (epoch, 0-based update of the epoch); update -1: the epoch's loss over every example


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class _Pass:
    """The update a figure belongs to, as the engine ran it: its weights, rows, targets and optimizer state."""

    key: PassKey
    weights: tuple
    x: np.ndarray
    t: np.ndarray
    state: tuple | None
    count: int


def locate(trace: Trace, e: Expectation) -> tuple[PassKey, int]:
    """The update that computes ``e`` and the example's row in it: the mini-batch that holds the example
    (batch mode: the one update of the epoch; online: the example's own)."""
    if trace.passes_per_epoch > 1 and trace.epoch_loss(e):
        return (e.epoch, -1), 0
    k, row = trace.pass_of(e.epoch, e.example)
    return (e.epoch, k), row


def walk_key(ctx_or_trace: _Context | Trace, e: Expectation) -> tuple[int, int, int, int]:
    """The order of the walk: epoch, update, where in the update, the example's row."""
    trace = ctx_or_trace.trace if isinstance(ctx_or_trace, _Context) else ctx_or_trace
    (epoch, k), row = locate(trace, e)
    return (epoch, max(k, 0), position(e, trace.scenario.n_layers), row)


class _Substitution:
    """The printed values put in place of the engine's, by hook name."""

    def __init__(self, s: Scenario, printed: dict[int, tuple[Expectation, np.ndarray]], rows: dict[int, int],
                 carried: frozenset[int] = frozenset()) -> None:
        self.L = s.n_layers
        self.carried: list[tuple[Expectation, np.ndarray]] = []
        self.params: list[tuple[Expectation, np.ndarray]] = []
        self.inputs: list[tuple[int, Expectation, np.ndarray]] = []
        self.at: dict[str, list[tuple[int, Expectation, np.ndarray]]] = {}
        for index, (e, values) in printed.items():
            row = rows.get(index, 0)
            if index in carried:
                self.carried.append((e, values))
            elif e.kind == "param":
                self.params.append((e, values))
            elif e.kind == "a" and e.layer == 1:
                self.inputs.append((row, e, values))
            elif e.kind != "state":
                self.at.setdefault(_hook_name(e), []).append((row, e, values))

    def weights(self, weights: tuple) -> tuple:
        if not self.params and not self.carried:
            return weights
        out = [np.array(w, dtype=float) for w in weights]
        for e, values in (*self.carried, *self.params):  # the text's weights after the update before, then its own
            _put_matrix(out[_matrix_of(e) - 1], e, values)
        return tuple(out)

    def x(self, x: np.ndarray) -> np.ndarray:
        if not self.inputs:
            return x
        out = np.array(x, dtype=float)
        for row, e, values in self.inputs:
            _put(out, row, e, values)
        return out

    def put(self, name: str, value: Any, weights: tuple | None = None) -> Any:
        entries = self.at.get(name)
        if not entries:
            return value
        if name == "loss":
            return float(entries[-1][2][0])
        out = np.array(value, dtype=float)
        for row, e, values in entries:
            if e.kind == "change":  # the change printed: the weights before it plus that change
                assert weights is not None
                before = np.asarray(weights[_matrix_of(e) - 1], dtype=float)
                changed = np.array(out - before)
                _put_matrix(changed, e, values)
                out = before + changed
            elif e.kind in ("grad", "param_after"):
                _put_matrix(out, e, values)
            else:
                _put(out, row, e, values)
        return out

    def has(self, name: str) -> bool:
        return name in self.at


def _hook_name(e: Expectation) -> str:
    if e.kind in ("z", "a", "delta", "dadz", "dE/da"):
        return f"{e.kind}{e.layer}"
    if e.kind in ("error", "loss"):
        return e.kind
    return f"grad.theta{_matrix_of(e)}" if e.kind == "grad" else f"theta{_matrix_of(e)}.after"


def _put(out: np.ndarray, row: int, e: Expectation, values: np.ndarray) -> None:
    if e.unit is not None:
        out[row, e.unit - 1] = values[0]
    else:
        out[row, :] = values


def _put_matrix(out: np.ndarray, e: Expectation, values: np.ndarray) -> None:
    if e.param is not None:
        out[e.param.cells] = values[0]  # a shared bias: its whole column
    else:
        out[...] = np.asarray(values, dtype=float).reshape(out.shape)


def _run(ctx: _Context, p: _Pass, subs: _Substitution, variant: Variant | None, e: Expectation,
         row: int) -> np.ndarray:
    """The value of ``e`` in the update ``p`` with the printed values substituted (and the slip's variant)."""
    net = ctx.trace.net
    if variant is not None and variant.net is not None:
        net = variant.net
    weights = subs.weights(p.weights)
    if variant is not None and variant.weights is not None:
        weights = variant.weights(weights)
    x = subs.x(p.x)
    slip_hook = variant.hook if variant is not None else None
    own = _hook_name(e) if variant is not None and variant.intermediate_only else None
    state: dict[str, Any] = {"weights": weights, "a1": x}
    L = net.L

    def hook(name: str, value: Any) -> Any:
        if slip_hook is not None and name != own:
            value = slip_hook(state, name, value)
        if name.startswith("delta"):
            value = _factors(net, state, int(name[5:]), value, subs, L)
        value = subs.put(name, value, weights)
        state[name] = value
        return value

    numbers = compute_pass(net, weights, x, p.t, p.state, p.count, hook=hook)
    if e.kind == "state":
        return np.array([_state_value(ctx.s, numbers, e)])
    return np.asarray(expectation_value(numbers, weights, net.activations, e, row), dtype=float)


def _state_value(s: Scenario, numbers: Any, e: Expectation) -> float:
    """An optimizer's state (or Adam's m̂, v̂) after the update, as :meth:`PassRecord.state` reads it."""
    upd, opt, prm = numbers.optimizer, s.plan.optimizer, e.param
    if upd is None or prm is None:
        return float("nan")
    if e.state in opt.state_names:
        return float(upd.state[prm.layer - 1][opt.state_names.index(e.state)][prm.row, prm.col])
    if e.state in opt.shown_names:
        return float(upd.shown[prm.layer - 1][opt.shown_names.index(e.state)][prm.row, prm.col])
    return float("nan")


def _factors(net: Network, state: dict[str, Any], l: int, value: Any, subs: _Substitution, L: int) -> Any:
    """delta_l again from its factors when the text printed one of them (dE/da_l or dadz_l)."""
    if not (subs.has(f"dadz{l}") or (l < L and subs.has(f"dE/da{l}"))):
        return value
    derivative = net.activations[l - 2].derivative
    if derivative is None:
        return value
    if l == L:
        dE_da = state[f"dE/da{L}"]
    else:
        w = state["weights"][l - 1]
        dE_da = subs.put(f"dE/da{l}", state[f"delta{l + 1}"] @ (w[:, 1:] if net.bias else w))
    dadz = subs.put(f"dadz{l}", derivative(state[f"z{l}"], state[f"a{l}"]))
    return dE_da * dadz


def _match(printed: np.ndarray, value: np.ndarray, tolerance: float, spread: np.ndarray,
           truncation: bool = True) -> tuple[bool, bool]:
    """(matches, truncated): every entry within tolerance + spread of the value, or (``truncation``) the
    value cut, not rounded, to the digits printed (printed ≤ |value| < printed + one unit of the last digit)."""
    if value.shape != printed.shape or not np.all(np.isfinite(value)):
        return False, False
    slack = tolerance + spread + 1e-15
    near = np.abs(printed - value) <= slack
    if np.all(near):
        return True, False
    if not truncation:
        return False, False
    down = np.sign(value) * (value - printed)
    cut = (down >= -(slack - tolerance)) & (down <= slack + tolerance)
    return bool(np.all(near | cut)), True


class _Context:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.s = trace.scenario
        self.L = self.s.n_layers
        self.variants: list[tuple[Slip, Variant]] = [(slip, v) for slip in catalogue.SLIPS
                                                     for v in slip.variants(trace.net, self.s)]
        self.fits: list[Slip] = [slip for slip in catalogue.SLIPS if slip.fit is not None]
        self._passes: dict[PassKey, _Pass] = {}

    def the_pass(self, key: PassKey) -> _Pass:
        """The update ``key`` as the engine ran it."""
        if key not in self._passes:
            epoch, k = key
            s, record = self.s, self.trace.epoch(epoch)
            first = record.passes[0]
            if k < 0:  # the epoch's loss over every example, with the epoch's starting weights
                self._passes[key] = _Pass(key, record.weights_before, s.inputs, s.targets, first.state_before or None,
                                          first.update)
            else:
                p = record.passes[k]
                rows = list(p.rows)
                self._passes[key] = _Pass(key, p.weights_before, s.inputs[rows], s.targets[rows],
                                          p.state_before or None, p.update)
        return self._passes[key]

    def previous(self, key: PassKey) -> PassKey | None:
        """The update before ``key`` (the last of the epoch before, for an epoch's first)."""
        epoch, k = key
        if k > 0:
            return epoch, k - 1
        return (epoch - 1, self.trace.passes_per_epoch - 1) if epoch > 1 else None

    def upstream(self, e: Expectation, pool: Sequence[Expectation] | None = None
                 ) -> tuple[list[Expectation], dict[int, int], frozenset[int]]:
        """The printed figures ``e`` may be computed from, their rows, and which of them are the weights after
        the update before (carried over as this update's weights before)."""
        key, _ = locate(self.trace, e)
        here = position(e, self.L)
        same = {key, (key[0], 0)} if key[1] < 0 else {key}  # the epoch's loss: the first update's weights
        before = self.previous((key[0], max(key[1], 0)))
        out, rows, carried = [], {}, set()
        for u in self.s.expectations if pool is None else pool:
            if u is e or u.kind == "state":
                continue
            ukey, row = locate(self.trace, u)
            if ukey in same and position(u, self.L) < here and (ukey == key or u.kind == "param"):
                out.append(u)
            elif before is not None and ukey == before and u.kind in WEIGHTS_AFTER:
                out.append(u)
                carried.add(u.index)
            else:
                continue
            rows[u.index] = row
        return out, rows, frozenset(carried)


def _group(upstream: Sequence[Expectation], ctx: _Context) -> list[list[Expectation]]:
    """The printed figures by the quantity they give (one group per unit, per example's row, per update; a
    quantity printed twice is one group of two choices), whole layers and matrices before their entries."""
    groups: dict[tuple, list[Expectation]] = {}
    for u in upstream:
        ukey, row = locate(ctx.trace, u)
        where = row if u.kind in PER_EXAMPLE else None
        key = (u.unit is not None or u.param is not None, u.kind, u.layer, u.unit,
               u.param.canonical if u.param else None, ukey, where)
        groups.setdefault(key, []).append(u)
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], k[5], str(k[1:5]), str(k[6])))]


def diagnose(trace: Trace, results: Sequence[ExpectationResult] | None = None) -> tuple[Diagnosed, ...]:
    """The diagnosis of every expectation of the trace's scenario, in the scenario's order."""
    results = tuple(results) if results is not None else trace.check_all()
    ctx = _Context(trace)
    by_index = {r.expectation.index: r for r in results}
    order = sorted(results, key=lambda r: walk_key(ctx, r.expectation))
    done: dict[int, Diagnosis] = {}
    reads: dict[int, Callable[[np.ndarray], np.ndarray]] = {}
    retries: dict[int, _Retry] = {}
    with np.errstate(all="ignore"):
        for r in order:
            e = r.expectation
            if r.holds:
                done[e.index] = Diagnosis(HOLDS)
                continue
            diagnosis, read, retry = _diagnose_one(ctx, e, reads)
            done[e.index] = diagnosis
            if read is not None:
                reads[e.index] = read
            if retry is not None:
                retries[e.index] = retry
        _one_number(ctx, done, retries)
    return tuple(Diagnosed(by_index[i], done[i]) for i in sorted(by_index))


def explain(trace: Trace, e: Expectation, known: Sequence[Expectation] = ()) -> Diagnosis:
    """The diagnosis of one figure that is not the engine's (a learner's answer, say), given the figures
    ``known`` before it (they are substituted as printed ones are; give them distinct indices)."""
    with np.errstate(all="ignore"):
        return _diagnose_one(_Context(trace), e, {}, known)[0]


def _diagnose_one(ctx: _Context, e: Expectation, reads: dict[int, Callable[[np.ndarray], np.ndarray]],
                  pool: Sequence[Expectation] | None = None
                  ) -> tuple[Diagnosis, Callable[[np.ndarray], np.ndarray] | None, _Retry | None]:
    key, row = locate(ctx.trace, e)
    p = ctx.the_pass(key)
    printed = np.array(e.value, dtype=float)
    upstream, rows, carried = ctx.upstream(e, pool)
    rows[e.index] = row
    groups = _group(upstream, ctx)
    combos = list(itertools.islice(itertools.product(*groups), MAX_COMBINATIONS))
    engine: list[np.ndarray] = []  # the engine's own value from each combination of printed inputs
    found: list[tuple[Slip, Variant, tuple[int, ...], int]] = []
    forward = position(e, ctx.L) < backward_start(ctx.L)

    def attempt(variant: Variant | None, k: int, values: dict[int, tuple[Expectation, np.ndarray]],
                truncation: bool) -> tuple[np.ndarray, tuple[int, ...] | None, bool]:
        value = _run(ctx, p, _Substitution(ctx.s, values, rows, carried), variant, e, row)
        if variant is not None and np.array_equal(value, engine[k]):  # the slip changes nothing here
            return value, None, False
        spread, used = _sensitivity(ctx, p, rows, carried, values, variant, e, row, value)
        ok, truncated = _match(printed, value, e.tolerance, spread, truncation=truncation)
        return value, (used if ok else None), truncated

    printed_values = [{u.index: (u, _read(u, reads)) for u in combo} for combo in combos]
    for k, values in enumerate(printed_values):
        value, used, truncated = attempt(None, k, values, True)
        engine.append(value)
        if used is not None:
            return Diagnosis(FOLLOWS, used, (), _floats(value), truncated), None, None
    for slip, variant in ctx.variants:
        if forward and variant.backward_only:
            continue  # it cannot change a figure of the forward pass
        for k, values in enumerate(printed_values):
            _, used, _ = attempt(variant, k, values, False)
            if used is not None:
                found.append((slip, variant, used, k))
                break
    fitted: list[float] = []
    retry: _Retry | None = None
    caught = bool(found)  # a catalogue entry reproduces it: a fitted slip then only names what it explains
    if not forward:
        for slip in ctx.fits:
            assert slip.fit is not None
            for k, values in enumerate(printed_values):
                def run(net: Network, values: dict = values) -> np.ndarray:
                    return _run(ctx, p, _Substitution(ctx.s, values, rows, carried), Variant(net=net), e, row)
                for variant in slip.fit(ctx.trace.net, run, printed, e.tolerance, e.kind):
                    _, used, _ = attempt(variant, k, values, False)
                    if used is None:
                        continue
                    if retry is None:
                        retry = _Retry(slip, _reproduces(attempt, k, values), used, _floats(engine[k]))
                        if not caught:
                            found.append((slip, variant, used, k))
                    if variant.fitted is not None:
                        fitted.append(variant.fitted)
                if retry is not None:
                    break
            if retry is not None:
                break
    if not found:
        return Diagnosis(ROOT, (), (), _floats(engine[0] if engine else None)), None, None
    causes = tuple(dict.fromkeys(_cause(s, v) for s, v, _, _ in found))
    names = tuple(dict.fromkeys(s.name for s, _, _, _ in found))
    read = next((s.read for s, _, _, _ in found if s.read is not None), None)
    return (Diagnosis(ROOT, found[0][2], causes, _floats(engine[found[0][3]]), False, names, tuple(fitted)), read,
            retry)


def _reproduces(attempt: Callable[..., tuple[np.ndarray, tuple[int, ...] | None, bool]], k: int,
                values: dict[int, tuple[Expectation, np.ndarray]]) -> Callable[[Variant], bool]:
    def reproduces(variant: Variant) -> bool:
        return attempt(variant, k, values, False)[1] is not None
    return reproduces


@dataclass(frozen=True)
class _Retry:
    """A fitted slip's figure again: whether another number of the slip reproduces it."""

    slip: Slip
    reproduces: Callable[[Variant], bool]
    used: tuple[int, ...]  # the printed figures it was recomputed from
    recomputed: tuple[float, ...] | None


def _cause(slip: Slip, variant: Variant) -> str:
    return (variant.sentence or slip.sentence) + (f" ({variant.where})" if variant.where else "")


def _one_number(ctx: _Context, done: dict[int, Diagnosis], retries: dict[int, _Retry]) -> None:
    """One number behind several figures of an update is one slip: when every root figure of an update that a
    fitted slip could explain (every new weight, for another learning rate) is reproduced by one number, that
    is their cause, over a catalogue entry that matches one of them by chance and over the different numbers
    each reproduces alone (a weight with a small gradient allows many rates). The numbers found for most
    figures are tried first, the shortest first."""
    groups: dict[tuple, list[int]] = {}
    for e in ctx.s.expectations:
        d = done.get(e.index)
        if d is not None and d.verdict == ROOT and e.kind in FITTED_KINDS:
            key = locate(ctx.trace, e)[0]
            groups.setdefault(key, []).append(e.index)
    for indices in groups.values():
        if len(indices) < 2 or any(i not in retries for i in indices):
            continue
        slip = retries[indices[0]].slip
        if slip.refit is None or any(retries[i].slip is not slip for i in indices):
            continue
        votes: dict[float, int] = {}
        for i in indices:
            for value in done[i].fitted:
                votes[value] = votes.get(value, 0) + 1
        for value in sorted(votes, key=lambda v: (-votes[v], len(repr(v)))):
            variant = slip.refit(ctx.trace.net, value)
            if all(retries[i].reproduces(variant) for i in indices):
                for i in indices:
                    r = retries[i]
                    done[i] = Diagnosis(ROOT, r.used, (_cause(slip, variant),), r.recomputed, False, (slip.name,),
                                        done[i].fitted)
                break


def _read(u: Expectation, reads: dict[int, Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    values = np.array(u.value, dtype=float)
    read = reads.get(u.index)
    return read(values) if read is not None else values


def _sensitivity(ctx: _Context, p: _Pass, rows: dict[int, int], carried: frozenset[int],
                 values: dict[int, tuple[Expectation, np.ndarray]], variant: Variant | None, e: Expectation,
                 row: int, base: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Σ |∂q/∂input|·tolerance over the printed inputs (per entry of q), and which inputs q depends on."""
    spread = np.zeros_like(base)
    used: list[int] = []
    for index, (u, vals) in values.items():
        depends = False
        # each number of a printed input bumped in turn; a large one (a whole matrix) all at once
        bumps = ([np.eye(vals.size)[k] for k in range(vals.size)] if vals.size <= SENSITIVITY_ENTRIES
                 else [np.ones(vals.size)])
        for direction in bumps:
            h = SENSITIVITY_STEP * max(1.0, float(np.max(np.abs(vals * direction))))
            moved = dict(values)
            moved[index] = (u, vals + h * direction)
            value = _run(ctx, p, _Substitution(ctx.s, moved, rows, carried), variant, e, row)
            slope = np.abs(value - base) / h if value.shape == base.shape else np.zeros_like(base)
            slope = np.where(np.isfinite(slope), slope, 0.0)
            if np.any(slope > USED):
                depends = True
            spread += slope * u.tolerance
        if depends:
            used.append(index)
    return spread, tuple(sorted(used))


def _floats(v: np.ndarray | None) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)
