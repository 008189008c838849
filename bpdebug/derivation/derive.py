"""Numbers into the cached symbolic chain: the derivation of one parameter at one step.

Every number comes from the engine's step through :meth:`Step.value`, so a factor whose step has not run
yet stays pending (``None``) and no number from the future can leak into a view.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from ..core.params import Param
from .chain import FactorSpec, Symbolic, SymFactor, product, sym_factor, symbolic, total
from .naming import Names
from .results import Derivation, Factor
from .shapes import FD, Shape, shape_of

if TYPE_CHECKING:
    from ..core.engine import Step
    from ..core.scenario import Scenario

FREEZE_AFTER = 10_000  # cached factors built since the last gc.freeze() that trigger the next one


@dataclass
class _Frozen:
    factors: int = 0  # the factor cache's size at the last freeze


_FROZEN = _Frozen()


def _keep_cache_out_of_gc() -> None:
    """Once the symbolic cache has grown by :data:`FREEZE_AFTER` factors, move everything alive out of the
    garbage collector's sight (``gc.freeze``): with about a million SymPy objects cached, a full collection
    paused derivations for 250-565 ms. Evicted entries are still freed by reference counting."""
    size = sym_factor.cache_info().currsize
    if size - _FROZEN.factors >= FREEZE_AFTER:
        gc.freeze()
        _FROZEN.factors = size
    elif size < _FROZEN.factors:  # the cache was cleared
        _FROZEN.factors = size


@dataclass
class _Numbers:
    """The numbers a step knows, read once each, and the factors' base numbers from them."""

    step: Step
    cache: dict[str, Any] = field(default_factory=dict)

    def known(self, gate: str | None) -> bool:
        return gate is None or self.step.is_known(gate)

    def quantity(self, q: str) -> Any:
        if q not in self.cache:
            self.cache[q] = self.step.value(q)
        return self.cache[q]

    def bases(self, spec: FactorSpec, row: int | slice) -> list[Any]:
        """Each base's number for the example ``row`` (a slice: every example's, as arrays)."""
        out = []
        for b in spec.bases:
            if b.quantity is None:
                out.append(b.constant)
            elif b.quantity.startswith("theta"):
                out.append(float(self.quantity(b.quantity)[b.index]))
            elif not b.index:  # the sum over every unit of the layer (a wide layer's shared bias)
                out.append(np.asarray(self.quantity(b.quantity))[row].sum(axis=-1))
            else:
                out.append(self.quantity(b.quantity)[row, b.index[0]])
        return out

    def factor_values(self, spec: FactorSpec, n: int) -> np.ndarray:
        """A factor's number for each of the ``n`` examples."""
        with np.errstate(all="ignore"):
            v = spec.template.fn(*self.bases(spec, slice(None)))
        return np.broadcast_to(np.asarray(v, dtype=float), (n,))


def derive(step: Step, param: Param | str, names: str = "text", scenario: Scenario | None = None,
           example: int | None = None) -> Derivation:
    """The chain rule of ``param`` at ``step``, with the numbers known at that step.

    ``scenario`` defaults to the one the step's pass records. ``example`` picks whose factors are shown
    when a batch's chain is written Σ_n (default: the first)."""
    scenario = scenario or _scenario_of(step)
    p = scenario.params.get(param) if isinstance(param, str) else param
    N = step.record.numbers.a[1].shape[0]
    shape = shape_of(scenario, N)
    sym = symbolic(shape, p, names)
    _keep_cache_out_of_gc()
    if shape.n_examples != N:
        raise ValueError(f"step {step.index} has {N} examples per pass, the scenario {shape.n_examples}")
    shown = example or 1
    if sym.summed and not 1 <= shown <= N:
        raise ValueError(f"example {shown} outside 1..{N}")
    nums = _Numbers(step)
    values: dict[Any, float] = {}
    shown_paths = (tuple(tuple(sym_factor(shape, names, fd, p, shown) for fd in path) for path in sym.fds)
                   if sym.summed else sym.paths)
    terms = tuple(tuple(_factor(f, nums, values) for f in path) for path in shown_paths)
    all_known = all(f.value is not None for path in terms for f in path)
    contributions = _contributions(sym, shape, names, p, nums, N) if sym.summed and all_known else None
    if not all_known:
        substituted = None
    elif contributions is not None:
        substituted = total([sympy.Float(c) for c in contributions])
    else:  # plain Floats: Add/Mul(evaluate=False) keep the chain order as given
        substituted = total([product([sympy.Float(f.value) for f in path]) for path in terms])
    pname, err = Names(shape.layers, names).param(p), Names(shape.layers, names).error
    return Derivation(
        param=p, name=pname.text, terms=terms, chain=sym.chain, closed_form=sym.closed_form,
        substituted=substituted, value=step.gradient(p), old_value=step.param(p, "before"),
        learning_rate=scenario.learning_rate,
        new_value=step.param(p, "after") if step.is_known(f"theta{p.layer}.after") else None,
        plain=scenario.plan.is_plain,
        frozen=p.canonical in scenario.frozen, names=names, form=sym.form, n_examples=N,
        fed=scenario.layers[p.layer] if p.shared else None,
        example=shown if sym.summed else None, contributions=contributions, error_name=(err.text, err.latex),
        name_latex=pname.latex,
        generic_terms=tuple(tuple(_symbols_only(f) for f in path) for path in sym.paths) if sym.summed else (),
        _values=values,
        _more_values=(lambda: _summed_values(shape, names, p, sym, nums, N)) if sym.summed else None,
    )


def _symbols_only(f: SymFactor) -> Factor:
    return Factor(f.label.text, f.symbol, f.closed_form, None, f.label.latex, f.closed.text, f.closed.latex)


def _factor(f: SymFactor, nums: _Numbers, values: dict[Any, float]) -> Factor:
    """A factor with its number (and its closed form in numbers) once its step has run."""
    spec = f.spec
    note = f.note.text if f.note else ""
    note_latex = f.note.latex if f.note else ""
    if not nums.known(spec.gate):
        return Factor(f.label.text, f.symbol, f.closed_form, None, f.label.latex, f.closed.text, f.closed.latex,
                      None, None, note, note_latex)
    row = 0 if f.example is None else int(f.example) - 1
    raw = tuple(float(x) for x in nums.bases(spec, row))
    with np.errstate(all="ignore"):
        v = float(spec.template.fn(*raw))
    values[f.symbol] = v
    values.update(zip(f.base_symbols, raw, strict=True))
    printed = f.printed(raw)
    return Factor(f.label.text, f.symbol, f.closed_form, v, f.label.latex, f.closed.text, f.closed.latex,
                  printed.text, printed.latex, note, note_latex)


def _contributions(sym: Symbolic, shape: Shape, names: str, p: Param, nums: _Numbers, N: int) -> tuple[float, ...]:
    """Each example's term of a Σ_n: the sum over the paths of the products of its factors."""
    per_factor: dict[FD, np.ndarray] = {}
    sums = np.zeros(N)
    with np.errstate(all="ignore"):
        for path in sym.fds:
            prod = np.ones(N)
            for fd in path:
                if fd not in per_factor:
                    per_factor[fd] = nums.factor_values(sym_factor(shape, names, fd, p, "n").spec, N)
                prod = prod * per_factor[fd]
            sums = sums + prod
    return tuple(float(v) for v in sums)


def _summed_values(shape: Shape, names: str, p: Param, sym: Symbolic, nums: _Numbers, N: int) -> dict[Any, float]:
    """Numbers of every example's symbols, so Σ_n expanded can be evaluated (only what is known)."""
    values: dict[Any, float] = {}
    for fd in {fd for path in sym.fds for fd in path}:
        f = sym_factor(shape, names, fd, p, "n")
        if not nums.known(f.spec.gate):
            continue
        v = nums.factor_values(f.spec, N)
        for k in range(N):
            values[f.symbol.base[sympy.Integer(k + 1)]] = float(v[k])
        for s, b, x in zip(f.base_symbols, f.spec.bases, nums.bases(f.spec, slice(None)), strict=True):
            if isinstance(s, sympy.Indexed):
                arr = np.broadcast_to(np.asarray(x, dtype=float), (N,))
                for k in range(N):
                    values[s.base[sympy.Integer(k + 1)]] = float(arr[k])
            else:
                values[s] = float(x) if b.quantity is not None or b.constant is None else b.constant
    return values


def _scenario_of(step: Step) -> Scenario:
    """The scenario whose training the step belongs to (every pass of a Trace records it)."""
    if step.scenario is None:
        raise TypeError("derive() needs the step's scenario: pass scenario=trace.scenario")
    return step.scenario
