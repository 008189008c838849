"""Practice mode: the learner types each next step's numbers before they are shown.

A :class:`PracticeSession` walks the first epoch's steps (every layer's z and a, the error terms, the total
error, every delta, then the chosen parameter's gradient and its new value) and asks for each result. It holds
no terminal code: a view (the command line, or the app) shows :meth:`PracticeSession.prompt`, passes what the
learner typed to :meth:`PracticeSession.answer`, and shows the :class:`Feedback`. An answer holds when every
number agrees with the engine's to the digits typed (at least 3 significant digits); a wrong answer says which
entries are off, runs the slip catalogue on it ("your a2 is σ of z2 without the bias"), and offers a hint (the
formula, then the numbers substituted) or to reveal. :meth:`PracticeSession.record` is the session for a
teacher's records (JSON-ready).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from ..core.diagnosis import explain
from ..core.engine import PassRecord, Trace
from ..core.params import Param
from ..core.scenario import Expectation
from .numbers import number

MIN_SIGNIFICANT = 3
MAX_ASKED = 8  # a layer wider than this is asked this many units at a time
LISTED_EXAMPLES = 3  # a mini-batch's question names this many of its examples, then "…"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$", re.I)


def _vec(values: Any) -> str:
    return "[" + ", ".join(number(float(v)) for v in np.ravel(values)) + "]"


@dataclass(frozen=True)
class Question:
    """One step's result to work out."""

    number: int  # 1-based
    step: int  # index of the trace step that computes it
    title: str  # "a2, the output of layer 2"
    names: tuple[str, ...]  # one per number asked: "a2[1]", "a2[2]"
    answer: tuple[float, ...]
    formula: str  # hint 1
    substituted: str  # hint 2
    expectation: Expectation = field(repr=False)  # the answer as a figure, for the slip catalogue
    part: tuple[int, int] | None = None  # a wide layer asked a few units at a time: (this part, of how many)

    @property
    def size(self) -> int:
        return len(self.answer)

    @property
    def last_part(self) -> bool:
        return self.part is None or self.part[0] == self.part[1]


@dataclass(frozen=True)
class Feedback:
    correct: bool
    message: str  # what to show, one or a few lines
    off: tuple[int, ...] = ()  # 0-based entries that do not agree
    slips: tuple[str, ...] = ()  # the catalogue's sentences that reproduce the answer
    revealed: bool = False
    done: bool = False  # no question left


def significant_digits(typed: str) -> int:
    """How many significant digits a typed number has: ``0.35`` 2, ``0.3450`` 4, ``3.5e-2`` 2."""
    mantissa = typed.strip().lower().lstrip("+-−").partition("e")[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def tolerance(typed: str, answer: float) -> float:
    """Half a unit of the last digit typed, and never looser than 3 significant digits of the answer."""
    text = typed.strip().lower().lstrip("+-")
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    typed_tol = 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))
    if answer == 0 or not math.isfinite(answer):
        return typed_tol
    significant = 0.5 * 10.0 ** (math.floor(math.log10(abs(answer))) - (MIN_SIGNIFICANT - 1))
    return min(typed_tol, significant)


def parse_numbers(text: str) -> list[str] | None:
    parts = [p for p in re.split(r"[\s,;\[\]]+", text.strip()) if p]
    parts = [p.replace("−", "-") for p in parts]
    return parts if parts and all(_NUMBER.match(p) for p in parts) else None


class Asked(Protocol):
    """What the walk through the questions reads of a question (a network's or a graph's)."""

    @property
    def formula(self) -> str: ...

    @property
    def substituted(self) -> str: ...


Q = TypeVar("Q", bound=Asked)


class QuestionWalk(Generic[Q]):
    """What a network's and a graph's practice share: the current question, the hints, the score and the record.
    A subclass sets ``questions``, ``position``, ``hints``, ``tries`` and ``log``."""

    questions: tuple[Q, ...]
    position: int
    hints: int
    tries: int
    log: list[dict[str, Any]]

    @property
    def current(self) -> Q | None:
        return self.questions[self.position] if self.position < len(self.questions) else None

    @property
    def asked(self) -> int:
        """How many questions this session asks."""
        return len(self.questions)

    def hint(self) -> str:
        """The formula first, then the numbers substituted."""
        q = self.current
        if q is None:
            return ""
        self.hints += 1
        return q.formula if self.hints == 1 else f"{q.formula}: {q.substituted}"

    def score(self) -> dict[str, int]:
        closed = [x for x in self.log if "result" in x]
        return {"questions": self.asked, "answered": len(closed),
                "right": sum(x["result"] == "right" for x in closed),
                "first_try": sum(x["result"] == "right" and x["tries"] == 1 and x["hints"] == 0 for x in closed),
                "revealed": sum(x["result"] == "revealed" for x in closed)}

    def score_line(self) -> str:
        sc = self.score()
        return (f"score: {sc['right']} of {sc['questions']} right ({sc['first_try']} at the first try, without a "
                f"hint), {sc['revealed']} revealed")

    def _record(self, title: str, path: object, parameter: str | None) -> dict[str, Any]:
        """The session for a teacher's records (JSON-ready)."""
        return json_ready({"scenario": path, "title": title, "parameter": parameter, "score": self.score(),
                           "log": self.log})


class PracticeSession(QuestionWalk["Question"]):
    """The questions of one epoch (the first by default) and the learner's progress through them, from the first
    question at or after step ``start`` (a trace index; the app starts where the walk is)."""

    def __init__(self, trace: Trace, param: Param | None = None, epoch: int = 1, start: int = 0) -> None:
        self.trace = trace
        self.epoch = epoch
        s = trace.scenario
        last = s.n_layers - 1
        self.param = param or next((p for p in s.params if p.layer == last and not p.is_bias), s.params.params[0])
        self.questions = tuple(self._questions())
        self.position = self.first = next((q.number - 1 for q in self.questions if q.step >= start), 0)
        self.hints = 0  # hints taken on the current question
        self.tries = 0
        self.log: list[dict[str, Any]] = []
        self._known: list[Expectation] = []  # the answers revealed or right so far, as figures
        self._one = trace.epoch(epoch).passes[0].numbers.a[1].shape[0] == 1  # one example per pass

    # --------------------------------------------------------------------------------- the questions
    def _questions(self) -> list[Question]:
        trace, s = self.trace, self.trace.scenario
        out: list[Question] = []
        for n, record in enumerate(trace.epoch(self.epoch).passes):
            ex = record.example or record.rows[0] + 1
            for tpl in trace.templates:
                step = (self.epoch - 1) * trace.steps_per_epoch + n * trace.steps_per_pass + tpl.position
                for q in self._ask(record, tpl.kind, tpl.layer, ex):
                    title, names, answer, formula, substituted, e = q
                    parts = -(-len(answer) // MAX_ASKED)
                    for k in range(parts):  # a wide layer: a few units at a time
                        cut = slice(k * MAX_ASKED, (k + 1) * MAX_ASKED)
                        part = (k + 1, parts) if parts > 1 else None
                        what = f"{title} (part {k + 1} of {parts})" if part else title
                        out.append(Question(len(out) + 1, step, what, names[cut], answer[cut], formula, substituted,
                                            e, part))
            if s.update == "batch":
                break
        return out

    def _figure(self, kind: str, quantity: str, values: tuple[float, ...], example: int, layer: int | None = None,
                param: Param | None = None) -> Expectation:
        return Expectation(-1, quantity, kind, values, len(values) == 1 and kind not in ("z", "a", "delta",
                                                                                         "error"),
                           self.epoch, example, 0.0, None, layer, param, example_given=kind == "loss")

    def _ask(self, p: PassRecord, kind: str, layer: int | None, ex: int) -> list[tuple]:
        s, n = self.trace.scenario, p.numbers
        one = n.a[1].shape[0] == 1  # one example in the pass: vectors, not matrices
        if len(p.rows) > 1 and len(p.rows) < s.n_examples:  # a mini-batch: which examples it holds
            listed = ", ".join(str(r + 1) for r in p.rows[:LISTED_EXAMPLES])
            where = f" (mini-batch {p.batch}: examples {listed}{', …' if len(p.rows) > LISTED_EXAMPLES else ''})"
        else:
            where = "" if s.update == "batch" or s.n_examples == 1 else f" (example {ex})"

        def names(base: str, values: np.ndarray) -> tuple[str, ...]:
            rows, cols = values.shape
            if one:
                return tuple(f"{base}[{k + 1}]" for k in range(cols))
            return tuple(f"{base}[{k + 1},{i + 1}]" for i in range(rows) for k in range(cols))

        def flat(values: np.ndarray) -> tuple[float, ...]:
            return tuple(float(v) for v in np.asarray(values).ravel())

        if kind in ("z", "a") and layer is not None:
            values = n.z[layer] if kind == "z" else n.a[layer]
            act = s.activations[layer - 2]
            if kind == "z":
                w = p.weights_before[layer - 2]
                title = f"z{layer}{where}, the net input of layer {layer}"
                formula = (f"z{layer} = Θ{layer - 1} · [1, a{layer - 1}]" if s.bias
                           else f"z{layer} = Θ{layer - 1} · a{layer - 1}")
                prev = n.a[layer - 1][0]
                terms = []
                for k in range(w.shape[0]):
                    parts = ([number(float(w[k, 0]))] if s.bias else [])
                    parts += [f"{number(float(w[k, j + (1 if s.bias else 0)]))}·{number(float(prev[j]))}"
                              for j in range(prev.size)]
                    terms.append(f"z{layer}[{k + 1}] = " + " + ".join(parts))
                substituted = "; ".join(terms)
            else:
                title = f"a{layer}{where}, the output of layer {layer}"
                symbol = act.symbol or act.name
                formula = f"a{layer} = {symbol}(z{layer})" + (f", {act.formula}" if act.formula else "")
                substituted = "; ".join(f"a{layer}[{k + 1}] = {symbol}({number(float(v))})"
                                        for k, v in enumerate(n.z[layer][0]))
            e = self._figure(kind, f"{kind}{layer}", flat(values[0]) if one else flat(values), ex, layer)
            return [(title, names(f"{kind}{layer}", values), flat(values), formula, substituted, e)]
        if kind == "error":
            o, t = n.a[-1][0], p.targets[0]
            error_hints = (f"the error terms {s.loss.formula}", f"with t = {_vec(t)} and o = {_vec(o)}")
            loss_hints = (f"E = the {'sum' if s.loss.reduction == 'sum' else 'mean'} of the error terms",
                    "E = " + " + ".join(number(float(v)) for v in n.terms.ravel()))
            return [(f"the error terms{where}", names("E", n.terms), flat(n.terms), *error_hints,
                     self._figure("error", "error", flat(n.terms[0]), ex)),
                    (f"the total error E{where}" + (", the loss of this update, not the epoch's"
                                                    if self.trace.passes_per_epoch > 1 else ""),
                     ("E",), (float(n.loss),), *loss_hints,
                     self._figure("loss", "loss", (float(n.loss),), ex))]
        if kind == "delta" and layer is not None:
            values = n.delta[layer]
            act = s.activations[layer - 2]
            if layer == s.n_layers:
                formula = f"δ{layer} = ∂E/∂o ⊙ ∂o/∂z{layer}"
                substituted = f"∂E/∂o = {_vec(n.dE_dout[0])}" + (
                    f", ∂o/∂z = {_vec(act.derivative(n.z[layer], n.a[layer])[0])}" if act.derivative else "")
            else:
                formula = f"δ{layer} = (Θ{layer} without its bias column)ᵀ · δ{layer + 1} ⊙ f'(z{layer})"
                substituted = (f"δ{layer + 1} = {_vec(n.delta[layer + 1][0])}, f'(z{layer}) = "
                               f"{_vec(act.derivative(n.z[layer], n.a[layer])[0]) if act.derivative else '…'}")
            e = self._figure("delta", f"delta{layer}", flat(values[0]) if one else flat(values), ex, layer)
            return [(f"δ{layer}{where}, the delta of layer {layer}", names(f"delta{layer}", values), flat(values),
                     formula, substituted, e)]
        q = self.param
        if kind == "gradient" and layer == q.layer:
            g = float(n.gradients[q.layer - 1][q.row, q.col])
            a_in = "1 (the bias unit)" if q.is_bias else f"a{q.layer}[{q.sending_unit}]"
            formula = f"∂E/∂{q.short} = δ{q.layer + 1}[{q.row + 1}] · {a_in}" + (", summed over the examples"
                                                                                  if not one else "")
            a_val = 1.0 if q.is_bias else float(n.a[q.layer][0, q.sending_unit - 1])
            substituted = f"{number(float(n.delta[q.layer + 1][0, q.row]))} · {number(a_val)}"
            if q.shared:  # one bias fed to every unit of layer q.layer + 1: the sum of their deltas
                formula = (f"∂E/∂{q.short} = Σ_i δ{q.layer + 1}[i] · 1, over the units it feeds"
                           + (", summed over the examples" if not one else ""))
                substituted = " + ".join(f"{number(float(d))} · 1" for d in n.delta[q.layer + 1][0])
            e = self._figure("grad", f"grad.{q.short}", (g,), ex, None, q)
            return [(f"∂E/∂{q.short}{where}, the gradient of {q.short}", (f"∂E/∂{q.short}",), (g,), formula,
                     substituted, e)]
        if kind == "update":
            before = float(p.weights_before[q.layer - 1][q.row, q.col])
            g = float(n.gradients[q.layer - 1][q.row, q.col])
            after = float(p.weights_after[q.layer - 1][q.row, q.col])
            formula = f"{q.short} ← {q.short} − η · ∂E/∂{q.short}"
            substituted = f"{number(before)} − {number(s.learning_rate)} · {number(g)}"
            e = self._figure("param_after", f"{q.short}.after", (after,), ex, None, q)
            return [(f"{q.short} after the update{where}", (f"{q.short}.after",), (after,), formula, substituted, e)]
        return []

    # ---------------------------------------------------------------------------------- the session
    def prompt(self) -> str:
        q = self.current
        if q is None:
            return ""
        what = "1 number" if q.size == 1 else f"{q.size} numbers ({', '.join(q.names)})"
        return f"({q.number}/{len(self.questions)}) {q.title}: {what}"

    @property
    def asked(self) -> int:
        """How many questions this session asks (from the one it started at)."""
        return len(self.questions) - self.first

    def answer(self, text: str) -> Feedback:
        """Check what the learner typed; a right answer advances to the next question."""
        q = self.current
        if q is None:
            return Feedback(False, "no question left", done=True)
        typed = parse_numbers(text)
        if typed is None or len(typed) != q.size:
            return Feedback(False, f"expected {q.size} number{'s' if q.size != 1 else ''} "
                                   "separated by spaces (or h for a hint, r to reveal)")
        self.tries += 1
        values = [float(v) for v in typed]
        off = tuple(k for k, (v, t, want) in enumerate(zip(values, typed, q.answer, strict=True))
                    if not abs(v - want) <= tolerance(t, want) + 1e-15)
        short = [k for k in off if significant_digits(typed[k]) < MIN_SIGNIFICANT
                 and abs(values[k] - q.answer[k]) <= 0.5 * 10.0 ** _last_digit(typed[k]) + 1e-15]
        digits = (", ".join(f"{q.names[k]} = {typed[k]}" for k in short)
                  + f": give at least {MIN_SIGNIFICANT} significant digits")
        if off and len(short) == len(off):  # right as far as it goes: ask for the digits, do not call it off
            self.tries -= 1
            return Feedback(False, f"{digits}, then Enter again", tuple(short))
        off = tuple(k for k in off if k not in short)
        if not off:
            self._close(q, "right", values)
            return Feedback(True, f"right: {q.names[0] if q.size == 1 else q.title.split(',')[0]} = "
                                  f"{_vec(q.answer) if q.size > 1 else number(q.answer[0])}",
                            done=self.current is None)
        slips = self._slips(q, values, typed)
        wrong = ", ".join(q.names[k] for k in off)
        message = f"not yet: {wrong} {'is' if len(off) == 1 else 'are'} off"
        if slips:
            message += "; your answer is what " + " or ".join(slips) + " gives"
        if short:
            message += f"; {digits}"
        message += ". Type h for a hint, r to reveal, or try again."
        self.log.append({"question": q.number, "typed": values, "off": [q.names[k] for k in off],
                         "slips": list(slips)})
        return Feedback(False, message, off, slips)

    def _slips(self, q: Question, values: list[float], typed: list[str]) -> tuple[str, ...]:
        e = q.expectation
        # several examples in a pass, or a part of a wide layer: the catalogue reads one whole row
        if not self._one or len(values) != len(e.value) or q.part is not None:
            return ()
        tol = max(tolerance(t, v) for t, v in zip(typed, e.value, strict=True))
        figure = replace(e, index=len(self._known), value=tuple(values), tolerance=tol)
        causes = explain(self.trace, figure, self._known).causes
        # a slip made earlier and carried on (σ of a z2 without its bias) shows without the answers before it
        return causes or (explain(self.trace, figure).causes if self._known else ())

    def reveal(self) -> Feedback:
        q = self.current
        if q is None:
            return Feedback(False, "no question left", done=True)
        self._close(q, "revealed", None)
        shown = _vec(q.answer) if q.size > 1 else number(q.answer[0])
        return Feedback(False, f"{q.title.split(',')[0]} = {shown}", revealed=True, done=self.current is None)

    def _close(self, q: Question, how: str, values: list[float] | None) -> None:
        self.log.append({"question": q.number, "title": q.title, "result": how, "tries": self.tries,
                         "hints": self.hints, "typed": values, "answer": list(q.answer)})
        e = q.expectation
        if self._one and q.part is None:
            self._known.append(replace(e, index=len(self._known), tolerance=1e-12))
        self.position += 1
        self.hints = self.tries = 0

    # ----------------------------------------------------------------------------------- the record
    def record(self) -> dict[str, Any]:
        s = self.trace.scenario
        return self._record(s.title, s.path, self.param.short)


def _last_digit(typed: str) -> int:
    """The power of ten of the last digit typed: ``0.35`` -2, ``350`` 0, ``3.5e-2`` -3."""
    mantissa, _, exponent = typed.strip().lower().lstrip("+-−").partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return -decimals + (int(exponent) if exponent else 0)


def json_ready(value: Any) -> Any:
    """JSON-ready: a non-finite number becomes None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value
