"""``bpdebug run``: train headless until a condition holds, and say where and why, as text or as JSON.

The report is one line for where the run stopped and why (or that it ran to the end), then the state there:
the epoch, the loss, and the parameters the conditions and edits name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.conditions import Condition, Stop, first_stop, parameter_value_at, parse_condition
from ..core.engine import Trace
from ..core.gradcheck import SAMPLE_PER_MATRIX, STEP, TOLERANCE, Check, GradCheckReport
from ..core.params import Param
from ..core.scenario import Scenario
from ..core.whatif import Edit, fork

if TYPE_CHECKING:
    from ..core.divergence import Divergence

FORMAT = "bpdebug-run/1"
EXIT_END, EXIT_STOPPED = 0, 3


@dataclass(frozen=True)
class RunReport:
    """Where a headless run stopped (``stop``) or that it ran to the end (``stop`` None)."""

    scenario: Scenario  # the scenario run (with the edits applied)
    epochs: int
    conditions: tuple[Condition, ...]
    edits: tuple[Edit, ...]
    stop: Stop | None
    epoch: int  # the epoch of the stop, or the last epoch
    step_title: str | None  # what the stopping step computes
    step_in_epoch: int | None  # 1-based position of the stopping step in its epoch
    steps_per_epoch: int
    loss: float  # at a stop: the epoch's loss before its update; at the end: the loss after the last update
    parameters: tuple[tuple[Param, float], ...]  # named by the conditions and edits, at the stop / the end
    diverged: Divergence | None = None  # where the run stopped being finite, when nan stopped it

    @property
    def exit_status(self) -> int:
        return EXIT_STOPPED if self.stop is not None else EXIT_END


def named_parameters(conditions: tuple[Condition, ...], edits: tuple[Edit, ...]) -> tuple[Param, ...]:
    out: dict[str, Param] = {}
    for c in conditions:
        for p in c.params:
            out.setdefault(p.canonical, p)
    for e in edits:
        if e.param is not None:
            out.setdefault(e.param.canonical, e.param)
    return tuple(out.values())


def run(scenario: Scenario, epochs: int | None = None, conditions: tuple[Condition, ...] = (),
        edits: tuple[Edit, ...] = (), nan: bool = True,
        progress: Callable[[int, int], None] | None = None) -> RunReport:
    """Train ``epochs`` epochs (default the scenario's) of ``scenario`` with ``edits`` applied, stopping at
    the first condition that holds. ``nan`` (on by default) adds the nan condition when not given;
    ``progress(epoch, epochs)`` is told how far a long run has got."""
    if edits:
        scenario = fork(scenario, scenario.weights, edits)
    epochs = epochs or scenario.epochs
    conditions = tuple(conditions)
    if nan and not any(c.kind == "nan" for c in conditions):
        conditions += (parse_condition("nan", scenario),)
    trace = Trace(scenario, epochs)
    stop = first_stop(trace, conditions, 0, epochs, progress)
    params = named_parameters(conditions, edits)
    if stop is not None:
        step = trace.step(stop.step)
        loss = trace.epoch(stop.epoch).loss
        values = tuple((p, parameter_value_at(trace, stop.step, p)) for p in params)
        diverged = trace.divergence(epochs) if stop.condition is not None and stop.condition.kind == "nan" else None
        return RunReport(scenario, epochs, conditions, edits, stop, stop.epoch, step.title,
                         stop.step % trace.steps_per_epoch + 1, trace.steps_per_epoch, loss, values, diverged)
    loss, _, weights = trace.final(epochs)
    values = tuple((p, scenario.param_value(p, weights)) for p in params)
    return RunReport(scenario, epochs, conditions, edits, None, epochs, None, None, trace.steps_per_epoch,
                     loss, values)


def _num(v: float) -> str:
    return f"{v:.10g}"


def render_text(r: RunReport) -> str:
    if r.stop is not None:
        head = (f"stopped at epoch {r.epoch}, step {r.step_in_epoch} of {r.steps_per_epoch} "
                f"({r.step_title}): {r.stop.reason}")
        loss_is = "the epoch's loss, before its update"
    else:
        watched = ", ".join(c.text for c in r.conditions)
        head = f"ran to the end: {r.epochs} epoch{'s' if r.epochs != 1 else ''}, no condition held ({watched})"
        loss_is = "after the last update"
    lines = [head]
    if r.edits:
        lines.append(f"  what if  {', '.join(e.text for e in r.edits)}")
    lines.append(f"  epoch    {r.epoch}")
    lines.append(f"  loss     {_num(r.loss)} ({loss_is})")
    for p, v in r.parameters:
        lines.append(f"  {p.short:<8} {_num(v)} ({p.canonical})")
    return "\n".join(lines) + "\n"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def render_json(r: RunReport) -> str:
    """One strict JSON object (a non-finite number is null)."""
    stop = None
    if r.stop is not None:
        c = r.stop.condition
        stop = {"condition": c.text if c else None, "kind": c.kind if c else None, "step": r.stop.step,
                "epoch": r.stop.epoch, "example": r.stop.example, "step_in_epoch": r.step_in_epoch,
                "step_title": r.step_title}
    doc = {
        "format": FORMAT,
        "scenario": {"title": r.scenario.title, "path": r.scenario.path},
        "epochs": r.epochs,
        "conditions": [c.text for c in r.conditions],
        "edits": [{"name": e.name, "value": e.value, "target": e.target.value} for e in r.edits],
        "stopped": r.stop is not None,
        "reason": r.stop.reason if r.stop is not None else None,
        "stop": stop,
        "diverged": r.diverged.as_dict() if r.diverged is not None else None,
        "state": {
            "epoch": r.epoch,
            "loss": _finite(r.loss),
            "loss_is": "before the epoch's update" if r.stop is not None else "after the last update",
            "parameters": {p.short: _finite(v) for p, v in r.parameters},
        },
        "exit": r.exit_status,
    }
    return json.dumps(doc, allow_nan=False) + "\n"


def render_gradcheck(report: GradCheckReport, scenario: Scenario) -> str:
    """``bpdebug check --gradcheck``: one line per parameter, then the largest relative error."""
    s = scenario
    n = len(report.rows)
    where = (f"example {report.rows[0] + 1}" if n == 1 else
             "all examples" if n == s.n_examples else f"{n} examples")
    lines = [f"{s.title}", f"gradient check of the first update (the starting weights, the loss of {where}): "
             f"central difference with h = {STEP:.2g}·max(1, |w|) against the backward pass"]
    checked = len(report.checks)
    lines.append(f"  a sample of {checked:,} of the {report.total:,} parameters (up to {SAMPLE_PER_MATRIX} of each "
                 "matrix, spread over its rows); --all checks every one" if report.sampled
                 else f"  every parameter ({checked:,})")
    names = [f"{c.param.short} {c.param.canonical}" for c in report.checks]
    lines += gradcheck_lines(report.checks, "param", names, report.max_relative_error)
    return "\n".join(lines) + "\n"


def gradcheck_lines(checks: Sequence[Check[Any]], heading: str, names: Sequence[str],
                    max_relative_error: float) -> list[str]:
    """The table of a gradient check (a network's parameters or a graph's leaves, named ``names``) and its
    verdict line."""
    lines = [f"  {heading:<14} {'analytic':>18} {'numeric':>18} {'rel. error':>10}  verdict"]
    for c, name in zip(checks, names, strict=True):
        lines.append(f"  {name:<14} {c.analytic:>18.10g} {c.numeric:>18.10g} {c.relative_error:>10.2e}  "
                     f"{c.verdict.value}")
    failing = [c for c in checks if not c.verdict.passes]
    verdict = "passes" if not failing else f"FAILS for {', '.join(c.param.short for c in failing)}"
    lines.append(f"max relative error {max_relative_error:.2e} (limit {TOLERANCE:g}): {verdict}")
    return lines


def check_record(c: Check[Any]) -> dict[str, object]:
    """One parameter's check as JSON values (a non-finite number is None)."""
    return {"parameter": c.param.short, "canonical": c.param.canonical, "value": _finite(c.value),
            "analytic": _finite(c.analytic), "numeric": _finite(c.numeric), "step": _finite(c.step),
            "relative_error": _finite(c.relative_error), "left": _finite(c.left), "right": _finite(c.right),
            "verdict": c.verdict.value}


def gradcheck_record(report: GradCheckReport) -> dict[str, object]:
    """``check --gradcheck --json``: the gradient check as JSON values (a non-finite number is None)."""
    return {
        "examples": [r + 1 for r in report.rows], "tolerance": TOLERANCE, "sampled": report.sampled,
        "parameters": report.total,
        "checks": [check_record(c) for c in report.checks],
        "max_relative_error": _finite(report.max_relative_error),
        "passes": report.passes,
    }
