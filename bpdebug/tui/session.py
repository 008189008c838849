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

import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..core.conditions import Condition, ConditionError, Stop, first_stop, parse_condition
from ..core.engine import Divergence, ExpectationResult, Step, Trace
from ..core.params import Param
from ..core.scenario import Scenario, ScenarioError, load
from ..core.storage import EXACT_EPOCHS
from ..core.whatif import EditError
from ..text.narrate import (
    MAX_UNITS_WALKED,
    NEW,
    NOTE,
    Narration,
    Span,
    default_param,
    narrate,
    narrate_unit,
    unit_name,
    unit_walk,
)
from ..text.numbers import PENDING, plural
from .watching import Watch, WatchError, WatchRow, parse_watch, watch_row

if TYPE_CHECKING:
    from ..core.diagnosis import Diagnosis
    from ..text.practice import PracticeSession, Question
    from ..transcript import WhatIf

Severity = Literal["information", "warning", "error"]

SYNC_EPOCHS = 200  # going this many epochs past what is computed is a long run (in a worker, with progress)
DERIVATION_CACHE = 512  # derivation texts kept, keyed by (generation, step, parameter)
PROGRESS_EVERY = 0.1  # seconds between two progress reports of a long run
STEPPED_SYNC = 20  # a search that walks the steps of more epochs than this runs in a worker
DEFAULT_CONDITIONS = ("nan",)  # breakpoints on from the start


def bundled_scenarios() -> Path:
    """The folder of the scenarios shipped inside the package."""
    return Path(str(resources.files("bpdebug") / "scenarios"))


@dataclass(frozen=True)
class Note:
    """Something to tell the user: one line, how serious, and for how long (None: the app's default)."""

    text: str
    severity: Severity = "information"
    timeout: float | None = None
    title: str = ""


@dataclass(frozen=True)
class Move:
    """What an action did: whether the position changed, and the notes to show."""

    moved: bool = True
    notes: tuple[Note, ...] = ()

    @property
    def refused(self) -> bool:
        """Nothing moved and nothing was said: the app rings the bell."""
        return not self.moved and not self.notes


STAY = Move(moved=False)


@dataclass(frozen=True)
class Position:
    """Where the walk is: which run (``generation``, bumped on reload), which step and which parameter, and
    with unit-by-unit steps on, which unit of the step's layer (None: the whole step)."""

    generation: int
    index: int
    param: str
    unit: int | None = None
    pending: bool = False  # practising: the step's results are the question, not shown yet


@dataclass(frozen=True)
class PendingStep(Step):
    """A step whose results are not shown yet (practice asks for them): it knows only what the step before it
    in the pass knew, so every panel that reads :meth:`Step.value` shows … for them."""

    before: frozenset[str] = frozenset()

    @property
    def known(self) -> frozenset[str]:
        return self.before


@dataclass(frozen=True, order=True)
class Breakpoint:
    """Stop at every step of a kind (and layer): ``step=KIND`` in the condition language."""

    kind: str
    layer: int | None = None

    @property
    def label(self) -> str:
        if self.kind in ("z", "a"):
            return f"{self.kind}{self.layer}"
        if self.kind == "delta":
            return f"δ{self.layer}"
        if self.kind == "gradient":
            return f"∂E/∂Θ{self.layer}"
        return self.kind

    @property
    def condition(self) -> str:
        """The same breakpoint in the condition language: ``step=delta2``."""
        kind = getattr(self.kind, "value", self.kind)
        layered = self.layer is not None and kind not in ("error", "update")  # one error step, one update
        return f"step={kind}{self.layer if layered else ''}"


@dataclass(frozen=True)
class BreakEntry:
    """A breakpoint: a parsed condition, on or off."""

    condition: Condition
    enabled: bool = True

    @property
    def text(self) -> str:
        return self.condition.text


@dataclass(frozen=True)
class Search:
    """What a search for the next stop found (:meth:`Session.search`): a stop, or None up to ``horizon``."""

    stop: Stop | None
    generation: int
    origin: int  # the step searched from
    horizon: int  # the last epoch searched


@dataclass
class Run:
    """One run the session can show: the original, or a what-if fork of it."""

    scenario: Scenario
    trace: Trace
    results: tuple[ExpectationResult, ...]
    generation: int
    offset: int = 0  # epochs of the original before the fork's epoch 1
    edits: tuple[str, ...] = ()  # the what-if edits, canonical text


@dataclass(frozen=True)
class LossCurve:
    """One run's loss for the loss plot, on the original run's epoch axis: its epochs 1 … ``epochs`` are the
    original's ``offset + 1`` … ``offset + epochs``."""

    label: str
    trace: Trace
    offset: int
    epochs: int  # 0: none reached yet
    shown: bool  # the run being walked


@dataclass(frozen=True)
class RunOutcome:
    """How a long run ended: the epoch asked for, the last epoch computed, and whether it was stopped."""

    asked: int
    reached: int
    cancelled: bool
    generation: int
    offset: int  # the step position within the epoch to land on


@dataclass(frozen=True)
class Reload:
    """The result of re-reading the scenario file."""

    note: Note
    ok: bool
    same_shape: bool = True


@dataclass
class _Walk:
    """The mutable part: where the walk is."""

    index: int
    param: str
    conditions: list[BreakEntry] = field(default_factory=list)
    watches: list[Watch] = field(default_factory=list)
    stopped: tuple[int, str] | None = None  # (step, why) of the last search's stop, for the status line
    row: int = 0  # which example of a batch pass the network shows (0-based within the pass)
    chosen: bool = False  # whether the step panel narrates that example alone (m), or the whole pass (M)
    unit: tuple[int, int] | None = None  # (step position within the epoch, unit) of a unit-by-unit walk


class Session:
    """One scenario being debugged: its run, where the walk is, and what lies ahead.

    Methods that move return a :class:`Move`; none of them touches a terminal. :meth:`run_to` and
    :meth:`derivation` may run in a worker thread; everything else belongs to the caller's (UI) thread.
    """

    def __init__(self, path: str | Path, scenario: Scenario | None = None) -> None:
        self.path = Path(path)
        self._generations = -1  # the last generation handed out: each run (reloaded or forked) has its own
        self.generation = 0
        self._set_scenario(scenario if scenario is not None else load(self.path))
        self._walk = _Walk(0, default_param(self.scenario).canonical, self._parse_all(DEFAULT_CONDITIONS))
        self._derive_lock = threading.Lock()  # one symbolic build at a time; a burst of keys waits for it
        self._warm: set[tuple[int, str]] = set()  # (generation, param) whose symbolic chain is built
        self._derivation = functools.lru_cache(maxsize=DERIVATION_CACHE)(self._derive_text)
        self.practice: PracticeSession | None = None  # practice mode (P): the questions, while it lasts
        self._pending = False  # practising: the current step is the question, its results hidden

    def _make_run(self, scenario: Scenario, trace: Trace, offset: int = 0, edits: tuple[str, ...] = ()) -> Run:
        self._generations += 1
        results = tuple(sorted(trace.check_all(), key=lambda r: r.step))
        return Run(scenario, trace, results, self._generations, offset, edits)

    def _set_scenario(self, scenario: Scenario, epochs: int | None = None) -> None:
        """A new original run (loading or reloading); any fork is dropped."""
        self.original = self._make_run(scenario, Trace(scenario, epochs))
        self.forked: Run | None = None
        # why each failing printed figure fails, by run generation and expectation index (see :meth:`diagnose`)
        self._diagnoses: dict[int, dict[int, Diagnosis]] = {}
        self._diagnosis_failed: dict[int, str] = {}
        self._show(self.original)

    def _show(self, run: Run) -> None:
        self.run = run
        self.scenario, self.trace, self.results = run.scenario, run.trace, run.results
        self.generation = run.generation

    @property
    def diagnoses(self) -> dict[int, Diagnosis] | None:
        """The shown run's diagnosis of its failing printed figures, by expectation index: None until
        :meth:`diagnose` has run, empty when every figure holds."""
        if all(r.holds for r in self.results):
            return {}
        return self._diagnoses.get(self.generation)

    @property
    def diagnosis_failed(self) -> str | None:
        """Why :meth:`diagnose` found nothing for the shown run, if it failed."""
        return self._diagnosis_failed.get(self.generation)

    def diagnose(self, generation: int | None = None) -> dict[int, Diagnosis] | None:
        """Which failing printed figures are root slips and which follow from them (core.diagnosis), on a trace
        of its own so this may run in a worker (a second or two on the blog); kept when ``generation`` is still
        the shown run's (None: a reload or a switch came in between, and nothing is kept)."""
        generation = self.generation if generation is None else generation
        known = self.diagnoses
        if known is not None and generation == self.generation:
            return known
        run = self.run
        if run.generation != generation:
            return None
        failed = None
        try:
            from ..core.diagnosis import diagnose

            found = {d.expectation.index: d.diagnosis for d in diagnose(Trace(run.scenario), run.results)}
        except Exception as exc:  # noqa: BLE001 - the panel says "not diagnosed"; the walk goes on
            found, failed = {}, f"the printed figures could not be diagnosed: {type(exc).__name__}: {exc}"
        self._diagnoses[generation] = found
        if failed:
            self._diagnosis_failed[generation] = failed
        if generation != self.generation:
            return None
        return found

    # ------------------------------------------------------------------------------------------- where
    @property
    def position(self) -> Position:
        return Position(self.generation, self._walk.index, self._walk.param, self.unit, self._pending)

    @property
    def index(self) -> int:
        """The current step's index in the trace (0-based)."""
        return self._walk.index

    @property
    def param(self) -> str:
        """The selected parameter's canonical name."""
        return self._walk.param

    @property
    def step(self) -> Step:
        """The current step."""
        return self.trace[self._walk.index]

    @property
    def pending(self) -> bool:
        """Whether the current step's results are hidden (the question practice asks)."""
        return self._pending

    @property
    def shown_step(self) -> Step:
        """The current step as the panels show it: while practice asks for its results, a
        :class:`PendingStep` that does not know them yet."""
        step = self.step
        if not self._pending:
            return step
        before = (self.trace[step.index - 1].known if step.template.position else
                  step.known - frozenset(step.computes))
        return PendingStep(step.index, step.template, step.record, step.total, before)

    @property
    def reached(self) -> int:
        """The last step whose results show: the current one, or the one before while its results are hidden
        (practice asks for them) or only some of its units are walked (unit by unit)."""
        index = self._walk.index
        unit = self.unit
        if self._pending or (unit is not None and unit < self.unit_count):
            return index - 1
        return index

    @property
    def selected(self) -> Param:
        """The selected parameter."""
        return self.scenario.params.get(self._walk.param)

    @property
    def title(self) -> str:
        return self.scenario.title or self.path.name

    def figure_counts(self) -> tuple[int, int]:
        """(holding, failing) among the printed figures the walk has reached."""
        reached = [r for r in self.results if r.step <= self.reached]
        holding = sum(r.holds for r in reached)
        return holding, len(reached) - holding

    @property
    def loss_epochs(self) -> int:
        """How many epochs' losses the walk has reached (the current epoch's once its error step is)."""
        step = self.step
        epochs = step.epoch - 1
        if step.index >= self.trace.first_step_of(step.epoch, None, "error"):  # the epoch's first pass
            epochs += 1
        return epochs

    def losses_reached(self) -> np.ndarray:
        """Loss of every epoch whose loss has been computed by the current step (its error step reached)."""
        epochs = self.loss_epochs
        if epochs <= 1 or epochs > EXACT_EPOCHS:  # past a million epochs the engine keeps a summary only
            return np.empty(0)
        return self.trace.loss_history(epochs)

    # -------------------------------------------------------------------------------------- divergence
    @property
    def divergence(self) -> Divergence | None:
        """The first step at which a number stops being finite, among the epochs the fast path has trained
        (every move trains up to the epoch it goes to): finding it trains nothing new, so the first frame never
        waits for it. The engine keeps what it found, so asking again costs nothing."""
        known = min(self.trace.losses_computed, self.trace.epochs)  # every move trains up to where it goes
        return self.trace.divergence(known) if known >= 1 else None

    def _divergence_index(self, epochs: int) -> int | None:
        """The trace index of the first non-finite step within ``epochs`` epochs (training as needed)."""
        d = self.trace.divergence(epochs)
        return None if d is None else d.step

    def _land(self, target: int, again: str) -> Move:
        """Move forward to ``target``, stopping first at the divergence step if the move would cross it.

        From the divergence step itself the same key goes on past it (``again`` names the key, for the note)."""
        here = self._walk.index
        epoch = target // self.trace.steps_per_epoch + 1
        self.trace.extend(epoch)  # a printed figure may lie further on
        d = self._divergence_index(epoch) if target > here else None
        if d is not None and here < d <= target:
            self._walk.index = d
            found = self.trace.divergence(epoch)
            assert found is not None
            self._set_unit(self._unit_named(found.unit))
            more = f"; {again} again goes on past it" if d < target else ""
            return Move(True, (Note(f"training diverged here: {found.describe()}{more}", "warning", 8),))
        moved = target != here
        self._walk.index = target
        return Move(moved)

    # ------------------------------------------------------------------------------------------ moving
    def next_step(self) -> Move:
        if self._step_unit(1):
            return Move()
        self._walk.unit = None  # the next step starts at its first unit
        notes: tuple[Note, ...] = ()
        if self._walk.index + 1 >= len(self.trace):
            self.trace.extend(self.trace.epochs + 1)
            e = self.scenario.epochs
            notes = (Note(f"epoch {self.trace.epochs}: training past the scenario's {plural(e, 'epoch')}",
                          timeout=3),)
        move = self._land(self._walk.index + 1, "n")
        return Move(move.moved, notes + move.notes)

    def previous_step(self) -> Move:
        if self._step_unit(-1):
            return Move()
        if self._walk.index == 0:
            return STAY
        self._walk.index -= 1
        self._set_unit(self.unit_count or None)  # walking back enters a layer at its last unit
        return Move()

    def next_epoch(self) -> Move:
        return self.go_to_epoch(self.step.epoch + 1, again="]")

    def previous_epoch(self) -> Move:
        if self.step.epoch == 1:
            return STAY
        return self.go_to_epoch(self.step.epoch - 1)

    @property
    def _offset(self) -> int:
        return self._walk.index % self.trace.steps_per_epoch

    def is_long_run(self, epoch: int) -> bool:
        """Whether reaching ``epoch`` trains far enough to run in a worker with progress (:meth:`run_to`)."""
        return epoch > self.trace.epochs and epoch - self.trace.losses_computed > SYNC_EPOCHS

    def go_to_epoch(self, epoch: int, again: str = "g") -> Move:
        """The same step position in ``epoch`` (computed now: see :meth:`is_long_run` for far epochs)."""
        self.trace.extend(epoch)
        return self._land((epoch - 1) * self.trace.steps_per_epoch + self._offset, again)

    @staticmethod
    def parse_epoch(text: str) -> int | Note:
        """The epoch a user typed, or why it is not one."""
        try:
            epoch = int(text)
        except ValueError:
            return Note(f"'{text}' is not an epoch number: expected a whole number ≥ 1", "error")
        if epoch < 1:
            return Note(f"epoch {epoch}: epochs start at 1", "error")
        return epoch

    def epoch_hint(self) -> str:
        """What the go-to prompt accepts, in words that fit how far the walk has come."""
        walked = self.trace.epochs
        so_far = "epoch 1 is the only one so far" if walked == 1 else f"epochs 1 to {walked} so far"
        return f"{so_far}; a larger number trains further"

    # ---------------------------------------------------------------------------------------- long runs
    def run_to(self, epoch: int, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> RunOutcome:
        """Train up to ``epoch`` with the fast path (in a worker thread): ``progress(done, total)`` at most every
        :data:`PROGRESS_EVERY` seconds, and ``should_stop()`` checked as it goes. Nothing moves until
        :meth:`finish_run` (on the UI thread)."""
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if progress is not None and (now - last[0] >= PROGRESS_EVERY or done >= total):
                last[0] = now
                progress(done, total)

        generation, offset, run = self.generation, self._offset, self.run
        other = None if self.forked is None else (self.original if self.showing_fork else self.forked)
        reached = run.trace.advance(epoch, report, should_stop)
        cancelled = reached < epoch
        if other is not None and not cancelled:  # the other run too, so the loss plot compares them that far
            other.trace.advance(max(1, run.offset + reached - other.offset), None, should_stop)
        return RunOutcome(epoch, max(1, reached), cancelled, generation, offset)

    def finish_run(self, outcome: RunOutcome) -> Move:
        """Land at the epoch a long run reached (the last computed one when it was stopped)."""
        if outcome.generation != self.generation:
            return STAY
        epoch = outcome.reached
        self.trace.extend(epoch)
        notes: tuple[Note, ...] = ()
        if outcome.cancelled:
            notes = (Note(f"stopped at epoch {epoch} of {outcome.asked}", timeout=4),)
        move = self._land((epoch - 1) * self.trace.steps_per_epoch + outcome.offset, "g")
        return Move(True, notes + move.notes)

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

    def param_names(self) -> list[str]:
        """Every name a parameter can be selected by, for completion."""
        ps = self.scenario.params
        return [p.short for p in ps] + [p.canonical for p in ps]

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

    # -------------------------------------------------------------------------------------- breakpoints
    def _parse_all(self, texts: Iterable[str], enabled: Iterable[bool] | None = None) -> list[BreakEntry]:
        """Conditions parsed against the current scenario (those that no longer parse are left out)."""
        flags = list(enabled) if enabled is not None else None
        out = []
        for i, text in enumerate(texts):
            try:
                c = parse_condition(text, self.scenario)
            except ConditionError:
                continue
            out.append(BreakEntry(c, True if flags is None else flags[i]))
        return out

    @property
    def conditions(self) -> tuple[BreakEntry, ...]:
        """Every breakpoint, on or off, in the order given."""
        return tuple(self._walk.conditions)

    @property
    def breakpoints(self) -> frozenset[Breakpoint]:
        """The ``step=KIND`` breakpoints that are on, as :class:`Breakpoint` values."""
        steps = [e.condition for e in self._walk.conditions if e.enabled and e.condition.kind == "step"]
        return frozenset(Breakpoint(t.kind, t.layer) for t in self.trace.templates for c in steps
                         if t.kind == c.step_kind and c.layer in (None, t.layer))

    def breakpoint_labels(self) -> str:
        """The conditions that are on, for the status line ("" while they are the defaults: nan)."""
        on = tuple(e.text for e in self._walk.conditions if e.enabled)
        return "" if on == DEFAULT_CONDITIONS else ", ".join(on)

    def suggested_condition(self) -> str:
        """The current step's kind (and layer) as a condition: what ``b`` offers."""
        return Breakpoint(self.step.kind, self.step.layer).condition

    def add_condition(self, text: str) -> Move:
        """Parse ``text`` and add it (on); an existing one is switched on instead."""
        try:
            c = parse_condition(text, self.scenario)
        except ConditionError as exc:
            return Move(False, (Note(str(exc), "error", 8),))
        for i, e in enumerate(self._walk.conditions):
            if e.text == c.text:
                self._walk.conditions[i] = BreakEntry(c, True)
                return Move(True, (Note(f"breakpoint on: {c.text}", timeout=2),))
        self._walk.conditions.append(BreakEntry(c))
        return Move(True, (Note(f"breakpoint set: {c.text} ({c.entry.sentence})", timeout=3),))

    def toggle_condition(self, i: int) -> Move:
        if not 0 <= i < len(self._walk.conditions):
            return STAY
        e = self._walk.conditions[i]
        self._walk.conditions[i] = BreakEntry(e.condition, not e.enabled)
        return Move(True, (Note(f"breakpoint {'off' if e.enabled else 'on'}: {e.text}", timeout=2),))

    def remove_condition(self, i: int) -> Move:
        if not 0 <= i < len(self._walk.conditions):
            return STAY
        e = self._walk.conditions.pop(i)
        return Move(True, (Note(f"breakpoint removed: {e.text}", timeout=2),))

    def toggle_breakpoint(self) -> Move:
        """A breakpoint on the current step's kind (and layer), or off again."""
        bp = Breakpoint(self.step.kind, self.step.layer)
        for i, e in enumerate(self._walk.conditions):
            if e.text == bp.condition:
                self._walk.conditions.pop(i)
                return Move(True, (Note(f"breakpoint removed: {bp.label}", timeout=2),))
        self._walk.conditions.append(BreakEntry(parse_condition(bp.condition, self.scenario)))
        return Move(True, (Note(f"breakpoint set: every {bp.label} step ({bp.condition})", timeout=2),))

    def _enabled(self) -> tuple[Condition, ...]:
        return tuple(e.condition for e in self._walk.conditions if e.enabled)

    def _next_failing_figure(self) -> ExpectationResult | None:
        return next((r for r in self.results if not r.holds and r.step > self._walk.index), None)

    def search_is_long(self) -> bool:
        """Whether :meth:`search` may take a while (run it in a worker, with progress and Escape)."""
        conditions = self._enabled()
        if not conditions:
            return False
        horizon = self.trace.epochs
        if any(c.needs_steps(self.trace) for c in conditions):
            return horizon - self.step.epoch + 1 > STEPPED_SYNC
        return horizon - self.trace.losses_computed > SYNC_EPOCHS

    def search(self, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Search:
        """The first later step, up to the end of the trace's epochs, where a breakpoint that is on holds or a
        printed figure fails (may run in a worker: nothing moves until :meth:`finish_search`)."""
        here, trace, generation = self._walk.index, self.trace, self.generation
        horizon = trace.epochs
        figure = self._next_failing_figure()
        to_epoch = horizon if figure is None else figure.step // trace.steps_per_epoch + 1
        stop = first_stop(trace, self._enabled(), here + 1, to_epoch, progress, should_stop)
        if figure is not None and (stop is None or figure.step < stop.step):
            e = figure.expectation
            computed = ", ".join(f"{x:.7g}" for x in figure.computed)
            printed = ", ".join(f"{x:.7g}" for x in e.value)
            stop = Stop(figure.step, e.epoch, None, None,
                        f"printed figure fails: {e.quantity} = {computed}, printed {printed}")
            return Search(stop, generation, here, horizon)
        return Search(stop, generation, here, horizon)

    def next_stop(self) -> int | None:
        """The step :meth:`continue_run` goes to, or None."""
        stop = self.search().stop
        return None if stop is None else stop.step

    def finish_search(self, found: Search) -> Move:
        """Go where a search stopped, saying why (the status line keeps the reason while the walk stays)."""
        if found.generation != self.generation or found.origin != self._walk.index:
            return STAY
        stop = found.stop
        if stop is None:
            return Move(False, (Note(f"no breakpoint holds and no printed figure fails ahead (to the end of epoch "
                                     f"{found.horizon}); g goes further", timeout=4),))
        self.trace.extend(stop.epoch)
        self._walk.unit = None  # a stop lands on a step's first unit
        move = self._land(stop.step, "c")
        why = stop.reason if stop.condition is not None or stop.reason.startswith("printed") else \
            f"search {stop.reason}"
        if self._walk.index == stop.step:
            self._walk.stopped = (stop.step, why)
        if move.notes:
            return move
        return Move(move.moved, (Note(f"stopped: {why}", "warning" if stop.condition else "information", 6),))

    def continue_run(self) -> Move:
        """To the first later stop (see :meth:`search`), searched now."""
        return self.finish_search(self.search())

    @property
    def stopped_here(self) -> str | None:
        """Why the last search stopped, while the walk is still where it stopped."""
        st = self._walk.stopped
        return st[1] if st is not None and st[0] == self._walk.index else None

    # ------------------------------------------------------------------------------------------ examples
    @property
    def row(self) -> int:
        """Which example of the current pass the network shows (0-based within the pass)."""
        return min(self._walk.row, len(self.step.record.rows) - 1)

    @property
    def chosen_row(self) -> int | None:
        """The example of a batch pass the step panel narrates alone (0-based within the pass), or None: the
        whole pass (the default, until ``m`` chooses one; ``M`` goes back to it)."""
        return self.row if self._walk.chosen and len(self.step.record.rows) > 1 else None

    def next_example(self) -> Move:
        """In batch mode, show the next example of the pass in the network and the step panel (round the
        batch)."""
        rows = self.step.record.rows
        if len(rows) == 1:
            return Move(False, (Note("one example per pass here: the network shows it", timeout=3),))
        self._walk.row = (self.row + 1) % len(rows)
        self._walk.chosen = True
        return Move(True, (Note(f"the network and the step show example {rows[self._walk.row] + 1} of "
                                f"{len(rows)} (M: the whole batch)", timeout=2),))

    def whole_batch(self) -> Move:
        """The step panel narrates the whole pass again (the network keeps showing the example it shows)."""
        rows = self.step.record.rows
        if len(rows) == 1 or not self._walk.chosen:
            text = ("one example per pass here" if len(rows) == 1 else
                    f"the step already shows the whole batch; m chooses one of its {len(rows)} examples")
            return Move(False, (Note(text, timeout=3),))
        self._walk.chosen = False
        return Move(True, (Note(f"the step shows the whole batch; the network, example {rows[self.row] + 1}",
                                timeout=2),))

    def narration(self) -> Narration:
        """The current step as the step panel writes it: one unit of its layer with unit-by-unit steps on,
        else the whole step; the chosen example of a batch pass, else the whole pass."""
        unit, row = self.unit, self.chosen_row
        if unit is not None:
            return narrate_unit(self.step, self.scenario, unit, row)
        told = narrate(self.step, self.scenario, row)
        if not self._pending:
            return told
        # practising: what the step computes is the question; its formula and the numbers it uses show
        lines = tuple(tuple(Span(PENDING, NOTE) if span.role == NEW else span for span in line) for line in told.lines)
        return Narration(told.heading + " · practising: type the result in the dialog", lines)

    # -------------------------------------------------------------------------------------- unit by unit
    units_on: bool = False  # unit-by-unit steps (u): n and p walk a narrow layer's z, a and δ one unit at a time

    @property
    def unit_count(self) -> int:
        """How many units the current step is walked through (0: it is one step, or unit steps are off)."""
        return unit_walk(self.step, self.scenario).units if self.units_on else 0

    @property
    def unit(self) -> int | None:
        """The unit (1-based) of the current step's layer shown, or None: the whole step. A step is entered at
        its first unit (at its last when walking back); epoch moves keep the unit."""
        n = self.unit_count
        if not n:
            return None
        stored = self._walk.unit
        return min(stored[1], n) if stored is not None and stored[0] == self._offset else 1

    def _set_unit(self, unit: int | None) -> None:
        self._walk.unit = None if unit is None else (self._offset, unit)

    def _step_unit(self, delta: int) -> bool:
        """Move ``delta`` units within the current step, if that stays inside its layer."""
        unit = self.unit
        if unit is None or not 1 <= unit + delta <= self.unit_count:
            return False
        self._set_unit(unit + delta)
        return True

    def _unit_named(self, name: str | None) -> int | None:
        """The unit of the current step's layer called ``name`` (``h2``), if it is walked (for a divergence)."""
        layer = self.step.layer
        if name is None or layer is None:
            return None
        return next((u for u in range(1, self.unit_count + 1) if unit_name(self.scenario.layers, layer, u) == name),
                    None)

    def toggle_units(self) -> Move:
        """Unit-by-unit steps on or off; on, the current step starts at its first unit."""
        self.units_on = not self.units_on
        self._walk.unit = None
        if not self.units_on:
            return Move(True, (Note("whole-layer steps (u: unit by unit)", timeout=2),))
        text = f"unit by unit: n and p walk z, a and δ of layers up to {MAX_UNITS_WALKED} units wide (u: whole layers)"
        return Move(True, (Note(text, timeout=3),))

    def unit_status(self, short: bool = False) -> str:
        """For the status line: ``unit h1 of 2`` (``short``: ``h1/2``), or why the current step is whole; ""
        with unit steps off."""
        if not self.units_on:
            return ""
        walk = unit_walk(self.step, self.scenario)
        layer = self.step.layer
        if walk.units and layer is not None:
            name = unit_name(self.scenario.layers, layer, self.unit or 1)
            return f"{name}/{walk.units}" if short else f"unit {name} of {walk.units}"
        if not walk.why:  # error, gradients, update: one step whatever the width
            return "whole" if short else "whole step"
        return "whole" if short else f"whole layer ({walk.why})"

    # ------------------------------------------------------------------------------------------- watches
    def _parse_watches(self, names: Iterable[str]) -> list[Watch]:
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

    # --------------------------------------------------------------------------------------------- forks
    @property
    def showing_fork(self) -> bool:
        return self.forked is not None and self.run is self.forked

    def edit_hint(self) -> str:
        return (f"a new value for {self.selected.short}, or NAME=VALUE (learning_rate=1, x1=0.3, t1@2=0); the run "
                f"forks from the start of epoch {self.step.epoch}; the original stays (o switches)")

    def fork(self, text: str) -> Move:
        """Fork the shown run from the start of the current epoch with one edit (``0.5`` edits the selected
        parameter; else ``NAME=VALUE``), and show the fork; the original is kept."""
        from ..core import whatif

        text = text.strip()
        if "=" not in text:
            text = f"{self.selected.short}={text}"
        try:
            edit = whatif.parse_edit(text, self.scenario)
        except EditError as exc:
            return Move(False, (Note(str(exc), "error", 8),))
        base, epoch = self.run, self.step.epoch
        spe = self.trace.steps_per_epoch
        offset = base.offset + epoch - 1
        edits = tuple(e for e in base.edits if e.split("=")[0] != edit.name) + (edit.text,)
        scenario = whatif.fork(base.scenario, base.trace, [edit], epoch)
        original = self.original.scenario.title or self.path.name
        since = f" from epoch {offset + 1}" if offset else ""
        scenario = dataclasses.replace(scenario, title=f"{original} (what if {', '.join(edits)}{since})")
        run = self._make_run(scenario, Trace(scenario), offset, edits)
        index = self._walk.index - (epoch - 1) * spe
        self.forked = run
        self._show(run)
        self._walk.index = index
        self._walk.stopped = None
        return Move(True, (Note(f"what if {edit.text}: forked at epoch {offset + 1}; o switches to the original "
                                f"run, O drops the fork, s saves it", timeout=5),))

    def switch_run(self) -> Move:
        """Show the original run, or the fork again, at the same step of the same epoch."""
        if self.forked is None:
            return Move(False, (Note("no what-if fork: e edits a value and forks the run", timeout=3),))
        spe = self.trace.steps_per_epoch
        shift = self.forked.offset * spe
        notes: tuple[Note, ...] = ()
        if self.showing_fork:
            index = self._walk.index + shift
            self._show(self.original)
            self.trace.extend(index // spe + 1)
            notes = (Note("showing the original run (o: the fork)", timeout=2),)
        else:
            index = self._walk.index - shift
            if index < 0:
                notes = (Note(f"the fork starts at epoch {self.forked.offset + 1} of the original", timeout=3),)
                index %= spe
            self._show(self.forked)
            notes += (Note("showing the what-if fork (o: the original)", timeout=2),)
        self.trace.extend(index // spe + 1)
        self._walk.index = index
        self._walk.stopped = None
        return Move(True, notes)

    def drop_fork(self) -> Move:
        if self.forked is None:
            return Move(False, (Note("no what-if fork to drop", timeout=3),))
        if self.showing_fork:
            self.switch_run()
        self.forked = None
        return Move(True, (Note("what-if fork dropped; back to the original run", timeout=3),))

    def loss_curves(self) -> tuple[LossCurve, ...]:
        """The loss of the shown run as far as the walk has reached (:attr:`loss_epochs`); with a what-if fork,
        the original's and the fork's, both up to that epoch of the original's axis. The run not shown is trained
        that far here when that takes at most :data:`SYNC_EPOCHS` epochs, else drawn as far as it is computed (a
        long run trains both: :meth:`run_to`)."""
        if self.forked is None:
            return (LossCurve("run", self.trace, 0, self.loss_epochs, True),)
        here = self.run.offset + self.loss_epochs
        since = f" from epoch {self.forked.offset + 1}" if self.forked.offset else ""
        curves = []
        for run, label in ((self.original, "original"), (self.forked, f"fork: {', '.join(self.forked.edits)}{since}")):
            epochs = max(0, here - run.offset)
            if run is not self.run and epochs - run.trace.losses_computed > SYNC_EPOCHS:
                epochs = run.trace.losses_computed
            curves.append(LossCurve(label, run.trace, run.offset, epochs, run is self.run))
        return tuple(curves)

    def differences(self, limit: int = 6) -> list[tuple[str, str, str]]:
        """(parameter, original value, fork value) for the parameters that differ at this step, the largest
        differences first (at most ``limit``), after the edits that are not parameters (learning rate, data)."""
        if self.forked is None:
            return []
        spe = self.trace.steps_per_epoch
        shift = self.forked.offset * spe
        i = self._walk.index
        fi, oi = (i, i + shift) if self.showing_fork else (i - shift, i)
        rows = [(e.split("=")[0], "", e.split("=")[1]) for e in self.forked.edits
                if self.scenario.params.find(e.split("=")[0]) is None]
        if fi < 0:
            return rows
        self.forked.trace.extend(fi // spe + 1)
        self.original.trace.extend(oi // spe + 1)
        fs, os_ = self.forked.trace[fi], self.original.trace[oi]
        which = "after" if fs.kind == "update" else "before"
        diffs = []
        for p in self.scenario.params:
            a, b = os_.param(p, which), fs.param(p, which)
            if a != b and not (a != a and b != b):  # NaN on both sides is the same
                with np.errstate(all="ignore"):
                    size = abs(b - a)
                diffs.append((-(size if size == size else np.inf), p.short, f"{a:.7g}", f"{b:.7g}"))
        diffs.sort()
        return rows + [(n, a, b) for _, n, a, b in diffs[:limit]] + (
            [(f"+{len(diffs) - limit} more", "", "")] if len(diffs) > limit else [])

    def fork_path(self) -> str:
        return f"{self.export_stem()}-whatif.toml"

    def save_fork(self, path: str | Path) -> Note:
        """Write the fork as a new scenario file (never over a file read to build the run)."""
        if self.forked is None:
            return Note("no what-if fork to save: e edits a value and forks the run", "error")
        refused = self.refusal(path)
        if refused is not None:
            return refused
        from ..core.atomic import OutputError, write_output
        from ..core.scenario_writer import restarted, to_toml

        try:
            write_output(path, to_toml(self.forked.scenario), protect=self.protected_files())
        except OutputError as exc:
            return Note(str(exc), "error")
        except OSError as exc:
            return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
        wrote = f"wrote the what-if scenario ({', '.join(self.forked.edits)}) to {path}"
        differs = restarted(self.forked.scenario)  # the format cannot carry a continued run's optimizer state
        return Note(f"{wrote}; {differs} (said at the top of the file)", "warning", 12) if differs else Note(wrote)

    # -------------------------------------------------------------------------------------------- reload
    def reload(self) -> Reload:
        """Re-read the scenario; keep the position when its shape is unchanged, else start over."""
        try:
            scenario = load(self.path)
        except ScenarioError as exc:
            return Reload(Note(str(exc), "error", 8, "reload refused; the loaded scenario stays"), ok=False)
        original = self.original.scenario
        same = original.same_shape(scenario)
        epochs = max(scenario.epochs, self.original.trace.epochs) if same else None
        index = self._walk.index + (self.run.offset * self.trace.steps_per_epoch if self.forked else 0)
        dropped = self.forked is not None
        self._set_scenario(scenario, epochs)
        if same:
            self._walk.index = min(index, len(self.trace) - 1)
            self._walk.conditions = self._parse_all([e.text for e in self._walk.conditions],
                                                    [e.enabled for e in self._walk.conditions])
        else:
            old = self._walk
            self._walk = _Walk(0, default_param(scenario).canonical,
                               self._parse_all([e.text for e in old.conditions], [e.enabled for e in old.conditions]))
            self._walk.watches = self._parse_watches([w.name for w in old.watches])
        text = "reloaded; same position" if same else "reloaded; the network changed, back to step 1"
        if dropped:
            text += "; the what-if fork was dropped"
        return Reload(Note(text, timeout=3), ok=True, same_shape=same)

    # -------------------------------------------------------------------------------------------- export
    def export_stem(self) -> str:
        """Where a transcript goes by default: next to the scenario (the working folder for the bundled one)."""
        if self.path.resolve().parent == bundled_scenarios().resolve():
            return str(Path.cwd() / self.path.stem)
        return str(self.path.with_suffix(""))

    def protected_files(self) -> tuple[Path, ...]:
        """The files read to build the run: an export never overwrites them."""
        return (self.path, *self.scenario.source_files)

    def is_protected(self, path: str | Path) -> bool:
        return any(_same_file(path, p) for p in self.protected_files())

    @staticmethod
    def would_overwrite(path: str | Path) -> bool:
        """Whether writing ``path`` replaces an existing regular file (worth asking first)."""
        return os.path.isfile(path)

    def export_epochs(self) -> int:
        return max(self.scenario.epochs, self.step.epoch)

    def refusal(self, path: str | Path) -> Note | None:
        """Why the transcript may not be written to ``path`` (a file read to build the run), or None."""
        if self.is_protected(path):
            return Note(f"{path}: not overwritten: bpdebug read it to build this run; choose another path", "error")
        return None

    def what_if(self) -> WhatIf | None:
        """The what-if fork being shown, as a transcript names it (None: the original run shows)."""
        from ..transcript import WhatIf

        if not self.showing_fork:
            return None
        return WhatIf(self.path.name, self.run.edits, self.run.offset + 1)

    def export_refusal(self, fmt: str, epochs: int) -> Note | None:
        """Why a transcript in ``fmt`` cannot cover ``epochs`` epochs (the command line's limit), or None."""
        from ..transcript import too_long

        why = None if fmt in ("npz", "safetensors") else too_long(fmt, epochs)
        return None if why is None else Note(f"{plural(epochs, 'epoch')}: {why}", "error", 8)

    @staticmethod
    def export_is_long(epochs: int) -> bool:
        """Whether an export of ``epochs`` epochs trains long enough to show progress (and stop on Escape)."""
        return epochs > SYNC_EPOCHS

    def export(self, fmt: str, path: str | Path, epochs: int, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Note:
        """Render the transcript on a trace of its own (so this may run in a worker) and write it; never over a
        file read to build the run, nor a document longer than the command line allows. ``progress(done,
        total)`` follows the training, and ``should_stop()`` stops it (nothing is written then)."""
        refused = self.refusal(path) or self.export_refusal(fmt, epochs)
        if refused is not None:
            return refused
        from ..core.atomic import OutputError, write_output
        from ..transcript import Options, render

        if fmt in ("npz", "safetensors"):  # the weights after the epoch, for [weights] file or PyTorch
            from ..core.datafiles import write_weights
            from ..core.engine import train

            try:
                with np.errstate(all="ignore"):
                    weights = train(self.scenario, epochs).weights
                write_weights(path, weights, self.scenario.bias)
            except OSError as exc:
                return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
            return Note(f"wrote the weights after epoch {epochs} ({fmt}) to {path}")
        trace = Trace(self.scenario)
        with np.errstate(all="ignore"):
            reached = trace.advance(epochs, progress, should_stop)
        if reached < epochs:
            return Note(f"export stopped at epoch {reached} of {epochs}; nothing written", timeout=4)
        try:
            text = render(fmt, trace, Options(epochs, what_if=self.what_if()))
            write_output(path, text, protect=self.protected_files())
        except OutputError as exc:
            return Note(str(exc), "error")
        except OSError as exc:
            return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
        except Exception as exc:  # noqa: BLE001 - a failed export must not end the session
            return Note(f"export failed: {type(exc).__name__}: {exc}", "error")
        wrote = f"wrote the {fmt} transcript ({plural(epochs, 'epoch')}) to {path}"
        if fmt in ("py", "ipynb"):  # their code trains from scratch: a continued what-if fork's state is not in it
            from ..core.scenario_writer import restarted

            differs = restarted(self.scenario, "the exported code", "that code trains from epoch 1")
            if differs:
                return Note(f"{wrote}; {differs}", "warning", 12)
        return Note(wrote)

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


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve() if str(a) and str(b) else False

