"""The structure shared by the md, tex and txt transcripts (and the notebook): one worked example, built once
as blocks (:mod:`.blocks`).

:func:`build` lays the sections out in order: the setting (:mod:`.sections.setting`: the network and the
data), each epoch written out or summarised (:mod:`.sections.passes`), and what the run ends with
(:mod:`.sections.results`); an exercise sheet (:mod:`.exercise`) is the first epoch with its results blanked,
the answers at the end. All numbers come from the engine's trace; the chain rules come from
:func:`bpdebug.derivation.derive`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.engine import Trace
from ..core.params import Param
from ..core.scenario import Scenario
from ..text.numbers import plural
from .blocks import Block, Code, Document, Epochs, Heading, para
from .exercise import BLANK, EXERCISE_PARTS, Sheet, answers
from .sections import passes, results, setting

if TYPE_CHECKING:
    from . import Options

ALL_PARAMS_LIMIT = 24  # up to this many parameters, every chain rule is written out by default
PER_LAYER = (2, 1)  # otherwise: the first 2 weights and the first bias of each weight matrix


def chosen_params(scenario: Scenario, weights: tuple[str, ...] | None) -> tuple[tuple[Param, ...], str | None]:
    """Whose chain rule is written out, and a sentence saying so when it is a bounded selection."""
    params = tuple(scenario.params)
    if weights is not None:
        return tuple(scenario.params.get(name) for name in weights), None
    if len(params) <= ALL_PARAMS_LIMIT:
        return params, None
    picked: list[Param] = []
    n_weights, n_biases = PER_LAYER
    for l in range(1, scenario.n_layers):
        in_layer = [p for p in params if p.layer == l]
        picked += [p for p in in_layer if not p.is_bias][:n_weights]
        picked += [p for p in in_layer if p.is_bias][:n_biases]
    names = ", ".join(p.short for p in picked)
    note = (f"This network has {len(params)} parameters; the chain rule is written out for a selection, "
            f"the first {n_weights} weights" + (" and the first bias" if scenario.bias else "")
            + f" of each weight matrix: {names}. Choose others with --weight NAME.")
    return tuple(picked), note


# --------------------------------------------------------------------------------------------- the build

def build(trace: Trace, options: Options) -> Document:
    """The whole worked example as blocks (an exercise sheet when ``options.exercise`` names parts to blank)."""
    parts = getattr(options, "exercise", None)
    sheet = Sheet(parts) if parts is not None else None
    s = trace.scenario
    epochs = 1 if sheet is not None else options.epochs  # an exercise sheet is the first epoch
    chosen, note = chosen_params(s, options.weights)
    b: list[Block] = [Heading(1, s.title)]
    mode = ("batch updates (one per epoch)" if s.update == "batch" else "online updates (one per example)"
            if s.update == "online" else f"updates on mini-batches of {s.plan.batch_size}")
    if not s.plan.is_plain:
        mode += f" with {s.plan.optimizer.title}"
    what_if = None if sheet is not None else getattr(options, "what_if", None)
    if what_if is None:
        b.append(para("A worked example of backpropagation, computed by bpdebug from ", Code(s.path), ": ",
                      f"{plural(epochs, 'epoch')} of {mode}."))
    else:
        start = (f" Its epoch 1 is epoch {what_if.epoch} of the original run, whose training it continues."
                 if what_if.epoch > 1 else "")
        b.append(para("A worked example of backpropagation, computed by bpdebug on a what-if fork of ",
                      Code(what_if.source), f" ({what_if.describe()}): {plural(epochs, 'epoch')} of {mode}.{start}"))
    if sheet is not None:
        b.append(para("An exercise: the results (" + ", ".join(p for p in EXERCISE_PARTS if p in sheet.parts)
                      + f") are blanked and numbered, {BLANK}; work each out from the numbers before it. "
                      "The answers are at the end."))
    if s.description:
        b.append(para(s.description))
    b += setting.network(s)
    b += setting.data(s)
    diverged = trace.divergence(epochs)
    finite = epochs if diverged is None else diverged.epoch - 1  # epochs whose every number is finite
    full = set(range(1, finite + 1)) if options.full else {1, finite} - {0}
    for e in range(1, finite + 1):
        if e in full:
            b += passes.epoch(trace, trace.epoch(e), chosen, note, sheet, what_if)
        elif e - 1 in full:
            last = max(x for x in full if x > e)
            b.append(Heading(2, f"Epochs {e} to {last - 1}" if last - 1 > e else f"Epoch {e}",
                             Epochs(e, last - 1, False)))
            b.append(para("Computed the same way; their losses are in the table below (use --full to write "
                          "every epoch out)."))
    if sheet is not None:  # the loss table, the trained weights and the checked figures would give answers away
        if diverged is not None:
            b += results.divergence(diverged)
        b += answers(sheet)
        return Document(s.title, tuple(b))
    if finite > 1:
        b += results.loss_table(trace, finite)
    if diverged is not None:
        b += results.divergence(diverged)
    else:
        b += results.after(trace, epochs)
    b += results.expectations(trace)
    return Document(s.title, tuple(b))
