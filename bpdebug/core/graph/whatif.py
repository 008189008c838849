"""What-if edits of a graph: ``NAME=VALUE`` for a leaf's starting value (``a=-3``) or ``learning_rate=0.1``,
applied to a copy of the scenario (the file is never touched). The network's edits are :mod:`bpdebug.core.whatif`;
its :class:`~bpdebug.core.whatif.EditError` is the one-line refusal here too."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from ..optimizers import Hyperparameters
from ..whatif import EditError
from .program import LEAF
from .scenario import GraphScenario

_EDIT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class GraphEdit:
    name: str  # a leaf, or "learning_rate"
    value: float
    text: str  # canonical: "a=-3"


def parse_edit(text: str, scenario: GraphScenario) -> GraphEdit:
    leaves = scenario.program.leaves
    expected = f"NAME=VALUE with NAME a leaf ({', '.join(leaves) or 'none'}) or learning_rate"
    m = _EDIT.match(text) if isinstance(text, str) else None
    if m is None:
        raise EditError(str(text).strip(), f"not an edit, expected {expected}")
    name = m["name"]
    try:
        value = float(m["value"])
    except ValueError:
        raise EditError(text.strip(), f"'{m['value']}' is not a number, expected {expected}") from None
    if not math.isfinite(value):
        raise EditError(text.strip(), "expected a finite number")
    if name == "learning_rate":
        if value <= 0:
            raise EditError(text.strip(), "expected a learning rate > 0")
    elif name not in leaves:
        bound = name in scenario.program.bindings
        raise EditError(text.strip(), (f"{name} is computed by the program, not a leaf" if bound
                                       else f"unknown name '{name}'") + f", expected {expected}")
    return GraphEdit(name, value, f"{name}={value:g}")


def apply_edits(scenario: GraphScenario, edits: tuple[GraphEdit, ...]) -> GraphScenario:
    """The scenario with the edits made: leaves start at their new values; the learning rate is the new one."""
    program, lr = scenario.program, scenario.learning_rate
    nodes = list(program.nodes)
    for e in edits:
        if e.name == "learning_rate":
            lr = e.value
            continue
        i = program.leaf(e.name)
        assert nodes[i].op == LEAF
        nodes[i] = dataclasses.replace(nodes[i], value=e.value)
    hyper: Hyperparameters = scenario.plan.hyper.replace(learning_rate=lr)
    return dataclasses.replace(scenario, program=dataclasses.replace(program, nodes=tuple(nodes)),
                               learning_rate=lr, plan=dataclasses.replace(scenario.plan, hyper=hyper))
