"""Building the chain: each factor of a parameter's paths as SymPy symbols, closed forms and their text.

Everything here depends only on the network's :class:`~.shapes.Shape`, the parameter and the naming mode,
so it is built once and cached (bounded :func:`functools.lru_cache`); a step only brings numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sympy

from ..core.params import Param
from ..text import printing
from . import templates
from .naming import Name, Names, partial, with_example
from .shapes import FD, Shape, paths, short_name
from .templates import Template

CACHE_SIZE = 65536  # factors kept (a 784-128-10 network's every first-layer weight is about 13 × 784 × 128)


@dataclass(frozen=True)
class Base:
    """A number a factor's closed form reads: a quantity's column (row = the example), theta's entry, or a
    constant."""

    name: Name
    quantity: str | None  # "a3", "z2", "targets", "delta3", "theta2"; None for a constant
    index: tuple[int, ...]  # (col,) per example, (row, col) for theta
    constant: float | None = None


@dataclass(frozen=True)
class FactorSpec:
    """One factor kind at one place in the network: names, template, bases, when it becomes known."""

    num: Name | None  # ∂num/∂den; None for δ
    den: Name
    template: Template
    bases: tuple[Base, ...]
    gate: str | None  # quantity that must be known for its value (None: known from the start)
    source: Name | None = None  # for δ: the net input whose ∂E/∂net it is
    where: str = ""  # for δ: the step that computed it


def factor_spec(shape: Shape, names: Names, fd: FD, p: Param) -> FactorSpec:
    kind, L = fd[0], shape.L
    constants = {"K": Base(Name("K", "K", False), None, (), float(shape.layers[-1])),
                 "N": Base(Name("N", "N", False), None, (), float(shape.n_examples))}

    def out(l: int, u: int) -> Base:
        return Base(names.out(l, u), f"a{l}", (u - 1,))

    def net(l: int, u: int) -> Base:
        return Base(names.net(l, u), f"z{l}", (u - 1,))

    def target(k: int) -> Base:
        return Base(names.target(k), "targets", (k - 1,))

    if kind == "dE_dout":
        k = fd[1]
        tpl = templates.loss_template(shape.loss, shape.n_examples > 1)
        by_role = {"out": out(L, k), "t": target(k), **constants}
        return FactorSpec(names.error, names.out(L, k), tpl, tuple(by_role[r] for r in tpl.roles), "error")
    if kind == "dout_dnet":
        r, i = fd[1], fd[2]
        tpl = templates.activation_template(shape.activation(r))
        by_role = {"out": out(r, i), "net": net(r, i)}
        return FactorSpec(names.out(r, i), names.net(r, i), tpl, tuple(by_role[x] for x in tpl.roles),
                          f"delta{r}" if tpl.roles else None)
    if kind == "dsoftmax":
        m, k = fd[1], fd[2]
        diag, off = templates.softmax_templates()
        bases: tuple[Base, ...] = (out(L, m),) if m == k else (out(L, m), out(L, k))
        return FactorSpec(names.out(L, m), names.net(L, k), diag if m == k else off, bases, f"delta{L}")
    if kind == "dE_dnet_ce":
        k = fd[1]
        tpl = templates.softmax_ce_template(shape.n_examples > 1)
        bases = (out(L, k), target(k)) + ((constants["N"],) if shape.n_examples > 1 else ())
        return FactorSpec(names.error, names.net(L, k), tpl, bases, f"delta{L}")
    if kind == "delta":
        r, k = fd[1], fd[2]
        what = "output" if r == L else "hidden"
        where = f", from the delta step of {what} layer {r}"
        return FactorSpec(None, names.delta(r, k), templates.identity_template(),
                          (Base(names.delta(r, k), f"delta{r}", (k - 1,)),), f"delta{r}", names.net(r, k), where)
    if kind == "delta_sum":  # Σ_k δ_k over every unit of layer r: what a wide layer's shared bias sums
        r = fd[1]
        what = "output" if r == L else "hidden"
        each = names.delta(r, "k")  # the generic unit k
        total = Name(f"Σ_k {each.text}", f"\\sum_{{k}} {each.latex}", True)
        where = f" summed over the {shape.layers[r - 1]} units k, from the delta step of {what} layer {r}"
        return FactorSpec(None, total, templates.identity_template(), (Base(total, f"delta{r}", ()),), f"delta{r}",
                          names.net(r, "k"), where)
    if kind == "weight":
        l, k, j = fd[1], fd[2], fd[3]
        col = j if shape.bias else j - 1
        wname = names.param(Param(short_name(shape, l, k, j), f"theta{l}[{k},{j}]", l, k - 1, col, False,
                                  shape.bias))
        return FactorSpec(names.net(l + 1, k), names.out(l, j), templates.identity_template(),
                          (Base(wname, f"theta{l}", (k - 1, col)),), None)
    l, j = fd[1], fd[2]  # input
    pname = names.param(p)
    if j == 0:  # the bias unit's 1 (a shared bias: into the unit its term is about)
        unit = fd[3] if len(fd) > 3 else p.receiving_unit
        return FactorSpec(names.net(l + 1, unit), pname, templates.one_template(), (), None)
    return FactorSpec(names.net(l + 1, p.receiving_unit), pname, templates.identity_template(), (out(l, j),),
                      None if l == 1 else f"a{l}")


@dataclass(frozen=True)
class SymFactor:
    """A factor placed in the chain: its spec, the example it belongs to, its symbols and renderings."""

    spec: FactorSpec
    example: int | str | None  # 1-based example, "n" inside Σ_n, None for a single example
    label: Name  # ∂out_o1/∂net_o1
    symbol: Any
    closed_form: Any  # in the base symbols
    closed: Name  # the closed form printed in names
    base_names: tuple[Name, ...]
    base_symbols: tuple[Any, ...]
    note: Name | None = None  # where a δ's number comes from: ∂E_total/∂net_h1⁽¹⁾, from the delta step …

    @property
    def wrap(self) -> bool:
        """Whether the closed form needs parentheses inside a product."""
        return bool(self.closed_form.is_Add or self.closed_form.could_extract_minus_sign())

    def printed(self, numbers: tuple[float, ...]) -> Name:
        """The closed form with the numbers of its bases, as text and LaTeX."""
        return _printed(self.spec.template.expr, self.spec.template.markers, numbers)


@lru_cache(maxsize=4096)  # a view shows the same step again (back and forth, another parameter)
def _printed(expr: Any, markers: tuple[Any, ...], numbers: tuple[float, ...]) -> Name:
    mapping = {m: printing.shown_number(v) for m, v in zip(markers, numbers, strict=True)}
    shown = printing.rebuild(expr, mapping)
    return Name(printing.text(shown), printing.latex(shown), False)


@lru_cache(maxsize=1)
def index() -> Any:
    return sympy.Symbol("n", integer=True, positive=True)


def _symbol(name: str, example: int | str | None, indexed: bool) -> Any:
    if example is None or not indexed:
        return sympy.Symbol(name)
    idx = index() if example == "n" else sympy.Integer(example)
    return sympy.IndexedBase(name)[idx]


@lru_cache(maxsize=CACHE_SIZE)
def sym_factor(shape: Shape, mode: str, fd: FD, p: Param, example: int | str | None) -> SymFactor:
    names = Names(shape.layers, mode)
    spec = factor_spec(shape, names, fd, p)
    den = with_example(spec.den, example)
    if spec.num is None:
        label, key = den, spec.den.text
    else:
        label, key = partial(with_example(spec.num, example), den), partial(spec.num, spec.den).text
    indexed = example is not None
    symbol = _symbol(key if indexed else label.text, example, indexed)
    base_symbols = tuple(_symbol(b.name.text, example, b.name.indexed) for b in spec.bases)
    base_names = tuple(with_example(b.name, example) for b in spec.bases)
    markers = spec.template.markers
    closed = printing.rebuild(spec.template.expr, dict(zip(markers, base_symbols, strict=True)))
    shown = printing.rebuild(spec.template.expr, {m: printing.Shown(n.text, n.latex)
                                                  for m, n in zip(markers, base_names, strict=True)})
    note = None
    if spec.source is not None:
        source = partial(names.error, with_example(spec.source, example))
        note = Name(source.text + spec.where, source.latex + rf"\text{{{spec.where}}}", False)
    return SymFactor(spec, example, label, symbol, closed, Name(printing.text(shown), printing.latex(shown), False),
                     base_names, base_symbols, note)


@dataclass(frozen=True)
class Symbolic:
    """The symbolic chain of one parameter (cached): its paths per example, chain and closed form."""

    form: str
    paths: tuple[tuple[SymFactor, ...], ...]  # all examples written out, or the generic example n
    summed: bool  # Σ_n over the examples rather than every example written out
    chain: Any
    closed_form: Any
    fds: tuple[tuple[FD, ...], ...]


def product(exprs: list[Any]) -> Any:
    return exprs[0] if len(exprs) == 1 else sympy.Mul(*exprs, evaluate=False)


def total(exprs: list[Any]) -> Any:
    return exprs[0] if len(exprs) == 1 else sympy.Add(*exprs, evaluate=False)


@lru_cache(maxsize=4096)
def symbolic(shape: Shape, p: Param, mode: str) -> Symbolic:
    form, fds = paths(shape, p)
    N = shape.n_examples
    examples: list[int | str | None] = [None] if N == 1 else (["n"] if shape.summed else list(range(1, N + 1)))
    sym_paths = tuple(tuple(sym_factor(shape, mode, fd, p, e) for fd in path) for e in examples for path in fds)

    def closed_factor(f: SymFactor) -> Any:
        return sympy.UnevaluatedExpr(f.closed_form) if not f.closed_form.is_Atom else f.closed_form

    chain = total([product([f.symbol for f in path]) for path in sym_paths])
    closed = total([product([closed_factor(f) for f in path]) for path in sym_paths])
    if shape.summed:
        chain = sympy.Sum(chain, (index(), 1, N))
        closed = sympy.Sum(closed, (index(), 1, N))
    return Symbolic(form, sym_paths, shape.summed, chain, closed, fds)


def clear() -> None:
    symbolic.cache_clear()
    sym_factor.cache_clear()
    _printed.cache_clear()
    templates.clear()
