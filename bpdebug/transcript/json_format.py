"""The JSON transcript, exactly the shape of SCENARIO-FORMAT.md ("bpdebug-transcript/1").

Numbers are Python floats, which :mod:`json` writes with ``repr``: full double precision, never rounded.
It stays strict JSON whatever the run does: a non-finite number is written ``null``, and the top-level
``diverged`` is null or says where and why the run first stopped being finite (:meth:`Trace.divergence`).

:func:`chunks` writes the document an epoch at a time, so a transcript of any number of epochs takes the
memory of one epoch (the CLI streams it to its output); :func:`render` joins them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.engine import EpochRecord, PassRecord, Trace

if TYPE_CHECKING:
    from . import Options


FORMAT = "bpdebug-transcript/1"


def number(v: float) -> float | None:
    """A float for JSON: itself when finite, None (``null``) when nan or ±inf."""
    v = float(v)
    return v if math.isfinite(v) else None


def _params(trace: Trace, weights: tuple[np.ndarray, ...]) -> dict[str, float | None]:
    return {p.short: number(weights[p.layer - 1][p.row, p.col]) for p in trace.scenario.params}


def _matrix(a: np.ndarray) -> list[list[float | None]]:
    return [[number(v) for v in row] for row in a]


def _values(values: tuple[float, ...], scalar: bool, shape: tuple[int, int] | None = None) -> Any:
    """A figure's numbers: a number, a list, or a whole matrix (``shape``) as a list of its rows."""
    if scalar:
        return number(values[0])
    out = [number(v) for v in values]
    if shape is not None and len(out) == shape[0] * shape[1]:
        return [out[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]
    return out


def _state(trace: Trace, p: PassRecord) -> dict[str, dict[str, float | None]]:
    """The optimizer's state after a pass (and Adam's m̂, v̂), per name then parameter; {} for plain descent."""
    opt = trace.scenario.plan.optimizer
    names = opt.state_names + opt.shown_names
    out: dict[str, dict[str, float | None]] = {}
    for name in names if p.numbers.optimizer is not None else ():
        values = {q.short: p.state(name, q) for q in trace.scenario.params}
        out[name] = {k: None if v is None else number(v) for k, v in values.items()}
    return out


def _epoch(trace: Trace, record: EpochRecord) -> dict[str, Any]:
    s = trace.scenario
    steps: list[dict[str, Any]] = []
    for p in record.passes:
        step: dict[str, Any] = {
            "example": p.example,
            "loss": number(p.loss),
            "outputs": _matrix(p.outputs),
            "gradients": {q.short: number(p.numbers.gradients[q.layer - 1][q.row, q.col]) for q in s.params},
            "params_after": _params(trace, p.weights_after),
            # version 2: which examples the pass holds (1-based, in its order), its number, the optimizer's state
            "examples": [r + 1 for r in p.rows], "batch": p.batch, "update": p.update,
        }
        if p.numbers.optimizer is not None:
            step["state_after"] = _state(trace, p)
        steps.append(step)
    out: dict[str, Any] = {
        "epoch": record.epoch,
        "loss": number(record.loss),
        "params_before": _params(trace, record.weights_before),
        "steps": steps,
        "params_after": _params(trace, record.weights_after),
    }
    if record.passes[-1].numbers.optimizer is not None:
        out["state_after"] = steps[-1]["state_after"]
    return out


def _tail(trace: Trace, epochs: int) -> dict[str, Any]:
    """Everything after the epochs: final, expectations, diverged."""
    loss, outputs, _ = trace.final(epochs)
    expectations = []
    for r in trace.check_all():
        e = r.expectation
        expectations.append({
            "quantity": e.quantity, "epoch": e.epoch, "example": e.example,
            "printed": _values(e.value, e.scalar, e.shape), "computed": _values(r.computed, e.scalar, e.shape),
            "holds": r.holds,
            "tolerance": e.tolerance, "source": e.source,
        })
    diverged = trace.divergence(epochs)
    return {
        "final": {"loss": number(loss), "outputs": _matrix(outputs)},
        "expectations": expectations,
        "diverged": diverged.as_dict() if diverged is not None else None,
    }


def _head(trace: Trace) -> dict[str, Any]:
    s = trace.scenario
    plan = s.plan
    hyper = {k: getattr(plan.hyper, k) for k in ("learning_rate", *plan.optimizer.hyperparameters, "weight_decay")}
    training = {"optimizer": plan.optimizer.name, **hyper, "update": s.update,
                "batch_size": plan.size(s.n_examples), "shuffle": plan.shuffle, "seed": plan.seed}
    out: dict[str, Any] = {"format": FORMAT, "scenario": {"title": s.title, "path": s.path},
                           "parameters": s.params.shorts, "training": training}
    if s.files:
        out["files"] = [{"key": ".".join(f.key), "path": f.shown, "bytes": f.size, "sha256": f.sha256}
                        for f in s.files]
    return out


def document(trace: Trace, epochs: int) -> dict[str, Any]:
    """The transcript as a Python object (the tests and the ``py`` writer read it this way)."""
    out = _head(trace)
    out["epochs"] = [_epoch(trace, trace.epoch(e)) for e in range(1, epochs + 1)]
    out.update(_tail(trace, epochs))
    return out


def _dumps(value: Any, indent: int) -> str:
    """``json.dumps`` at a nesting depth: the text :func:`json.dumps` with indent=2 writes there."""
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    return text.replace("\n", "\n" + " " * indent)


def chunks(trace: Trace, epochs: int) -> Iterator[str]:
    """The JSON text of :func:`document`, piece by piece (the same characters as ``json.dumps(document(…),
    indent=2)``), computing one epoch at a time."""
    head = _head(trace)
    yield "{\n"
    for key, value in head.items():
        yield f"  {json.dumps(key)}: {_dumps(value, 2)},\n"
    yield '  "epochs": ['
    for e in range(1, epochs + 1):
        yield ("\n    " if e == 1 else ",\n    ") + _dumps(_epoch(trace, trace.epoch(e)), 4)
    yield "\n  ]" if epochs else "]"
    for key, value in _tail(trace, epochs).items():
        yield f",\n  {json.dumps(key)}: {_dumps(value, 2)}"
    yield "\n}\n"


def render(trace: Trace, options: Options) -> str:
    """The JSON transcript of ``options.epochs`` epochs."""
    return "".join(chunks(trace, options.epochs))
