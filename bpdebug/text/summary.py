"""The text of ``bpdebug check``: what a scenario is, where it starts, which expectations hold, and where
the run stops being finite if it does within the scenario's epochs."""

from __future__ import annotations

import numpy as np

from ..core.engine import Divergence, ExpectationResult, Trace


def fmt_number(v: float) -> str:
    """Enough digits to compare with a printed figure, without the noise of full precision."""
    return f"{v:.10g}"


def fmt_values(values: tuple[float, ...], scalar: bool) -> str:
    if scalar:
        return fmt_number(values[0])
    return "[" + ", ".join(fmt_number(v) for v in values) + "]"


def expectation_line(r: ExpectationResult) -> str:
    e = r.expectation
    mark = "holds " if r.holds else "FAILS "
    where = f"epoch {e.epoch}" + (f", example {e.example}" if e.example != 1 else "")
    line = (f"  {mark} {e.quantity:<10} {where}: printed {fmt_values(e.value, e.scalar)}, "
            f"computed {fmt_values(r.computed, e.scalar)} (tolerance {e.tolerance:g})")
    if e.source:
        line += f"\n         {e.source}"
    return line


def summary(trace: Trace) -> tuple[str, bool]:
    """The check summary and whether every expectation holds."""
    s = trace.scenario
    layers = "-".join(str(n) for n in s.layers)
    lines = [s.title, f"  file          {s.path}"]
    lines.append(f"  network       {layers}, bias units {'on' if s.bias else 'off'}; activations "
                 + ", ".join(f"layer {i + 2} {a.name}" + (f" ({a.expr})" if a.expr else "")
                             for i, a in enumerate(s.activations)))
    per = "summed" if s.loss.reduction == "sum" else "averaged"
    lines.append(f"  loss          {s.loss.name}: {s.loss.formula} per example, {per} over "
                 f"{s.n_examples} example{'s' if s.n_examples != 1 else ''}")
    lines.append(f"  training      {s.update} updates, learning rate {s.learning_rate:g}, "
                 f"{s.epochs} epoch{'s' if s.epochs != 1 else ''}"
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
                                          for p in s.params if p.layer == l and p.row == i))
            lines.append(f"  theta{l:<8}{' | '.join(row_names)}")
        else:
            lines.append(f"  theta{l:<8}{w.shape[0]}x{w.shape[1]} (theta{l}[i,j]: i = unit of layer {l + 1}, "
                         f"j = unit of layer {l}{', 0 = bias' if s.bias else ''})")
    first = trace.epoch(1)
    lines.append(f"  starting loss {first.loss!r}")
    if s.n_examples <= 8 and s.layers[-1] <= 8:
        outs = "; ".join("[" + ", ".join(fmt_number(v) for v in row) + "]" for row in np.asarray(first.outputs))
        lines.append(f"  outputs       {outs}")
    results = trace.check_all()
    ok = all(r.holds for r in results)
    if results:
        held = sum(r.holds for r in results)
        lines.append(f"expectations: {held} of {len(results)} hold")
        lines.extend(expectation_line(r) for r in results)
    else:
        lines.append("expectations: none recorded")
    diverged = trace.divergence(s.epochs)
    if diverged is not None:
        lines.append(divergence_line(diverged))
    return "\n".join(lines), ok and diverged is None


def divergence_line(d: Divergence) -> str:
    """The one line ``check`` prints when the run stops being finite within the scenario's epochs."""
    return f"diverged: {d.describe()}"
