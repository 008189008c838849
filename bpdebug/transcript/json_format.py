"""The JSON transcript, exactly the shape of SCENARIO-FORMAT.md ("bpdebug-transcript/1").

Numbers are Python floats, which :mod:`json` writes with ``repr``: full double precision, never rounded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.engine import Trace

if TYPE_CHECKING:
    from . import Options


FORMAT = "bpdebug-transcript/1"


def _params(trace: Trace, weights: tuple[np.ndarray, ...]) -> dict[str, float]:
    return {p.short: float(weights[p.layer - 1][p.row, p.col]) for p in trace.scenario.params}


def _matrix(a: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in a]


def document(trace: Trace, epochs: int) -> dict[str, Any]:
    """The transcript as a Python object (the tests and the ``py`` writer read it this way)."""
    s = trace.scenario
    out: dict[str, Any] = {
        "format": FORMAT,
        "scenario": {"title": s.title, "path": s.path},
        "parameters": s.params.shorts,
        "epochs": [],
    }
    for e in range(1, epochs + 1):
        record = trace.epoch(e)
        steps = []
        for p in record.passes:
            steps.append({
                "example": p.example,
                "loss": float(p.loss),
                "outputs": _matrix(p.outputs),
                "gradients": {q.short: float(p.numbers.gradients[q.layer - 1][q.row, q.col]) for q in s.params},
                "params_after": _params(trace, p.weights_after),
            })
        out["epochs"].append({
            "epoch": e,
            "loss": float(record.loss),
            "params_before": _params(trace, record.weights_before),
            "steps": steps,
            "params_after": _params(trace, record.weights_after),
        })
    loss, outputs, _ = trace.final(epochs)
    out["final"] = {"loss": float(loss), "outputs": _matrix(outputs)}
    out["expectations"] = []
    for r in trace.check_all():
        e = r.expectation
        printed: Any = e.value[0] if e.scalar else list(e.value)
        computed: Any = r.computed[0] if e.scalar else list(r.computed)
        out["expectations"].append({
            "quantity": e.quantity, "epoch": e.epoch, "example": e.example,
            "printed": printed, "computed": computed, "holds": r.holds,
            "tolerance": e.tolerance, "source": e.source,
        })
    return out


def render(trace: Trace, options: Options) -> str:
    """The JSON transcript of ``options.epochs`` epochs."""
    return json.dumps(document(trace, options.epochs), indent=2, ensure_ascii=False, allow_nan=True) + "\n"
