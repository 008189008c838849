"""Write a scenario as a TOML file that loads back to the same run, bit for bit.

Numbers are written with ``repr`` (the shortest text that reads back as the same double), weights always as
explicit matrices (a generated or forked start is written as the numbers it produced), custom activations
with their formula, and expectations as they were recorded.

A what-if fork that continues a run past its epoch 1 carries training state the format has no key for (the
optimizer's velocity or moments, the update count ``t``, the place in the shuffled order; see
:class:`~.training.Resume`). The written file then starts that state afresh, and says so in a comment at its top
(:func:`restarted`); plain descent in the data's order carries none and is reproduced exactly.
"""

from __future__ import annotations

import textwrap

import numpy as np

from . import optimizers
from .scenario import Scenario

# Every field of Scenario, and how the writer treats it: a field added to Scenario must be added here (a test
# checks), so a new key of the format cannot be silently dropped from saved scenarios.
WRITTEN = frozenset({"title", "description", "layers", "activations", "bias", "loss", "learning_rate", "epochs",
                     "update", "frozen", "inputs", "targets", "weights", "expectations",
                     "shared_bias",  # bias = "shared"
                     "plan"})  # the optimizer, its hyperparameters, batch_size, shuffle and seed (a fork's
# plan.resume, the training state it continues from, has no key in the format: see restarted)
NOT_WRITTEN = frozenset({"path",  # where it was read from, not part of it
                         "init",  # generated weights are written as the matrices they produced
                         "params",  # derived from layers and bias
                         "source_files",  # the files read to build it (a written fork is its own file)
                         "files",  # [data] file and [weights] file: their numbers are written instead
                         "classes"})  # the class labels of a CSV column: the one-hot targets are written

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_number(v: float) -> str:
    """A finite float as TOML: repr reads back as the same double."""
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"{v} cannot be written to a scenario, expected a finite number")
    return repr(v)


def _row(values) -> str:
    return "[" + ", ".join(toml_number(v) for v in values) + "]"


def _matrix(m: np.ndarray, indent: int) -> str:
    rows = [_row(r) for r in np.asarray(m, dtype=float)]
    return "[" + (",\n" + " " * indent).join(rows) + "]"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def restarted(scenario: Scenario, written: str = "the saved scenario",
              why: str = "the scenario format has no key for training state") -> str | None:
    """What a scenario written by :func:`to_toml` would start afresh that ``scenario``'s run continues (one
    sentence), or None when the file repeats the run exactly. Only a continued run (a what-if fork past
    epoch 1) can say something here: the format has no key for the optimizer's state, the update count or
    the place in the shuffled order. ``written`` names what is written and ``why`` says why it starts afresh
    (the py export's script trains from epoch 1 the same way)."""
    plan = scenario.plan
    if plan.epochs_before == 0:
        return None
    opt, what = plan.optimizer, []
    if opt.state_names:
        names = _and(list(opt.state_names))
        what.append(f"{opt.title}'s {names} {'start' if len(opt.state_names) > 1 else 'starts'} again at 0")
    if opt.uses_step_count:
        what.append("the update count t starts again at 1")
    if plan.shuffle and plan.mode != "batch":
        what.append("the shuffled order starts again from epoch 1's")
    if not what:
        return None
    return (f"the fork continued epoch {plan.epochs_before + 1} of a run, but {why}, so in {written} {_and(what)}: "
            "its numbers differ from the fork's")


def _formula_optimizer(opt: optimizers.Optimizer) -> list[str]:
    """A scenario's own optimizer as its [optimizers.NAME] table: hyperparameters with their defaults, state,
    rule."""
    hyper = ", ".join(f"{h.key} = {toml_number(h.default if h.default is not None else 0.0)}" for h in opt.hyper)
    return [f"[optimizers.{opt.name}]", f"hyper = {{ {hyper} }}" if hyper else "hyper = {}",
            f"state = [{', '.join(toml_string(n) for n in opt.state_names)}]",
            f"rule = [{', '.join(toml_string(line) for line in opt.rule)}]"]


def to_toml(scenario: Scenario) -> str:
    """The scenario as TOML text that :func:`~bpdebug.core.scenario.loads` reads back to the same run (a
    continued run's training state excepted: a comment at the top then says what starts afresh)."""
    s = scenario
    lines = []
    note = restarted(s)
    if note is not None:
        lines += ["# " + line for line in textwrap.wrap(f"Not the fork's run: {note}.", 100)] + [""]
    lines.append(f"title = {toml_string(s.title)}")
    if s.description:
        lines.append(f"description = {toml_string(s.description)}")
    lines += ["", "[network]", f"layers = [{', '.join(str(n) for n in s.layers)}]"]
    names = [a.name for a in s.activations]
    lines.append(f"activation = [{', '.join(toml_string(n) for n in names)}]")
    lines.append("bias = " + ('"shared"' if s.shared_bias else "true" if s.bias else "false"))
    customs = {a.name: a.expr for a in s.activations if a.expr is not None}
    for name, expr in customs.items():
        lines += ["", f"[activations.{name}]", f"expr = {toml_string(expr or '')}"]
    lines += ["", "[loss]", f"function = {toml_string(s.loss.name)}"]
    plan = s.plan
    if plan.optimizer.is_formula:
        lines += ["", *_formula_optimizer(plan.optimizer)]
    lines += ["", "[training]", f"learning_rate = {toml_number(s.learning_rate)}", f"epochs = {s.epochs}"]
    if plan.mode == "mini-batch":
        lines.append(f"batch_size = {plan.batch_size}")
    else:
        lines.append(f"update = {toml_string(s.update)}")
    if plan.optimizer.name != optimizers.DEFAULT:
        lines.append(f"optimizer = {toml_string(plan.optimizer.name)}")
        lines += [f"{k} = {toml_number(getattr(plan.hyper, k))}" for k in plan.optimizer.hyperparameters]
    if plan.hyper.weight_decay:
        lines.append(f"weight_decay = {toml_number(plan.hyper.weight_decay)}")
    if plan.shuffle:
        lines += ["shuffle = true", f"seed = {plan.seed}"]
    if s.frozen:
        by_canonical = {p.canonical: p.short for p in s.params}
        frozen = [by_canonical.get(c, c) for c in sorted(s.frozen)]
        lines.append(f"frozen = [{', '.join(toml_string(n) for n in frozen)}]")
    lines += ["", "[data]", f"inputs = {_matrix(s.inputs, 10)}", f"targets = {_matrix(s.targets, 11)}"]
    lines += ["", "[weights]"]
    for l, w in enumerate(s.weights, start=1):
        name = f"theta{l}"
        lines.append(f"{name} = {_matrix(w, len(name) + 4)}")
    for e in s.expectations:
        lines += ["", "[[expect]]", f"quantity = {toml_string(e.quantity)}"]
        lines.append("value = " + (toml_number(e.value[0]) if e.scalar else _row(e.value)))
        lines += [f"epoch = {e.epoch}", f"example = {e.example}", f"tolerance = {toml_number(e.tolerance)}"]
        if e.source is not None:
            lines.append(f"source = {toml_string(e.source)}")
    return "\n".join(lines) + "\n"
