"""Which printed figure is the first slip, and which only follow from one.

For each printed figure that does not hold, the pass is run again with the *printed* values of the quantities
before it (same epoch and example; where a quantity is printed twice, each) substituted for the engine's own,
through :func:`~bpdebug.core.compute.compute_pass`'s hook. The figure **follows** when it is that recomputation,
within its tolerance plus the rounding of the printed inputs carried through (Σ |∂q/∂input|·tolerance_input:
the printed inputs are only known to their digits), or that recomputation truncated rather than rounded to the
digits it shows. Otherwise it is a **root** slip, and every entry of the slip catalogue
(:data:`~bpdebug.core.slips.SLIPS`) that reproduces it from the same printed inputs is named.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .compute import Network, compute_pass
from .scenario import Expectation, Scenario
from .slips import SLIPS, Slip, Variant
from .trace import ExpectationResult, Trace, expectation_value

MAX_COMBINATIONS = 64  # of the figures printed more than once, this many choices are tried at most
SENSITIVITY_STEP = 1e-7
USED = 1e-9  # |∂q/∂input| above this: the figure was computed from that input

HOLDS, FOLLOWS, ROOT = "holds", "follows", "root"


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
    assert e.param is not None
    if e.kind == "grad":
        return grads + (L - 1 - e.param.layer)
    return grads + L  # param_after


class _Substitution:
    """The printed values put in place of the engine's, by hook name."""

    def __init__(self, s: Scenario, printed: dict[int, tuple[Expectation, np.ndarray]], online: bool) -> None:
        self.L = s.n_layers
        self.params: list[tuple[Expectation, np.ndarray]] = []
        self.inputs: list[tuple[int, Expectation, np.ndarray]] = []
        self.at: dict[str, list[tuple[int, Expectation, np.ndarray]]] = {}
        for e, values in printed.values():
            row = 0 if online else e.example - 1
            if e.kind == "param":
                self.params.append((e, values))
            elif e.kind == "a" and e.layer == 1:
                self.inputs.append((row, e, values))
            else:
                self.at.setdefault(_hook_name(e), []).append((row, e, values))

    def weights(self, weights: tuple) -> tuple:
        if not self.params:
            return weights
        out = [np.array(w, dtype=float) for w in weights]
        for e, values in self.params:
            assert e.param is not None
            out[e.param.layer - 1][e.param.cells] = values[0]  # a shared bias: its whole column
        return tuple(out)

    def x(self, x: np.ndarray) -> np.ndarray:
        if not self.inputs:
            return x
        out = np.array(x, dtype=float)
        for row, e, values in self.inputs:
            _put(out, row, e, values)
        return out

    def put(self, name: str, value: Any) -> Any:
        entries = self.at.get(name)
        if not entries:
            return value
        if name == "loss":
            return float(entries[-1][2][0])
        out = np.array(value, dtype=float)
        for row, e, values in entries:
            if e.param is not None:
                out[e.param.cells] = values[0]
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
    assert e.param is not None
    return f"grad.theta{e.param.layer}" if e.kind == "grad" else f"theta{e.param.layer}.after"


def _put(out: np.ndarray, row: int, e: Expectation, values: np.ndarray) -> None:
    if e.unit is not None:
        out[row, e.unit - 1] = values[0]
    else:
        out[row, :] = values


def _run(net: Network, weights: tuple, x: np.ndarray, t: np.ndarray, subs: _Substitution,
         variant: Variant | None, e: Expectation, row: int) -> np.ndarray:
    """The value of ``e`` in a pass with the printed values substituted (and the slip's variant, if any)."""
    if variant is not None and variant.net is not None:
        net = variant.net
    weights = subs.weights(weights)
    if variant is not None and variant.weights is not None:
        weights = variant.weights(weights)
    x = subs.x(x)
    slip_hook = variant.hook if variant is not None else None
    own = _hook_name(e) if variant is not None and variant.intermediate_only else None
    state: dict[str, Any] = {"weights": weights, "a1": x}
    L = net.L

    def hook(name: str, value: Any) -> Any:
        if slip_hook is not None and name != own:
            value = slip_hook(state, name, value)
        if name.startswith("delta"):
            value = _factors(net, state, int(name[5:]), value, subs, L)
        value = subs.put(name, value)
        state[name] = value
        return value

    numbers = compute_pass(net, weights, x, t, hook=hook)
    return np.asarray(expectation_value(numbers, weights, net.activations, e, row), dtype=float)


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
    if not np.all(np.isfinite(value)):
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
        self.online = trace.passes_per_epoch > 1
        self.L = self.s.n_layers
        self.variants: list[tuple[Slip, Variant]] = [(slip, v) for slip in SLIPS
                                                     for v in slip.variants(trace.net, self.s)]

    def pass_of(self, e: Expectation) -> tuple[tuple, np.ndarray, np.ndarray, int]:
        """(weights, x, t, row) of the pass that computes e."""
        s, record = self.s, self.trace.epoch(e.epoch)
        if self.online and e.kind != "loss":
            p = record.passes[e.example - 1]
            i = e.example - 1
            return p.weights_before, s.inputs[i:i + 1], s.targets[i:i + 1], 0
        return record.weights_before, s.inputs, s.targets, e.example - 1

    def upstream(self, e: Expectation, pool: Sequence[Expectation] | None = None) -> list[Expectation]:
        here = position(e, self.L)
        out = []
        for u in self.s.expectations if pool is None else pool:
            if u.epoch != e.epoch or u is e or position(u, self.L) >= here:
                continue
            if self.online and (u.example != e.example if e.kind != "loss" else u.kind != "param" or u.example != 1):
                continue
            out.append(u)
        return out


def _group(upstream: Sequence[Expectation]) -> list[list[Expectation]]:
    groups: dict[tuple, list[Expectation]] = {}
    for u in upstream:
        groups.setdefault((u.kind, u.layer, u.param.canonical if u.param else None, u.example), []).append(u)
    return list(groups.values())


def diagnose(trace: Trace, results: Sequence[ExpectationResult] | None = None) -> tuple[Diagnosed, ...]:
    """The diagnosis of every expectation of the trace's scenario, in the scenario's order."""
    results = tuple(results) if results is not None else trace.check_all()
    ctx = _Context(trace)
    by_index = {r.expectation.index: r for r in results}
    order = sorted(results, key=lambda r: walk_key(ctx, r.expectation))
    done: dict[int, Diagnosis] = {}
    reads: dict[int, Callable[[np.ndarray], np.ndarray]] = {}
    with np.errstate(all="ignore"):
        for r in order:
            e = r.expectation
            if r.holds:
                done[e.index] = Diagnosis(HOLDS)
                continue
            diagnosis, read = _diagnose_one(ctx, e, reads)
            done[e.index] = diagnosis
            if read is not None:
                reads[e.index] = read
    return tuple(Diagnosed(by_index[i], done[i]) for i in sorted(by_index))


def walk_key(ctx_or_trace: _Context | Trace, e: Expectation) -> tuple[int, int, int, int]:
    """The order of the walk: epoch, example (online), where in the pass, example."""
    online = ctx_or_trace.online if isinstance(ctx_or_trace, _Context) else ctx_or_trace.passes_per_epoch > 1
    L = ctx_or_trace.L if isinstance(ctx_or_trace, _Context) else ctx_or_trace.scenario.n_layers
    return (e.epoch, e.example if online else 0, position(e, L), e.example)


def explain(trace: Trace, e: Expectation, known: Sequence[Expectation] = ()) -> Diagnosis:
    """The diagnosis of one figure that is not the engine's (a learner's answer, say), given the figures
    ``known`` before it (they are substituted as printed ones are; give them distinct indices)."""
    with np.errstate(all="ignore"):
        return _diagnose_one(_Context(trace), e, {}, known)[0]


def _diagnose_one(ctx: _Context, e: Expectation, reads: dict[int, Callable[[np.ndarray], np.ndarray]],
                  pool: Sequence[Expectation] | None = None
                  ) -> tuple[Diagnosis, Callable[[np.ndarray], np.ndarray] | None]:
    weights, x, t, row = ctx.pass_of(e)
    printed = np.array(e.value, dtype=float)
    groups = _group(ctx.upstream(e, pool))
    combos = list(itertools.islice(itertools.product(*groups), MAX_COMBINATIONS))
    engine: list[np.ndarray] = []  # the engine's own value from each combination of printed inputs
    candidates: list[tuple[Slip | None, Variant | None]] = [(None, None), *ctx.variants]
    found: list[tuple[Slip, Variant, tuple[int, ...], int]] = []
    forward = position(e, ctx.L) < backward_start(ctx.L)
    for slip, variant in candidates:
        if forward and variant is not None and variant.backward_only:
            continue  # it cannot change a figure of the forward pass
        for k, combo in enumerate(combos):
            values = {u.index: (u, _read(u, reads)) for u in combo}
            value = _run(ctx.trace.net, weights, x, t, _Substitution(ctx.s, values, ctx.online), variant, e, row)
            if slip is None:
                engine.append(value)
            elif np.array_equal(value, engine[k]):  # the slip changes nothing here: it cannot be the cause
                continue
            spread, used = _sensitivity(ctx, weights, x, t, values, variant, e, row, value)
            ok, truncated = _match(printed, value, e.tolerance, spread, truncation=slip is None)
            if not ok:
                continue
            if slip is None:
                return Diagnosis(FOLLOWS, used, (), _floats(value), truncated), None
            assert variant is not None
            found.append((slip, variant, used, k))
            break
    if not found:
        return Diagnosis(ROOT, (), (), _floats(engine[0] if engine else None)), None
    causes = tuple(dict.fromkeys(s.sentence + (f" ({v.where})" if v.where else "") for s, v, _, _ in found))
    names = tuple(dict.fromkeys(s.name for s, _, _, _ in found))
    read = next((s.read for s, _, _, _ in found if s.read is not None), None)
    return Diagnosis(ROOT, found[0][2], causes, _floats(engine[found[0][3]]), False, names), read


def _read(u: Expectation, reads: dict[int, Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    values = np.array(u.value, dtype=float)
    read = reads.get(u.index)
    return read(values) if read is not None else values


def _sensitivity(ctx: _Context, weights: tuple, x: np.ndarray, t: np.ndarray,
                 values: dict[int, tuple[Expectation, np.ndarray]], variant: Variant | None, e: Expectation,
                 row: int, base: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Σ |∂q/∂input|·tolerance over the printed inputs (per entry of q), and which inputs q depends on."""
    spread = np.zeros_like(base)
    used: list[int] = []
    for index, (u, vals) in values.items():
        depends = False
        for k in range(vals.size):
            h = SENSITIVITY_STEP * max(1.0, abs(float(vals[k])))
            bumped = vals.copy()
            bumped[k] += h
            moved = dict(values)
            moved[index] = (u, bumped)
            value = _run(ctx.trace.net, weights, x, t, _Substitution(ctx.s, moved, ctx.online), variant, e, row)
            slope = np.abs(value - base) / h
            slope = np.where(np.isfinite(slope), slope, 0.0)
            if np.any(slope > USED):
                depends = True
            spread += slope * u.tolerance
        if depends:
            used.append(index)
    return spread, tuple(sorted(used))


def _floats(v: np.ndarray | None) -> tuple[float, ...] | None:
    return None if v is None else tuple(float(x) for x in v)
