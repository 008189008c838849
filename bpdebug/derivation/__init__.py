"""The chain rule of any parameter at any step, written the way a textbook writes it by hand.

SymPy does the symbolic work once per (network shape, parameter, naming): every factor's closed form is
derived from the loss and the activation (``out(1 − out)`` for the sigmoid, ``1 − out²`` for tanh, …), and
each factor kind is lambdified once. Across steps only the numbers change, and every number comes from the
engine's step through :meth:`Step.value`, so a factor whose step has not run yet stays pending (``None``,
shown as "…") and no number from the future can leak into the view.

Shapes of the chain, chosen so its size stays bounded however large the network is:

* an output weight: ``∂E/∂out_o · ∂out_o/∂net_o · ∂net_o/∂w`` (softmax with cross-entropy: ``∂E/∂net_o``;
  softmax with another loss: the Jacobian paths through every output);
* a weight one layer below the outputs, with at most :data:`MAX_FULL_PATHS` outputs: the sum over the
  paths through the output units, every factor written out (the blog's w1);
* anything deeper or wider: the δ form, ``Σ_k δ_k · ∂net_k/∂out_h · ∂out_h/∂net_h · ∂net_h/∂w`` with the
  next layer's δ as known numbers, or ``δ_h · ∂net_h/∂w`` when that layer has more than
  :data:`MAX_DELTA_PATHS` units.

A batch of N examples sums the per-example chains (the 1/N of a mean loss sits in ``∂E/∂out``). Up to
:data:`MAX_EXPLICIT_EXAMPLES` examples are written out one by one; more are written ``Σ_n`` over an index
with per-example numbers, the terms showing one example's factors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.params import Param

if TYPE_CHECKING:
    import sympy

    from ..core.engine import Step
    from ..core.scenario import Scenario

MAX_FULL_PATHS = 4  # output units up to which a hidden weight's paths are written out in full
MAX_DELTA_PATHS = 16  # next-layer units up to which the δ form sums explicitly
MAX_EXPLICIT_EXAMPLES = 2  # batch examples up to which each example's chain is written out
PENDING = "…"
_DIGITS = 7

# ------------------------------------------------------------------------------------------ templates

_MARKERS = ("Zqa", "Zqb", "Zqc", "Zqd")


@dataclass(frozen=True)
class _Template:
    """A factor kind's closed form in generic symbols, with its renderings and its number function."""

    expr: Any  # sympy expression in the marker symbols
    roles: tuple[str, ...]  # what each marker stands for: "out", "net", "t", "K", "N", "x"
    text: str  # unicode with markers ⟦0⟧ …
    latex: str  # LaTeX with markers
    fn: Callable[..., Any] = field(repr=False, compare=False)
    wrap: bool = False  # needs parentheses inside a product


def _template(expr: Any, roles: tuple[str, ...], latex_override: str | None = None) -> _Template:
    import sympy

    marks = sympy.symbols(_MARKERS[: len(roles)]) if roles else ()
    text = sympy.sstr(expr, order="none")
    latex = latex_override or sympy.latex(expr, order="none", mul_symbol="dot")
    text = text.replace("Heaviside(", "step(").replace(", 0)", ")").replace("**2", "²").replace("*", "·")
    text = text.replace(" - ", " − ")
    if text.startswith("-"):
        text = "−" + text[1:]
    for i, m in enumerate(_MARKERS[: len(roles)]):
        text = text.replace(m, f"⟦{i}⟧")
        latex = latex.replace(m, f"⟦{i}⟧")
    fn = sympy.lambdify(list(marks), expr, modules="numpy")
    wrap = bool(expr.is_Add or expr.could_extract_minus_sign())
    return _Template(expr, roles, text, latex, fn, wrap)


def _verified(derived: Any, candidate: Any, values: dict) -> Any:
    """The textbook form when SymPy confirms it equals what it derived, else SymPy's own factored form."""
    import sympy

    if sympy.simplify((derived - candidate.xreplace(values)).rewrite(sympy.exp)) == 0:
        return candidate
    return sympy.factor(derived)


@cache
def _loss_template(loss: str, per_batch: bool) -> _Template:
    """∂E/∂out of one output unit for one example, derived from the per-example loss term."""
    import sympy

    o, t, K, N = sympy.symbols(_MARKERS)
    terms = {
        "sse": (t - o) ** 2,
        "half_sse": sympy.Rational(1, 2) * (t - o) ** 2,
        "mse": (t - o) ** 2 / K,
        "cross_entropy": -t * sympy.log(o),
        "binary_cross_entropy": -(t * sympy.log(o) + (1 - t) * sympy.log(1 - o)),
    }
    mean = loss in ("mse", "cross_entropy", "binary_cross_entropy")
    scale = 1 / N if (mean and per_batch) else 1
    derived = sympy.diff(terms[loss], o) * scale
    def mul(*args: Any) -> Any:
        return sympy.Mul(*args, evaluate=False)

    def inv(x: Any) -> Any:
        return sympy.Pow(x, -1, evaluate=False)

    diff = sympy.Add(o, mul(-1, t), evaluate=False)
    candidates = {
        "sse": [2, diff],
        "half_sse": [diff],
        "mse": [2, diff, inv(K)],
        "cross_entropy": [-1, t, inv(o)],
        "binary_cross_entropy": [diff, inv(o), inv(sympy.Add(1, mul(-1, o), evaluate=False))],
    }[loss] + ([] if scale == 1 else [inv(N)])
    candidate = candidates[0] if len(candidates) == 1 else mul(*candidates)
    expr = _verified(derived, candidate, {})
    roles = ["out", "t"]
    if loss == "mse":
        roles.append("K")
    if scale != 1:
        roles += ["K"] * (len(roles) == 2) + ["N"]
    return _template(expr, tuple(roles))


@cache
def _activation_template(name: str, expr_text: str | None) -> _Template:
    """∂out/∂net of one unit, derived from the activation, written in out where the textbook does."""
    import sympy

    a = sympy.Symbol(_MARKERS[0])
    x = sympy.Symbol("x", real=True)
    if name == "sigmoid":
        derived = sympy.diff(1 / (1 + sympy.exp(-x)), x)
        with sympy.evaluate(False):
            cand = a * (1 - a)
        expr = _verified(derived, cand, {a: 1 / (1 + sympy.exp(-x))})
        return _template(expr, ("out",) if expr is cand else ("x",))
    if name == "tanh":
        derived = sympy.diff(sympy.tanh(x), x)
        with sympy.evaluate(False):
            cand = 1 - a**2
        expr = _verified(derived, cand, {a: sympy.tanh(x)})
        return _template(expr, ("out",) if expr is cand else ("x",))
    if name == "relu":
        derived = sympy.diff(sympy.Max(0, x), x)  # Heaviside(x); the engine takes 0 at x = 0
        expr = sympy.Heaviside(a, 0) if derived == sympy.Heaviside(x) else derived.xreplace({x: a})
        return _template(expr, ("net",), latex_override=r"H\left(" + _MARKERS[0] + r"\right)")
    if name == "linear":
        return _template(sympy.diff(x, x), ())
    from ..core.formula import parse_formula

    f = parse_formula(expr_text or "")
    xs = next(iter(s for s in f.free_symbols if s.name == "x"), x)
    derived = sympy.diff(f, xs)
    if not derived.free_symbols:
        return _template(derived, ())
    return _template(derived.xreplace({xs: a}), ("net",))


@cache
def _softmax_templates() -> tuple[_Template, _Template]:
    """∂out_m/∂net_k of a softmax: out_k(1 − out_k) on the diagonal, −out_m·out_k off it (derived)."""
    import sympy

    z = sympy.symbols("z1:4")
    soft = [sympy.exp(zi) / sum(sympy.exp(zj) for zj in z) for zi in z]
    om, ok = sympy.symbols(_MARKERS[:2])
    diag_c = sympy.Mul(om, sympy.Add(1, sympy.Mul(-1, om, evaluate=False), evaluate=False), evaluate=False)
    off_c = sympy.Mul(-1, om, ok, evaluate=False)
    diag = _verified(sympy.diff(soft[0], z[0]), diag_c, {om: soft[0]})
    off = _verified(sympy.diff(soft[0], z[1]), off_c, {om: soft[0], ok: soft[1]})
    return _template(diag, ("out",)), _template(off, ("out", "out_k"))


@cache
def _softmax_ce_template(per_batch: bool) -> _Template:
    """∂E/∂net_k of softmax + cross-entropy when the targets sum to 1: (out_k − t_k), over N for a batch."""
    import sympy

    o, t, N = sympy.symbols(("Zqa", "Zqb", "Zqc"))
    # derived for 3 outputs: Σ_m (−t_m/o_m) ∂o_m/∂z_1, then Σ t = 1 substituted
    z = sympy.symbols("z1:4")
    ts = sympy.symbols("t1:4")
    soft = [sympy.exp(zi) / sum(sympy.exp(zj) for zj in z) for zi in z]
    derived = sum(-ts[m] / soft[m] * sympy.diff(soft[m], z[0]) for m in range(3))
    derived = sympy.simplify(derived.subs(ts[2], 1 - ts[0] - ts[1]))
    with sympy.evaluate(False):
        cand = o - t
    check = sympy.simplify(derived - cand.xreplace({o: soft[0], t: ts[0]}))
    if check != 0:  # pragma: no cover - SymPy would have to disagree with the textbook
        raise AssertionError("softmax + cross-entropy did not simplify to out - t")
    if per_batch:
        with sympy.evaluate(False):
            return _template(cand / N, ("out", "t", "N"))
    return _template(cand, ("out", "t"))


@cache
def _identity_template() -> _Template:
    import sympy

    return _template(sympy.Symbol(_MARKERS[0]), ("x",))


@cache
def _one_template() -> _Template:
    import sympy

    return _template(sympy.Integer(1), ())


# ---------------------------------------------------------------------------------------------- names

_SUPERSCRIPTS = str.maketrans("0123456789n", "⁰¹²³⁴⁵⁶⁷⁸⁹ⁿ")
_SUBSCRIPTS = str.maketrans("0123456789n", "₀₁₂₃₄₅₆₇₈₉ₙ")


@dataclass(frozen=True)
class _Name:
    """A quantity's name in text and LaTeX, and the key of its symbol."""

    text: str
    latex: str
    indexed: bool  # differs per example (out, net, t, δ) rather than shared (weights)


class _Names:
    """The reader's vocabulary (w5, out_h1, net_o1, E_total, t_o1) or the canonical one (a3_1, z3_1)."""

    def __init__(self, layers: tuple[int, ...], mode: str) -> None:
        if mode not in ("text", "canonical"):
            raise ValueError(f"names must be \"text\" or \"canonical\", got {mode!r}")
        self.layers, self.mode, self.L = layers, mode, len(layers)

    def unit(self, l: int, u: int) -> tuple[str, str]:
        if l == 1:
            return f"i{u}", f"i{u}"
        if l == self.L:
            return f"o{u}", f"o{u}"
        if self.L == 3:
            return f"h{u}", f"h{u}"
        return f"h{l - 1}_{u}", f"h{l - 1},{u}"

    def out(self, l: int, u: int) -> _Name:
        if self.mode == "canonical":
            return _Name(f"a{l}_{u}", f"{{a^{{({l})}}_{{{u}}}}}", True)
        t, x = self.unit(l, u)
        if l == 1:
            return _Name(t, f"i_{{{u}}}", True)
        return _Name(f"out_{t}", f"out_{{{x}}}", True)

    def net(self, l: int, u: int) -> _Name:
        if self.mode == "canonical":
            return _Name(f"z{l}_{u}", f"{{z^{{({l})}}_{{{u}}}}}", True)
        t, x = self.unit(l, u)
        return _Name(f"net_{t}", f"net_{{{x}}}", True)

    def target(self, u: int) -> _Name:
        if self.mode == "canonical":
            return _Name(f"t_{u}", f"t_{{{u}}}", True)
        return _Name(f"t_o{u}", f"t_{{o{u}}}", True)

    def delta(self, l: int, u: int) -> _Name:
        if self.mode == "canonical":
            return _Name(f"δ{l}_{u}", f"{{\\delta^{{({l})}}_{{{u}}}}}", True)
        t, x = self.unit(l, u)
        return _Name(f"δ_{t}", f"\\delta_{{{x}}}", True)

    @property
    def error(self) -> _Name:
        if self.mode == "canonical":
            return _Name("E", "E", False)
        return _Name("E_total", "E_{total}", False)

    def param(self, p: Param) -> _Name:
        if self.mode == "canonical":
            return _Name(p.canonical, f"\\theta^{{({p.layer})}}_{{{p.row + 1},{p.canonical.split(',')[1][:-1]}}}",
                         False)
        return _Name(p.short, f"{p.short[0]}_{{{p.short[1:]}}}", False)


def _with_example(name: _Name, example: int | str | None) -> tuple[str, str]:
    """The name as written for one example of a batch: out_o1⁽¹⁾, or out_o1⁽ⁿ⁾ inside Σ_n."""
    if example is None or not name.indexed:
        return name.text, name.latex
    return f"{name.text}⁽{str(example).translate(_SUPERSCRIPTS)}⁾", f"{{{{{name.latex}}}^{{({example})}}}}"


# --------------------------------------------------------------------------------- the chain's shape

# A factor descriptor: (kind, *indices). Kinds:
#   ("dE_dout", k)            ∂E/∂out_ok                 the loss, output unit k
#   ("dout_dnet", r, i)       ∂out/∂net of unit i of layer r (not softmax)
#   ("dsoftmax", m, k)        ∂out_om/∂net_ok of a softmax output layer
#   ("dE_dnet_ce", k)         ∂E/∂net_ok, softmax + cross-entropy with targets summing to 1
#   ("delta", r, k)           δ of unit k of layer r, a known number from the backward pass
#   ("weight", l, k, j)       ∂net_{l+1,k}/∂out_{l,j} = theta_l[k, j] (unit numbers 1-based)
#   ("input", l, j)           ∂net/∂p = out of unit j of layer l (j = 0: the bias unit, 1)
FD = tuple


@dataclass(frozen=True)
class _Shape:
    """What the chain rule of a parameter depends on, and nothing else (so the cache is shared)."""

    layers: tuple[int, ...]
    activations: tuple[tuple[str, str | None], ...]
    bias: bool
    loss: str
    n_examples: int  # examples per pass
    softmax_ce: bool  # softmax output, cross-entropy, every target row summing to 1

    @property
    def L(self) -> int:
        return len(self.layers)

    def activation(self, layer: int) -> tuple[str, str | None]:
        return self.activations[layer - 2]


def _shape_of(scenario: Scenario) -> _Shape:
    n = scenario.n_examples if scenario.update == "batch" else 1
    softmax = scenario.activations[-1].is_softmax
    k = scenario.layers[-1]
    sums = scenario.targets.sum(axis=1)
    ce = softmax and scenario.loss.name == "cross_entropy" and bool(
        np.all(np.abs(sums - 1.0) <= 8 * np.finfo(float).eps * k))
    return _Shape(scenario.layers, tuple((a.name, a.expr) for a in scenario.activations), scenario.bias,
                  scenario.loss.name, n, ce)


def _paths(shape: _Shape, p: Param) -> tuple[str, tuple[tuple[FD, ...], ...]]:
    """The form of the chain and its paths (products of factor descriptors), per example."""
    L, r, i = shape.L, p.layer + 1, p.receiving_unit
    K = shape.layers[-1]
    softmax = shape.activation(L)[0] == "softmax"
    inp: FD = ("input", p.layer, p.sending_unit)
    if r == L:
        if softmax and shape.softmax_ce:
            return "output", ((("dE_dnet_ce", i), inp),)
        if softmax:
            if K <= MAX_FULL_PATHS:
                return "output", tuple((("dE_dout", m), ("dsoftmax", m, i), inp) for m in range(1, K + 1))
            return "delta-compact", ((("delta", L, i), inp),)
        return "output", ((("dE_dout", i), ("dout_dnet", L, i), inp),)

    def top(k: int) -> tuple[FD, ...]:
        if softmax and shape.softmax_ce:
            return (("dE_dnet_ce", k),)
        if softmax:
            return (("delta", L, k),)
        return (("dE_dout", k), ("dout_dnet", L, k))

    below: tuple[FD, ...] = (("dout_dnet", r, i), inp)
    if r == L - 1 and K <= MAX_FULL_PATHS:
        return "paths", tuple(top(k) + (("weight", r, k, i),) + below for k in range(1, K + 1))
    width = shape.layers[r]  # units of layer r + 1
    if width <= MAX_DELTA_PATHS:
        return "delta", tuple((("delta", r + 1, k), ("weight", r, k, i)) + below for k in range(1, width + 1))
    return "delta-compact", ((("delta", r, i), inp),)


# ----------------------------------------------------------------------------- symbolic factors


@dataclass(frozen=True)
class _Base:
    """A base number a factor's closed form reads: a quantity, its column (row = the example), or a constant."""

    name: _Name
    quantity: str | None  # "a3", "z2", "targets", "delta3", "theta2"; None for a constant
    index: tuple[int, ...]  # (col,) per example, (row, col) for theta
    constant: float | None = None


@dataclass(frozen=True)
class _FactorSpec:
    """One factor kind at one place in the network: labels, template, bases, when it becomes known."""

    num: _Name | None  # ∂num/∂den; None for δ
    den: _Name
    template: _Template
    bases: tuple[_Base, ...]
    gate: str | None  # quantity that must be known for its value
    note: str = ""  # where the number comes from, for δ


def _factor_spec(shape: _Shape, names: _Names, fd: FD, p: Param) -> _FactorSpec:
    kind = fd[0]
    L = shape.L
    K_const = _Base(_Name("K", "K", False), None, (), float(shape.layers[-1]))
    N_const = _Base(_Name("N", "N", False), None, (), float(shape.n_examples))

    def out(l: int, u: int) -> _Base:
        return _Base(names.out(l, u), f"a{l}", (u - 1,))

    def net(l: int, u: int) -> _Base:
        return _Base(names.net(l, u), f"z{l}", (u - 1,))

    if kind == "dE_dout":
        k = fd[1]
        tpl = _loss_template(shape.loss, shape.n_examples > 1)
        by_role = {"out": out(L, k), "t": _Base(names.target(k), "targets", (k - 1,)), "K": K_const, "N": N_const}
        return _FactorSpec(names.error, names.out(L, k), tpl, tuple(by_role[r] for r in tpl.roles), "error")
    if kind == "dout_dnet":
        r, i = fd[1], fd[2]
        tpl = _activation_template(*shape.activation(r))
        by_role = {"out": out(r, i), "net": net(r, i), "x": net(r, i)}
        return _FactorSpec(names.out(r, i), names.net(r, i), tpl, tuple(by_role[x] for x in tpl.roles), f"delta{r}")
    if kind == "dsoftmax":
        m, k = fd[1], fd[2]
        diag, off = _softmax_templates()
        tpl = diag if m == k else off
        bases = (out(L, m),) if m == k else (out(L, m), out(L, k))
        return _FactorSpec(names.out(L, m), names.net(L, k), tpl, bases, f"delta{L}")
    if kind == "dE_dnet_ce":
        k = fd[1]
        tpl = _softmax_ce_template(shape.n_examples > 1)
        bases = (out(L, k), _Base(names.target(k), "targets", (k - 1,)))
        if shape.n_examples > 1:
            bases += (N_const,)
        return _FactorSpec(names.error, names.net(L, k), tpl, bases, f"delta{L}")
    if kind == "delta":
        r, k = fd[1], fd[2]
        base = _Base(names.delta(r, k), f"delta{r}", (k - 1,))
        what = "output" if r == L else "hidden"
        return _FactorSpec(None, names.delta(r, k), _identity_template(), (base,), f"delta{r}",
                           f"∂{names.error.text}/∂{names.net(r, k).text}, from the delta step of {what} layer {r}")
    if kind == "weight":
        l, k, j = fd[1], fd[2], fd[3]
        col = j if shape.bias else j - 1
        wname = names.param(Param(_short_name(shape, l, k, j), f"theta{l}[{k},{j}]", l, k - 1, col, False,
                                  shape.bias))
        return _FactorSpec(names.net(l + 1, k), names.out(l, j), _identity_template(),
                           (_Base(wname, f"theta{l}", (k - 1, col)),), None)
    # input
    l, j = fd[1], fd[2]
    pname = names.param(p)
    if j == 0:
        return _FactorSpec(names.net(l + 1, p.receiving_unit), pname, _one_template(), (), None)
    return _FactorSpec(names.net(l + 1, p.receiving_unit), pname, _identity_template(), (out(l, j),),
                       None if l == 1 else f"a{l}")


def _short_name(shape: _Shape, l: int, k: int, j: int) -> str:
    """The blog's short name (w7) of the weight from unit j of layer l to unit k of layer l + 1."""
    before = sum(shape.layers[m] * shape.layers[m - 1] for m in range(1, l))
    return f"w{before + (k - 1) * shape.layers[l - 1] + j}"


@dataclass(frozen=True)
class _SymFactor:
    """A factor placed in the chain: its spec, the example it belongs to, its symbols and renderings."""

    spec: _FactorSpec
    example: int | str | None  # 1-based example, "n" inside Σ_n, None for a single example
    label: str
    label_latex: str
    symbol: Any
    closed_form: Any
    closed_text: str  # unicode closed form in names
    base_texts: tuple[str, ...]
    base_latex: tuple[str, ...]
    base_symbols: tuple[Any, ...]


def _rebuild(expr: Any, mapping: dict) -> Any:
    """``expr`` with symbols replaced, nothing re-evaluated (keeps 2·(out − t) from becoming 2out − 2t).

    Unlike ``with evaluate(False): xreplace(...)`` this does not clear SymPy's cache on every call."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    return expr.func(*(_rebuild(a, mapping) for a in expr.args), evaluate=False)


@lru_cache(maxsize=1)
def _index() -> Any:
    import sympy

    return sympy.Symbol("n", integer=True, positive=True)


def _symbol(name: str, example: int | str | None, indexed: bool) -> Any:
    import sympy

    if example is None or not indexed:
        return sympy.Symbol(name)
    idx = _index() if example == "n" else sympy.Integer(example)
    return sympy.IndexedBase(name)[idx]


def _fill(template: str, parts: tuple[str, ...], bare: tuple[str, ...] | None = None) -> str:
    """Put names or numbers in a template; ``bare`` (no parentheses) where a bracket or the start precedes."""
    for i, part in enumerate(parts):
        mark = f"⟦{i}⟧"
        if bare is not None:
            for lead in ("(", "\\left(", "{"):
                template = template.replace(lead + mark, lead + bare[i])
            if template.startswith(mark):
                template = bare[i] + template[len(mark):]
        template = template.replace(mark, part)
    return template


@lru_cache(maxsize=65536)
def _sym_factor(shape: _Shape, mode: str, fd: FD, p: Param, example: int | str | None) -> _SymFactor:
    import sympy

    names = _Names(shape.layers, mode)
    spec = _factor_spec(shape, names, fd, p)
    den_t, den_l = _with_example(spec.den, example)
    if spec.num is None:
        label, label_latex, key = den_t, den_l, spec.den.text
    else:
        num_t, num_l = _with_example(spec.num, example)
        label = f"∂{num_t}/∂{den_t}"
        label_latex = f"\\frac{{\\partial {num_l}}}{{\\partial {den_l}}}"
        key = f"∂{spec.num.text}/∂{spec.den.text}"
    indexed = example is not None
    symbol = _symbol(key if indexed else label, example, indexed)
    base_symbols = tuple(_symbol(b.name.text, example, b.name.indexed) for b in spec.bases)
    base_texts = tuple(_with_example(b.name, example)[0] for b in spec.bases)
    base_latex = tuple(_with_example(b.name, example)[1] for b in spec.bases)
    marks = sympy.symbols(_MARKERS[: len(spec.bases)]) if spec.bases else ()
    closed = _rebuild(spec.template.expr, dict(zip(marks, base_symbols, strict=True)))
    closed_text = _fill(spec.template.text, base_texts)
    return _SymFactor(spec, example, label, label_latex, symbol, closed, closed_text, base_texts, base_latex,
                      base_symbols)


@dataclass(frozen=True)
class _Symbolic:
    """The symbolic chain of one parameter (cached): its paths per example, chain and closed form."""

    form: str
    paths: tuple[tuple[_SymFactor, ...], ...]  # all examples written out, or the generic example n
    summed: bool  # Σ_n over the examples rather than every example written out
    chain: Any
    closed_form: Any
    fds: tuple[tuple[FD, ...], ...]


def _product(exprs: list[Any]) -> Any:
    import sympy

    return exprs[0] if len(exprs) == 1 else sympy.Mul(*exprs, evaluate=False)


def _total(exprs: list[Any]) -> Any:
    import sympy

    return exprs[0] if len(exprs) == 1 else sympy.Add(*exprs, evaluate=False)


@lru_cache(maxsize=4096)
def _symbolic(shape: _Shape, p: Param, mode: str) -> _Symbolic:
    import sympy

    form, fds = _paths(shape, p)
    N = shape.n_examples
    summed = N > MAX_EXPLICIT_EXAMPLES
    examples: list[int | str | None] = [None] if N == 1 else (["n"] if summed else list(range(1, N + 1)))
    paths = tuple(tuple(_sym_factor(shape, mode, fd, p, e) for fd in path) for e in examples for path in fds)

    def closed_factor(f: _SymFactor) -> Any:
        return sympy.UnevaluatedExpr(f.closed_form) if not f.closed_form.is_Atom else f.closed_form

    chain = _total([_product([f.symbol for f in path]) for path in paths])
    closed = _total([_product([closed_factor(f) for f in path]) for path in paths])
    if summed:
        n = _index()
        chain = sympy.Sum(chain, (n, 1, N))
        closed = sympy.Sum(closed, (n, 1, N))
    return _Symbolic(form, paths, summed, chain, closed, fds)


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Factor:
    """One factor of a path of the chain rule, symbolic and (once its step has run) numeric."""

    label: str  # unicode, e.g. "∂E_total/∂out_o1"
    symbol: sympy.Expr  # the factor as a symbol (for the chain)
    closed_form: sympy.Expr  # e.g. out_o1 - t_o1, out_o1*(1 - out_o1), out_h1
    value: float | None  # its number at this step; None while pending
    label_latex: str = ""
    closed_text: str = ""  # the closed form in unicode, in the derivation's names
    closed_latex: str = ""
    numbers_text: str | None = None  # the closed form with numbers, None while pending
    numbers_latex: str | None = None
    note: str = ""  # where a known δ comes from


@dataclass(frozen=True)
class Derivation:
    """∂E/∂p at one step: the chain of factors, symbolic, closed, with numbers, and the update."""

    param: Param
    name: str  # the name used ("w5" or "theta2[1,1]")
    terms: tuple[tuple[Factor, ...], ...]  # one tuple of factors per path (a sum of products)
    chain: sympy.Expr  # symbolic chain rule (unevaluated, factors in chain order)
    closed_form: sympy.Expr  # the same with each factor's closed form
    substituted: sympy.Expr | None  # numbers substituted, chain order kept; None while pending
    value: float | None  # dE/dp, the engine's number; None while pending
    old_value: float
    learning_rate: float
    new_value: float | None  # after the update; None before the update step has run
    frozen: bool
    # additions
    names: str = "text"
    form: str = "output"  # "output" | "paths" | "delta" | "delta-compact"
    n_examples: int = 1  # examples the gradient sums over in this pass
    example: int | None = None  # the example whose factors `terms` show when the chain is Σ_n (else None)
    contributions: tuple[float, ...] | None = None  # per-example ∂E/∂p terms when Σ_n; None while pending
    error_name: tuple[str, str] = ("E_total", "E_{total}")
    name_latex: str = ""
    generic_terms: tuple[tuple[Factor, ...], ...] = ()  # the Σ_n summand's factors (symbols only) when Σ_n
    _values: dict = field(default_factory=dict, repr=False, compare=False)
    _more_values: Callable[[], dict] | None = field(default=None, repr=False, compare=False)

    @property
    def pending(self) -> bool:
        return self.substituted is None

    def symbol_values(self) -> dict[Any, float]:
        """The number of every symbol of ``chain`` and ``closed_form`` known at this step (Σ_n expanded:
        ``out_o1[3]`` for example 3), to evaluate them; built on demand, it grows with the batch."""
        values = dict(self._values)
        if self._more_values is not None:
            values.update(self._more_values())
        return values

    # ------------------------------------------------------------------------------ rendering
    def text_lines(self) -> list[str]:
        """Unicode lines for a terminal: the chain, each factor's closed form and number, the value, the update."""
        return _render(self, _TEXT)

    def latex_lines(self) -> list[str]:
        """The same as LaTeX math lines (no $ delimiters), for Markdown and TeX transcripts."""
        return _render(self, _LATEX)


@dataclass(frozen=True)
class _Style:
    latex: bool
    dot: str
    eq: str
    minus: str
    plus: str
    pending: str
    arrow: str

    def num(self, v: float | None) -> str:
        if v is None:
            return self.pending
        s = f"{v:.{_DIGITS}g}"
        if "e" in s:
            mant, exp = s.split("e")
            s = f"{mant}\\times 10^{{{int(exp)}}}" if self.latex else f"{mant}e{int(exp)}"
        if s.startswith("-"):
            s = (f"\\left(-{s[1:]}\\right)" if self.latex else f"(−{s[1:]})")
        return s

    def bare(self, v: float | None) -> str:
        """A number on its own (no parentheses around a negative)."""
        s = self.num(v)
        if s.startswith("(−"):
            return "−" + s[2:-1]
        if s.startswith("\\left(-"):
            return "-" + s[7:-7]
        return s


_TEXT = _Style(False, " · ", " = ", " − ", " + ", PENDING, "←")
_LATEX = _Style(True, " \\cdot ", " = ", " - ", " + ", "\\ldots", "\\leftarrow")


def _render(d: Derivation, st: _Style) -> list[str]:
    lines: list[str] = []
    err_t, err_l = d.error_name
    lhs = (f"\\frac{{\\partial {err_l}}}{{\\partial {d.name_latex}}}" if st.latex else f"∂{err_t}/∂{d.name}")
    pad = "" if st.latex else " " * len(lhs)
    terms = d.terms

    def label(f: Factor) -> str:
        return f.label_latex if st.latex else f.label

    def closed(f: Factor) -> str:
        return f.closed_latex if st.latex else f.closed_text

    def numbers(f: Factor) -> str:
        s = f.numbers_latex if st.latex else f.numbers_text
        return st.pending if s is None else s

    if d.example is not None:
        gen = " (n = 1..{N}, the examples of the batch)" if not st.latex else " \\quad (n = 1, \\dots, {N})"
        head = "\\sum_{n=1}^{" + str(d.n_examples) + "} " if st.latex else "Σₙ "
        generic = [[label(f) for f in path] for path in d.generic_terms]
        body = (st.plus).join(st.dot.join(p) for p in generic)
        if len(generic) > 2:  # the paths are written out below, for one example
            body = "\\text{term}_n" if st.latex else "termₙ"
            generic = generic[:1]
        lines.append(f"{lhs}{st.eq}{head}" + (f"\\left({body}\\right)" if st.latex and len(generic) > 1
                                              else (f"[{body}]" if len(generic) > 1 else body))
                     + gen.format(N=d.n_examples))
        lines.append(("\\text{" if st.latex else "") + f"example n = {d.example}:" + ("}" if st.latex else ""))
        total_lhs = lhs
        lhs = f"\\text{{term}}_{{{d.example}}}" if st.latex else f"term{str(d.example).translate(_SUBSCRIPTS)}"
        pad = "" if st.latex else " " * len(lhs)
    # the chain in symbols, one path per line when there are several
    if len(terms) == 1:
        lines.append(f"{lhs}{st.eq}" + st.dot.join(label(f) for f in terms[0]))
    else:
        for k, path in enumerate(terms):
            lead = f"{lhs}{st.eq}" if k == 0 else (f"{pad}{st.plus}" if not st.latex else "\\quad + ")
            if st.latex and k == 0:
                lead = f"{lhs}{st.eq}"
            lines.append(lead + st.dot.join(label(f) for f in path))
    # each distinct factor: closed form, numbers, value
    seen: set[str] = set()
    for path in terms:
        for f in path:
            key = f.label
            if key in seen:
                continue
            seen.add(key)
            indent = "\\quad " if st.latex else "  "
            parts = [label(f)]
            if f.note:
                parts.append(f"\\text{{{f.note}}}" if st.latex else f.note)
            elif closed(f) != label(f):
                parts.append(closed(f))
            if f.value is None:
                parts.append(st.pending)
            elif f.closed_form.is_Number:
                pass  # a constant such as ∂net/∂b = 1 is its own value
            else:
                n = numbers(f)
                if n != st.bare(f.value) and n != st.num(f.value):
                    parts.append(n)
                parts.append(st.bare(f.value))
            lines.append(indent + st.eq.join(parts))
    # the chain with numbers
    def prod(path: tuple[Factor, ...]) -> str:
        return st.dot.join(st.num(f.value) for f in path)

    if len(terms) == 1:
        if any(closed(f) != label(f) for f in terms[0]):
            lines.append(f"{lhs}{st.eq}" + st.dot.join(_paren(closed(f), f, st) for f in terms[0]))
        lines.append(f"{lhs}{st.eq}" + prod(terms[0]))
    else:
        for k, path in enumerate(terms):
            lead = f"{lhs}{st.eq}" if k == 0 else (f"{pad}{st.plus}" if not st.latex else "\\quad + ")
            lines.append(lead + prod(path))
    if d.example is not None:
        lines.append(f"{lhs}{st.eq}{st.bare(_path_sum(terms))}")
        lhs = total_lhs
        c = d.contributions
        if c is not None:
            nums = [st.num(v) for v in c]
            if len(nums) > 6:
                nums = nums[:3] + ["⋯" if not st.latex else "\\cdots"] + nums[-2:]
            shown = st.plus.join(nums) + (f" ({len(c)} examples)" if not st.latex else "")
            lines.append(f"{lhs}{st.eq}{shown}")
    lines.append(f"{lhs}{st.eq}{st.bare(d.value)}")
    # the update
    pname = d.name_latex if st.latex else d.name
    alpha = "\\alpha" if st.latex else "α"
    if d.frozen:
        word = "\\text{ (frozen: not updated)}" if st.latex else " (frozen: not updated)"
        lines.append(f"{pname} {st.arrow} {pname}{st.eq}{st.bare(d.old_value)}{word}")
    else:
        step = st.num(d.value)
        new = st.bare(d.new_value)
        lines.append(f"{pname} {st.arrow} {pname}{st.minus}{alpha}{st.dot.strip() and st.dot}{lhs}{st.eq}"
                     f"{st.bare(d.old_value)}{st.minus}{st.bare(d.learning_rate)}{st.dot}{step}{st.eq}{new}")
    return lines


def _paren(s: str, f: Factor, st: _Style) -> str:
    if f.closed_form is not None and (getattr(f.closed_form, "is_Add", False)
                                      or f.closed_form.could_extract_minus_sign()):
        return f"\\left({s}\\right)" if st.latex else f"({s})"
    return s


def _path_sum(terms: tuple[tuple[Factor, ...], ...]) -> float | None:
    total = 0.0
    for path in terms:
        prod = 1.0
        for f in path:
            if f.value is None:
                return None
            prod *= f.value
        total += prod
    return total


# ------------------------------------------------------------------------------------------ derive


def derive(step: Step, param: Param | str, names: str = "text", scenario: Scenario | None = None,
           example: int | None = None) -> Derivation:
    """The chain rule of ``param`` at ``step``, with the numbers known at that step.

    ``scenario`` is the scenario the step's trace runs (a Step does not carry it); without it the
    scenario is found from the step's targets, which are the scenario's own array. ``example`` picks whose
    factors are shown when a batch's chain is written Σ_n (default: the first).
    """
    scenario = scenario or _scenario_of(step)
    p = scenario.params.get(param) if isinstance(param, str) else param
    shape = _shape_of(scenario)
    sym = _symbolic(shape, p, names)
    names_obj = _Names(shape.layers, names)
    pname = names_obj.param(p)
    err = names_obj.error
    N = step.record.numbers.a[1].shape[0]
    if shape.n_examples != N:
        raise ValueError(f"step {step.index} has {N} examples per pass, the scenario {shape.n_examples}")

    cache: dict[str, Any] = {}

    def quantity(q: str) -> Any:
        if q not in cache:
            cache[q] = step.value(q)
        return cache[q]

    def known(gate: str | None) -> bool:
        return gate is None or step.is_known(gate)

    def base_values(spec: _FactorSpec, row: int | slice) -> list[Any]:
        out = []
        for b in spec.bases:
            if b.quantity is None:
                out.append(b.constant)
            elif b.quantity.startswith("theta"):
                out.append(float(quantity(b.quantity)[b.index]))
            else:
                out.append(quantity(b.quantity)[row, b.index[0]])
        return out

    values: dict[Any, float] = {}
    shown = example or 1
    if sym.summed and not 1 <= shown <= N:
            raise ValueError(f"example {shown} outside 1..{N}")
    # factors of the terms, with numbers
    terms: list[tuple[Factor, ...]] = []
    contributions: tuple[float, ...] | None = None
    generic_paths = sym.paths
    if sym.summed:
        shown_paths = tuple(tuple(_sym_factor(shape, names, fd, p, shown) for fd in path) for path in sym.fds)
    else:
        shown_paths = sym.paths
    for path in shown_paths:
        factors = []
        for f in path:
            row = 0 if f.example is None else int(f.example) - 1
            factors.append(_make_factor(f, known(f.spec.gate), base_values, row, values))
        terms.append(tuple(factors))
    all_known = all(fac.value is not None for path in terms for fac in path)
    if sym.summed:
        per_factor: dict[FD, Any] = {}
        if all_known:
            total = np.zeros(N)
            for path in sym.fds:
                prod = np.ones(N)
                for fd in path:
                    if fd not in per_factor:
                        spec = _sym_factor(shape, names, fd, p, "n").spec
                        v = spec.template.fn(*base_values(spec, slice(None)))
                        per_factor[fd] = np.broadcast_to(np.asarray(v, dtype=float), (N,))
                    prod = prod * per_factor[fd]
                total = total + prod
            contributions = tuple(float(v) for v in total)
        def more_values() -> dict:
            more: dict[Any, float] = {}
            _fill_summed_values(more, shape, names, p, sym, known, base_values, N)
            return more
    value = step.gradient(p)
    if all_known:
        import sympy

        def num(v: float) -> Any:  # a plain Float: Add/Mul(evaluate=False) keep the chain order as given
            return sympy.Float(v)

        if sym.summed and contributions is not None:
            substituted = _total([num(c) for c in contributions])
        else:
            substituted = _total([_product([num(f.value) for f in path]) for path in terms])  # type: ignore[arg-type]
    else:
        substituted = None
    l = p.layer
    new_value = step.param(p, "after") if step.is_known(f"theta{l}.after") else None
    generic = tuple(tuple(_factor_from_sym(f) for f in path) for path in generic_paths) if sym.summed else ()
    return Derivation(
        param=p, name=pname.text, terms=tuple(terms), chain=sym.chain, closed_form=sym.closed_form,
        substituted=substituted, value=value, old_value=step.param(p, "before"),
        learning_rate=scenario.learning_rate, new_value=new_value, frozen=p.canonical in scenario.frozen,
        names=names, form=sym.form, n_examples=N, example=shown if sym.summed else None,
        contributions=contributions, error_name=(err.text, err.latex), name_latex=pname.latex,
        generic_terms=generic, _values=values, _more_values=more_values if sym.summed else None,
    )


def _factor_from_sym(f: _SymFactor) -> Factor:
    return Factor(f.label, f.symbol, f.closed_form, None, f.label_latex)


def _make_factor(f: _SymFactor, is_known: bool, base_values: Callable, row: int,
                 values: dict[Any, float]) -> Factor:
    spec = f.spec
    closed_latex = _fill(spec.template.latex, f.base_latex)
    if not is_known:
        return Factor(f.label, f.symbol, f.closed_form, None, f.label_latex, f.closed_text, closed_latex,
                      None, None, spec.note)
    raw = base_values(spec, row)
    v = float(spec.template.fn(*raw)) if spec.bases else float(spec.template.fn())
    ints = tuple(str(int(x)) if _is_int(x) else None for x in raw)
    nums_t = tuple(i or _TEXT.num(float(x)) for i, x in zip(ints, raw, strict=True))
    nums_l = tuple(i or _LATEX.num(float(x)) for i, x in zip(ints, raw, strict=True))
    bare_t = tuple(i or _TEXT.bare(float(x)) for i, x in zip(ints, raw, strict=True))
    bare_l = tuple(i or _LATEX.bare(float(x)) for i, x in zip(ints, raw, strict=True))
    values[f.symbol] = v
    for s, x in zip(f.base_symbols, raw, strict=True):
        values[s] = float(x)
    return Factor(f.label, f.symbol, f.closed_form, v, f.label_latex, f.closed_text, closed_latex,
                  _fill(spec.template.text, nums_t, bare_t), _fill(spec.template.latex, nums_l, bare_l), spec.note)


def _is_int(x: Any) -> bool:
    return isinstance(x, float) and x.is_integer() and abs(x) < 1e6 and x >= 1


def _fill_summed_values(values: dict, shape: _Shape, names: str, p: Param, sym: _Symbolic, known: Callable,
                        base_values: Callable, N: int) -> None:
    """Numbers of every example's symbols, so Σ_n expanded can be evaluated (only what is known)."""
    import sympy

    for path in sym.fds:
        for fd in path:
            f = _sym_factor(shape, names, fd, p, "n")
            spec = f.spec
            if not known(spec.gate):
                continue
            raw = base_values(spec, slice(None))
            v = np.broadcast_to(np.asarray(spec.template.fn(*raw) if spec.bases else spec.template.fn(),
                                           dtype=float), (N,))
            base = f.symbol.base
            for k in range(N):
                values[base[sympy.Integer(k + 1)]] = float(v[k])
            for s, b, x in zip(f.base_symbols, spec.bases, raw, strict=True):
                if isinstance(s, sympy.Indexed):
                    arr = np.asarray(x, dtype=float)
                    for k in range(N):
                        values[s.base[sympy.Integer(k + 1)]] = float(arr[k])
                else:
                    values[s] = float(x) if b.quantity is not None or b.constant is None else b.constant


# ---------------------------------------------------------------------------- finding the scenario

def _scenario_of(step: Step) -> Scenario:
    """The scenario whose training the step belongs to (every pass of a Trace records it)."""
    if step.scenario is None:
        raise TypeError("derive() needs the step's scenario: pass scenario=trace.scenario")
    return step.scenario


def clear_cache() -> None:
    """Forget the cached symbolic forms (they only depend on shapes, so this is rarely needed)."""
    _symbolic.cache_clear()
    _sym_factor.cache_clear()


__all__ = ["Derivation", "Factor", "derive", "MAX_FULL_PATHS", "MAX_DELTA_PATHS", "MAX_EXPLICIT_EXAMPLES",
           "clear_cache"]
