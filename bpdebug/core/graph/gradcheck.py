"""The gradient check of a graph: each leaf's ∂output/∂leaf from the backward pass against a central difference
of the output, with the step size, resolution, tolerance and verdicts of :mod:`bpdebug.core.gradcheck`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gradcheck import Check, Checks, difference
from .engine import Tape, backward_pass, forward_pass
from .scenario import GraphParam, GraphScenario


class GraphGradCheck(Check[GraphParam]):
    """The check of one leaf (the fields of a network's :class:`~bpdebug.core.gradcheck.GradCheck`)."""


@dataclass(frozen=True)
class GraphGradCheckReport(Checks):
    checks: tuple[GraphGradCheck, ...]
    rows: tuple[int, ...] = (0,)  # one example, as a network's report has its rows


def _output_at(t: Tape, leaves: np.ndarray, i: int, x: float) -> float:
    moved = leaves.copy()
    moved[i] = x
    return float(forward_pass(t, moved)[t.output])


def check_leaf(t: Tape, leaves: np.ndarray, p: GraphParam, analytic: float) -> GraphGradCheck:
    """Check leaf ``p`` at ``leaves`` (every leaf's value, in leaf order)."""
    with np.errstate(all="ignore"):
        e0 = float(forward_pass(t, leaves)[t.output])
    return GraphGradCheck(p, *difference(lambda x: _output_at(t, leaves, p.node, x), float(leaves[p.node]), e0,
                                         analytic))


def check_scenario(scenario: GraphScenario, t: Tape | None = None) -> GraphGradCheckReport:
    """``bpdebug check --gradcheck`` of a graph: every leaf (the learned ones, or all when none is learned)
    at the starting values."""
    from .engine import tape

    t = t or tape(scenario.program)
    leaves = scenario.start
    with np.errstate(all="ignore"):
        grads = backward_pass(t, forward_pass(t, leaves))
    params = tuple(GraphParam(n, scenario.program.leaf(n), k) for k, n in enumerate(scenario.program.leaves))
    return GraphGradCheckReport(tuple(check_leaf(t, leaves, p, float(grads[p.node])) for p in params))
