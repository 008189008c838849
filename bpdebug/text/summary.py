"""The text of ``bpdebug check``: what a scenario is, where it starts, which expectations hold, and where
the run stops being finite if it does within the scenario's epochs."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.diagnosis import FOLLOWS, ROOT, Diagnosed, Diagnosis, diagnose, walk_key
from ..core.engine import ExpectationResult, Trace
from .numbers import plural

if TYPE_CHECKING:
    from ..core.divergence import Divergence

NOTHING_EXPLAINS = "no slip in the catalogue reproduces it"


def fmt_number(v: float) -> str:
    """Enough digits to compare with a printed figure, without the noise of full precision."""
    return f"{v:.10g}"


def fmt_values(values: tuple[float, ...], scalar: bool, shape: tuple[int, int] | None = None) -> str:
    if scalar:
        return fmt_number(values[0])
    if shape is not None and len(values) == shape[0] * shape[1]:  # a whole matrix, row by row
        return "[" + ", ".join(fmt_values(values[i * shape[1]:(i + 1) * shape[1]], False)
                               for i in range(shape[0])) + "]"
    return "[" + ", ".join(fmt_number(v) for v in values) + "]"


def expectation_line(r: ExpectationResult, diagnosis: Diagnosis | None = None,
                     names: dict[int, str] | None = None) -> str:
    e = r.expectation
    mark = "holds " if r.holds else "FAILS "
    where = f"epoch {e.epoch}" + (f", example {e.example}" if e.example != 1 else "")
    line = (f"  {mark} {e.quantity:<10} {where}: printed {fmt_values(e.value, e.scalar, e.shape)}, "
            f"computed {fmt_values(r.computed, e.scalar, e.shape)} (tolerance {e.tolerance:g})")
    if e.source:
        line += f"\n         {e.source}"
    if diagnosis is not None and diagnosis.verdict != "holds":
        line += f"\n         {diagnosis_text(r, diagnosis, names or {})}"
    return line


def printed_name(e_index: int, names: dict[int, str]) -> str:
    return names.get(e_index, f"#{e_index + 1}")


def figure_names(results: tuple[ExpectationResult, ...]) -> dict[int, str]:
    """A name for each printed figure: its quantity, with the printed value where the quantity is printed
    more than once (``a3 [0.7333, 0.7317]``)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.expectation.quantity] = counts.get(r.expectation.quantity, 0) + 1
    out = {}
    for r in results:
        e = r.expectation
        out[e.index] = e.quantity + (f" {fmt_values(e.value, e.scalar, e.shape)}" if counts[e.quantity] > 1 else "")
    return out


def diagnosis_text(r: ExpectationResult, d: Diagnosis, names: dict[int, str]) -> str:
    """One line: ``follows from the printed z2`` or ``root slip: …``."""
    e = r.expectation
    sources = ", ".join(printed_name(i, names) for i in d.follows_from)
    again = (f" (from the printed inputs: {fmt_values(d.recomputed, e.scalar, e.shape)})" if d.recomputed is not None
             else "")
    if d.verdict == FOLLOWS:
        text = f"follows from the printed {sources}" if sources else "follows from the starting values"
        return text + (", truncated rather than rounded" if d.truncated else "")
    if d.cause:
        return f"root slip: {d.cause}" + (f", from the printed {sources}" if sources else "")
    return f"root slip: {NOTHING_EXPLAINS}{again}"


MAX_NAMED = 6  # figures named per slip in the closing line; the rest are counted


def slips(diagnosed: tuple[Diagnosed, ...], trace: Trace) -> tuple[list[tuple[str, list[Diagnosed]]], list[Diagnosed]]:
    """The slips that explain the root figures, each once with every figure it explains (a slip that explains
    several figures, such as one learning rate behind every new weight of an update, is one slip), in the
    order of the walk; and the root figures no catalogue slip explains."""
    roots = sorted((d for d in diagnosed if d.diagnosis.verdict == ROOT), key=lambda d: walk_key(trace, d.expectation))
    explained: dict[str, list[Diagnosed]] = {}
    for d in roots:
        if d.diagnosis.cause:
            explained.setdefault(d.diagnosis.cause, []).append(d)
    return list(explained.items()), [d for d in roots if not d.diagnosis.cause]


def _named(figures: list[Diagnosed], names: dict[int, str]) -> str:
    shown = [printed_name(d.expectation.index, names) for d in figures[:MAX_NAMED]]
    rest = len(figures) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def slips_line(diagnosed: tuple[Diagnosed, ...], trace: Trace, names: dict[int, str]) -> str | None:
    """``10 figures do not hold. 2 slips explain 2 of them: …. No catalogue slip explains 2: …. 6 follow from
    earlier printed figures.``: the slips, each once, and the figures no slip explains, in the order of the walk."""
    failing = [d for d in diagnosed if not d.result.holds]
    if not failing:
        return None
    explained, unexplained = slips(diagnosed, trace)
    m = len(failing)
    k = sum(len(figures) for _, figures in explained)
    follow = m - k - len(unexplained)
    text = f"{plural(m, 'figure')} do{'es' if m == 1 else ''} not hold."
    if explained:
        n = len(explained)
        text += (f" {plural(n, 'slip')} explain{'s' if n == 1 else ''} {k if k < m else 'all'}"
                 f"{' of them' if k < m else ''}: "
                 + "; ".join(f"{_named(figures, names)} ({cause})" for cause, figures in explained) + ".")
    if unexplained:
        text += f" No catalogue slip explains {len(unexplained)}: {_named(unexplained, names)}."
    if follow == m:
        text += (" Each follows from an earlier printed figure." if m > 1
                 else " It follows from an earlier printed figure.")
    elif follow:
        text += f" {follow} follow{'s' if follow == 1 else ''} from earlier printed figures."
    return text


def summary(trace: Trace) -> tuple[str, bool]:
    """The check summary and whether every expectation holds."""
    s = trace.scenario
    layers = "-".join(str(n) for n in s.layers)
    lines = [s.title, f"  file          {s.path}"]
    bias = "one shared bias per layer" if s.shared_bias else f"bias units {'on' if s.bias else 'off'}"
    lines.append(f"  network       {layers}, {bias}; activations "
                 + ", ".join(f"layer {i + 2} {a.name}" + (f" ({a.expr})" if a.expr else "")
                             for i, a in enumerate(s.activations)))
    per = "summed" if s.loss.reduction == "sum" else "averaged"
    lines.append(f"  loss          {s.loss.name}: {s.loss.formula} per example, {per} over "
                 f"{plural(s.n_examples, 'example')}")
    lines.append(f"  training      {s.update} updates, learning rate {s.learning_rate:g}, "
                 f"{plural(s.epochs, 'epoch')}"
                 + (f", frozen: {', '.join(sorted(s.params.get(c).short for c in s.frozen))}" if s.frozen else ""))
    plan = s.plan
    if not plan.is_plain or plan.mode == "mini-batch":
        opt = plan.optimizer
        hyper = ", ".join(f"{k} {getattr(plan.hyper, k):g}" for k in (*opt.hyperparameters, "weight_decay")
                          if k != "weight_decay" or plan.hyper.weight_decay)
        batches = (f"; mini-batches of {plan.batch_size}" + (f", reshuffled each epoch (seed {plan.seed})"
                                                             if plan.shuffle else "") if plan.mode == "mini-batch"
                   else "")
        lines.append(f"  optimizer     {opt.name} ({opt.torch})" + (f": {hyper}" if hyper else "") + batches)
    if s.classes is not None:
        lines.append(f"  classes       {', '.join(s.classes)} (one-hot, in this order)")
    for f in s.files:
        lines.append(f"  {'.'.join(f.key):<14}{f.summary()}")
    if s.init:
        extra = f" in [{s.init.low:g}, {s.init.high:g}]" if s.init.method == "uniform" else ""
        lines.append(f"  weights       generated: {s.init.method}{extra}, seed {s.init.seed}")
    names = s.params.shorts
    shown = ", ".join(names) if len(names) <= 24 else f"{', '.join(names[:10])}, ... , {', '.join(names[-4:])}"
    lines.append(f"  parameters    {len(names)}: {shown}")
    for l in range(1, s.n_layers):
        w = s.weights[l - 1]
        if w.size <= 16:
            row_names = []
            for i in range(w.shape[0]):
                row_names.append(" ".join(f"{p.short}={fmt_number(s.param_value(p))}"
                                          for p in s.params if p.layer == l and (p.row == i or p.shared)))
            lines.append(f"  theta{l:<8}{' | '.join(row_names)}")
        else:
            lines.append(f"  theta{l:<8}{w.shape[0]}x{w.shape[1]} (theta{l}[i,j]: i = unit of layer {l + 1}, "
                         f"j = unit of layer {l}{', 0 = bias' if s.bias else ''})")
    first = trace.epoch(1)
    lines.append(f"  starting loss {fmt_number(first.loss)}")
    if s.n_examples <= 8 and s.layers[-1] <= 8:
        outs = "; ".join("[" + ", ".join(fmt_number(v) for v in row) + "]" for row in np.asarray(first.outputs))
        lines.append(f"  outputs       {outs}")
    results = trace.check_all()
    ok = all(r.holds for r in results)
    if results:
        held = sum(r.holds for r in results)
        diagnosed = diagnose(trace, results)
        figures = figure_names(results)
        lines.append(f"expectations: {held} of {len(results)} hold")
        lines.extend(expectation_line(d.result, d.diagnosis, figures) for d in diagnosed)
        closing = slips_line(diagnosed, trace, figures)
        if closing:
            lines.append(closing)
    else:
        lines.append("expectations: none recorded")
    diverged = trace.divergence(s.epochs)
    if diverged is not None:
        lines.append(divergence_line(diverged))
    return "\n".join(lines), ok and diverged is None


def divergence_line(d: Divergence) -> str:
    """The one line ``check`` prints when the run stops being finite within the scenario's epochs."""
    return f"diverged: {d.describe()}"


def _number(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _json_values(values: tuple[float, ...] | None, scalar: bool, shape: tuple[int, int] | None = None) -> Any:
    if values is None:
        return None
    out = [_number(v) for v in values]
    if shape is not None and len(out) == shape[0] * shape[1]:  # a whole matrix: its rows
        return [out[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]
    return out[0] if scalar else out


def check_json(trace: Trace) -> tuple[str, bool]:
    """``bpdebug check --json``: one strict JSON object (a non-finite number is null), and whether every
    expectation holds and the run stays finite."""
    s = trace.scenario
    results = trace.check_all()
    diagnosed = diagnose(trace, results) if results else ()
    names = figure_names(results)
    expectations = []
    for d in diagnosed:
        e, r, g = d.expectation, d.result, d.diagnosis
        expectations.append({
            "index": e.index, "quantity": e.quantity, "epoch": e.epoch, "example": e.example,
            "printed": _json_values(e.value, e.scalar, e.shape),
            "computed": _json_values(r.computed, e.scalar, e.shape),
            "tolerance": e.tolerance, "holds": r.holds, "step": r.step, "source": e.source,
            "diagnosis": {"verdict": g.verdict, "follows_from": list(g.follows_from), "cause": g.cause,
                          "slips": list(g.slips), "recomputed": _json_values(g.recomputed, e.scalar, e.shape),
                          "truncated": g.truncated,
                          "text": diagnosis_text(r, g, names) if g.verdict != "holds" else None},
        })
    roots = [d.expectation.index for d in sorted(diagnosed, key=lambda d: walk_key(trace, d.expectation))
             if d.diagnosis.verdict == ROOT]
    explained, unexplained = slips(diagnosed, trace)
    diverged = trace.divergence(s.epochs)
    ok = all(r.holds for r in results) and diverged is None
    doc = {"scenario": s.path, "title": s.title, "expectations": expectations,
           "held": sum(r.holds for r in results), "roots": roots,
           "slips": [{"cause": cause, "figures": [d.expectation.index for d in figures]}
                     for cause, figures in explained],
           "unexplained": [d.expectation.index for d in unexplained], "summary": slips_line(diagnosed, trace, names),
           "diverged": diverged.as_dict() if diverged is not None else None, "ok": ok}
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False), ok
