"""Practice on a graph: the learner types each value, then each gradient, then each learned leaf after the update,
before it is shown. :class:`GraphPracticeSession` has :class:`~.practice.PracticeSession`'s interface (``current``,
``prompt``, ``answer``, ``hint``, ``reveal``, ``score_line``, ``record``), so the command line runs either; a
wrong gradient is run through the graph's slip catalogue ("your answer is what the gradient overwritten instead of
added … gives")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.graph import slips
from ..core.graph.ops import OPS
from ..core.graph.trace import GraphStepKind, GraphTrace
from .numbers import number
from .practice import Feedback, QuestionWalk, parse_numbers, tolerance


@dataclass(frozen=True)
class GraphQuestion:
    number: int  # 1-based
    step: int  # the trace step that computes it
    title: str
    names: tuple[str, ...]  # one name: the number asked
    answer: tuple[float, ...]
    formula: str  # hint 1
    substituted: str  # hint 2 (never the answer itself)
    what: str  # "value", "grad", "after"
    node: int

    @property
    def size(self) -> int:
        return 1


def _factor(v: float) -> str:
    text = number(v)
    return f"({text})" if text.startswith("−") else text


class GraphPracticeSession(QuestionWalk[GraphQuestion]):
    """The questions of a graph's first epoch and the learner's progress through them."""

    def __init__(self, trace: GraphTrace) -> None:
        self.trace = trace
        self.questions = tuple(self._questions())
        self.position = 0
        self.hints = 0
        self.tries = 0
        self.log: list[dict[str, Any]] = []

    def _questions(self) -> list[GraphQuestion]:
        trace, program = self.trace, self.trace.program
        s, out = trace.scenario, trace.layout.output_key
        record = trace.epoch(1)
        questions: list[GraphQuestion] = []

        def add(step: int, title: str, name: str, answer: float, formula: str, substituted: str, what: str,
                node: int) -> None:
            questions.append(GraphQuestion(len(questions) + 1, step, title, (name,), (answer,), formula, substituted,
                                           what, node))

        for step in trace:
            if step.epoch > 1:
                break
            if step.kind is GraphStepKind.FORWARD and step.node is not None:
                node = program.nodes[step.node]
                op = OPS[node.op]
                shown = [program.operand(j) if program.nodes[j].op == "const" and not program.nodes[j].bindings
                         else number(record.values[j]) for j in node.args]
                numbers = op.text(shown, node.k)
                add(step.index, f"{node.key} = {program.text(node.index)}", node.key, float(record.values[node.index]),
                    f"{node.key} = {program.text(node.index)} ({op.meaning})", f"{node.key} = {numbers}", "value",
                    node.index)
            elif step.kind is GraphStepKind.BACKWARD and step.node is not None:
                node = program.nodes[step.node]
                terms = step.terms()
                if node.index == program.output or not terms:
                    continue  # 1 for the output, 0 for an unused value: nothing to work out
                rules = "; ".join(self._rule(t.user) for t in terms)
                formula = (f"∂{out}/∂{node.key} = the sum over its {len(terms)} use{'s' if len(terms) > 1 else ''} of "
                           f"the upstream gradient times the local derivative ({rules})")
                substituted = " + ".join(f"{_factor(t.upstream)}·{_factor(t.local)}" for t in terms)
                add(step.index, f"∂{out}/∂{node.key}, the gradient of {node.key}", f"∂{out}/∂{node.key}",
                    float(record.gradients[node.index]), formula, substituted, "grad", node.index)
            elif step.kind is GraphStepKind.UPDATE:
                for name in s.learn:
                    p = s.param(name)
                    assert p is not None
                    before, grad = float(record.leaves_before[p.node]), float(record.gradients[p.node])
                    if s.plan.is_plain:
                        formula = f"{name} ← {name} − η·∂{out}/∂{name}"
                        substituted = f"{number(before)} − {number(s.learning_rate)}·{_factor(grad)}"
                    else:
                        formula = f"the {s.plan.optimizer.title} update of {name}"
                        substituted = f"{name} = {number(before)}, ∂{out}/∂{name} = {number(grad)}"
                    add(step.index, f"{name} after the update", f"{name}.after", float(record.leaves_after[p.node]),
                        formula, substituted, "after", p.node)
        return questions

    def _rule(self, user: int) -> str:
        """A user's local derivatives over its arguments' names: ``#4 = a * b: ∂/∂a = b, ∂/∂b = a``."""
        program = self.trace.program
        u = program.nodes[user]
        rule = OPS[u.op].derivatives([program.operand(j) for j in u.args], u.k)
        return f"{u.key} = {program.text(user)}: {rule}"

    def prompt(self) -> str:
        q = self.current
        return "" if q is None else f"({q.number}/{len(self.questions)}) {q.title}: 1 number"

    def answer(self, text: str) -> Feedback:
        q = self.current
        if q is None:
            return Feedback(False, "no question left", done=True)
        typed = parse_numbers(text)
        if typed is None or len(typed) != 1:
            return Feedback(False, "expected 1 number (or h for a hint, r to reveal)")
        self.tries += 1
        value = float(typed[0])
        tol = tolerance(typed[0], q.answer[0])
        if abs(value - q.answer[0]) <= tol + 1e-15:
            self._close(q, "right", value)
            return Feedback(True, f"right: {q.names[0]} = {number(q.answer[0])}", done=self.current is None)
        found = tuple(m.slip.sentence for m in slips.diagnose(self.trace, q.what, q.node, 1, value, tol))
        message = f"not yet: {q.names[0]} is off"
        if found:
            message += "; your answer is what " + " or ".join(found) + " gives"
        message += ". Type h for a hint, r to reveal, or try again."
        self.log.append({"question": q.number, "typed": [value], "off": [q.names[0]], "slips": list(found)})
        return Feedback(False, message, (0,), found)

    def reveal(self) -> Feedback:
        q = self.current
        if q is None:
            return Feedback(False, "no question left", done=True)
        self._close(q, "revealed", None)
        return Feedback(False, f"{q.names[0]} = {number(q.answer[0])}", revealed=True, done=self.current is None)

    def _close(self, q: GraphQuestion, how: str, value: float | None) -> None:
        self.log.append({"question": q.number, "title": q.title, "result": how, "tries": self.tries,
                         "hints": self.hints, "typed": None if value is None else [value], "answer": list(q.answer)})
        self.position += 1
        self.hints = self.tries = 0

    def record(self) -> dict[str, Any]:
        s = self.trace.scenario
        return self._record(s.title, s.path, None)
