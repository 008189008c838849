"""The runs a session shows: the original (and a fork, :mod:`.forks`), each a :class:`Run` with its trace and
printed figures; their diagnosis, divergence and loss, long runs in a worker with progress, and reload. What a
long run and a reload hand back (:class:`~.outcomes.RunOutcome`, :class:`~.outcomes.Reload`) is in
:mod:`.outcomes`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...core.engine import ExpectationResult, Trace
from ...core.scenario import Scenario, ScenarioError, load
from ...core.storage import EXACT_EPOCHS
from ...text.narrate import (
    default_param,
)

if TYPE_CHECKING:
    from ...core.diagnosis import Diagnosis
    from ...core.divergence import Divergence
    from .outcomes import Reload, RunOutcome

from .base import SessionState
from .values import STAY, SYNC_EPOCHS, Move, Note, Walk

PROGRESS_EVERY = 0.1  # seconds between two progress reports of a long run


@dataclass
class Run:
    """One run the session can show: the original, or a what-if fork of it."""

    scenario: Scenario
    trace: Trace
    results: tuple[ExpectationResult, ...]
    generation: int
    offset: int = 0  # epochs of the original before the fork's epoch 1
    edits: tuple[str, ...] = ()  # the what-if edits, canonical text


class Runs(SessionState):
    """The runs: the original and any fork, the one shown, their diagnoses, long runs and reload."""

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
            from ...core.diagnosis import diagnose

            found = {d.expectation.index: d.diagnosis for d in diagnose(Trace(run.scenario), run.results)}
        except Exception as exc:  # noqa: BLE001 - the panel says "not diagnosed"; the walk goes on
            found, failed = {}, f"the printed figures could not be diagnosed: {type(exc).__name__}: {exc}"
        self._diagnoses[generation] = found
        if failed:
            self._diagnosis_failed[generation] = failed
        if generation != self.generation:
            return None
        return found

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

    def is_long_run(self, epoch: int) -> bool:
        """Whether reaching ``epoch`` trains far enough to run in a worker with progress (:meth:`run_to`)."""
        return epoch > self.trace.epochs and epoch - self.trace.losses_computed > SYNC_EPOCHS

    # ---------------------------------------------------------------------------------------- long runs
    def run_to(self, epoch: int, progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> RunOutcome:
        """Train up to ``epoch`` with the fast path (in a worker thread): ``progress(done, total)`` at most every
        :data:`PROGRESS_EVERY` seconds, and ``should_stop()`` checked as it goes. Nothing moves until
        :meth:`finish_run` (on the UI thread)."""
        from .outcomes import RunOutcome

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

    # -------------------------------------------------------------------------------------------- reload
    def reload(self) -> Reload:
        """Re-read the scenario; keep the position when its shape is unchanged, else start over."""
        from .outcomes import Reload

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
            self._walk.conditions = self._parse_again(self._walk.conditions)
        else:
            old = self._walk
            self._walk = Walk(0, default_param(scenario).canonical, self._parse_again(old.conditions))
            self._walk.watches = self._parse_watches([w.name for w in old.watches])
        text = "reloaded; same position" if same else "reloaded; the network changed, back to step 1"
        if dropped:
            text += "; the what-if fork was dropped"
        return Reload(Note(text, timeout=3), ok=True, same_shape=same)
