"""A step written as the text would write it: symbols first, then the numbers, then the result.

Terminal-free: :func:`narrate` turns a :class:`~bpdebug.core.engine.Step` into lines of :class:`Span` values
(plain text tagged with a *role*), so the app can style them and transcripts can print them as they are.
Every number comes from the step (``Step.value``) or the scenario's activation functions, and is written by
:mod:`bpdebug.text.numbers`; nothing from a later step is read, so a narration never shows numbers from
the future.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core import optimizers
from ..core.engine import Step
from ..core.params import Param
from ..core.scenario import Scenario
from . import naming, numbers

MAX_EXAMPLES_SHOWN = 4  # a batch pass narrates this many examples one by one, then says how many more
# A vector or matrix is written whole up to these sizes (every bundled network's are); a larger one (a
# 784-input layer) is written as its first numbers and "… N more", so a step's text stays as long as what a
# panel can show. The numbers left out are in the transcripts (bpdebug export), which write them all.
MAX_NUMBERS_SHOWN = 16  # a longer vector shows HEAD_NUMBERS, then "… N more"
HEAD_NUMBERS = 8
MAX_ROWS_SHOWN = 12  # a matrix with more rows shows HEAD_ROWS rows, then "… N more rows"
HEAD_ROWS = 3
NBSP = "\u00a0"  # inside "… N more": a wrapped line never splits the mark, and its N is not read as a number

# roles a Span can have (the app maps each to a style)
PLAIN, SYMBOL, GIVEN, NEW, NOTE = "plain", "symbol", "given", "new", "note"


@dataclass(frozen=True)
class Span:
    """A piece of a line: ``role`` says what it is (``symbol``, ``given`` numbers, ``new`` numbers
    computed at this very step, ``note``), so a view can highlight what changed since the last step."""

    text: str
    role: str = PLAIN


Line = tuple[Span, ...]


@dataclass(frozen=True)
class Narration:
    """What one step does: a heading (``forward · net input of layer 2``) and its lines."""

    heading: str
    lines: tuple[Line, ...]

    def text_lines(self) -> list[str]:
        """The lines as plain strings (for plain-text transcripts and tests)."""
        return ["".join(s.text for s in line) for line in self.lines]


# ------------------------------------------------------------------------------------------ formatting

fmt = numbers.number  # the one number formatter, under the name the views know
fmt_vector = numbers.vector
fmt_matrix = numbers.matrix



def shown_vector(values: Sequence[float] | np.ndarray) -> str:
    """A vector as :func:`fmt_vector` writes it, or, past :data:`MAX_NUMBERS_SHOWN` numbers, its first
    :data:`HEAD_NUMBERS` and ``… N more`` inside the brackets: ``[0.1 0.2 … 776 more]``. Only the numbers
    shown are formatted."""
    n = len(values)
    if n <= MAX_NUMBERS_SHOWN:
        return fmt_vector(values)
    head = " ".join(fmt(v) for v in values[:HEAD_NUMBERS])
    return f"[{head} …{NBSP}{n - HEAD_NUMBERS}{NBSP}more]"


def shown_matrix(m: np.ndarray) -> str:
    """A matrix as :func:`fmt_matrix` writes it, each row by :func:`shown_vector`; past
    :data:`MAX_ROWS_SHOWN` rows, its first :data:`HEAD_ROWS` and ``… N more rows``."""
    m = np.atleast_2d(m)
    rows = m.shape[0]
    if rows <= MAX_ROWS_SHOWN:
        return "[" + " ".join(shown_vector(row) for row in m) + "]"
    head = " ".join(shown_vector(row) for row in m[:HEAD_ROWS])
    return f"[{head} …{NBSP}{rows - HEAD_ROWS}{NBSP}more{NBSP}rows]"


_BREAKS = (" = ", " · ", " + ", " − ", " ⊙ ", " ⊗ ", "] [", " ")


def wrap_points(text: str, width: int) -> list[int]:
    """Where to break a formula line longer than ``width``: before an operator (``=``, ``·``, ``+`` …) or
    between matrix rows, as a text breaks a long equation; a plain space only as a last resort. The
    continuation lines are meant to be indented by :func:`wrap_indent`."""
    indent = wrap_indent(text)
    points: list[int] = []
    start, room = 0, width
    while len(text) - start > room:
        limit = start + room
        cut = -1
        for token in _BREAKS:
            at = text.rfind(token, start + 1, limit + 1)
            if at > start + room // 3:
                cut = at + (2 if token == "] [" else 1)  # an operator starts the next line; "[" a new row
                break
        if cut <= start:
            cut = limit
        points.append(cut)
        start, room = cut, max(10, width - indent)
    return points


def wrap_indent(text: str) -> int:
    """Continuation lines of a wrapped formula line up four columns past the line's own indent."""
    return len(text) - len(text.lstrip(" ")) + 4


def wrap(text: str, width: int) -> list[str]:
    """A long formula line as several, broken by :func:`wrap_points` and indented."""
    points = wrap_points(text, width)
    if not points:
        return [text]
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    pad = " " * wrap_indent(text)
    return [pieces[0].rstrip()] + [pad + p.strip() for p in pieces[1:]]


# --------------------------------------------------------------------------------------------- naming

def unit_name(layers: Sequence[int], layer: int, unit: int) -> str:
    """The text's name of unit ``unit`` (1-based; 0 = the bias unit) of ``layer``: i1, h1, o1, h2_1."""
    return naming.unit(len(layers), layer, unit)


def param_connection(scenario: Scenario, p: Param) -> str:
    """``h1→o1`` or ``bias→o1``: where a parameter's connection runs."""
    layers = scenario.layers
    sender = "bias" if p.is_bias else unit_name(layers, p.layer, p.sending_unit)
    return f"{sender}→{unit_name(layers, p.layer + 1, p.receiving_unit)}"


def default_param(scenario: Scenario) -> Param:
    """The parameter shown first: the first weight of the last layer (w5 on the blog)."""
    return scenario.params.first_weight(scenario.n_layers - 1)


def activation_symbol(scenario: Scenario, layer: int) -> str:
    """σ, tanh, relu … the function applied at ``layer``; a custom activation by its name."""
    a = scenario.activation(layer)
    return a.symbol or a.name


# ------------------------------------------------------------------------------------------ narration

def _optimizer_lines(step: Step, s: Scenario) -> list[Line]:
    """An optimizer's update: its rule (the registry's, printed), then each matrix before, its state and after."""
    from .update_rule import rule_text

    opt, plan = s.plan.optimizer, s.plan
    used = ("learning_rate", *opt.hyperparameters) + (("weight_decay",) if plan.hyper.weight_decay else ())
    note = "   " + ", ".join(f"{optimizers.TEXT_NAMES.get(optimizers.HYPERPARAMETERS[k].symbol.name, 'η')} = "
                             f"{fmt(getattr(plan.hyper, k))}" for k in used)
    if opt.uses_step_count:
        note += f", t = {step.record.update}"
    if s.frozen:
        note += f"; frozen (not updated): {', '.join(sorted(s.params.get(c).short for c in s.frozen))}"
    rules = rule_text(opt, bool(plan.hyper.weight_decay))
    lines: list[Line] = [(Span(f"{opt.title}, elementwise: " + "; ".join(rules), SYMBOL),), (Span(note, NOTE),)]
    record = step.record
    for l in range(1, s.n_layers):
        lines.append((Span(f"Θ{l} = "), Span(fmt_matrix(_array(step, f"theta{l}")), GIVEN)))
        lines.append((Span(f"   g{l} = "), Span(fmt_matrix(_array(step, f"grad.theta{l}")), GIVEN)))
        for k, name in enumerate(opt.state_names):
            label = optimizers.TEXT_NAMES.get(name, name)
            lines.append((Span(f"   {label}{l} ← "), Span(fmt_matrix(record.state_after[l - 1][k]), NEW)))
        lines.append((Span("   = "), Span(fmt_matrix(_array(step, f"theta{l}.after")), NEW)))
    return lines


def narrate(step: Step, scenario: Scenario) -> Narration:
    """The lines of ``step``: the formula in symbols, the numbers it uses, and what it computes."""
    kind = step.kind
    heading = f"{step.phase} · {step.title}"
    if kind == "update" and not scenario.plan.is_plain:
        heading = f"{step.phase} · {scenario.plan.optimizer.title} update"
    if kind == "z":
        lines = _z_lines(step, scenario)
    elif kind == "a":
        lines = _a_lines(step, scenario)
    elif kind == "error":
        lines = _error_lines(step, scenario)
    elif kind == "delta":
        lines = _delta_lines(step, scenario)
    elif kind == "gradient":
        lines = _gradient_lines(step, scenario)
    else:
        lines = _update_lines(step, scenario)
    return Narration(heading, tuple(lines))


def _array(step: Step, name: str) -> np.ndarray:
    """A quantity of the step as an array (the loss as a 0-d one)."""
    return np.asarray(step.value(name))


def _layer(step: Step) -> int:
    """The layer of a z, a, delta or gradient step."""
    assert step.layer is not None, f"a {step.kind} step has no layer"
    return step.layer


def _rows(step: Step) -> tuple[list[int], int]:
    """Which rows (examples) of the pass to narrate one by one, and how many are left out."""
    n = len(step.record.rows)
    return list(range(min(n, MAX_EXAMPLES_SHOWN))), max(0, n - MAX_EXAMPLES_SHOWN)


def _lead(step: Step, row: int) -> Span:
    """The start of a numbers line: ``   = `` (or ``ex 2 = `` when a batch pass has several examples)."""
    if len(step.record.rows) == 1:
        return Span("   = ")
    return Span(f"ex {step.record.rows[row] + 1} = ", NOTE)


def _more(left_out: int) -> list[Line]:
    return [(Span(f"… and {left_out} more examples", NOTE),)] if left_out else []


def _with_bias(scenario: Scenario, v: np.ndarray) -> str:
    """``[1 a…]``: the vector with the bias unit's 1 in front when the network has bias units."""
    return shown_vector(np.concatenate(([1.0], v)) if scenario.bias else v)


def _z_lines(step: Step, s: Scenario) -> list[Line]:
    l = _layer(step)
    theta, a_prev, z = _array(step, f"theta{l - 1}"), _array(step, f"a{l - 1}"), _array(step, f"z{l}")
    a_name = "x" if l == 2 else f"a{l - 1}"
    note = f"   row i of Θ{l - 1}: the weights into unit i" + ("; 1 = the bias unit" if s.bias else "")
    lines: list[Line] = [(Span(f"z{l} = Θ{l - 1}·{a_name}", SYMBOL), Span(note, NOTE))]
    rows, more = _rows(step)
    for r in rows:
        lines.append((_lead(step, r), Span(shown_matrix(theta), GIVEN), Span(" · "),
                      Span(_with_bias(s, a_prev[r]), GIVEN)))
        lines.append((_lead(step, r), Span(shown_vector(z[r]), NEW)))
    return lines + _more(more)


def _a_lines(step: Step, s: Scenario) -> list[Line]:
    l = _layer(step)
    f = activation_symbol(s, l)
    z, a = _array(step, f"z{l}"), _array(step, f"a{l}")
    act = s.activation(l)
    lines: list[Line] = [(Span(f"a{l} = {f}(z{l})", SYMBOL),)]
    if act.formula:
        lines[0] += (Span(f"   {act.formula}, element by element", NOTE),)
    rows, more = _rows(step)
    for r in rows:
        lines.append((_lead(step, r), Span(f"{f}("), Span(shown_vector(z[r]), GIVEN), Span(")")))
        lines.append((_lead(step, r), Span(shown_vector(a[r]), NEW)))
    return lines + _more(more)


def _error_lines(step: Step, s: Scenario) -> list[Line]:
    L = s.n_layers
    o, t, terms, loss = _array(step, f"a{L}"), _array(step, "targets"), _array(step, "error"), _array(step, "loss")
    combine = "summed" if s.loss.reduction == "sum" else "averaged"
    lines: list[Line] = [(Span(f"E = {s.loss.formula}", SYMBOL),
                          Span(f"   {s.loss.name} per example, {combine} over the batch", NOTE))]
    rows, more = _rows(step)
    for r in rows:
        lead = _lead(step, r)
        lines.append((Span(lead.text.replace("=", " ").rstrip() + " " if len(step.record.rows) > 1 else "   ",
                           NOTE), Span("o = "), Span(shown_vector(o[r]), GIVEN), Span("   t = "),
                      Span(shown_vector(t[r]), GIVEN)))
        lines.append((Span("   error terms = " if len(step.record.rows) == 1 else "     error terms = "),
                      Span(shown_vector(terms[r]), NEW)))
    lines += _more(more)
    lines.append((Span("E_total = "), Span(fmt(float(loss)), NEW)))
    return lines


def _derivative_values(step: Step, s: Scenario, l: int) -> np.ndarray | None:
    """f'(z_l) from the activation's own derivative (None for softmax, whose derivative is a Jacobian)."""
    act = s.activation(l)
    if act.derivative is None:
        return None
    with np.errstate(all="ignore"):
        return act.derivative(_array(step, f"z{l}"), _array(step, f"a{l}"))


def _delta_lines(step: Step, s: Scenario) -> list[Line]:
    l, L = _layer(step), s.n_layers
    f = activation_symbol(s, l)
    delta = _array(step, f"delta{l}")
    deriv = _derivative_values(step, s, l)
    rows, more = _rows(step)
    lines: list[Line] = []
    if l == L:
        dE = _array(step, "dE_dout")
        if deriv is None:
            lines.append((Span(f"δ{l} = ∂E/∂z{l} = J_softmax(z{l})ᵀ·∂E/∂o", SYMBOL),))
        else:
            lines.append((Span(f"δ{l} = ∂E/∂o ⊙ {f}′(z{l})", SYMBOL), Span("   ⊙: element by element", NOTE)))
        for r in rows:
            if deriv is not None:
                lines.append((_lead(step, r), Span(shown_vector(dE[r]), GIVEN), Span(" ⊙ "),
                              Span(shown_vector(deriv[r]), GIVEN)))
            else:
                lines.append((_lead(step, r), Span("J_softmaxᵀ · "), Span(shown_vector(dE[r]), GIVEN)))
            lines.append((_lead(step, r), Span(shown_vector(delta[r]), NEW)))
        return lines + _more(more)
    theta, nxt = _array(step, f"theta{l}"), _array(step, f"delta{l + 1}")
    w = theta[:, 1:] if s.bias else theta
    note = f"   Θ{l} without its bias column (the bias unit has no input)" if s.bias else ""
    lines.append((Span(f"δ{l} = (Θ{l}ᵀ·δ{l + 1}) ⊙ {f}′(z{l})", SYMBOL), Span(note, NOTE)))
    lines.append((Span(f"   Θ{l}ᵀ = "), Span(shown_matrix(w.T), GIVEN)))
    for r in rows:
        parts = [_lead(step, r), Span("("), Span(f"Θ{l}ᵀ·"), Span(shown_vector(nxt[r]), GIVEN), Span(")")]
        if deriv is not None:
            parts += [Span(" ⊙ "), Span(shown_vector(deriv[r]), GIVEN)]
        lines.append(tuple(parts))
        lines.append((_lead(step, r), Span(shown_vector(delta[r]), NEW)))
    return lines + _more(more)


def _gradient_lines(step: Step, s: Scenario) -> list[Line]:
    l = _layer(step)
    a_name = "x" if l == 1 else f"a{l}"
    grad, delta, a = _array(step, f"grad.theta{l}"), _array(step, f"delta{l + 1}"), _array(step, f"a{l}")
    inputs = f"[1 {a_name}]" if s.bias else a_name
    batch = ", summed over the examples" if len(step.record.rows) > 1 else ""
    lines: list[Line] = [(Span(f"∂E/∂Θ{l} = δ{l + 1} ⊗ {inputs}", SYMBOL),
                          Span(f"   row i = δ{l + 1}_i · {inputs}{batch}", NOTE))]
    rows, more = _rows(step)
    for r in rows:
        lines.append((_lead(step, r), Span(shown_vector(delta[r]), GIVEN), Span(" ⊗ "),
                      Span(_with_bias(s, a[r]), GIVEN)))
    lines += _more(more)
    lines.append((Span("   = "), Span(shown_matrix(grad), NEW)))
    return lines


def _update_lines(step: Step, s: Scenario) -> list[Line]:
    if not s.plan.is_plain:
        return _optimizer_lines(step, s)
    lr = fmt(s.learning_rate)
    note = f"   η = {lr}"
    if s.frozen:
        note += f"; frozen (not updated): {', '.join(sorted(s.params.get(c).short for c in s.frozen))}"
    lines: list[Line] = [(Span("Θ ← Θ − η·∂E/∂Θ", SYMBOL), Span(note, NOTE))]
    for l in range(1, s.n_layers):
        before, grad, after = _array(step, f"theta{l}"), _array(step, f"grad.theta{l}"), _array(step, f"theta{l}.after")
        lines.append((Span(f"Θ{l} = "), Span(shown_matrix(before), GIVEN)))
        lines.append((Span(f"   − {lr}·"), Span(shown_matrix(grad), GIVEN)))
        lines.append((Span("   = "), Span(shown_matrix(after), NEW)))
    return lines
