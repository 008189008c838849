"""The epochs written out: each pass's forward pass, errors, backward pass, chain rules and update, with the
engine's numbers (or, on an exercise sheet, numbered blanks: the :class:`~bpdebug.transcript.exercise.Sheet`
is handed down explicitly, None for a worked example). An epoch of several passes writes out its first few and
its last, and summarises the others in a table of losses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ...core.engine import EpochRecord, PassRecord, Trace
from ...core.params import Param
from ...core.quantity import Phase, StepKind
from ...core.scenario import Scenario
from ..blocks import (
    TABLE_ROWS,
    Block,
    ChainRule,
    Display,
    Epochs,
    Grid,
    Heading,
    Inline,
    Math,
    Passes,
    PhaseMark,
    Table,
    cut,
    equation,
    joined,
    num,
    number_latex,
    number_text,
    para,
    pick,
    sym,
)
from ..exercise import Sheet, answer_name, blanks, matrix_entry, param_answers, result_grid, result_num
from .forms import step_head
from .setting import loss_term_formula, name_list

if TYPE_CHECKING:
    from .. import WhatIf

MINI_BATCH_ROWS = 10  # a mini-batch's heading names at most this many of its examples
FULL_PASSES = 4  # online epochs with more examples show the first 3 and the last example in full


def _forked_weights(s: Scenario, p: PassRecord, what_if: WhatIf) -> str:
    """The weights the first pass of a what-if fork uses, in words: the original's, with the edits to them."""
    edited = [e for e in what_if.edits if s.params.find(e.split("=")[0]) is not None]
    shown = f"{p.weights_label} of the original run"
    return f"{shown}, edited ({', '.join(edited)})" if edited else shown


def epoch(trace: Trace, record: EpochRecord, chosen: tuple[Param, ...], note: str | None, sheet: Sheet | None,
          what_if: WhatIf | None = None) -> list[Block]:
    """One epoch written out: its pass, or its first passes and its last (the others summarised); ``chosen``:
    whose chain rules, with ``note`` saying why; ``sheet``: the exercise sheet blanking results, if any."""
    b: list[Block] = [Heading(2, f"Epoch {record.epoch}", Epochs(record.epoch, record.epoch, True))]
    passes = record.passes
    first = None if what_if is None or record.epoch != 1 else _forked_weights(trace.scenario, passes[0], what_if)
    if len(passes) == 1:
        b += _pass(trace, passes[0], chosen, note, sheet, 3, first)
    else:
        b.append(para(("Online updates: one pass per example, in order." if passes[0].example is not None else
                       f"Mini-batch updates: one pass per mini-batch of {_batch_size(trace)} examples, in the epoch's "
                       "order.") + " The epoch's loss before its first "
                      "update, over all examples, is ",
                      joined(sym("E"), " = ", result_num(sheet, "error", f"E (epoch {record.epoch})", record.loss)),
                      "."))
        shown = set(range(min(FULL_PASSES - 1, len(passes)))) | {len(passes) - 1}
        skipped: list[PassRecord] = []
        for i, p in enumerate(passes):
            if i in shown:
                if skipped:
                    b += _skipped(skipped)
                    skipped = []
                b.append(Heading(3, _pass_name(p), Passes(p.batch, p.batch, True)))
                b += _pass(trace, p, chosen, note, sheet, 4, first if i == 0 else None)
            else:
                skipped.append(p)
    b.append(para(f"Loss of epoch {record.epoch} before its update{'s' if len(passes) > 1 else ''}: ",
                  joined(sym("E"), " = ", result_num(sheet, "error", f"E (epoch {record.epoch})" if len(passes) > 1
                                                     else "E" + _tag(passes[0]), record.loss)), "."))
    return b


def _pass_name(p: PassRecord) -> str:
    """An online pass by its example ("Example 3"), a mini-batch by its place in the epoch and its examples."""
    if p.example is not None:
        return f"Example {p.example}"
    shown = ", ".join(str(r + 1) for r in p.rows[:MINI_BATCH_ROWS]) + (", …" if len(p.rows) > MINI_BATCH_ROWS else "")
    return f"Mini-batch {p.batch} (examples {shown})"


def _batch_size(trace: Trace) -> int:
    return trace.scenario.plan.size(trace.scenario.n_examples)


def _skipped(passes: list[PassRecord]) -> list[Block]:
    online = passes[0].example is not None
    unit, key = ("example", "example") if online else ("mini-batch", "batch")
    first, last = getattr(passes[0], key), getattr(passes[-1], key)
    heading = f"{unit.capitalize()}{'s' if online else 'es'} {first} to {last}" if last != first else \
        f"{unit.capitalize()} {first}"
    rows = tuple(("…", "…") if p is None else (str(getattr(p, key)), num(p.loss)) for p in cut(passes, TABLE_ROWS))
    return [Heading(3, heading, Passes(passes[0].batch, passes[-1].batch, False)),
            para(f"Computed the same way, each from the weights the previous {unit} left; the loss of each "
                 f"{unit} before its update:"),
            Table((unit, "loss"), rows, "rr")]


def _with_bias(s: Scenario, a: np.ndarray) -> list[list[float]]:
    """a (examples × units) as columns, with the bias row of ones on top when the network has bias units."""
    cols = a.T.tolist()
    return ([[1.0] * a.shape[0]] + cols) if s.bias else cols


def _pass(trace: Trace, p: PassRecord, chosen: tuple[Param, ...], note: str | None, sheet: Sheet | None,
          level: int, weights: str | None = None) -> list[Block]:
    """One pass written out; ``weights``: the weights it uses in words, when not :attr:`PassRecord.weights_label`
    (a what-if fork's first pass)."""
    s = trace.scenario
    n = p.numbers
    L = s.n_layers
    b: list[Block] = [Heading(level, "Forward pass", PhaseMark(Phase.FORWARD))]
    where = "the bias unit 1 on top of each layer's output" if s.bias else "each layer's output"
    b.append(para(f"With {weights or p.weights_label}, one column per example and {where}:"))
    lines = []
    tag = _tag(p)
    for l in range(2, L + 1):
        lines.append(equation(*step_head(s, StepKind.Z, l), "=", _weights_before(sheet, p, l - 1), "·",
                              _layer_out(sheet, s, p, l - 1), "=",
                              result_grid(sheet, "forward", f"z{l}{tag}", n.z[l].T.tolist())))
        lines.append(equation(*step_head(s, StepKind.A, l), "=",
                              result_grid(sheet, "forward", f"a{l}{tag}", n.a[l].T.tolist())))
    b.append(Display(tuple(lines)))
    b.append(para("The outputs are ", joined(sym("o"), " = ", sym(f"a{L}")), "."))
    b += _errors(sheet, s, p, level)
    b += _backward(sheet, s, p, level)
    b += _chain_rules(sheet, trace, p, chosen, note, level)
    b += _update(sheet, s, p, chosen, level)
    return b


def _tag(p: PassRecord) -> str:
    """What tells one pass's results from another's on an exercise sheet."""
    return "" if p.example is None else f" (example {p.example})"


def _example(p: PassRecord, update: int | None = None) -> int | None:
    """The example of a pass (or of its ``update``-th, online) on an exercise sheet; None for a batch."""
    return None if p.example is None else (p.example if update is None else update)


def _after_label(l: int, p: PassRecord, update: int) -> str:
    """theta_l after ``update`` (an exercise sheet covers the first epoch: update k is example k's online)."""
    return f"theta{l}.after" + (f" (example {update})" if p.example is not None else "")


def _weights_before(sheet: Sheet | None, p: PassRecord, l: int) -> Grid:
    """theta_l as the pass starts: given for the first pass, an earlier update's result after it."""
    cells = p.weights_before[l - 1].tolist()
    if p.update == 1:
        return Grid(cells)
    bias = p.scenario.bias if p.scenario is not None else True
    return result_grid(sheet, "updates", _after_label(l, p, p.update - 1), cells, bias,
                       param_answers(p.scenario, l, True, _example(p, p.update - 1)))


def _layer_out(sheet: Sheet | None, s: Scenario, p: PassRecord, l: int) -> Grid:
    """a_l with the bias row, one column per example; a result of the forward pass above the inputs."""
    if l == 1 or not blanks(sheet, "forward"):
        return Grid(_with_bias(s, p.numbers.a[l]))
    cells = result_grid(sheet, "forward", f"a{l}{_tag(p)}", p.numbers.a[l].T.tolist()).cells
    return Grid(([[1.0] * p.numbers.a[l].shape[0]] if s.bias else []) + [list(row) for row in cells])


def _errors(sheet: Sheet | None, s: Scenario, p: PassRecord, level: int) -> list[Block]:
    n = p.numbers
    tag = _tag(p)
    term, combine = loss_term_formula(s)
    b: list[Block] = [Heading(level, "Errors", PhaseMark(Phase.ERROR))]
    b.append(para("The error terms, ", term, ", for each output unit k:"))
    rows: list[tuple[Inline, ...]] = []
    examples = list(p.rows)
    pairs = [(i, k) for i in range(len(examples)) for k in range(n.terms.shape[1])]
    for idx in pick(len(pairs), TABLE_ROWS):
        if idx is None:
            rows.append(("…", "…", "…", "…", "…"))
            continue
        i, k = pairs[idx]
        unit = f"[{k + 1}]" if len(examples) == 1 else f"[{k + 1},{i + 1}]"
        rows.append((str(examples[i] + 1), str(k + 1), num(p.targets[i, k]),
                     result_num(sheet, "forward", f"a{s.n_layers}{tag}{unit}", n.a[-1][i, k]),
                     result_num(sheet, "error", f"E_{k + 1}{tag}" + (f" example {examples[i] + 1}" if len(examples) > 1
                                                                else ""), n.terms[i, k])))
    b.append(Table(("example", "output k", sym("t_k"), sym("o_k"), sym("E_k")), tuple(rows), "rrrrr"))
    flat = [float(v) for v in n.terms.ravel()]
    total = sym("E")
    if len(examples) == 1 and len(flat) <= 8:
        names = [sym(f"E_{k + 1}") for k in range(len(flat))]
        line = joined(total, " = ", joined(*names, sep=" + "), " = ",
                      joined(*[result_num(sheet, "error", f"E_{k + 1}{tag}", v) for k, v in enumerate(flat)],
                             sep=" + "),
                      " = ", result_num(sheet, "error", f"E{tag}", n.loss))
    else:
        how = "the sum" if combine == "summed" else "the mean"
        line = joined(total, " = ", result_num(sheet, "error", f"E{tag}", n.loss))
        b.append(para(f"The total error is {how} over the examples of each example's sum of error terms:"))
    b.append(Display((line,)))
    return b


def _backward(sheet: Sheet | None, s: Scenario, p: PassRecord, level: int) -> list[Block]:
    n = p.numbers
    L = s.n_layers
    b: list[Block] = [Heading(level, "Backward pass", PhaseMark(Phase.BACKWARD))]
    b.append(para("The deltas ", joined(sym(sp.Symbol("delta_l")), " = ", Math(r"\partial E/\partial z_{l}", "∂E/∂zₗ")),
                  ", one column per example, and the gradients of the weight matrices (summed over the examples "
                  "of the pass):"))
    lines = []
    tag = _tag(p)
    for l in range(L, 1, -1):
        lines.append(equation(*step_head(s, StepKind.DELTA, l), "=",
                              result_grid(sheet, "gradients", f"delta{l}{tag}", n.delta[l].T.tolist())))
    for l in range(L - 1, 0, -1):
        a_t = _layer_out(sheet, s, p, l)
        lines.append(equation(*step_head(s, StepKind.GRADIENT, l), "=",
                              result_grid(sheet, "gradients", f"delta{l + 1}{tag}", n.delta[l + 1].T.tolist()), "·",
                              Grid([list(row) for row in zip(*a_t.cells, strict=True)]), "=",
                              result_grid(sheet, "gradients", f"grad.theta{l}{tag}", n.gradients[l - 1].tolist(),
                                          s.bias, param_answers(s, l, False, _example(p)))))
    b.append(Display(tuple(lines)))
    if s.shared_bias:
        b.append(para("The biases are shared, so column 0 of each gradient is not row i's δ·1 but the shared bias's "
                      "gradient, the sum of those over the units it feeds, written in every row."))
    return b


def _chain_rules(sheet: Sheet | None, trace: Trace, p: PassRecord, chosen: tuple[Param, ...], note: str | None,
                 level: int) -> list[Block]:
    from ...derivation import derive

    index = trace.first_step_of(p.epoch, p.example, "update")
    step = trace.step(index)
    b: list[Block] = [Heading(level, "Chain rule" + ("s" if len(chosen) > 1 else ""))]
    if blanks(sheet, "gradients") or blanks(sheet, "updates"):
        return b + [para("Work out each parameter's gradient by the chain rule, ∂E/∂w = ∂E/∂out · ∂out/∂net · "
                         "∂net/∂w, factor by factor; the gradients above are its results.")]
    b.append(para("Each parameter's gradient by the chain rule: first in symbols, then each factor's closed form "
                  "and number, the product, its value and the update. Here net and out are one unit's entries "
                  "of z and a (h: hidden units, o: outputs, i: inputs) and E_total is the loss E."))
    if note:
        b.append(para(note))
    for q in chosen:
        d = derive(step, q, scenario=trace.scenario)
        b.append(Heading(level + 1, f"{q.short} ({q.canonical})", ChainRule(q.canonical)))
        b.append(Display(_pair_lines(d.latex_lines(), d.text_lines()), group=True))
    return b


def _pair_lines(latex: list[str], text: list[str]) -> tuple[Math, ...]:
    """Derivation lines in both notations; when the two lists differ in length, each keeps its own."""
    if len(latex) == len(text):
        return tuple(Math(lx, tx) for lx, tx in zip(latex, text, strict=True))
    return (Math(r" \\ ".join(latex), "\n".join(text)),)


def _optimizer_update(s: Scenario, p: PassRecord, chosen: tuple[Param, ...], level: int) -> list[Block]:
    """An optimizer's update: its definition (the registry's rule, printed), each chosen parameter's rule with
    this pass's numbers, and a table with the state after the update."""
    from ...text.update_rule import rule_lines, symbol_text, update_rule

    opt, plan = s.plan.optimizer, s.plan
    b: list[Block] = [Heading(level, "Update", PhaseMark(Phase.UPDATE))]
    decay = bool(plan.hyper.weight_decay)
    names = [("learning_rate", "η")] + [(k, "") for k in opt.hyperparameters] + ([("weight_decay", "λ")] if decay
                                                                                   else [])
    values = ", ".join(f"{k} = {number_text(getattr(plan.hyper, k))}" for k, _ in names)
    b.append(para(f"{opt.title}, as {opt.torch} defines it ({values}), for each parameter p with the gradient g of "
                  "this pass, top to bottom" + (", the state starting at 0" if opt.state_names else "")
                  + (f"; t = {p.update} counts the updates" if opt.uses_step_count else "")
                  + (". A frozen parameter keeps its value and its state." if s.frozen else ":")))
    b.append(Display(tuple(Math(tex, txt) for txt, tex in rule_lines(opt, decay)), group=True))
    frozen = {q.canonical for q in s.params if q.canonical in s.frozen}
    for q in cut([q for q in chosen if q.canonical not in frozen], TABLE_ROWS):
        if q is None:
            continue
        rows = update_rule(p, q)
        b.append(para(f"{q.short}:"))
        b.append(Display(tuple(Math(r.latex_line(), r.line()) for r in rows), group=True))
    header: tuple[Inline, ...] = ("parameter", "before", Math(r"\partial E/\partial p", "∂E/∂p"),
                                  *(f"{symbol_text(k)} after" for k in opt.state_names), "after")
    table: list[tuple[Inline, ...]] = []
    for q in cut(list(chosen), TABLE_ROWS):
        if q is None:
            table.append(("…",) * len(header))
            continue
        cells: list[Inline] = [q.short + (" (frozen)" if q.canonical in frozen else ""),
                               num(float(p.weights_before[q.layer - 1][q.row, q.col])),
                               num(float(p.numbers.gradients[q.layer - 1][q.row, q.col]))]
        cells += [num(p.state(k, q) or 0.0) for k in opt.state_names]
        cells.append(num(float(p.weights_after[q.layer - 1][q.row, q.col])))
        table.append(tuple(cells))
    b.append(Table(header, tuple(table), "l" + "r" * (len(header) - 1)))
    return b


def _update(sheet: Sheet | None, s: Scenario, p: PassRecord, chosen: tuple[Param, ...], level: int) -> list[Block]:
    if not s.plan.is_plain:
        return _optimizer_update(s, p, chosen, level)
    n = p.numbers
    b: list[Block] = [Heading(level, "Update", PhaseMark(Phase.UPDATE))]
    frozen = [q for q in s.params if q.canonical in s.frozen]
    lines = []
    for l in range(1, s.n_layers):
        gradient = np.array(n.gradients[l - 1])
        for q in frozen:  # a frozen parameter takes no step: its entry of the step is 0
            if q.layer == l:
                gradient[q.cells] = 0.0
        shown_gradient = result_grid(sheet, "gradients", f"grad.theta{l}{_tag(p)}", gradient.tolist(), s.bias,
                                     param_answers(s, l, False, _example(p)))
        lines.append(equation(*step_head(s, StepKind.UPDATE, None, l), "=",
                              _weights_before(sheet, p, l), "-", (number_latex(s.learning_rate) + r" \cdot ",
                                                           number_text(s.learning_rate) + "⋅"),
                              shown_gradient, "=",
                              result_grid(sheet, "updates", _after_label(l, p, p.update),
                                          p.weights_after[l - 1].tolist(), s.bias,
                                          param_answers(s, l, True, _example(p, p.update)))))
    if frozen:
        names = name_list(frozen)
        b.append(para(f"Gradient descent on every weight matrix; the frozen parameters ({names}) keep their value, "
                      "so their entries of the gradient are written 0:"))
    else:
        b.append(para("Gradient descent on every weight matrix:"))
    if s.shared_bias:
        b.append(para("Column 0 of each gradient is its layer's shared bias: one number, the sum over the units it "
                      "feeds, written in every row, so the bias stays one number."))
    b.append(Display(tuple(lines)))
    shown = chosen
    rows: list[tuple[Inline, ...]] = []
    for q in cut(list(shown), TABLE_ROWS):
        if q is None:
            rows.append(("…", "…", "…", "…"))
            continue
        before = float(p.weights_before[q.layer - 1][q.row, q.col])
        grad = float(n.gradients[q.layer - 1][q.row, q.col])
        after = float(p.weights_after[q.layer - 1][q.row, q.col])
        name = q.short + (" (frozen)" if q.canonical in s.frozen else "")
        entry = "[*,0]" if q.shared else matrix_entry(q.row, q.col, s.bias)
        if p.update == 1:
            shown_before = num(before)
        else:
            shown_before = result_num(sheet, "updates", _after_label(q.layer, p, p.update - 1) + entry, before,
                                      answer_name(q, True, _example(p, p.update - 1)))
        rows.append((name, shown_before,
                     result_num(sheet, "gradients", f"grad.theta{q.layer}{_tag(p)}{entry}", grad,
                                answer_name(q, False, _example(p))),
                     result_num(sheet, "updates", _after_label(q.layer, p, p.update) + entry, after,
                                answer_name(q, True, _example(p, p.update)))))
    b.append(Table(("parameter", "before", Math(r"\partial E/\partial p", "∂E/∂p"), "after"), tuple(rows), "lrrr"))
    return b
