"""What the command line prints for a graph scenario: ``check``'s summary (and ``--json``), the gradient
check, and ``run``'s report, in the shapes the network's commands print (:mod:`.summary`, :mod:`.run_report`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..core.gradcheck import STEP, TOLERANCE
from ..core.graph import slips
from ..core.graph.conditions import GraphCondition, GraphStop, first_stop, parse_condition
from ..core.graph.gradcheck import GraphGradCheckReport
from ..core.graph.program import CONST, LEAF
from ..core.graph.scenario import GraphScenario
from ..core.graph.trace import GraphExpectationResult, GraphTrace
from .run_report import check_record, gradcheck_lines

EXIT_OK, EXIT_EXPECTATION, EXIT_STOPPED = 0, 1, 3


def _num(v: float) -> str:
    return f"{v:.10g}"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def describe(s: GraphScenario) -> list[str]:
    """The scenario in a few lines: its graph, what it learns, how."""
    p = s.program
    leaves = [n for n in p.nodes if n.op == LEAF]
    consts = [n for n in p.nodes if n.op == CONST]
    lines = [s.title, f"  file          {s.path}",
             f"  graph         {len(p.nodes)} nodes: {len(leaves)} lea{'f' if len(leaves) == 1 else 'ves'} "
             f"({', '.join(p.leaves) or 'none'}), {len(p.nodes) - len(leaves) - len(consts)} operations, "
             f"{len(consts)} constant{'s' if len(consts) != 1 else ''}; output {s.output}"]
    if s.learn:
        frozen = f" ({', '.join(sorted(s.frozen))} frozen)" if s.frozen else ""
        lines.append(f"  training      learns {', '.join(s.learn)}{frozen}: {s.plan.optimizer.title}, learning rate "
                     f"{s.learning_rate:g}, {s.epochs} epoch{'s' if s.epochs != 1 else ''}")
    else:
        lines.append("  training      none (no leaf in learn): forward and backward only")
    return lines


def summary(trace: GraphTrace) -> tuple[str, bool]:
    """``bpdebug check`` of a graph: the scenario, the output and the leaves' gradients, each expectation."""
    s = trace.scenario
    record = trace.epoch(1)
    out = trace.layout.output_key
    lines = describe(s)
    lines.append(f"  output        {s.output} = {_num(record.loss)}")
    grads = ", ".join(f"∂{out}/∂{n} = {_num(float(record.gradients[s.program.leaf(n)]))}"
                      for n in s.learn or s.program.leaves)
    if grads:
        lines.append(f"  gradients     {grads}")
    results = trace.check_all()
    held = sum(r.holds for r in results)
    if results:
        lines.append(f"expectations: {held} of {len(results)} hold")
        width = max(len(r.expectation.quantity) for r in results)
        for r in results:
            e = r.expectation
            lines.append(f"  {'holds' if r.holds else 'FAILS'}  {e.quantity:<{width}}  epoch {e.epoch}: printed "
                         f"{_num(e.value[0])}, computed {_num(r.computed[0])} (tolerance {e.tolerance:g})")
            if e.source:
                lines.append(f"         {e.source}")
            if not r.holds:
                lines.append(f"         {diagnosis(trace, r)['text']}")
    diverged = trace.divergence(s.epochs)
    if diverged is not None:
        lines.append(f"diverged: {diverged.describe()}")
    return "\n".join(lines), held == len(results) and diverged is None


def diagnosis(trace: GraphTrace, r: GraphExpectationResult) -> dict[str, object]:
    """A figure's diagnosis in check --json's shape: it holds, or it is a root whose slip (from the graph's slip
    catalogue) reproduces it, when one does."""
    if r.holds:
        return {"verdict": "holds", "follows_from": [], "cause": None, "slips": [], "recomputed": None,
                "truncated": False, "text": "holds"}
    e = r.expectation
    matches = slips.diagnose(trace, e.what, e.node, e.epoch, e.value[0], e.tolerance)
    if matches:
        cause = "; ".join(m.slip.sentence for m in matches)
        text = f"root slip: {cause}"
    else:
        cause, text = None, "root slip: no slip in the graph catalogue reproduces it"
    return {"verdict": "root", "follows_from": [], "cause": cause, "slips": [m.slip.name for m in matches],
            "recomputed": [_finite(matches[0].recomputed)] if matches else None, "truncated": False, "text": text}


def check_json(trace: GraphTrace) -> tuple[str, bool]:
    """``bpdebug check --json`` of a graph: one object, each expectation with its diagnosis."""
    s = trace.scenario
    results = trace.check_all()
    diverged = trace.divergence(s.epochs)
    doc = {
        "scenario": s.path, "title": s.title, "kind": "graph", "output": s.output,
        "expectations": [{
            "index": r.expectation.index, "quantity": r.expectation.quantity, "epoch": r.expectation.epoch,
            "example": 1, "printed": list(r.expectation.value), "computed": [_finite(v) for v in r.computed],
            "tolerance": r.expectation.tolerance, "holds": r.holds, "step": r.step, "source": r.expectation.source,
            "diagnosis": diagnosis(trace, r),
        } for r in results],
        "holds": sum(r.holds for r in results), "total": len(results),
        "diverged": None if diverged is None else diverged.as_dict(),
    }
    ok = all(r.holds for r in results) and diverged is None
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False), ok


def render_gradcheck(report: GraphGradCheckReport, s: GraphScenario) -> str:
    lines = [s.title, f"gradient check at the starting values: central difference of {s.output} with h = "
             f"{STEP:.2g}·max(1, |leaf|) against the backward pass",
             *gradcheck_lines(report.checks, "leaf", [c.param.short for c in report.checks],
                              report.max_relative_error)]
    return "\n".join(lines) + "\n"


def gradcheck_record(report: GraphGradCheckReport) -> dict[str, object]:
    return {
        "examples": [1], "tolerance": TOLERANCE,
        "checks": [check_record(c) for c in report.checks],
        "max_relative_error": _finite(report.max_relative_error),
        "passes": report.passes,
    }


# ------------------------------------------------------------------------------------------------- run

@dataclass(frozen=True)
class GraphRunReport:
    scenario: GraphScenario
    epochs: int
    conditions: tuple[GraphCondition, ...]
    stop: GraphStop | None
    epoch: int
    step_title: str | None
    step_in_epoch: int | None
    steps_per_epoch: int
    loss: float
    leaves: dict[str, float]
    diverged: object = None
    edits: tuple[str, ...] = ()  # what-if edits made before training ("a=-3")

    @property
    def exit_status(self) -> int:
        return EXIT_STOPPED if self.stop is not None else EXIT_OK


def run(s: GraphScenario, epochs: int | None, conditions: tuple[GraphCondition, ...],
        edits: tuple[str, ...] = ()) -> GraphRunReport:
    """Train ``epochs`` epochs of a graph, stopping at the first condition that holds (nan always on)."""
    epochs = epochs or s.epochs
    if not any(c.kind == "nan" for c in conditions):
        conditions += (parse_condition("nan", s),)
    trace = GraphTrace(s, epochs)
    with np.errstate(all="ignore"):
        stop = first_stop(trace, conditions, 0, epochs)
        if stop is not None:
            record = trace.epoch(stop.epoch)
            step = trace.step(stop.step)
            leaves = {n: float(record.leaves_before[s.program.leaf(n)]) for n in s.learn}
            diverged = trace.divergence(epochs) if stop.condition is not None and stop.condition.kind == "nan" else None
            return GraphRunReport(s, epochs, conditions, stop, stop.epoch, step.title,
                                  stop.step % trace.steps_per_epoch + 1, trace.steps_per_epoch, record.loss, leaves,
                                  diverged, edits)
        loss, after = trace.final(epochs)
    return GraphRunReport(s, epochs, conditions, None, epochs, None, None, trace.steps_per_epoch, loss,
                          {n: float(after[s.program.leaf(n)]) for n in s.learn}, None, edits)


def render_text(r: GraphRunReport) -> str:
    if r.stop is not None:
        head = (f"stopped at epoch {r.epoch}, step {r.step_in_epoch} of {r.steps_per_epoch} ({r.step_title}): "
                f"{r.stop.reason}")
        loss_is, leaves_are = "in that epoch, before its update", "before the epoch's update"
    else:
        watched = ", ".join(c.text for c in r.conditions)
        head = f"ran to the end: {r.epochs} epoch{'s' if r.epochs != 1 else ''}, no condition held ({watched})"
        loss_is, leaves_are = "after the last update", "after the last update"
    lines = [head] + ([f"  what if  {', '.join(r.edits)}"] if r.edits else [])
    lines += [f"  epoch    {r.epoch}", f"  {r.scenario.output:<8} {_num(r.loss)} (the output, {loss_is})"]
    for name, v in r.leaves.items():
        lines.append(f"  {name:<8} {_num(v)} ({leaves_are})")
    return "\n".join(lines) + "\n"


def render_json(r: GraphRunReport) -> str:
    stop = None
    if r.stop is not None:
        c = r.stop.condition
        stop = {"condition": c.text if c else None, "kind": c.kind if c else None, "step": r.stop.step,
                "epoch": r.stop.epoch, "example": None, "step_in_epoch": r.step_in_epoch,
                "step_title": r.step_title}
    diverged = getattr(r.diverged, "as_dict", None)
    doc = {
        "format": "bpdebug-run/1", "scenario": {"title": r.scenario.title, "path": r.scenario.path},
        "epochs": r.epochs, "conditions": [c.text for c in r.conditions], "edits": list(r.edits),
        "stopped": r.stop is not None, "reason": r.stop.reason if r.stop else None, "stop": stop,
        "diverged": diverged() if diverged else None,
        "state": {"epoch": r.epoch, "loss": _finite(r.loss),
                  "loss_is": "before the epoch's update" if r.stop is not None else "after the last update",
                  "parameters": {k: _finite(v) for k, v in r.leaves.items()}},
        "exit": r.exit_status,
    }
    return json.dumps(doc, allow_nan=False, ensure_ascii=False) + "\n"
