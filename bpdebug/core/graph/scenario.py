"""The ``[graph]`` section of a scenario (SCENARIO-FORMAT.md version 3, "Graph scenarios"), and its value.

A graph scenario has ``[graph]`` (values, learn, program, output) instead of ``[network]``, ``[loss]``,
``[data]`` and ``[weights]``; ``[training]`` applies when ``learn`` names leaves; ``[[expect]]`` quantities are
``NAME``, ``NAME@k``, ``grad.NAME``, ``grad.NAME@k``, ``NAME.after`` and ``loss``. The loader
(:mod:`bpdebug.core.scenario`) hands a document with ``[graph]`` to :func:`read`; errors are its one-line
``FILE:LINE: KEY: message``, a program's naming the file line and the column.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import optimizers
from ..messages import describe, one_of
from ..safe_text import strip_controls
from ..training import Plan
from .program import LEAF, GraphError, Program, build, reserved

NETWORK_SECTIONS = ("network", "loss", "data", "weights", "activations", "losses")  # what [graph] replaces
TOP_KEYS = ("title", "description", "graph", "training", "optimizers", "expect")
GRAPH_KEYS = ("values", "learn", "program", "output")
# [training] keys that mean something for a graph (no examples, so no batches, order or shuffling), besides every
# optimizer's hyperparameters
TRAINING_KEYS = ("learning_rate", "epochs", "optimizer", "frozen", optimizers.WEIGHT_DECAY.key)
_QUANTITY = re.compile(r"^(?P<grad>grad\.)?(?P<node>[A-Za-z_][A-Za-z0-9_]*(?:@[0-9]+)?|#[0-9]+)"
                       r"(?P<after>\.after)?$")
QUANTITY_FORMS = "NAME, NAME@k, grad.NAME, grad.NAME@k, NAME.after or loss"


@dataclass(frozen=True)
class GraphParam:
    """A learned leaf where a network has a parameter: ``short`` and ``canonical`` are its name."""

    name: str
    node: int  # its node in the program
    position: int  # its place among the learned leaves (the optimizer's array)

    @property
    def short(self) -> str:
        return self.name

    @property
    def canonical(self) -> str:
        return self.name


@dataclass(frozen=True)
class GraphExpectation:
    """A printed figure of a graph: ``what`` is "value", "grad", "after" or "loss"; ``node`` its node."""

    index: int
    quantity: str
    what: str
    node: int
    value: tuple[float, ...]
    scalar: bool
    epoch: int
    tolerance: float
    source: str | None = None
    line: int | None = None
    example: int = 1  # a graph has one example; kept so a result reads like a network's


@dataclass(frozen=True)
class GraphScenario:
    """A validated graph scenario. Nothing here changes after loading."""

    path: str
    title: str
    description: str
    program: Program = field(repr=False)
    learn: tuple[str, ...]  # the learned leaves, in the values table's order
    frozen: frozenset[str]
    learning_rate: float
    epochs: int
    plan: Plan = field(repr=False)
    output: str  # the name differentiated
    expectations: tuple[GraphExpectation, ...] = ()
    source_files: tuple[Path, ...] = field(default=(), repr=False, compare=False)
    program_line: int = 1  # the file line of the program's first line
    files: tuple = ()  # no data or weights files
    line: int | None = None  # the file line of [graph]

    kind = "graph"

    @property
    def leaves(self) -> tuple[str, ...]:
        return self.program.leaves

    @property
    def params(self) -> tuple[GraphParam, ...]:
        """The learned leaves, as parameters (every leaf when none is learned: their gradients are still shown)."""
        names = self.learn or self.program.leaves
        return tuple(GraphParam(n, self.program.leaf(n), k) for k, n in enumerate(names))

    def param(self, name: str) -> GraphParam | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def start(self) -> np.ndarray:
        return self.program.start

    def verify_files(self) -> None:
        """A graph scenario reads no other file."""


def is_graph_file(path: Path) -> bool:
    """True when the TOML file at ``path`` is a graph scenario (has [graph]); False when it is not, or not TOML."""
    try:
        return "graph" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def read(v: Any) -> GraphScenario:
    """The graph scenario of a validated TOML document; ``v`` is the loader's validator (its ``doc``, ``text``,
    ``path``, ``fail``, ``table``, ``number``, ``integer``, ``string``, ``plan``, ``locator``)."""
    doc = v.doc
    for k in doc:
        if k in NETWORK_SECTIONS:
            raise v.fail((k,), "[graph] replaces [network], [loss], [data], [weights] and [activations], expected "
                         "either a [graph] or a network, not both")
        if k not in TOP_KEYS:
            raise v.fail((k,), f"unknown key, expected one of {', '.join(sorted(TOP_KEYS))}")
    title = strip_controls(v.string(doc["title"], ("title",)) if "title" in doc else Path(v.path).stem)
    description = (strip_controls(v.string(doc["description"], ("description",)), multiline=True)
                   if "description" in doc else "")
    graph = v.table(doc, ("graph",), set(GRAPH_KEYS), True)
    values = _values(v, graph)
    if "program" not in graph:
        raise v.fail(("graph", "program"), "missing, expected the program: one assignment a line such as "
                     "\"c = a + b\"")
    text = v.string(graph["program"], ("graph", "program"))
    output = v.string(graph["output"], ("graph", "output")) if "output" in graph else None
    first = _first_line(v)
    try:
        program = build(text, values, output)
    except GraphError as exc:
        if exc.key == "output":
            raise v.fail(("graph", "output"), exc.message) from None
        line = None if exc.line is None else first + exc.line - 1
        where = f"line {exc.line} of the program" + (f", column {exc.col}" if exc.col else "")
        message = f"{where}: {exc.message}"
        from ..scenario import ScenarioError  # the loader's own error (imported here: it imports this module)

        raise ScenarioError(v.path, "graph.program", message,
                            line if line is not None else v.locator.line(("graph", "program"))) from None
    learn = _learn(v, graph, program)
    own = v.custom_optimizers()  # [optimizers.NAME], as for a network
    hyper_keys = optimizers.keys_of([*optimizers.OPTIMIZERS.values(), *own.values()])
    training = v.table(doc, ("training",), {*TRAINING_KEYS, *hyper_keys}, bool(learn))
    if learn and "learning_rate" not in training:
        raise v.fail(("training", "learning_rate"), "missing, expected a number > 0 (the leaves in learn are "
                     "updated)")
    lr = v.number(training.get("learning_rate", 0.01), ("training", "learning_rate"))
    if lr <= 0:
        raise v.fail(("training", "learning_rate"), f"expected a number > 0, got {lr:g}")
    from ..scenario import MAX_EPOCHS

    epochs = v.integer(training.get("epochs", 1), ("training", "epochs"), 1, MAX_EPOCHS)
    frozen = _frozen(v, training, learn)
    plan = v.plan(training, lr, 1, own)
    out_name = output if output is not None else next(n for n, nodes in program.bindings.items()
                                                      if nodes[-1] == program.output)
    scenario = GraphScenario(v.path, title, description, program, learn, frozen, lr, epochs, plan, out_name,
                             (), v.source_files, first, line=v.locator.line(("graph",)))
    return replace(scenario, expectations=_expectations(v, scenario))


def _first_line(v: Any) -> int:
    """The file line of the program's first line: a multi-line string that starts with a newline right after
    its opening quotes begins on the next line (TOML drops that newline)."""
    line = v.locator.line(("graph", "program")) or 1
    lines = v.text.splitlines()
    if 0 < line <= len(lines):
        rest = lines[line - 1].rstrip()
        if rest.endswith('"""') or rest.endswith("'''"):
            return line + 1
    return line


def _values(v: Any, graph: dict) -> dict[str, float]:
    key = ("graph", "values")
    if "values" not in graph:
        return {}
    table = graph["values"]
    if not isinstance(table, dict):
        raise v.fail(key, f"expected a table of leaves such as {{ a = -4.0, b = 2.0 }}, got {describe(table)}")
    out = {}
    for name, value in table.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise v.fail(key + (name,), f"'{name}' is not a name, expected letters, digits and _ (not first a digit)")
        if reserved(name):
            raise v.fail(key + (name,), f"'{name}' is {reserved(name)}, expected another name for the leaf")
        out[name] = v.number(value, key + (name,))
    return out


def _learn(v: Any, graph: dict, program: Program) -> tuple[str, ...]:
    key = ("graph", "learn")
    value = graph.get("learn", [])
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise v.fail(key, f"expected a list of leaf names, got {describe(value)}")
    leaves = program.leaves
    for name in value:
        if name not in leaves:
            bound = name in program.bindings
            what = f"'{name}' is computed by the program, not a leaf" if bound else f"unknown name '{name}'"
            raise v.fail(key, what + ", expected " + (f"leaves of [graph] values: {', '.join(leaves)}" if leaves
                                            else "leaves of [graph] values (there are none)"))
    wanted = set(value)
    return tuple(n for n in leaves if n in wanted)


def _frozen(v: Any, training: dict, learn: tuple[str, ...]) -> frozenset[str]:
    key = ("training", "frozen")
    value = training.get("frozen", [])
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise v.fail(key, f"expected a list of learned leaf names, got {describe(value)}")
    for name in value:
        if name not in learn:
            raise v.fail(key, one_of("learned leaf", name, list(learn)))
    return frozenset(value)


def _expectations(v: Any, s: GraphScenario) -> tuple[GraphExpectation, ...]:
    from ..scenario import DEFAULT_TOLERANCE, MAX_EPOCHS

    value = v.doc.get("expect")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise v.fail(("expect",), f"expected [[expect]] tables, got {describe(value)}")
    allowed = {"quantity", "value", "epoch", "example", "tolerance", "source"}
    out = []
    for n, entry in enumerate(value):
        base = ("expect", n)
        if not isinstance(entry, dict):
            raise v.fail(base, f"expected an [[expect]] table, got {describe(entry)}")
        for k in entry:
            if k not in allowed:
                raise v.fail(base + (k,), f"unknown key, expected one of {', '.join(sorted(allowed))}")
        for k in ("quantity", "value"):
            if k not in entry:
                raise v.fail(base + (k,), "missing, expected " + (f"a quantity: {QUANTITY_FORMS}" if k == "quantity"
                                                                  else "the printed number"))
        quantity = v.string(entry["quantity"], base + ("quantity",)).strip()
        what, node = quantity_of(v, s, quantity, base + ("quantity",))
        raw = entry["value"]
        if isinstance(raw, list):
            if len(raw) != 1:
                raise v.fail(base + ("value",), f"{quantity} is one number, expected a number, got {len(raw)}")
            values, scalar = (v.number(raw[0], base + ("value",)),), False
        else:
            values, scalar = (v.number(raw, base + ("value",)),), True
        epoch = v.integer(entry.get("epoch", 1), base + ("epoch",), 1, MAX_EPOCHS)
        v.integer(entry.get("example", 1), base + ("example",), 1, 1)
        tol = v.number(entry.get("tolerance", DEFAULT_TOLERANCE), base + ("tolerance",))
        if tol < 0:
            raise v.fail(base + ("tolerance",), f"expected a tolerance >= 0, got {tol:g}")
        source = strip_controls(v.string(entry["source"], base + ("source",))) if "source" in entry else None
        out.append(GraphExpectation(n, quantity, what, node, values, scalar, epoch, tol, source,
                                    v.locator.line(base)))
    return tuple(out)


def quantity_of(v: Any, s: GraphScenario, quantity: str, key: tuple) -> tuple[str, int]:
    """(what, node) of an expectation's quantity, or the loader's one-line error."""
    program = s.program
    if quantity == "loss":
        return "loss", program.output
    m = _QUANTITY.match(quantity)
    if m is None or (m["grad"] and m["after"]):
        raise v.fail(key, f"unknown quantity '{quantity}', expected {QUANTITY_FORMS}")
    try:
        node = program.resolve(m["node"])
    except KeyError as exc:
        raise v.fail(key, f"'{quantity}': {exc.args[0]}, expected {QUANTITY_FORMS} with a name of the program: "
                     f"{', '.join(program.bindings)}") from None
    if m["after"]:
        if program.nodes[node].op != LEAF:
            raise v.fail(key, f"'{quantity}': {m['node']} is computed by the program, expected NAME.after of a "
                         f"leaf: {', '.join(program.leaves)}")
        return "after", node
    return ("grad" if m["grad"] else "value"), node
