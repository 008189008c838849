"""The JSON transcript of a graph (``bpdebug export GRAPH --format json``): strict JSON, streamed an epoch at a
time so any number of epochs stays within bounded memory. Its keys are documented in the README ("JSON of a
graph"); a non-finite number is null and ``diverged`` says where and why."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from ..core.graph.engine import GraphPass
from ..core.graph.program import CONST, LEAF
from ..core.graph.trace import GraphTrace

FORMAT = "bpdebug-graph-transcript/1"


def _f(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def nodes(trace: GraphTrace) -> list[dict[str, Any]]:
    """One entry per node, in the engine's order (the index of ``values`` and ``gradients``)."""
    p, s = trace.program, trace.scenario
    out = []
    for n in p.nodes:
        out.append({"node": n.index + 1, "key": n.key, "op": n.op, "label": n.label,
                    "args": [p.nodes[j].key for j in n.args], "k": n.k,
                    "value": _f(n.value) if n.op in (LEAF, CONST) and n.value is not None else None,
                    "names": [f"{name}@{k}" for name, k in n.bindings],
                    "line": None if n.line is None else s.program_line + n.line - 1,
                    "text": p.text(n.index)})
    return out


def epoch_record(trace: GraphTrace, r: GraphPass) -> dict[str, Any]:
    p, learn = trace.program, trace.scenario.learn
    return {"epoch": r.epoch, "loss": _f(r.loss),
            "params_before": {n: _f(r.leaves_before[p.leaf(n)]) for n in learn},
            "values": [_f(v) for v in r.values], "gradients": [_f(g) for g in r.gradients],
            "params_after": {n: _f(r.leaves_after[p.leaf(n)]) for n in learn}}


def chunks(trace: GraphTrace, epochs: int) -> Iterator[str]:
    """The document in pieces: the head, one epoch at a time, then the final state and the expectations."""
    s, p = trace.scenario, trace.program
    diverged = trace.divergence(epochs)
    head = {"format": FORMAT, "kind": "graph", "scenario": {"title": s.title, "path": s.path},
            "output": s.output, "leaves": list(p.leaves), "learn": list(s.learn), "frozen": sorted(s.frozen),
            "optimizer": s.plan.optimizer.name, "learning_rate": s.learning_rate, "parameters": list(s.learn),
            "nodes": nodes(trace)}
    text = _dumps(head)
    yield text[:-1] + ', "epochs": ['
    last = epochs if diverged is None else diverged.epoch
    for e in range(1, last + 1):
        yield ("" if e == 1 else ", ") + _dumps(epoch_record(trace, trace.epoch(e)))
    loss, leaves = trace.final(last)
    tail = {"final": {"loss": _f(loss), "leaves": {n: _f(leaves[i]) for i, n in enumerate(p.leaves)}},
            "expectations": [{"quantity": r.expectation.quantity, "epoch": r.expectation.epoch, "example": 1,
                              "printed": r.expectation.value[0] if r.expectation.scalar else list(r.expectation.value),
                              "computed": _f(r.computed[0]), "holds": r.holds} for r in trace.check_all()],
            "diverged": None if diverged is None else diverged.as_dict()}
    yield "], " + _dumps(tail)[1:] + "\n"


def document(trace: GraphTrace, epochs: int) -> dict[str, Any]:
    result: dict[str, Any] = json.loads("".join(chunks(trace, epochs)))
    return result
