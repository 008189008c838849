"""The one description of how each kind of step computes (core/computations.py): every step kind has one,
it names what the step computes from what the step already knows (never a number from the future), and the
step panel's formula line is its printing."""

from __future__ import annotations

from pathlib import Path

import pytest
from _bundled import NETWORKS

from bpdebug.core.computations import KINDS, Act, Descent, Loss, LossTerms, Product, Q, T, Term, WithBias, computations
from bpdebug.core.engine import Trace
from bpdebug.core.quantity import StepKind
from bpdebug.core.scenario import load
from bpdebug.text import narrate
from bpdebug.text.narrate import computation_text

SCENARIOS = list(NETWORKS)


def leaves(term: Term) -> list[str]:
    match term:
        case Q(name):
            return [name]
        case Act(_, arg, _):
            return leaves(arg)
        case Product(_, left, right):
            return leaves(left) + leaves(right)
        case T(of) | WithBias(of):
            return leaves(of)
        case Loss(outputs, targets) | LossTerms(outputs, targets):
            return leaves(outputs) + leaves(targets)
        case Descent(param, gradient):
            return leaves(param) + leaves(gradient)
    raise TypeError(term)


@pytest.mark.parametrize("kind", list(StepKind))
def test_every_step_kind_is_described(kind: StepKind) -> None:
    assert kind in KINDS


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_step_computes_what_its_description_says_from_what_it_knows(path: Path) -> None:
    scenario = load(path)
    trace = Trace(scenario)
    for template in trace.templates:
        step = trace.step(template.position)
        layers = range(1, scenario.n_layers) if template.kind == StepKind.UPDATE else [None]
        for c in computations(scenario, template.kind, template.layer):
            for matrix in layers:  # the update's "theta" is every matrix
                def named(name: str, matrix: int | None = matrix) -> str:
                    return name.replace("theta", f"theta{matrix}") if matrix is not None else name

                assert named(c.result) in template.computes
                for leaf in leaves(c.form):
                    assert named(leaf) not in template.computes
                    step.value(named(leaf))  # known at this step: KeyError otherwise


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_step_panel_prints_the_description(path: Path) -> None:
    scenario = load(path)
    trace = Trace(scenario)
    for template in trace.templates:
        if template.kind == StepKind.UPDATE and not scenario.plan.is_plain:
            continue  # an optimizer's panel prints the registry's rule instead
        first_line = "".join(span.text for span in narrate.narrate(trace.step(template.position), scenario).lines[0])
        shown = [computation_text(c, scenario) for c in computations(scenario, template.kind, template.layer)]
        assert any(first_line.startswith(text) for text in shown), (first_line, shown)
