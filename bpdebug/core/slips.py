"""The catalogue of common slips in a worked example of backpropagation, as data.

Each :class:`Slip` is a name, the sentence that tells a reader what went wrong, and a variant computation:
``variants(net, scenario)`` yields the ways of making the slip in this network (one per layer, per pair of
units, …), each a :class:`Variant` the diagnosis runs the engine's own pass with
(:func:`~bpdebug.core.compute.compute_pass` and its hook): another :class:`~bpdebug.core.compute.Network`
(a loss, an activation's derivative, a learning rate), transformed weights, or a hook that changes a quantity
as the pass computes it (``hook(state, name, value)``; ``state`` holds the quantities computed so far by name,
``"weights"`` and ``"a1"``). Adding a slip is adding one entry to :data:`SLIPS`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import expr
from .compute import Network, gradient, hidden_delta
from .messages import count
from .scenario import Scenario

StateHook = Callable[[dict[str, Any], str, Any], Any]
Fit = Callable[[Network, Callable[[Network], np.ndarray], np.ndarray, float, str], Iterator["Variant"]]
MAX_RATE_DIGITS = 6  # another learning rate is named with at most this many significant digits
RATES_PER_DIGITS = 4  # of as many digits, the rates nearest the middle of the range that fits
MAX_UNITS_TO_SWAP = 6  # pairs of units are tried in layers of at most this many units


@dataclass(frozen=True)
class Variant:
    """One way of making a slip: what the slipped pass runs with instead of the engine's own."""

    where: str = ""  # "in layer 2", "in theta1, units 1 and 2 of layer 2"; "" when it is everywhere
    net: Network | None = None  # None: the scenario's network
    weights: Callable[[tuple], tuple] | None = None  # the weights the slipped pass uses, from the real ones
    hook: StateHook | None = None
    intermediate_only: bool = False  # the hook leaves the figure under diagnosis itself alone
    backward_only: bool = False  # changes nothing before the backward pass (z, a, the error and the loss)
    sentence: str = ""  # in place of the slip's sentence, when the variant says more (the rate it used)
    fitted: float | None = None  # the number a fitted slip found (Slip.fit)


@dataclass(frozen=True)
class Slip:
    name: str
    sentence: str
    variants: Callable[[Network, Scenario], Iterator[Variant]]
    # a printed figure made with this slip, read back as the engine's quantity (for the figures after it)
    read: Callable[[np.ndarray], np.ndarray] | None = None
    # a slip with a number to find: fit(net, run, printed, tolerance, kind) yields the variants that could have
    # made the printed figure (each with the number, ``fitted``; the likeliest first), ``run(net)`` computing it
    # with another network; tried when no entry reproduces it. The figures of one update that a fitted slip
    # explains are explained by one number where one number explains them all
    fit: Fit | None = None
    refit: Callable[[Network, float], Variant] | None = None  # the variant of a fitted slip for a given number


def _net(net: Network, **changes: Any) -> Network:
    out = copy.copy(net)
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def _scale(factors: dict[str, float]) -> StateHook:
    def hook(state: dict[str, Any], name: str, value: Any) -> Any:
        f = factors.get(name)
        return value if f is None else value * f
    return hook


def _squared_error(net: Network, s: Scenario) -> Iterator[Variant]:
    if net.loss.squared_error in (0.5, 1.0):  # ½(t − o)² or (t − o)², as the loss's entry says
        f = 2.0 if net.loss.squared_error == 0.5 else 0.5
        where = "(t − o)² for ½(t − o)²" if f == 2 else "½(t − o)² for (t − o)²"
        yield Variant(where, hook=_scale({"error": f, f"dE/da{net.L}": f}))


def _mean_not_sum(net: Network, s: Scenario) -> Iterator[Variant]:
    L = net.L

    def hook(state: dict[str, Any], name: str, value: Any) -> Any:
        if name in ("loss", f"dE/da{L}"):
            count = net.loss.batch_loss(np.ones_like(state["error"]))  # what the loss sums over
            return value / count if count else value
        return value
    yield Variant(hook=hook)


def _per_output_squared(net: Network, s: Scenario) -> Iterator[Variant]:
    if net.loss.squared_error == 0.5:  # each error printed as (t − o)², the total still ½ Σ
        yield Variant(hook=_scale({"error": 2.0, "loss": 0.5}))


def _updated_weights(net: Network, s: Scenario) -> Iterator[Variant]:
    if net.L < 3:
        return

    def hook(state: dict[str, Any], name: str, value: Any) -> Any:
        if not name.startswith("delta"):
            return value
        l = int(name[5:])
        if l == net.L:
            return value
        weights = list(state["weights"])  # theta_l updated before the error is sent back through it
        d_next, a_l = state[f"delta{l + 1}"], state[f"a{l}"]
        weights[l - 1] = weights[l - 1] - net.lr * gradient(net, d_next, a_l)
        return hidden_delta(net, tuple(weights), l, d_next, state[f"z{l}"], a_l)
    yield Variant(hook=hook, backward_only=True)


def _with_matrix(l: int, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[tuple], tuple]:
    def weights(ws: tuple) -> tuple:
        out = list(ws)
        out[l - 1] = change(np.array(ws[l - 1], dtype=float))
        return tuple(out)
    return weights


def _transposed(net: Network, s: Scenario) -> Iterator[Variant]:
    start = 1 if net.bias else 0
    for l in range(1, net.L):
        w = s.weights[l - 1]
        if w.shape[0] == w.shape[1] - start and w.shape[0] > 1:
            def change(m: np.ndarray) -> np.ndarray:
                m[:, start:] = m[:, start:].T.copy()
                return m
            yield Variant(f"theta{l}", weights=_with_matrix(l, change))


def _swapped(net: Network, s: Scenario) -> Iterator[Variant]:
    start = 1 if net.bias else 0
    for l in range(1, net.L):
        rows, cols = s.layers[l], s.layers[l - 1]
        if rows <= MAX_UNITS_TO_SWAP:
            for i in range(rows):
                for j in range(i + 1, rows):
                    def rows_(m: np.ndarray, i: int = i, j: int = j) -> np.ndarray:
                        m[[i, j]] = m[[j, i]]
                        return m
                    yield Variant(f"theta{l}, units {i + 1} and {j + 1} of layer {l + 1}",
                                  weights=_with_matrix(l, rows_))
        if cols <= MAX_UNITS_TO_SWAP:
            for i in range(cols):
                for j in range(i + 1, cols):
                    def cols_(m: np.ndarray, i: int = i + start, j: int = j + start) -> np.ndarray:
                        m[:, [i, j]] = m[:, [j, i]]
                        return m
                    yield Variant(f"theta{l}, units {i + 1} and {j + 1} of layer {l}", weights=_with_matrix(l, cols_))


def _elementwise_layers(net: Network) -> Iterator[int]:
    for l in range(2, net.L + 1):
        act = net.activations[l - 2]
        if act.derivative is not None and not act.is_identity:
            yield l


def _no_activation(net: Network, s: Scenario) -> Iterator[Variant]:
    for l in _elementwise_layers(net):
        def hook(state: dict[str, Any], name: str, value: Any, l: int = l) -> Any:
            return state[f"z{l}"] if name == f"a{l}" else value
        yield Variant(f"layer {l}", hook=hook)


def _activation_twice(net: Network, s: Scenario) -> Iterator[Variant]:
    for l in _elementwise_layers(net):
        f = net.activations[l - 2].function

        def hook(state: dict[str, Any], name: str, value: Any, l: int = l, f: Any = f) -> Any:
            return f(value) if name == f"a{l}" else value
        yield Variant(f"layer {l}", hook=hook)


def _function_for_derivative(net: Network, s: Scenario) -> Iterator[Variant]:
    for l in _elementwise_layers(net):
        acts = list(net.activations)
        f = acts[l - 2].function

        def derivative(z: np.ndarray, a: np.ndarray, f: Callable[[np.ndarray], np.ndarray] = f) -> np.ndarray:
            return f(z)
        acts[l - 2] = replace(acts[l - 2], derivative=derivative)
        yield Variant(f"layer {l}", net=_net(net, activations=tuple(acts)), backward_only=True)


def _sign_flipped(net: Network, s: Scenario) -> Iterator[Variant]:
    yield Variant(net=_net(net, lr=-net.lr), backward_only=True)


def _no_learning_rate(net: Network, s: Scenario) -> Iterator[Variant]:
    if net.lr != 1:
        yield Variant(net=_net(net, lr=1.0), backward_only=True)


def _learning_rate_twice(net: Network, s: Scenario) -> Iterator[Variant]:
    if net.lr != 1:
        yield Variant(net=_net(net, lr=net.lr * net.lr), backward_only=True)


def _none(net: Network, s: Scenario) -> Iterator[Variant]:
    yield from ()


def _other_learning_rate(net: Network, run: Callable[[Network], np.ndarray], printed: np.ndarray, tolerance: float,
                         kind: str) -> Iterator[Variant]:
    """The update w − η′·g with one η′ other than the scenario's: the rates within the printed figure's
    tolerance (w − η′·g within it of every printed number), the shortest first and, of as many digits, the
    nearest the middle of that range."""
    if kind not in ("param_after", "change") or not net.plain:
        return
    at_zero, at_one = run(_net(net, lr=0.0)), run(_net(net, lr=1.0))
    g = at_zero - at_one  # the step the update takes per unit of learning rate
    moved = (at_zero if kind == "param_after" else 0.0) - printed  # η′·g, as printed
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(moved))):
        return
    low, high = 0.0, np.inf
    for gi, mi in zip(g, moved, strict=True):
        if abs(gi) < 1e-300:
            if abs(mi) > tolerance:
                return  # no rate moves it
            continue
        a, b = (mi - tolerance) / gi, (mi + tolerance) / gi
        low, high = max(low, min(a, b)), min(high, max(a, b))
    if not (high > 0.0 and low <= high and np.isfinite(high)):
        return
    middle = (low + high) / 2
    seen: set[float] = set()
    for digits in range(1, MAX_RATE_DIGITS + 1):
        step = 10.0 ** (np.floor(np.log10(middle)) - digits + 1)
        first, last = int(np.ceil(low / step)), int(np.floor(high / step))
        ks = sorted(range(max(first, 1), last + 1), key=lambda k: abs(k * step - middle))[:RATES_PER_DIGITS]
        for k in ks:
            rate = float(f"{k * step:.{digits + 1}g}")
            if rate in seen or abs(rate - net.lr) <= 1e-12 * max(1.0, net.lr):
                continue
            seen.add(rate)
            yield _learning_rate(net, rate)


def _learning_rate(net: Network, rate: float) -> Variant:
    return Variant(net=_net(net, lr=rate), backward_only=True, fitted=rate,
                   sentence=f"the update used a learning rate of {rate:g}, not {net.lr:g}")


def _no_bias(net: Network, s: Scenario) -> Iterator[Variant]:
    if not net.bias:
        return

    def zero(m: np.ndarray) -> np.ndarray:
        m[:, 0] = 0.0
        return m
    for l in range(1, net.L):
        yield Variant(f"theta{l}", weights=_with_matrix(l, zero))


def _one_units_delta(net: Network, s: Scenario) -> Iterator[Variant]:
    """A shared bias updated with the delta of one unit it feeds, not the sum over them all: per layer, per unit
    (in layers of at most :data:`MAX_UNITS_TO_SWAP` units)."""
    if not net.shared:
        return
    for p in s.params:
        if not p.shared or not 1 < s.layers[p.layer] <= MAX_UNITS_TO_SWAP:
            continue
        for k in range(s.layers[p.layer]):
            def hook(state: dict[str, Any], name: str, value: Any, l: int = p.layer, k: int = k) -> Any:
                if name != f"grad.theta{l}":
                    return value
                g = np.array(value, dtype=float)
                g[:, 0] = np.sum(state[f"delta{l + 1}"][:, k])
                return g
            yield Variant(f"{p.short} from unit {k + 1} of layer {p.layer + 1}", hook=hook, backward_only=True)


def printed_decimals(s: Scenario) -> tuple[int, ...]:
    """The numbers of decimals the scenario's printed figures show (as written: 0.7333 shows 4)."""
    out: set[int] = set()
    for e in s.expectations:
        for v in e.value:
            text = repr(float(v))
            if "e" not in text and "." in text:
                out.add(len(text.split(".")[1].rstrip("0")) or 1)
    return tuple(sorted(d for d in out if 1 <= d <= 8))


def _rounded(net: Network, s: Scenario) -> Iterator[Variant]:
    decimals = printed_decimals(s)
    for d in decimals:
        def hook(state: dict[str, Any], name: str, value: Any, d: int = d) -> Any:
            return np.round(value, d) if not name.endswith(".after") else value
        yield Variant(count(d, "decimal"), hook=hook, intermediate_only=True)
    yield from _rounded_in_derivative(net, decimals)


def _rounded_in_derivative(net: Network, decimals: tuple[int, ...]) -> Iterator[Variant]:
    """The derivative out·(1 − out) worked out by hand from a rounded out: in every place, or in one place
    only, as the blog's 0.7333·(1 − 0.733) = 0.1958 (the same output written to 4 decimals, then to 3).
    The places are the occurrences of out (or net) in the activation's closed form, from the registry."""
    for l in _elementwise_layers(net):
        entry = net.activations[l - 2]
        if entry.out_form is not None:
            var, form, of_out = "out", entry.out_form, True
        elif entry.tree is not None:  # as the activation's own derivative is worked out, in net
            var, of_out = "net", False
            form = expr.diff(expr.substitute(entry.tree, {entry.variable: expr.var(var)}), var)
        else:
            continue
        places = list(_occurrences(form, var))
        if not places:
            continue
        for chosen in [places] + ([[p] for p in places] if len(places) > 1 else []):
            fn = expr.compile_numpy(_replace_at(form, chosen, expr.var("rounded")), (var, "rounded"))
            for d in decimals:
                def derivative(z: np.ndarray, a: np.ndarray, fn: Any = fn, d: int = d, of_out: bool = of_out
                               ) -> np.ndarray:
                    v = a if of_out else z
                    return np.broadcast_to(np.asarray(fn(v, np.round(v, d)), dtype=float), np.shape(v))
                shown = _replace_at(form, chosen, expr.call("round", expr.var(var), expr.num(d)))
                acts = list(net.activations)
                acts[l - 2] = replace(entry, derivative=derivative)
                yield Variant(f"{d} decimals: layer {l}'s derivative {expr.text(form, spaced=False)} worked out "
                              f"as {expr.text(shown, spaced=False)}",
                              net=_net(net, activations=tuple(acts)), backward_only=True)


def _occurrences(tree: expr.Expr, var: str, path: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Where the variable ``var`` occurs in the formula, as paths of argument indices."""
    if tree.op == "var" and tree.name == var:
        yield path
        return
    for i, arg in enumerate(tree.args):
        yield from _occurrences(arg, var, (*path, i))


def _replace_at(tree: expr.Expr, paths: list[tuple[int, ...]], new: expr.Expr) -> expr.Expr:
    """``tree`` with the occurrences at ``paths`` replaced by ``new``."""
    if () in paths:
        return new
    args = list(tree.args)
    for i in {p[0] for p in paths}:
        args[i] = _replace_at(args[i], [p[1:] for p in paths if p[0] == i], new)
    return replace(tree, args=tuple(args))


def _halved(v: np.ndarray) -> np.ndarray:
    return v / 2


SLIPS: tuple[Slip, ...] = (
    Slip("squared_error_half", "the ½ of the squared error dropped or added", _squared_error),
    Slip("mean_not_sum", "the mean of the error terms taken instead of their sum", _mean_not_sum),
    Slip("per_output_squared", "each output's error printed as (t − o)² against a loss of ½(t − o)²",
         _per_output_squared, read=_halved),
    Slip("updated_weights", "the error sent back through weights already updated (the update-order slip)",
         _updated_weights),
    Slip("transposed", "a weight matrix transposed", _transposed),
    Slip("swapped", "two units' indices swapped", _swapped),
    Slip("no_activation", "the activation left out (z used for a)", _no_activation),
    Slip("activation_twice", "the activation applied twice", _activation_twice),
    Slip("function_for_derivative", "σ(z) used for σ'(z): the activation where its derivative belongs",
         _function_for_derivative),
    Slip("sign_flipped", "the update's sign flipped (w + η·∂E/∂w)", _sign_flipped),
    Slip("no_learning_rate", "the learning rate left out of the update", _no_learning_rate),
    Slip("learning_rate_twice", "the learning rate applied twice", _learning_rate_twice),
    Slip("no_bias", "the bias left out", _no_bias),
    Slip("one_units_delta", "a shared bias updated with one unit's delta instead of the sum over the units it feeds",
         _one_units_delta),
    Slip("rounded", "intermediate values rounded to the printed digits", _rounded),
    Slip("learning_rate", "the update used another learning rate", _none, fit=_other_learning_rate,
         refit=_learning_rate),
)


def slip(name: str) -> Slip:
    """The catalogue entry called ``name`` (KeyError naming the entries when there is none)."""
    for entry in SLIPS:
        if entry.name == name:
            return entry
    raise KeyError(f"no slip {name!r}, expected one of {', '.join(e.name for e in SLIPS)}")
