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

from ..core.computations import (
    Act,
    Computation,
    Descent,
    How,
    Loss,
    LossTerms,
    Product,
    Q,
    T,
    Term,
    WithBias,
    computation,
)
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
    if p.shared:  # one bias into every unit of its layer
        n = layers[p.layer]
        fed = [unit_name(layers, p.layer + 1, k) for k in ((1, n) if n > 3 else range(1, n + 1))]
        return f"{sender}→" + (" … " if n > 3 else ", ").join(fed) + " (shared)"
    return f"{sender}→{unit_name(layers, p.layer + 1, p.receiving_unit)}"


def default_param(scenario: Scenario) -> Param:
    """The parameter shown first: the first weight of the last layer (w5 on the blog)."""
    return scenario.params.first_weight(scenario.n_layers - 1)


def activation_symbol(scenario: Scenario, layer: int) -> str:
    """σ, tanh, relu … the function applied at ``layer``; a custom activation by its name."""
    a = scenario.activation(layer)
    return a.symbol or a.name


# ------------------------------------------------------------------------------------ how a step computes

_OPERATORS = {How.MATRIX: "·", How.ELEMENTWISE: " ⊙ ", How.OUTER: " ⊗ "}


def _name(name: str) -> str:
    """A quantity as the step panel names it: Θ1, x (the inputs), a2, z2, δ3, ∂E/∂o, ∂E/∂Θ1, E."""
    if name == "a1":
        return "x"
    if name == "dE_dout":
        return "∂E/∂o"
    if name == "loss":
        return "E"
    for prefix, shown in (("grad.theta", "∂E/∂Θ"), ("theta", "Θ"), ("delta", "δ")):
        if name.startswith(prefix):
            return shown + name[len(prefix):]
    return name


def _jacobian(term: Term, s: Scenario) -> bool:
    """Whether ``term`` holds the derivative of an activation that couples its units (a Jacobian)."""
    match term:
        case Act(layer, _, True):
            return s.activation(layer).derivative is None
        case Product(_, left, right):
            return _jacobian(left, s) or _jacobian(right, s)
        case T(of) | WithBias(of):
            return _jacobian(of, s)
    return False


def term_text(term: Term, s: Scenario) -> str:
    """A computation's form as the step panel writes it: ``(Θ2ᵀ·δ3) ⊙ σ′(z2)``, ``δ2 ⊗ [1 x]``."""
    match term:
        case Q(name):
            return _name(name)
        case Act(layer, arg, derivative):
            f = activation_symbol(s, layer)
            if derivative and s.activation(layer).derivative is None:
                return f"J_{f}({term_text(arg, s)})"
            return f"{f}{'′' if derivative else ''}({term_text(arg, s)})"
        case Product(how, left, right):
            def operand(t: Term) -> str:
                text = term_text(t, s)
                nested = how is not How.MATRIX and isinstance(t, Product) and t.how is How.MATRIX
                return f"({text})" if nested else text
            return operand(left) + _OPERATORS[how] + operand(right)
        case T(of):
            return term_text(of, s) + "ᵀ"
        case WithBias(of):
            return f"[1 {term_text(of, s)}]" if s.bias else term_text(of, s)
        case Loss() | LossTerms():
            return s.loss.formula
        case Descent(param, gradient):
            p = term_text(param, s)
            return f"{p} ← {p} − η·{term_text(gradient, s)}"
    raise TypeError(f"no text for {term!r}")


def computation_text(c: Computation, s: Scenario) -> str:
    """``z2 = Θ1·x``: what a step computes, in symbols (a Jacobian's product after the derivative it is:
    ``δ3 = ∂E/∂z3 = J_softmax(z3)ᵀ·∂E/∂o``; an update as the assignment it is)."""
    form = term_text(c.form, s)
    if isinstance(c.form, Descent):
        return form
    result = _name(c.result)
    if c.derivative is not None and _jacobian(c.form, s):
        of, by = c.derivative
        result += f" = ∂{of}/∂{_name(by)}"
    return f"{result} = {form}"


def _formula(step: Step, s: Scenario, result: str | None = None) -> str:
    """The step's computation (of ``result``, when it computes several) in symbols."""
    return computation_text(computation(s, step.kind, step.layer, result), s)


# ------------------------------------------------------------------------------------------ narration

def _optimizer_lines(step: Step, s: Scenario) -> list[Line]:
    """An optimizer's update: its rule (the registry's, printed), then each matrix before, its state and after."""
    from .update_rule import rule_text, symbol_text

    opt, plan = s.plan.optimizer, s.plan
    used = ("learning_rate", *opt.hyperparameters) + (("weight_decay",) if plan.hyper.weight_decay else ())
    note = "   " + ", ".join(f"{symbol_text(opt.hyperparameter(k).symbol)} = "
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
            label = symbol_text(name)
            lines.append((Span(f"   {label}{l} ← "), Span(fmt_matrix(record.state_after[l - 1][k]), NEW)))
        lines.append((Span("   = "), Span(fmt_matrix(_array(step, f"theta{l}.after")), NEW)))
    return lines


def narrate(step: Step, scenario: Scenario, row: int | None = None) -> Narration:
    """The lines of ``step``: the formula in symbols, the numbers it uses, and what it computes.

    ``row`` (0-based within the pass) narrates one example of a batch pass; None narrates the pass's first
    :data:`MAX_EXAMPLES_SHOWN` examples one by one. The heading says which (:func:`examples_label`)."""
    kind = step.kind
    heading = f"{step.phase} · {step.title}"
    if kind == "update" and not scenario.plan.is_plain:
        heading = f"{step.phase} · {scenario.plan.optimizer.title} update"
    row = _row(step, row)
    if kind == "z":
        lines = _z_lines(step, scenario, row)
    elif kind == "a":
        lines = _a_lines(step, scenario, row)
    elif kind == "error":
        lines = _error_lines(step, scenario, row)
    elif kind == "delta":
        lines = _delta_lines(step, scenario, row)
    elif kind == "gradient":
        lines = _gradient_lines(step, scenario, row)
    else:
        lines = _update_lines(step, scenario)
    label = examples_label(step, row) if kind != "update" else ""
    return Narration(heading + (f" · {label}" if label else ""), tuple(lines))


def _row(step: Step, row: int | None) -> int | None:
    """``row`` within the pass's examples (None: the whole pass; a pass of one example is that example)."""
    n = len(step.record.rows)
    return None if row is None or n == 1 else min(max(row, 0), n - 1)


def examples_label(step: Step, row: int | None) -> str:
    """Which examples of the pass a narration shows: ``example 3 of 4``, ``all 4 examples``, ``example 39
    (2 of 10 in mini-batch 1)``, ``the 10 examples of mini-batch 1``; "" when the pass has one example."""
    rows = step.record.rows
    n = len(rows)
    if n == 1:
        return ""
    s = step.scenario
    whole = s is None or n == s.n_examples
    if row is None:
        return f"all {n} examples" if whole else f"the {n} examples of mini-batch {step.record.batch}"
    if whole:
        return f"example {rows[row] + 1} of {n}"
    return f"example {rows[row] + 1} ({row + 1} of {n} in mini-batch {step.record.batch})"


def _array(step: Step, name: str) -> np.ndarray:
    """A quantity of the step as an array (the loss as a 0-d one)."""
    return np.asarray(step.value(name))


def _layer(step: Step) -> int:
    """The layer of a z, a, delta or gradient step."""
    assert step.layer is not None, f"a {step.kind} step has no layer"
    return step.layer


def _rows(step: Step, row: int | None = None) -> tuple[list[int], int]:
    """Which rows (examples) of the pass to narrate one by one, and how many are left out: ``row`` alone
    when one is chosen."""
    if row is not None:
        return [row], 0
    n = len(step.record.rows)
    return list(range(min(n, MAX_EXAMPLES_SHOWN))), max(0, n - MAX_EXAMPLES_SHOWN)


def _lead(step: Step, row: int, chosen: int | None = None) -> Span:
    """The start of a numbers line: ``   = `` (or ``ex 2 = `` when a batch pass narrates several examples;
    one ``chosen`` example is named in the heading)."""
    if len(step.record.rows) == 1 or chosen is not None:
        return Span("   = ")
    return Span(f"ex {step.record.rows[row] + 1} = ", NOTE)


def _more(left_out: int) -> list[Line]:
    return [(Span(f"… and {left_out} more examples", NOTE),)] if left_out else []


def _with_bias(scenario: Scenario, v: np.ndarray) -> str:
    """``[1 a…]``: the vector with the bias unit's 1 in front when the network has bias units."""
    return shown_vector(np.concatenate(([1.0], v)) if scenario.bias else v)


def _z_lines(step: Step, s: Scenario, row: int | None = None) -> list[Line]:
    l = _layer(step)
    theta, a_prev, z = _array(step, f"theta{l - 1}"), _array(step, f"a{l - 1}"), _array(step, f"z{l}")
    note = f"   row i of Θ{l - 1}: the weights into unit i" + ("; 1 = the bias unit" if s.bias else "")
    lines: list[Line] = [(Span(_formula(step, s), SYMBOL), Span(note, NOTE))]
    rows, more = _rows(step, row)
    for r in rows:
        lines.append((_lead(step, r, row), Span(shown_matrix(theta), GIVEN), Span(" · "),
                      Span(_with_bias(s, a_prev[r]), GIVEN)))
        lines.append((_lead(step, r, row), Span(shown_vector(z[r]), NEW)))
    return lines + _more(more)


def _a_lines(step: Step, s: Scenario, row: int | None = None) -> list[Line]:
    l = _layer(step)
    f = activation_symbol(s, l)
    z, a = _array(step, f"z{l}"), _array(step, f"a{l}")
    act = s.activation(l)
    lines: list[Line] = [(Span(_formula(step, s), SYMBOL),)]
    if act.formula:
        lines[0] += (Span(f"   {act.formula}, element by element", NOTE),)
    rows, more = _rows(step, row)
    for r in rows:
        lines.append((_lead(step, r, row), Span(f"{f}("), Span(shown_vector(z[r]), GIVEN), Span(")")))
        lines.append((_lead(step, r, row), Span(shown_vector(a[r]), NEW)))
    return lines + _more(more)


def _error_lines(step: Step, s: Scenario, row: int | None = None) -> list[Line]:
    L = s.n_layers
    o, t, terms, loss = _array(step, f"a{L}"), _array(step, "targets"), _array(step, "error"), _array(step, "loss")
    combine = "summed" if s.loss.reduction == "sum" else "averaged"
    lines: list[Line] = [(Span(_formula(step, s, "loss"), SYMBOL),
                          Span(f"   {s.loss.name} per example, {combine} over the batch", NOTE))]
    rows, more = _rows(step, row)
    several = len(step.record.rows) > 1 and row is None  # examples named line by line
    for r in rows:
        lead = _lead(step, r, row)
        lines.append((Span(lead.text.replace("=", " ").rstrip() + " " if several else "   ",
                           NOTE), Span("o = "), Span(shown_vector(o[r]), GIVEN), Span("   t = "),
                      Span(shown_vector(t[r]), GIVEN)))
        lines.append((Span("     error terms = " if several else "   error terms = "),
                      Span(shown_vector(terms[r]), NEW)))
    lines += _more(more) + _others(step, row)
    lines.append((Span("E_total = "), Span(fmt(float(loss)), NEW)))
    return lines


def _others(step: Step, row: int | None) -> list[Line]:
    """With one example of a batch pass chosen, a note that the total also holds the others."""
    others = len(step.record.rows) - 1
    if row is None or not others:
        return []
    return [(Span(f"   + the same for the other {numbers.plural(others, 'example')} of the pass", NOTE),)]


def _derivative_values(step: Step, s: Scenario, l: int) -> np.ndarray | None:
    """f'(z_l) from the activation's own derivative (None for softmax, whose derivative is a Jacobian)."""
    act = s.activation(l)
    if act.derivative is None:
        return None
    with np.errstate(all="ignore"):
        return act.derivative(_array(step, f"z{l}"), _array(step, f"a{l}"))


def _delta_lines(step: Step, s: Scenario, row: int | None = None) -> list[Line]:
    l, L = _layer(step), s.n_layers
    delta = _array(step, f"delta{l}")
    deriv = _derivative_values(step, s, l)
    rows, more = _rows(step, row)
    lines: list[Line] = []
    if l == L:
        dE = _array(step, "dE_dout")
        if deriv is None:
            lines.append((Span(_formula(step, s), SYMBOL),))
        else:
            lines.append((Span(_formula(step, s), SYMBOL), Span("   ⊙: element by element", NOTE)))
        for r in rows:
            if deriv is not None:
                lines.append((_lead(step, r, row), Span(shown_vector(dE[r]), GIVEN), Span(" ⊙ "),
                              Span(shown_vector(deriv[r]), GIVEN)))
            else:
                lines.append((_lead(step, r, row), Span("J_softmaxᵀ · "), Span(shown_vector(dE[r]), GIVEN)))
            lines.append((_lead(step, r, row), Span(shown_vector(delta[r]), NEW)))
        return lines + _more(more)
    theta, nxt = _array(step, f"theta{l}"), _array(step, f"delta{l + 1}")
    w = theta[:, 1:] if s.bias else theta
    note = f"   Θ{l} without its bias column (the bias unit has no input)" if s.bias else ""
    lines.append((Span(_formula(step, s), SYMBOL), Span(note, NOTE)))
    lines.append((Span(f"   Θ{l}ᵀ = "), Span(shown_matrix(w.T), GIVEN)))
    for r in rows:
        parts = [_lead(step, r, row), Span("("), Span(f"Θ{l}ᵀ·"), Span(shown_vector(nxt[r]), GIVEN), Span(")")]
        if deriv is not None:
            parts += [Span(" ⊙ "), Span(shown_vector(deriv[r]), GIVEN)]
        lines.append(tuple(parts))
        lines.append((_lead(step, r, row), Span(shown_vector(delta[r]), NEW)))
    return lines + _more(more)


def _gradient_lines(step: Step, s: Scenario, row: int | None = None) -> list[Line]:
    l = _layer(step)
    a_name = "x" if l == 1 else f"a{l}"
    grad, delta, a = _array(step, f"grad.theta{l}"), _array(step, f"delta{l + 1}"), _array(step, f"a{l}")
    inputs = f"[1 {a_name}]" if s.bias else a_name
    batch = ", summed over the examples" if len(step.record.rows) > 1 else ""
    lines: list[Line] = [(Span(_formula(step, s), SYMBOL),
                          Span(f"   row i = δ{l + 1}_i · {inputs}{batch}", NOTE))]
    if s.shared_bias:  # column 0 is one parameter: the sum over the units it feeds, written in every row
        lines.append((Span(f"   column 0 = {s.params.at(l, 0, 0).short}, shared by the units of layer {l + 1}: "
                           f"Σ_i δ{l + 1}_i{batch}, in every row", NOTE),))
    rows, more = _rows(step, row)
    for r in rows:
        lines.append((_lead(step, r, row), Span(shown_vector(delta[r]), GIVEN), Span(" ⊗ "),
                      Span(_with_bias(s, a[r]), GIVEN)))
    lines += _more(more) + _others(step, row)
    lines.append((Span("   = "), Span(shown_matrix(grad), NEW)))
    return lines


def _update_lines(step: Step, s: Scenario) -> list[Line]:
    if not s.plan.is_plain:
        return _optimizer_lines(step, s)
    lr = fmt(s.learning_rate)
    note = f"   η = {lr}"
    if s.frozen:
        note += f"; frozen (not updated): {', '.join(sorted(s.params.get(c).short for c in s.frozen))}"
    lines: list[Line] = [(Span(_formula(step, s), SYMBOL), Span(note, NOTE))]
    for l in range(1, s.n_layers):
        before, grad, after = _array(step, f"theta{l}"), _array(step, f"grad.theta{l}"), _array(step, f"theta{l}.after")
        lines.append((Span(f"Θ{l} = "), Span(shown_matrix(before), GIVEN)))
        lines.append((Span(f"   − {lr}·"), Span(shown_matrix(grad), GIVEN)))
        lines.append((Span("   = "), Span(shown_matrix(after), NEW)))
    return lines


# --------------------------------------------------------------------------------------- unit by unit
# A forward step (z, a) or a delta of a narrow layer can be walked one unit at a time, as a text works it out:
# net_h1 = w1·i1 + w2·i2 + b1·1, then out_h1 = σ(net_h1). A wider layer stays one step: its sums would not
# be read one by one. Softmax couples a layer's units, so its output and its delta stay whole too.

MAX_UNITS_WALKED = 8  # a layer up to this many units wide can be walked unit by unit
MAX_TERMS_SHOWN = 16  # a unit's sum with more terms shows HEAD_TERMS of them, then "… N more terms"
HEAD_TERMS = 8


@dataclass(frozen=True)
class UnitWalk:
    """How a step is walked unit by unit: ``units`` steps, one per unit of its layer, or 0 (one step), and
    then ``why``, in a few words (empty for the kinds of step that are always one step: error, gradients,
    update)."""

    units: int
    why: str = ""


def unit_walk(step: Step, scenario: Scenario) -> UnitWalk:
    """Whether (and through how many units) ``step`` can be walked unit by unit."""
    if step.kind not in ("z", "a", "delta"):
        return UnitWalk(0)
    l = _layer(step)
    width = scenario.layers[l - 1]
    if width > MAX_UNITS_WALKED:
        return UnitWalk(0, f"{width} units > {MAX_UNITS_WALKED}")
    if step.kind != "z" and scenario.activation(l).is_softmax:
        return UnitWalk(0, "softmax couples its units")
    return UnitWalk(width)


def _factor(v: float) -> str:
    """A number as a factor of a product: a negative one in parentheses, ``(−0.3)``."""
    text = fmt(v)
    return f"({text})" if text.startswith(numbers.MINUS) else text


def _terms(pieces: Sequence[str]) -> str:
    """``a + b + c``; past :data:`MAX_TERMS_SHOWN` terms the first :data:`HEAD_TERMS` and ``… N more terms``."""
    if len(pieces) <= MAX_TERMS_SHOWN:
        return " + ".join(pieces)
    return " + ".join(pieces[:HEAD_TERMS]) + f" + …{NBSP}{len(pieces) - HEAD_TERMS}{NBSP}more{NBSP}terms"


def _out_name(layers: Sequence[int], l: int, unit: int) -> str:
    """What a unit sends on: ``i1`` for an input, ``out_h1`` otherwise (the text's names)."""
    name = unit_name(layers, l, unit)
    return name if l == 1 else f"out_{name}"


def narrate_unit(step: Step, scenario: Scenario, unit: int, row: int | None = None) -> Narration:
    """One unit (1-based) of a z, a or delta step, as a text works it out: the unit's sum or function in
    symbols (``net_h1 = w1·i1 + w2·i2 + b1·1``), its numbers, and the unit's value, all read from the step's
    arrays. ``row`` as for :func:`narrate`. Only for a step :func:`unit_walk` walks."""
    walk = unit_walk(step, scenario)
    if not 1 <= unit <= walk.units:
        raise ValueError(f"unit {unit} of a step walked through {walk.units} units")
    row = _row(step, row)
    l, kind = _layer(step), step.kind
    name = unit_name(scenario.layers, l, unit)
    if kind == "z":
        what, lines = "net input", _z_unit_lines(step, scenario, unit, row)
    elif kind == "a":
        what, lines = "output", _a_unit_lines(step, scenario, unit, row)
    else:
        what, lines = "delta", _delta_unit_lines(step, scenario, unit, row)
    label = examples_label(step, row)
    heading = f"{step.phase} · {what} of {name} · unit {unit} of {walk.units} of layer {l}"
    return Narration(heading + (f" · {label}" if label else ""), tuple(lines))


def _z_unit_lines(step: Step, s: Scenario, unit: int, row: int | None) -> list[Line]:
    l, layers = _layer(step), s.layers
    theta, a_prev, z = _array(step, f"theta{l - 1}"), _array(step, f"a{l - 1}"), _array(step, f"z{l}")
    i = unit - 1
    senders = range(1, layers[l - 2] + 1)
    col = (lambda j: j) if s.bias else (lambda j: j - 1)  # the column of theta of sending unit j
    symbols = [f"{s.params.at(l - 1, i, col(j)).short}·{_out_name(layers, l - 1, j)}" for j in senders]
    if s.bias:
        symbols.append(f"{s.params.at(l - 1, i, 0).short}·1")
    lines: list[Line] = [(Span(f"net_{unit_name(layers, l, unit)} = {_terms(symbols)}", SYMBOL),)]
    rows, more = _rows(step, row)
    for r in rows:
        products = [f"{_factor(theta[i, col(j)])}·{_factor(a_prev[r, j - 1])}" for j in senders]
        if s.bias:
            products.append(f"{_factor(theta[i, 0])}·1")
        lines.append((_lead(step, r, row), Span(_terms(products), GIVEN)))
        lines.append((_lead(step, r, row), Span(fmt(z[r, i]), NEW)))
    return lines + _more(more)


def _a_unit_lines(step: Step, s: Scenario, unit: int, row: int | None) -> list[Line]:
    l, layers = _layer(step), s.layers
    f = activation_symbol(s, l)
    z, a = _array(step, f"z{l}"), _array(step, f"a{l}")
    name = unit_name(layers, l, unit)
    head: Line = (Span(f"out_{name} = {f}(net_{name})", SYMBOL),)
    act = s.activation(l)
    if act.formula:
        head += (Span(f"   {act.formula}", NOTE),)
    lines: list[Line] = [head]
    rows, more = _rows(step, row)
    for r in rows:
        lines.append((_lead(step, r, row), Span(f"{f}("), Span(fmt(z[r, unit - 1]), GIVEN), Span(")")))
        lines.append((_lead(step, r, row), Span(fmt(a[r, unit - 1]), NEW)))
    return lines + _more(more)


def _delta_unit_lines(step: Step, s: Scenario, unit: int, row: int | None) -> list[Line]:
    l, L, layers = _layer(step), s.n_layers, s.layers
    f = activation_symbol(s, l)
    name = unit_name(layers, l, unit)
    delta = _array(step, f"delta{l}")
    deriv = _derivative_values(step, s, l)
    assert deriv is not None, "a softmax delta is not walked unit by unit"
    i = unit - 1
    rows, more = _rows(step, row)
    lines: list[Line] = []
    if l == L:
        dE = _array(step, "dE_dout")
        lines.append((Span(f"δ_{name} = ∂E/∂out_{name} · {f}′(net_{name})", SYMBOL),))
        for r in rows:
            lines.append((_lead(step, r, row), Span(_factor(dE[r, i]), GIVEN), Span(" · "),
                          Span(_factor(deriv[r, i]), GIVEN)))
            lines.append((_lead(step, r, row), Span(fmt(delta[r, i]), NEW)))
        return lines + _more(more)
    theta, nxt = _array(step, f"theta{l}"), _array(step, f"delta{l + 1}")
    col = unit if s.bias else i  # this unit's column in theta_l: the weights it sends on
    receivers = range(1, layers[l] + 1)
    symbols = [f"{s.params.at(l, k - 1, col).short}·δ_{unit_name(layers, l + 1, k)}" for k in receivers]
    lines.append((Span(f"δ_{name} = ({_terms(symbols)}) · {f}′(net_{name})", SYMBOL),
                  Span(f"   the weights {name} sends on, times the deltas they reach", NOTE)))
    for r in rows:
        products = [f"{_factor(theta[k - 1, col])}·{_factor(nxt[r, k - 1])}" for k in receivers]
        lines.append((_lead(step, r, row), Span("("), Span(_terms(products), GIVEN), Span(") · "),
                      Span(_factor(deriv[r, i]), GIVEN)))
        lines.append((_lead(step, r, row), Span(fmt(delta[r, i]), NEW)))
    return lines + _more(more)
