"""The state and rules of the debugger on a graph scenario (no Textual here): where the walk is, the selected
value, breakpoints, watches, what-if forks, practice and the gradient check, over a :class:`GraphTrace`.

A network's :class:`~bpdebug.tui.session.Session` does the same over a network's trace; this one asks only the
questions of :mod:`bpdebug.core.protocol` plus the graph's own (its program and nodes). Every method returns a
short note for the status line; nothing here shows a number its step has not computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.conditions import ConditionError
from ..core.graph.conditions import GraphCondition, first_stop, grammar, parse_condition
from ..core.graph.program import CONST, LEAF, Program
from ..core.graph.scenario import GraphScenario
from ..core.graph.trace import GraphStep, GraphStepKind, GraphTrace
from ..text.numbers import number

if TYPE_CHECKING:
    from ..text.graph_practice import GraphPracticeSession

NETWORK_ONLY = ("the decision map", "the gradient flow per layer", "unit by unit", "examples of a batch")


@dataclass(frozen=True)
class Watch:
    name: str


class GraphSession:
    """One graph scenario's walk: a position in the trace and what the views show there."""

    def __init__(self, path: str | Path, scenario: GraphScenario) -> None:
        self.path = Path(path)
        self.original = scenario
        self.scenario = scenario
        self.trace = GraphTrace(scenario)
        self.original_trace = self.trace
        self.index = 0
        self.by_line = False  # n/p step one program line at a time (all its operations)
        self.selected = scenario.learn[0] if scenario.learn else scenario.program.leaves[0]
        self.conditions: list[GraphCondition] = [parse_condition("nan", scenario)]
        self.watches: list[str] = []
        self.edits: tuple[str, ...] = ()
        self._edits: tuple = ()  # core.graph.whatif.GraphEdit, in order
        self.forked: GraphTrace | None = None
        self.practice: GraphPracticeSession | None = None  # text/graph_practice: epoch 1's questions
        self._paths: tuple[tuple[int, str], frozenset[int]] | None = None

    # ------------------------------------------------------------------------------------------ position
    @property
    def program(self) -> Program:
        return self.scenario.program

    @property
    def step(self) -> GraphStep:
        return self.trace.step(self.index)

    @property
    def epoch(self) -> int:
        return self.index // self.trace.steps_per_epoch + 1

    @property
    def position(self) -> int:
        return self.index % self.trace.steps_per_epoch

    def _group(self, index: int) -> tuple[str, int | None]:
        """What stepping by line keeps together: the steps of one phase over nodes of one program line."""
        t = self.trace.templates[index % self.trace.steps_per_epoch]
        if t.node is None:
            return (t.kind, None)
        line = self.program.nodes[t.node].line
        return (t.kind, line if line is not None else -1 - t.node)

    def next_step(self) -> str:
        if self.index + 1 >= len(self.trace):
            self.trace.extend(self.epoch + 1)
        target = self.index + 1
        if self.by_line:
            group = self._group(target)
            while target + 1 < len(self.trace) and self.epoch_of(target + 1) == self.epoch_of(target) \
                    and self._group(target + 1) == group:
                target += 1
        self.index = target
        return ""

    def previous_step(self) -> str:
        if self.index == 0:
            return "at the first step"
        target = self.index
        if self.by_line:  # back past this line's steps: to the last step of the line before
            group = self._group(target)
            while target > 0 and self.epoch_of(target - 1) == self.epoch_of(target) \
                    and self._group(target - 1) == group:
                target -= 1
        self.index = max(0, target - 1)
        return ""

    def epoch_of(self, index: int) -> int:
        return index // self.trace.steps_per_epoch + 1

    def toggle_by_line(self) -> str:
        self.by_line = not self.by_line
        return "n and p step one program line at a time" if self.by_line else "n and p step one operation at a time"

    def next_epoch(self) -> str:
        self.trace.extend(self.epoch + 1)
        self.index += self.trace.steps_per_epoch
        return ""

    def previous_epoch(self) -> str:
        if self.epoch == 1:
            return "at the first epoch"
        self.index -= self.trace.steps_per_epoch
        return ""

    def go_to_epoch(self, epoch: int, progress: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> str:
        """The same step of ``epoch`` (trains there first, in chunks, with progress; stops when asked)."""
        if epoch < 1:
            return f"epoch {epoch}: expected an epoch from 1"
        reached = self.trace.advance(epoch, progress, should_stop) if epoch > 1 else 1
        reached = max(1, min(reached, epoch))
        self.trace.extend(reached)
        self.index = (reached - 1) * self.trace.steps_per_epoch + self.position
        return "" if reached == epoch else f"stopped at epoch {reached}"

    # ----------------------------------------------------------------------------------------- selection
    def select(self, name: str) -> str:
        name = name.strip().removeprefix("grad.")
        try:
            node = self.program.resolve(name)
        except KeyError as exc:
            return str(exc.args[0]) if exc.args else f"{name}: no such value"
        if self.program.nodes[node].op == CONST and not self.program.nodes[node].bindings:
            return f"{name} is a constant: it has no gradient worth a chain rule"
        self.selected = self.program.nodes[node].key
        return ""

    @property
    def selected_node(self) -> int:
        return self.program.resolve(self.selected)

    def names(self) -> list[str]:
        """Every value a user can select, leaves first (for suggestions)."""
        return [n.key for n in self.program.nodes if n.op != CONST or n.bindings]

    def paths_of_selected(self) -> frozenset[int]:
        """The nodes on a path from the selected value to the output (the selected one included)."""
        key = (id(self.program), self.selected)
        if self._paths is None or self._paths[0] != key:
            self._paths = (key, self._paths_of(self.selected_node))
        return self._paths[1]

    def _paths_of(self, start: int) -> frozenset[int]:
        program = self.program
        reaches = [False] * len(program.nodes)
        reaches[program.output] = True
        for i in range(program.output - 1, start - 1, -1):
            reaches[i] = any(reaches[u] for u, _ in program.users[i])
        if not reaches[start]:
            return frozenset({start})
        on: set[int] = set()
        stack = [start]
        while stack:
            i = stack.pop()
            if i in on or not reaches[i]:
                continue
            on.add(i)
            stack.extend(u for u, _ in program.users[i])
        return frozenset(on)

    # --------------------------------------------------------------------------------------------- views
    def title(self) -> str:
        return self.scenario.title

    def status(self) -> str:
        step = self.step
        phase = {GraphStepKind.FORWARD: "forward", GraphStepKind.BACKWARD: "backward",
                 GraphStepKind.UPDATE: "update"}[step.kind]
        fork = f"  what if {', '.join(self.edits)}" if self.edits else ""
        mode = "by line" if self.by_line else "by operation"
        return (f"epoch {self.epoch}  {phase}  step {self.position + 1} of {self.trace.steps_per_epoch}  "
                f"{mode}  ∂{self.trace.layout.output_key}/∂{self.selected}{fork}")

    def narration(self) -> list[str]:
        from ..text.graph_narrate import narrate

        with np.errstate(all="ignore"):
            return narrate(self.step)

    def derivation(self) -> list[str]:
        """The chain rule of the selected value at this step, as text lines."""
        return self.derivation_at(self.trace, self.index, self.selected)

    @staticmethod
    def derivation_at(trace: GraphTrace, index: int, selected: str) -> list[str]:
        from ..derivation.graph import derive_graph

        with np.errstate(all="ignore"):
            return derive_graph(trace.step(index), selected).text_lines()

    def figures(self) -> list[str]:
        """The printed figures: each checked once the walk reaches the step that computes it."""
        out = []
        for r in self.trace.check_all():
            e = r.expectation
            if r.step > self.index:
                out.append(f"  …    {e.quantity} = {number(e.value[0])} (printed)")
            else:
                out.append(f"  {'holds' if r.holds else 'FAILS'}  {e.quantity} = {number(e.value[0])}, computed "
                           f"{number(r.computed[0])}")
        return out

    # -------------------------------------------------------------------------------------- breakpoints
    def add_condition(self, text: str) -> str:
        try:
            c = parse_condition(text, self.scenario)
        except ConditionError as exc:
            return str(exc)
        if any(x.text == c.text for x in self.conditions):
            self.conditions = [x for x in self.conditions if x.text != c.text]
            return f"breakpoint {c.text} removed"
        self.conditions.append(c)
        return f"breakpoint {c.text} added"

    @staticmethod
    def condition_help() -> str:
        return grammar()

    def continue_run(self, to_epoch: int | None = None, progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> str:
        """To the first later step where a breakpoint holds (within the scenario's epochs, or ``to_epoch``)."""
        last = max(to_epoch or self.trace.epochs, self.epoch)
        found = first_stop(self.trace, tuple(self.conditions), self.index + 1, last, progress, should_stop)
        if found is None:
            self.index = len(self.trace) - 1
            return f"no breakpoint holds through epoch {last}: at the last step"
        if found.interrupted:
            return "stopped"
        self.trace.extend(found.epoch)
        self.index = found.step
        return f"stopped: {found.condition.text if found.condition else ''}: {found.reason}"

    # ------------------------------------------------------------------------------------------ watches
    def toggle_watch(self, name: str) -> str:
        name = name.strip()
        if name in self.watches:
            self.watches.remove(name)
            return f"no longer watching {name}"
        try:
            self.trace.layout.node_of(name)
        except KeyError as exc:
            return str(exc.args[0]) if exc.args else name
        self.watches.append(name)
        return f"watching {name}"

    def watch_rows(self) -> list[str]:
        step, hidden = self.step, self._hidden_names()
        return [f"  {name} = " + ("?" if name in hidden else number(step.value(name)) if step.is_known(name) else "…")
                for name in self.watches]

    def _hidden_names(self) -> frozenset[str]:
        found = self.hidden()
        if found is None:
            return frozenset()
        what, key = found
        return frozenset({key} if what == "value" else {f"grad.{key}"} if what == "grad" else {f"{key}.after"})

    # ------------------------------------------------------------------------------------ gradient check
    def gradient_check(self) -> str:
        from ..core.graph.gradcheck import check_leaf

        node = self.selected_node
        if self.program.nodes[node].op != LEAF:
            return f"the gradient check perturbs a leaf: select one ({', '.join(self.program.leaves)})"
        step = self.step
        if not step.is_known(f"grad.{self.selected}"):
            return f"∂{self.trace.layout.output_key}/∂{self.selected} is not computed yet at this step"
        p = next(p for p in (*self.scenario.params, *_all_leaves(self.scenario)) if p.name == self.selected)
        with np.errstate(all="ignore"):
            check = check_leaf(self.trace.tape, step.record.leaves_before, p, float(step.record.gradients[node]))
        return check.describe()

    # --------------------------------------------------------------------------------------------- what if
    def fork(self, text: str) -> str:
        """What if: ``NAME=VALUE`` for a leaf's starting value or ``learning_rate`` (one or more, comma-separated):
        a new run from the original with every edit so far (core/graph/whatif)."""
        from ..core.graph.whatif import apply_edits, parse_edit
        from ..core.whatif import EditError

        try:
            edits = tuple(parse_edit(part.strip(), self.original) for part in text.split(",") if part.strip())
        except EditError as exc:
            return str(exc)
        if not edits:
            return "expected NAME=VALUE, such as a=-3"
        self._edits = (*self._edits, *edits)
        self.edits = tuple(e.text for e in self._edits)
        self.scenario = apply_edits(self.original, self._edits)
        self.forked = self.trace = GraphTrace(self.scenario)
        self.trace.extend(self.epoch)
        return f"what if {', '.join(self.edits)}: a new run from these values (o: back to the original)"

    def switch_run(self) -> str:
        if self.forked is None:
            return "no what-if fork (e NAME=VALUE makes one)"
        if self.trace is self.forked:
            self.trace, self.scenario = self.original_trace, self.original
            return "the original run"
        self.trace, self.scenario = self.forked, self.forked.scenario
        return f"the fork: what if {', '.join(self.edits)}"

    # -------------------------------------------------------------------------------------------- practice
    @property
    def practising(self) -> bool:
        return self.practice is not None

    def toggle_practice(self) -> str:
        """Practice (text/graph_practice): epoch 1's values, then gradients, then the learned leaves after the
        update, each typed before it is shown; P again ends it with the score."""
        if self.practice is not None:
            line = self.practice.score_line()
            self.practice = None
            return f"practice over: {line}"
        from ..text.graph_practice import GraphPracticeSession

        self.practice = GraphPracticeSession(self.trace)
        q = self.practice.current
        if q is None:
            self.practice = None
            return "nothing to practise: the graph computes nothing"
        self.index = q.step
        return "practice: n asks the number hidden as ?, h in the answer gives a hint, r reveals; P ends it"

    def hidden(self) -> tuple[str, str] | None:
        """While practising: (what, key) of the number asked ("value", "grad" or "after"), shown as ?."""
        q = self.practice.current if self.practice is not None else None
        return None if q is None else (q.what, self.program.nodes[q.node].key)

    def practice_prompt(self) -> str:
        return self.practice.prompt() if self.practice is not None else ""

    def practice_answer(self, text: str) -> str:
        """The learner's answer (``h`` a hint, ``r`` reveal): right or revealed, the walk shows it and moves to
        the next question's step; wrong, the slips that give that answer are named."""
        p = self.practice
        if p is None or p.current is None:
            return "not practising (P starts)"
        typed = text.strip().lower()
        if typed in ("h", "hint"):
            return "hint: " + p.hint()
        feedback = p.reveal() if typed in ("r", "reveal") else p.answer(text)
        if not (feedback.correct or feedback.revealed):
            return feedback.message
        if p.current is None:
            self.index = self.trace.steps_per_epoch - 1
            line = p.score_line()
            self.practice = None
            return f"{feedback.message}. Practice done, {line}"
        self.index = p.current.step
        return feedback.message

    # --------------------------------------------------------------------------------------------- exports
    EXPORTS = ("md", "tex", "txt", "json", "py", "dot", "svg")

    def export(self, fmt: str, path: str | Path) -> str:
        """Write the run shown (the original or the fork) as ``fmt`` to ``path``: md/tex/txt/json/py over the
        scenario's epochs (or as far as the walk went), dot/svg the picture of the epoch shown. The scenario's
        own files are never overwritten."""
        from ..core.atomic import OutputError, write_output
        from ..transcript import dot, graph_document, graph_dot, graph_json, graph_script

        if fmt not in self.EXPORTS:
            return f"{fmt}: expected one of {', '.join(self.EXPORTS)}"
        epochs = max(self.scenario.epochs, self.epoch)
        trace = GraphTrace(self.scenario, epochs)
        try:
            with np.errstate(all="ignore"):
                pieces: Iterable[str]
                if fmt in graph_document.FORMATS:
                    pieces = (graph_document.render(fmt, trace, epochs),)
                elif fmt == "json":
                    pieces = graph_json.chunks(trace, epochs)
                elif fmt == "py":
                    pieces = (graph_script.script(trace, epochs),)
                else:
                    picture = graph_dot.graph(trace, self.epoch)
                    pieces = (dot.to_svg(picture) if fmt == "svg" else picture,)
                write_output(Path(path), pieces, protect=self.scenario.source_files)
        except OutputError as exc:
            return f"not written: {exc}"
        except (dot.GraphvizMissing, RuntimeError, OSError) as exc:
            return f"not written: {exc}"
        return f"wrote {path}"

    @staticmethod
    def network_only() -> str:
        return f"for a network only, not for a graph: {', '.join(NETWORK_ONLY)}"


def _all_leaves(scenario: GraphScenario) -> tuple:
    from ..core.graph.scenario import GraphParam

    return tuple(GraphParam(n, scenario.program.leaf(n), k) for k, n in enumerate(scenario.program.leaves))
