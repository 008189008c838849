"""What a worked example ends with: the loss of every epoch, the trained network, the printed figures
checked, or where the numbers stopped being finite."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ...core.engine import Trace
from ...text.numbers import plural
from ..blocks import (
    Block,
    Code,
    Display,
    Grid,
    Heading,
    Inline,
    Results,
    Table,
    equation,
    joined,
    num,
    para,
    printed_value,
    sym,
    values,
)
from .setting import theta

if TYPE_CHECKING:
    from ...core.divergence import Divergence

LOSS_ROWS = 60  # longer loss tables show every k-th epoch


def loss_table(trace: Trace, epochs: int) -> list[Block]:
    """The loss of each epoch (every k-th of a long run) before its first update."""
    b: list[Block] = [Heading(2, "Loss per epoch")]
    if epochs <= LOSS_ROWS:
        shown = list(range(1, epochs + 1))
        b.append(para("The loss of each epoch before its first update:"))
    else:
        stride = math.ceil(epochs / (LOSS_ROWS - 10))
        shown = sorted(set(range(1, epochs + 1, stride)) | set(range(1, 6)) | {epochs})
        b.append(para(f"The loss of every {stride}th epoch before its first update (the first five and the last "
                      "too; the json transcript has every epoch):"))
    b.append(Table(("epoch", "loss"), tuple((str(e), num(trace.loss(e))) for e in shown), "rr"))
    return b


def after(trace: Trace, epochs: int) -> list[Block]:
    """The loss, the outputs and the weights after the last epoch."""
    s = trace.scenario
    loss, outputs, weights = trace.final(epochs)
    b: list[Block] = [Heading(2, f"After {plural(epochs, 'epoch')}", Results(epochs))]
    b.append(para("The loss over all examples with the trained weights is ", joined(sym("E"), " = ", num(loss)),
                  "; the outputs, one column per example, and the weights:"))
    lines = [equation(sp.Symbol("o"), "=", Grid(np.asarray(outputs).T.tolist()))]
    lines += [equation(theta(l), "=", Grid(weights[l - 1].tolist())) for l in range(1, s.n_layers)]
    b.append(Display(tuple(lines)))
    return b


def expectations(trace: Trace) -> list[Block]:
    """The figures the scenario records, each with the engine's number and whether it holds."""
    results = trace.check_all()
    if not results:
        return []
    held = sum(r.holds for r in results)
    b: list[Block] = [Heading(2, "Printed figures checked")]
    b.append(para(f"The scenario records {plural(len(results), 'figure')} a text printed; {held} of "
                  f"{len(results)} hold{'s' if held == 1 else ''} within their tolerance:"))
    rows = []
    for r in results:
        e = r.expectation
        where = f"epoch {e.epoch}" + (f", example {e.example}" if trace.scenario.n_examples > 1 else "")
        computed: Inline = num(r.computed[0]) if e.scalar else values(r.computed, e.shape)
        if not all(math.isfinite(v) for v in r.computed):
            computed = "not finite: the run diverged"
        rows.append((Code(e.quantity), where, printed_value(e.value, e.scalar, e.shape), computed,
                     "yes" if r.holds else "no", e.source or ""))
    b.append(Table(("quantity", "where", "printed", "computed", "holds", "source"), tuple(rows), "llrrlp"))
    return b


def divergence(d: Divergence) -> list[Block]:
    """Where the run stops being finite: the transcript says so and stops there."""
    return [Heading(2, f"Epoch {d.epoch}: the numbers stop being finite"),
            para(f"The run stops being finite at {d.describe()}. Every number after it is inf or nan, so the "
                 "transcript stops here; the epochs above are computed exactly as the engine does."),
            para("A smaller learning rate, smaller starting weights or inputs, or a loss that suits the output "
                 "activation usually keep the numbers finite.")]
