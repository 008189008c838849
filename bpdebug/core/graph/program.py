"""A graph program: one assignment a line, cut into primitive operations, one node each (as micrograd draws them).

``program.build(lines, values)`` turns the lines of ``[graph] program`` (parsed by the formula parser,
:mod:`bpdebug.core.expr`: mathematics, never Python) into a frozen :class:`Program`: the leaves first (the
``values`` table's names, in its order), then every operation in the order the program computes it. The node a
line's expression ends in carries the line's name; a name may be bound again (``c = c + 1``), and each binding
is ``NAME@k`` (k from 1; a leaf is its name's first binding). A number is a constant node; a part of an
expression made of numbers only is worked out once into one constant (``2**3`` is 8), as the exponent of a
power must be (``x**2``, ``x**-1``).

Quantity names (:meth:`Program.resolve`): ``NAME`` (its last binding), ``NAME@k``, ``#i`` (node i, 1-based, for
the nodes no line names). A node's :attr:`Node.key` is the name a step writes for it: ``NAME`` when the name is
bound once, ``NAME@k`` when it is bound again, ``#i`` for an unnamed node.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ops import OPS, function_names

LEAF, CONST = "leaf", "const"  # the two kinds of node that no operation computes
MAX_NODES = 1_000_000  # every node is stepped through; a program larger than this would not be
_BINDING = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:@(?P<k>[0-9]+))?$")
_NODE = re.compile(r"^#(?P<i>[0-9]+)$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


class GraphError(ValueError):
    """A program that cannot be built: ``line`` is the program's line (1-based within the program, the loader
    adds where it starts in the file), ``col`` its column (1-based), or None."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None, key: str = "program") -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.key = message, line, col, key


@dataclass(frozen=True)
class Node:
    """One value of the graph: a leaf, a constant, or one operation on earlier nodes."""

    index: int  # 0-based position: leaves first, then in the order the program computes
    op: str  # LEAF, CONST or an entry of ops.OPS
    args: tuple[int, ...] = ()  # the nodes it reads, in order (the same node twice for c + c)
    k: float | None = None  # the exponent of pow
    value: float | None = None  # a constant's value, a leaf's starting value
    line: int | None = None  # the program line (1-based) that computes it; None for a leaf
    col: int | None = None  # its column in that line (1-based)
    key: str = ""  # its name in quantities and steps: c, c@2, #7
    bindings: tuple[tuple[str, int], ...] = ()  # (name, k) for each binding that names it

    @property
    def computed(self) -> bool:
        """True for an operation (a forward step computes it); False for a leaf or a constant."""
        return self.op not in (LEAF, CONST)

    @property
    def label(self) -> str:
        """What a picture writes on the operation: micrograd's ``+``, ``*``, ``**3``, ``ReLU``; '' for a leaf."""
        return OPS[self.op].label(self.k) if self.computed else ""


@dataclass(frozen=True)
class Program:
    """The nodes of a graph program and how to name them. Immutable; shared by every epoch's numbers."""

    nodes: tuple[Node, ...]
    leaves: tuple[str, ...]  # leaf names, in the values table's order (node i is leaf i)
    bindings: Mapping[str, tuple[int, ...]] = field(repr=False)  # name -> the node of each binding, in order
    output: int  # the node differentiated
    users: tuple[tuple[tuple[int, int], ...], ...] = field(repr=False)  # node -> (user, argument position) ...
    lines: tuple[str, ...] = field(default=(), repr=False)  # the program's lines as written

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def start(self) -> np.ndarray:
        """The leaves' starting values, in leaf order."""
        return np.array([self.nodes[i].value for i in range(len(self.leaves))], dtype=float)

    def leaf(self, name: str) -> int:
        """The node of leaf ``name`` (KeyError when it is no leaf)."""
        i = self.bindings[name][0]
        if self.nodes[i].op != LEAF:
            raise KeyError(name)
        return i

    def resolve(self, name: str) -> int:
        """The node a quantity name means: ``NAME`` (its last binding), ``NAME@k``, ``#i``; KeyError otherwise."""
        m = _NODE.match(name)
        if m:
            i = int(m["i"]) - 1
            if 0 <= i < len(self.nodes):
                return i
            raise KeyError(f"#{m['i']}: the graph has nodes #1 … #{len(self.nodes)}")
        m = _BINDING.match(name)
        if m is None or m["name"] not in self.bindings:
            raise KeyError(f"{name}: no such name in the graph")
        nodes = self.bindings[m["name"]]
        if m["k"] is None:
            return nodes[-1]
        k = int(m["k"])
        if not 1 <= k <= len(nodes):
            raise KeyError(f"{name}: {m['name']} is bound {len(nodes)} time{'s' if len(nodes) != 1 else ''}")
        return nodes[k - 1]

    def text(self, i: int) -> str:
        """Node ``i``'s operation over its arguments' keys (``a + b``, ``tanh(#4)``); a leaf's or constant's key."""
        node = self.nodes[i]
        if node.op == LEAF:
            return node.key
        if node.op == CONST:
            return f"{node.value:g}"
        return OPS[node.op].text([self.operand(j) for j in node.args], node.k)

    def operand(self, j: int) -> str:
        """How node ``j`` is written as an argument: its key, or an unnamed constant's number."""
        node = self.nodes[j]
        return f"{node.value:g}" if node.op == CONST and not node.bindings else node.key

    def depths(self) -> tuple[int, ...]:
        """Each node's column in a left-to-right picture (draw_dot's): 0 for a leaf or a constant, else one more
        than its deepest argument's."""
        depth = [0] * len(self.nodes)
        for node in self.nodes:
            if node.args:
                depth[node.index] = 1 + max(depth[j] for j in node.args)
        return tuple(depth)

    def path_counts(self) -> tuple[int, ...]:
        """How many paths lead from each node to the output (one per use, along every use after it): the terms of
        its chain rule written as a sum of products. 0 for a node the output does not use."""
        count = [0] * len(self.nodes)
        count[self.output] = 1
        for node in reversed(self.nodes):
            for j in node.args:
                count[j] += count[node.index]
        return tuple(count)

    def paths(self, node: int, limit: int = 1000) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Every path from ``node`` to the output, at most ``limit`` of them: each a tuple of (user, argument
        position) steps, the node's use first. Its chain rule is the sum over them of the products of the local
        derivatives ∂user/∂(argument at position)."""
        out: list[tuple[tuple[int, int], ...]] = []
        if node == self.output:
            return ((),)
        pending: list[tuple[int, tuple[tuple[int, int], ...]]] = [(node, ())]
        while pending and len(out) < limit:
            at, path = pending.pop()
            for use in sorted(self.users[at], reverse=True):
                walked = path + (use,)
                if use[0] == self.output:
                    out.append(walked)
                else:
                    pending.append((use[0], walked))
        return tuple(out[:limit])

    @property
    def stepped(self) -> tuple[int, ...]:
        """The nodes whose gradient a backward step shows: every node but the unnamed constants."""
        return tuple(n.index for n in self.nodes if n.op != CONST or n.bindings)


class Builder:
    """Builds a :class:`Program` node by node (the parser's glue and the tests use it)."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self.ops: list[str] = []
        self.args: list[tuple[int, ...]] = []
        self.ks: list[float | None] = []
        self.values: list[float | None] = []
        self.where: list[tuple[int | None, int | None]] = []
        self.bindings: dict[str, list[int]] = {}
        self.leaves = tuple(values)
        for name, v in values.items():
            self.bindings[name] = [self._add(LEAF, (), None, float(v), None, None)]
        self.lines: list[str] = []
        self.last_name: str | None = None  # the name the last line binds

    def _add(self, op: str, args: tuple[int, ...], k: float | None, value: float | None, line: int | None,
             col: int | None) -> int:
        if len(self.ops) >= MAX_NODES:
            raise GraphError(f"more than {MAX_NODES:,} nodes, expected a smaller program", line, col)
        self.ops.append(op)
        self.args.append(args)
        self.ks.append(k)
        self.values.append(value)
        self.where.append((line, col))
        return len(self.ops) - 1

    def const(self, value: float, line: int | None = None, col: int | None = None) -> int:
        return self._add(CONST, (), None, float(value), line, col)

    def op(self, name: str, args: Sequence[int], k: float | None = None, line: int | None = None,
           col: int | None = None) -> int:
        entry = OPS[name]
        if entry.arity is not None and len(args) != entry.arity:
            raise GraphError(f"{name} takes {entry.arity} argument{'s' if entry.arity != 1 else ''}, "
                             f"got {len(args)}", line, col)
        if entry.arity is None and len(args) < 2:
            raise GraphError(f"{name} takes two or more arguments, got {len(args)}", line, col)
        return self._add(name, tuple(args), k, None, line, col)

    def bind(self, name: str, node: int) -> None:
        self.bindings.setdefault(name, []).append(node)

    def node_of(self, name: str) -> int | None:
        """The node ``name`` is bound to now, or None."""
        found = self.bindings.get(name)
        return found[-1] if found else None

    def build(self, output: str | None = None, line: int | None = None) -> Program:
        if self.last_name is None:
            raise GraphError("the program is empty, expected one assignment a line such as \"c = a + b\"", line)
        names_of: dict[int, list[tuple[str, int]]] = {}
        for name, bound_to in self.bindings.items():
            for k, i in enumerate(bound_to, start=1):
                names_of.setdefault(i, []).append((name, k))
        nodes = []
        users: list[list[tuple[int, int]]] = [[] for _ in self.ops]
        for i, op in enumerate(self.ops):
            bound = tuple(names_of.get(i, ()))
            if bound:
                name, k = bound[0]
                key = name if len(self.bindings[name]) == 1 else f"{name}@{k}"
            else:
                key = f"#{i + 1}"
            for pos, j in enumerate(self.args[i]):
                users[j].append((i, pos))
            line_, col = self.where[i]
            nodes.append(Node(i, op, self.args[i], self.ks[i], self.values[i], line_, col, key, bound))
        if output is None:
            assert self.last_name is not None
            out = self.bindings[self.last_name][-1]  # the last line's name
        else:
            if output not in self.bindings:
                raise GraphError(f"output '{output}' is never bound, expected one of "
                                 f"{', '.join(sorted(self.bindings))}", key="output")
            out = self.bindings[output][-1]
        return Program(tuple(nodes), self.leaves, {k: tuple(v) for k, v in self.bindings.items()}, out,
                       tuple(tuple(u) for u in users), tuple(self.lines))


# ----------------------------------------------------------------------------------------- from the text

def build(program: str, values: Mapping[str, float], output: str | None = None) -> Program:
    """The program's lines, parsed by the formula parser, as nodes. GraphError names the program line
    (1-based within ``program``) and the column."""
    from ..expr import FormulaError, parse

    builder = Builder(values)
    functions = function_names()
    text_lines = program.split("\n")
    builder.lines = text_lines
    for n, raw in enumerate(text_lines, start=1):
        code = raw.split("#", 1)[0]
        if not code.strip():
            continue
        # every name the line reads is a variable to the parser, so an undefined one is named here, in words
        # about the program (bound above or not), with its column
        words = frozenset(_WORD.findall(code)) - set(functions) - {"Piecewise"}
        m = _ASSIGNMENT.match(code)
        if m is None:
            raise GraphError("not an assignment, expected NAME = formula such as \"c = a + b\"", n,
                             len(code) - len(code.lstrip()) + 1)
        target, start = m["name"], m.end()  # the formula's columns count from the line's start
        if reserved(target):
            raise GraphError(f"'{target}' is {reserved(target)}, expected another name on the left of =", n,
                             code.index(target) + 1)
        try:
            expr = parse(code[start:], words, functions)
        except FormulaError as exc:
            raise GraphError(_parser_message(str(exc)), n, None if exc.col is None else exc.col + start) from None
        node = _Line(builder, n, start).nodes(expr)
        builder.bind(target, node)
        builder.last_name = target
    return builder.build(output, len(text_lines))


def reserved(name: str) -> str | None:
    """Why ``name`` cannot name a value (a function's name, a Python keyword), or None."""
    if name in function_names() or name == "Piecewise":
        return "a function's name"
    if keyword.iskeyword(name):
        return "a Python keyword"
    return None


def _parser_message(message: str) -> str:
    return message[:1].lower() + message[1:] if message else "cannot be read"


class _Line:
    """One program line's expression turned into nodes; ``start`` is where the formula begins in the line."""

    def __init__(self, builder: Builder, line: int, start: int) -> None:
        self.b, self.line, self.start = builder, line, start
        self.folded: dict[int, float | None] = {}  # id(expr) -> its number, or None when it reads a name

    def col(self, expr: Any) -> int | None:
        """The 1-based column in the line where ``expr`` starts."""
        return None if expr.col is None else int(expr.col) + self.start

    def constant(self, expr: Any) -> float | None:
        """The number an expression made of numbers only works out to (with the ops' own forward functions);
        None when it reads a name. Each part is worked out once."""
        key = id(expr)
        if key not in self.folded:
            self.folded[key] = self._constant(expr)
        return self.folded[key]

    def _constant(self, expr: Any) -> float | None:
        op = expr.op
        if op == "num":
            return float(expr.value)
        if op == "var" or op not in OPS:
            return None
        values = [self.constant(a) for a in expr.args]
        if any(v is None for v in values):
            return None
        x = [np.float64(v) for v in values]
        with np.errstate(all="ignore"):
            if op == "pow":
                return float(OPS["pow"].forward(x[:1], x[1]))
            return float(OPS[op].forward(x, None))

    def nodes(self, expr: Any) -> int:
        """The node ``expr`` ends in, adding the nodes it needs."""
        b, line, op, col = self.b, self.line, expr.op, self.col(expr)
        if op == "var":
            node = b.node_of(expr.name)
            if node is None:
                raise GraphError(f"undefined name '{expr.name}', expected a leaf of [graph] values or a name bound "
                                 "on a line above", line, col)
            return node
        folded = self.constant(expr)
        if folded is not None:
            return b.const(folded, line, col)
        if op == "pow":
            exponent = self.constant(expr.args[1])
            if exponent is None:
                raise GraphError("a power whose exponent is not a number, expected a numeric exponent such as "
                                 "x**2", line, self.col(expr.args[1]))
            return b.op("pow", (self.nodes(expr.args[0]),), exponent, line, col)
        if op not in OPS:
            raise GraphError(f"{op} is not allowed in a graph program, expected + - * / ** and the functions "
                             f"{' '.join(function_names())}", line, col)
        args = tuple(self.nodes(a) for a in expr.args)
        return b.op(op, args, None, line, col)
