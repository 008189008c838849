"""A debugging session: everything the app shows, apart from how it shows it (no terminal code here).

The session owns the run being walked (scenario, trace, printed figures, divergence), where the walk is (the
current step and the selected parameter), the breakpoints and the next stop, long runs with progress and
cancellation, reload keeping the position, exports and the derivation text of a step. Every move returns a
:class:`Move` saying whether the position changed and what to tell the user (:class:`Note`); the app turns
those into notifications and repaints. Nothing here imports Textual, so it is tested without a terminal.

Breakpoints are conditions of the condition language (:mod:`bpdebug.core.conditions`), each on or off; ``nan``
is on from the start. :meth:`Session.search` looks for the first later step where one holds (or a printed
figure fails), in a worker on long searches. Watches pin quantities (:mod:`.watching`). A what-if edit forks
the run from the current epoch (:meth:`Session.fork`): the session keeps the original and the fork, each a
:class:`Run` with a trace of its own, and shows one of them.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.params import Param
from ..core.scenario import Scenario, load
from ..text.narrate import (
    default_param,
)
from .parts.base import SessionState
from .parts.breakpoints import DEFAULT_CONDITIONS, STEPPED_SYNC, Breakpoints
from .parts.exports import EXERCISE, WEIGHT_FORMATS, Exports, export_formats
from .parts.forks import Forks
from .parts.runs import PROGRESS_EVERY, Run, Runs
from .parts.values import (
    STAY,
    SYNC_EPOCHS,
    Move,
    Note,
    PendingStep,
    Position,
    Severity,
    View,
    Walk,
    bundled_scenarios,
)
from .parts.walker import Walker

if TYPE_CHECKING:  # watches and practice load with the first one; the outcomes, on first access (__getattr__)
    from ..text.practice import PracticeSession, Question
    from .parts.outcomes import BreakEntry, Breakpoint, ExportFormat, LossCurve, Reload, RunOutcome, Search
    from .watching import Watch, WatchRow


DERIVATION_CACHE = 512  # derivation texts kept, keyed by (generation, step, parameter)


__all__ = [
    "DEFAULT_CONDITIONS", "EXERCISE", "PROGRESS_EVERY", "STAY", "STEPPED_SYNC", "SYNC_EPOCHS", "WEIGHT_FORMATS",
    "BreakEntry", "Breakpoint", "ExportFormat", "LossCurve", "Move", "Note", "PendingStep", "Position", "Reload",
    "Run", "RunOutcome", "Search", "Session", "Severity", "View", "bundled_scenarios", "export_formats",
]

_OUTCOMES = ("BreakEntry", "Breakpoint", "ExportFormat", "LossCurve", "Reload", "RunOutcome", "Search")


if not TYPE_CHECKING:  # mypy reads the outcomes' imports above instead, and so still flags any other name

    def __getattr__(name: str) -> object:
        """The values only an action builds after start-up (:mod:`.parts.outcomes`), imported on first access
        (PEP 562) so that the first frame does not create their classes (~0.5 ms each)."""
        if name in _OUTCOMES:
            from .parts import outcomes

            return getattr(outcomes, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Session(Walker, Runs, Breakpoints, Forks, Exports, SessionState):
    """One scenario being debugged: its run, where the walk is, and what lies ahead.

    Methods that move return a :class:`Move`; none of them touches a terminal. :meth:`run_to` and
    :meth:`derivation` may run in a worker thread; everything else belongs to the caller's (UI) thread.
    """

    def __init__(self, path: str | Path, scenario: Scenario | None = None) -> None:
        self.path = Path(path)
        self._generations = -1  # the last generation handed out: each run (reloaded or forked) has its own
        self.generation = 0
        self._set_scenario(scenario if scenario is not None else load(self.path))
        self._walk = Walk(0, default_param(self.scenario).canonical)  # breakpoints: the defaults, parsed on first need
        self._derive_lock = threading.Lock()  # one symbolic build at a time; a burst of keys waits for it
        self._warm: set[tuple[int, str]] = set()  # (generation, param) whose symbolic chain is built
        self._derivation = functools.lru_cache(maxsize=DERIVATION_CACHE)(self._derive_text)
        self.practice: PracticeSession | None = None  # practice mode (P): the questions, while it lasts
        self._pending = False  # practising: the current step is the question, its results hidden


    @property
    def title(self) -> str:
        return self.scenario.title or self.path.name


    # ---------------------------------------------------------------------------------------- parameters
    def select(self, name: str) -> Move:
        p = self.scenario.params.find(name)
        if p is None:
            return Move(False, (Note(f"unknown parameter '{name}': expected {self.scenario.params.describe_names()}",
                                     "error"),))
        return self._select(p)

    def _select(self, p: Param) -> Move:
        moved = p.canonical != self._walk.param
        self._walk.param = p.canonical
        return Move(moved)

    def select_next(self, delta: int) -> Move:
        params = self.scenario.params.params
        i = params.index(self.selected)
        return self._select(params[(i + delta) % len(params)])

    def param_names(self) -> tuple[str, ...]:
        """Every name a parameter can be selected by, for completion: built once per parameter index (a
        784-128-10 network has 203,540), the same tuple each time after."""
        ps = self.scenario.params
        known = self.__dict__.get("_param_names")
        if known is None or known[0] is not ps:
            known = self._param_names = (ps, tuple(ps.shorts + ps.canonicals))
        return known[1]

    def param_for_unit(self, layer: int, unit: int) -> Param | None:
        """The parameter a unit stands for: its first incoming weight (an input unit or a bias: its first
        outgoing one)."""
        for p in self.scenario.params:
            if layer > 1 and unit > 0 and p.layer == layer - 1 and p.receiving_unit == unit and not p.is_bias:
                return p
            if (layer == 1 or unit == 0) and p.layer == layer and p.sending_unit == unit:
                return p
        return None

    def select_unit(self, layer: int, unit: int) -> Move:
        p = self.param_for_unit(layer, unit)
        return STAY if p is None else self._select(p)


    # ------------------------------------------------------------------------------------------- watches
    def _parse_watches(self, names: Iterable[str]) -> list[Watch]:
        from .watching import WatchError, parse_watch

        out = []
        for name in names:
            try:
                out.append(parse_watch(name, self.scenario))
            except WatchError:
                continue
        return out

    @property
    def watches(self) -> tuple[Watch, ...]:
        return tuple(self._walk.watches)

    def toggle_watch(self, text: str) -> Move:
        """Pin a quantity to the watch panel, or unpin it when it is already there."""
        from .watching import WatchError, parse_watch

        try:
            w = parse_watch(text, self.scenario)
        except WatchError as exc:
            return Move(False, (Note(str(exc), "error", 6),))
        for i, old in enumerate(self._walk.watches):
            if old.name == w.name:
                self._walk.watches.pop(i)
                return Move(True, (Note(f"watch removed: {w.name}", timeout=2),))
        self._walk.watches.append(w)
        return Move(True, (Note(f"watching {w.name}", timeout=2),))

    def watch_rows(self) -> list[WatchRow]:
        """Each watch at this step, at the same step of the previous epoch, and the change."""
        if not self._walk.watches:
            return []
        from .watching import watch_row

        step = self.shown_step
        spe = self.trace.steps_per_epoch
        previous = self.trace[step.index - spe] if step.index >= spe else None
        return [watch_row(w, step, previous) for w in self._walk.watches]

    # ------------------------------------------------------------------------------------------ practice
    def start_practice(self) -> PracticeSession:
        """Practice mode from the current step: its questions ask for the results of this epoch's steps from
        here on, about the selected parameter; :meth:`ask` follows them."""
        from ..text.practice import PracticeSession  # with the slip catalogue: imported when first used

        step = self.step
        self.practice = PracticeSession(self.trace, self.selected, step.epoch, step.index)
        return self.practice

    def ask(self, question: Question | None) -> Move:
        """Go to the step whose results ``question`` asks, with them hidden until it is answered (None: the
        practice has ended, or every question is answered: the step shows whole again)."""
        if question is None:
            moved = self._pending
            self._pending = False
            self.practice = None
            return Move(moved)
        self._walk.unit = None
        self._walk.stopped = None
        self._walk.index = question.step
        self._pending = True
        return Move()

    # ------------------------------------------------------------------------------------ gradient check
    def gradient_check(self) -> Note:
        """The selected parameter's numeric gradient check with this step's weights and examples."""
        from ..core.gradcheck import check_step

        p, step = self.selected, self.shown_step
        if not step.is_known(f"grad.theta{p.layer}"):
            at = step.index - step.template.position + next(
                t.position for t in self.trace.templates if t.kind == "gradient" and t.layer == p.layer)
            return Note(f"the gradient check of {p.short} is available from the step that computes ∂E/∂{p.short} "
                        f"on (step {at + 1}); here it is not computed yet", timeout=6, title="gradient check")
        c = check_step(self.step, self.selected)
        where = f"epoch {self.step.epoch}" + (f" example {self.step.example}" if self.step.example else "")
        text = (f"{c.param.short} at {where}: analytic ∂E/∂{c.param.short} = {c.analytic:.10g}\n"
                f"central difference (h = {c.step:.3g}) = {c.numeric:.10g}\n"
                f"relative error {c.relative_error:.2e}: {c.verdict.value}")
        return Note(text, "information" if c.verdict.passes else "error", 12, "gradient check")


    # ---------------------------------------------------------------------------------------- derivation
    def derivation_is_quick(self, param: str | None = None) -> bool:
        """Whether the symbolic chain of ``param`` is built, so a step's derivation only substitutes numbers
        (well under a millisecond) and can be computed on the UI thread."""
        return (self.generation, param or self._walk.param) in self._warm

    def derivation(self, index: int, param: str, generation: int | None = None) -> list[str] | str | None:
        """The chain-rule text lines of ``param`` at step ``index``, or a one-line reason why there are none;
        None when ``generation`` is no longer the session's (a reload came in between). Cached (bounded) by
        (generation, step, parameter); the first call for a parameter imports SymPy and builds the symbolic
        chain, which takes a moment: call it from a worker then."""
        generation = self.generation if generation is None else generation
        if generation != self.generation:
            return None
        return self._derivation(generation, index, param)

    def _derive_text(self, generation: int, index: int, param: str) -> list[str] | str:
        with self._derive_lock:
            scenario, trace = self.scenario, self.trace
            if generation != self.generation:  # a reload came in between: nobody will ask for this one
                return "the scenario was reloaded"
            try:
                from .. import derivation
            except ImportError as exc:
                return f"the chain rule is not available ({exc})"
            p = scenario.params.find(param)
            if p is None:
                return f"no parameter {param} in this scenario"
            try:
                step = trace[index]
                lines = list(derivation.derive(step, p, scenario=scenario).text_lines())
                if step.kind == "update" and not scenario.plan.is_plain:  # the optimizer's rule, state, numbers
                    from ..text.update_rule import update_lines

                    lines += ["", *update_lines(step.record, p)]
            except Exception as exc:  # noqa: BLE001 - shown in the panel, the walk goes on
                return f"could not derive {p.short}: {type(exc).__name__}: {exc}"
            self._warm.add((generation, param))
            return lines


