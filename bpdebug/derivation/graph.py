"""The chain rule of any value of a computation graph: ∂output/∂value, in symbols (SymPy) and numbers.

The gradient of a node is the sum over every path from it to the output, each path the product of the local
derivatives along it. :func:`derive_graph` writes that sum for the node a view selects at a step:

* **paths** (few paths, at most :data:`MAX_PATHS`): each path a product of local derivatives, each local
  derivative from the op registry's SymPy form (``∂f/∂x = ∂f/∂q·∂q/∂x = z·1 = −4``);
* **δ form** (more paths: a value used many times, an RNN's shared weight): the sum over the node's uses, each
  the upstream gradient ``δ`` (a number the engine computed, itself a sum over the paths beyond) times the local
  derivative in symbols (``∂g/∂c = δ_e·∂e/∂c + …``). At most :data:`MAX_TERMS` uses are written out, the rest
  summed in one number, so the chain rule of a value used 500 times stays a few lines.

Numbers are the step's own: a factor whose numbers are not computed yet at the step is ``None`` (printed ``…``),
never a number from the future. Local derivatives come from differentiating each op's SymPy form, once per
(op, constant, argument position), with its arguments renamed to the nodes' names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy

from ..core import functions
from ..core.graph.ops import OPS
from ..core.graph.program import CONST, Program
from ..core.graph.trace import GraphStep
from ..text import symbolic
from ..text.numbers import number, number_latex
from ..text.printing import Shown, latex, rebuild, text

MAX_PATHS = 6  # path sums with more paths than this are written in the δ form
MAX_FACTORS = 24  # nor with more local derivatives in all than this (a long chain: an RNN's early state)
MAX_TERMS = 8  # uses written out in the δ form; the others are summed in one number


@dataclass(frozen=True)
class LocalFactor:
    """∂user/∂arg for one argument of one operation: symbols and, once known at the step, its number."""

    user: str  # the node that uses the value (its key)
    arg: str  # the value differentiated (its key)
    symbolic: str  # the local derivative in the nodes' names, unicode: "b", "1", "2·e"
    symbolic_latex: str
    value: float | None  # None while the user's forward step is ahead

    @property
    def label(self) -> str:
        return f"∂{self.user}/∂{self.arg}"


@dataclass(frozen=True)
class PathTerm:
    """One path from the value to the output: the product of its local derivatives (output first, as the
    chain rule is written: ∂f/∂q·∂q/∂x)."""

    factors: tuple[LocalFactor, ...]

    @property
    def value(self) -> float | None:
        if any(f.value is None for f in self.factors):
            return None
        with np.errstate(all="ignore"):
            return float(np.prod([np.float64(f.value) for f in self.factors])) if self.factors else 1.0


@dataclass(frozen=True)
class UseTerm:
    """One use of the value (the δ form): the user's upstream gradient times the local derivative."""

    local: LocalFactor
    upstream: float | None  # ∂out/∂user, None while the user's backward step is ahead

    @property
    def value(self) -> float | None:
        if self.upstream is None or self.local.value is None:
            return None
        with np.errstate(all="ignore"):
            return float(np.float64(self.upstream) * np.float64(self.local.value))


@dataclass(frozen=True)
class GraphDerivation:
    """∂output/∂value at one step of a graph."""

    node: int
    name: str  # the value's key: a, c@2, #7
    output: str  # the output's name: g
    form: str  # "output" (the output itself), "paths", "delta", "none" (no path reaches the output)
    path_count: int  # paths from the value to the output
    paths: tuple[PathTerm, ...]  # form "paths"
    uses: tuple[UseTerm, ...]  # form "delta": the uses written out
    rest: int  # form "delta": uses not written out
    rest_value: float | None  # their sum (None while any is pending)
    value: float | None  # the engine's gradient; None while its backward step is ahead
    leaf: bool
    learned: bool
    before: float | None = None  # a learned leaf: its value before the update
    after: float | None = None  # and after (None before the update step)
    optimizer: str = ""

    @property
    def lhs(self) -> str:
        return f"∂{self.output}/∂{self.name}"

    def text_lines(self) -> list[str]:
        """The chain rule in unicode, the way the chain rule panel and the txt transcript write it."""
        lhs = self.lhs
        if self.form == "output":
            return [f"{lhs} = 1", "the output itself: the backward pass starts here"]
        if self.form == "none":
            return [f"{lhs} = 0", f"no path leads from {self.name} to {self.output}"]
        lines: list[str] = []
        if self.form == "paths":
            n = self.path_count
            lines.append(f"{lhs}: the sum over {n} path{'s' if n != 1 else ''} to {self.output}, "
                         "each a product of local derivatives")
            lines.append(f"{lhs} = " + " + ".join("·".join(f.label for f in p.factors) for p in self.paths))
            lines.append("  = " + " + ".join("·".join(_wrap(f.symbolic) for f in p.factors) for p in self.paths))
            lines.append("  = " + " + ".join("·".join(_factor(f.value) for f in p.factors) for p in self.paths))
        else:
            n = len(self.uses) + self.rest
            lines.append(f"{lhs}: {_how_many(self.path_count)} path{'s' if self.path_count != 1 else ''} to "
                         f"{self.output}, written as the sum over its {n} "
                         f"use{'s' if n != 1 else ''} (δ form): the upstream gradient times the local derivative")
            more = f" + … ({self.rest} more)" if self.rest else ""
            lines.append(f"{lhs} = " + " + ".join(f"∂{self.output}/∂{u.local.user}·{u.local.label}"
                                                  for u in self.uses) + more)
            lines.append("  = " + " + ".join(f"δ[{u.local.user}]·{_wrap(u.local.symbolic)}" for u in self.uses)
                         + more)
            rest = f" + {_factor(self.rest_value)}" if self.rest else ""
            lines.append("  = " + " + ".join(f"{_factor(u.upstream)}·{_factor(u.local.value)}" for u in self.uses)
                         + rest)
        lines.append(f"  = {number(self.value)}")
        if self.learned:
            lines.append(f"update ({self.optimizer}): {self.name} = {number(self.before)} → {number(self.after)}")
        return lines

    def summary(self) -> str:
        """What the lines below it say, in one sentence (the first text line for a sum, else '')."""
        return self.text_lines()[0] if self.form in ("paths", "delta") else ""

    def display(self) -> list[tuple[str, str]]:
        """The chain rule as (LaTeX, unicode) pairs, line by line, for documents that write both."""
        texts = self.text_lines()
        if self.form in ("output", "none"):
            return [(self.latex_lines()[0], texts[0])]
        return list(zip(self.latex_lines(), texts[1:], strict=False))

    def latex_lines(self) -> list[str]:
        """The same in LaTeX math, one display line each (no ``$`` delimiters)."""
        out, name = tex_name(self.output), tex_name(self.name)
        lhs = rf"\frac{{\partial {out}}}{{\partial {name}}}"
        if self.form == "output":
            return [f"{lhs} = 1"]
        if self.form == "none":
            return [f"{lhs} = 0"]

        def frac(a: str, b: str) -> str:
            return rf"\frac{{\partial {tex_name(a)}}}{{\partial {tex_name(b)}}}"

        lines: list[str] = []
        if self.form == "paths":
            lines.append(f"{lhs} = " + " + ".join(r" \cdot ".join(frac(f.user, f.arg) for f in p.factors)
                                                  for p in self.paths))
            lines.append("= " + " + ".join(r" \cdot ".join(_wrap_tex(f.symbolic_latex) for f in p.factors)
                                           for p in self.paths))
            lines.append("= " + " + ".join(r" \cdot ".join(_factor_tex(f.value) for f in p.factors)
                                           for p in self.paths))
        else:
            more = rf" + \ldots\ (\text{{{self.rest} more}})" if self.rest else ""
            lines.append(f"{lhs} = " + " + ".join(frac(self.output, u.local.user) + r" \cdot "
                                                  + frac(u.local.user, u.local.arg) for u in self.uses) + more)
            lines.append("= " + " + ".join(
                rf"\delta_{{{tex_name(u.local.user)}}} \cdot {_wrap_tex(u.local.symbolic_latex)}" for u in self.uses)
                + more)
            rest = f" + {_factor_tex(self.rest_value)}" if self.rest else ""
            lines.append("= " + " + ".join(rf"{_factor_tex(u.upstream)} \cdot {_factor_tex(u.local.value)}"
                                           for u in self.uses) + rest)
        lines.append(f"= {number_latex(self.value)}")
        return lines


def _how_many(n: int) -> str:
    """A count of paths, which grows exponentially with the depth: exact up to a billion, then its power of 10."""
    return f"{n:,}" if n < 10**9 else f"about 10^{len(str(n)) - 1}"


def _wrap(s: str) -> str:
    return f"({s})" if any(c in s for c in "+−- /") and not (s.startswith("(") and s.endswith(")")) else s


def _wrap_tex(s: str) -> str:
    return rf"\left({s}\right)" if any(c in s for c in "+-") else s


def _factor(v: float | None) -> str:
    s = number(v)
    return f"({s})" if s.startswith("−") else s


def _factor_tex(v: float | None) -> str:
    s = number_latex(v)
    return rf"\left({s}\right)" if s.startswith("-") else s


def tex_name(key: str) -> str:
    """A node's key in LaTeX: c@2 as c^{(2)}, #7 as v_{7}, a name with an underscore as a subscript."""
    if key.startswith("#"):
        return f"v_{{{key[1:]}}}"
    name, _, k = key.partition("@")
    base = name.replace("_", r"\_") if len(name) > 1 and "_" not in name[1:] else _subscripted(name)
    if len(name) > 1 and "_" not in name:
        base = rf"\mathrm{{{name}}}"
    return base + (f"^{{({k})}}" if k else "")


def _subscripted(name: str) -> str:
    head, _, tail = name.partition("_")
    return f"{head}_{{{tail}}}" if tail else head


# ------------------------------------------------------------------------------------------ local derivatives

@lru_cache(maxsize=4096)
def _generic_local(op: str, k: float | None, arity: int, position: int) -> tuple[Any, tuple[Any, ...]]:
    """∂op(x0, x1, …)/∂x_position over generic symbols, differentiated once (cached)."""
    xs = tuple(sympy.Symbol(f"x{i}", real=True) for i in range(arity))
    entry = OPS[op]
    expr = None
    if entry.activation is not None:  # the activation's own SymPy form (text.symbolic reads the registry)
        expr = symbolic.activation(functions.activation(entry.activation), xs[0])
    if expr is None:
        expr = entry.sympy(sympy, list(xs), k)
    return sympy.diff(expr, xs[position]), xs


def _operand(program: Program, j: int) -> Any:
    node = program.nodes[j]
    if node.op == CONST and not node.bindings:
        return sympy.Integer(int(node.value)) if node.value is not None and float(node.value).is_integer() \
            else sympy.Float(node.value)
    return Shown(node.key, tex_name(node.key))


Counts = tuple[tuple[int, ...], tuple[int, ...]]  # per node: paths to the output, the longest one's factors
Locals = dict[tuple[int, int], tuple[str, str]]  # (user, position) -> the local derivative, unicode and LaTeX
_PROGRAMS: dict[int, tuple[Program, Counts, Locals]] = {}
_KEEP = 8  # programs whose path counts and local derivatives are kept


def _cached(program: Program) -> tuple[Counts, Locals]:
    """The program's path counts and its cache of local derivatives in symbols (a program is immutable)."""
    found = _PROGRAMS.get(id(program))
    if found is None or found[0] is not program:
        if len(_PROGRAMS) >= _KEEP:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        found = _PROGRAMS[id(program)] = (program, (program.path_counts(), _longest_paths(program)), {})
    return found[1], found[2]


def _local_symbols(program: Program, user: int, position: int) -> tuple[str, str]:
    """∂user/∂(its argument at ``position``) in the nodes' names, as unicode and LaTeX."""
    cache = _cached(program)[1]
    if (user, position) not in cache:
        cache[user, position] = _local_symbols_of(program, user, position)
    return cache[user, position]


def _local_symbols_of(program: Program, user: int, position: int) -> tuple[str, str]:
    u = program.nodes[user]
    generic, xs = _generic_local(u.op, u.k, len(u.args), position)
    named = rebuild(generic, {x: _operand(program, j) for x, j in zip(xs, u.args, strict=True)})
    return text(named), latex(named)


def _local(step: GraphStep, program: Program, user: int, position: int) -> LocalFactor:
    u = program.nodes[user]
    sym, tex = _local_symbols(program, user, position)
    value: float | None = None
    if step.is_known(u.key):
        vals = step.record.values
        with np.errstate(all="ignore"):
            locals_ = OPS[u.op].local([np.float64(vals[j]) for j in u.args], np.float64(vals[user]), u.k)
        value = float(locals_[position])
    return LocalFactor(u.key, program.nodes[u.args[position]].key, sym, tex, value)


# -------------------------------------------------------------------------------------------------- paths

def path_counts(program: Program) -> tuple[int, ...]:
    """For each node, the number of paths from it to the output (one per use along the way)."""
    return _cached(program)[0][0]


def _longest_paths(program: Program) -> tuple[int, ...]:
    """For each node, the most local derivatives a path from it to the output multiplies (0: no path)."""
    counts = program.path_counts()
    longest = [0] * len(program.nodes)
    for i in range(program.output - 1, -1, -1):
        longest[i] = 1 + max((longest[u] for u, _ in program.users[i] if counts[u]), default=-1) if counts[i] else 0
    return tuple(longest)


def derive_graph(step: GraphStep, name: str) -> GraphDerivation:
    """∂output/∂``name`` (a quantity name: a leaf, ``c``, ``c@2``, ``#7``) at ``step``: the numbers known there."""
    layout = step.layout
    program = layout.program
    node = program.resolve(name)
    key = program.nodes[node].key
    counts = path_counts(program)
    grad_name = f"grad.{key}"
    value = step.value(grad_name) if step.is_known(grad_name) else None
    scenario = step.scenario
    leaf = program.nodes[node].op == "leaf"
    learned = leaf and key in scenario.learn
    before = after = None
    if learned:
        param = scenario.param(key)
        before = step.param(param, "before") if param is not None else None
        after = step.value(f"{key}.after") if step.is_known(f"{key}.after") else None
    common = dict(node=node, name=key, output=layout.output_key, path_count=counts[node], value=value, leaf=leaf,
                  learned=learned, before=before, after=after, optimizer=scenario.plan.optimizer.title)
    if node == program.output:
        return GraphDerivation(form="output", paths=(), uses=(), rest=0, rest_value=None, **common)  # type: ignore[arg-type]
    if counts[node] == 0:
        return GraphDerivation(form="none", paths=(), uses=(), rest=0, rest_value=None, **common)  # type: ignore[arg-type]
    if counts[node] <= MAX_PATHS and counts[node] * _cached(program)[0][1][node] <= MAX_FACTORS:
        paths = tuple(PathTerm(tuple(_local(step, program, u, p) for u, p in reversed(path)))
                      for path in program.paths(node, MAX_PATHS))
        return GraphDerivation(form="paths", paths=paths, uses=(), rest=0, rest_value=None, **common)  # type: ignore[arg-type]
    edges = [(u, p) for u, p in sorted(program.users[node], reverse=True) if counts[u]]
    shown = edges[:MAX_TERMS]
    uses = tuple(UseTerm(_local(step, program, u, p), _upstream(step, program, u)) for u, p in shown)
    rest_value: float | None = None
    if len(edges) > MAX_TERMS:
        rest_value = _rest(step, program, edges[MAX_TERMS:])
    return GraphDerivation(form="delta", paths=(), uses=uses, rest=len(edges) - len(shown), rest_value=rest_value,
                           **common)  # type: ignore[arg-type]


def _upstream(step: GraphStep, program: Program, user: int) -> float | None:
    key = f"grad.{program.nodes[user].key}"
    return step.value(key) if step.is_known(key) else None


def _rest(step: GraphStep, program: Program, edges: list[tuple[int, int]]) -> float | None:
    """The sum of the uses not written out, from the engine's numbers (None while any is pending)."""
    vals, grads = step.record.values, step.record.gradients
    total = np.float64(0.0)
    for user, position in edges:
        u = program.nodes[user]
        if not (step.is_known(u.key) and step.is_known(f"grad.{u.key}")):
            return None
        with np.errstate(all="ignore"):
            local = OPS[u.op].local([np.float64(vals[j]) for j in u.args], np.float64(vals[user]), u.k)
            total += np.float64(grads[user]) * np.float64(local[position])
    return float(total)
