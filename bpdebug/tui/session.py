"""A debugging session: everything the app shows, apart from how it shows it (no terminal code here).

The session owns the run being walked (scenario, trace, printed figures, divergence), where the walk is (the
current step and the selected parameter), the breakpoints and the next stop, long runs with progress and
cancellation, reload keeping the position, exports and the derivation text of a step. Every move returns a
:class:`Move` saying whether the position changed and what to tell the user (:class:`Note`); the app turns
those into notifications and repaints. Nothing here imports Textual, so it is tested without a terminal.

Looking ahead (issue 9): a :class:`Breakpoint` is one kind of stop condition (``step=KIND``), checked through
:meth:`Session.next_stop`; watches and forks are further fields of the session, each fork a trace of its own.
"""

from __future__ import annotations

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

from ..core.engine import Divergence, ExpectationResult, Step, StepTemplate, Trace
from ..core.params import Param
from ..core.scenario import Scenario, ScenarioError, load
from ..core.storage import EXACT_EPOCHS
from ..text.narrate import default_param

if TYPE_CHECKING:
    from ..core.diagnosis import Diagnosis

Severity = Literal["information", "warning", "error"]

SYNC_EPOCHS = 200  # going this many epochs past what is computed is a long run (in a worker, with progress)
DERIVATION_CACHE = 512  # derivation texts kept, keyed by (generation, step, parameter)
PROGRESS_EVERY = 0.1  # seconds between two progress reports of a long run


def bundled_scenarios() -> Path:
    """The folder of the scenarios shipped inside the package."""
    return Path(str(resources.files("bpdebug") / "scenarios"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


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
    """Where the walk is: which run (``generation``, bumped on reload), which step and which parameter."""

    generation: int
    index: int
    param: str


@dataclass(frozen=True, order=True)
class Breakpoint:
    """Stop at every step of a kind (and layer): ``step=KIND`` in the condition language of issue 9."""

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

    def holds_at(self, template: StepTemplate) -> bool:
        return (template.kind, template.layer) == (self.kind, self.layer)


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
    breakpoints: set[Breakpoint] = field(default_factory=set)


class Session:
    """One scenario being debugged: its run, where the walk is, and what lies ahead.

    Methods that move return a :class:`Move`; none of them touches a terminal. :meth:`run_to` and
    :meth:`derivation` may run in a worker thread; everything else belongs to the caller's (UI) thread.
    """

    def __init__(self, path: str | Path, scenario: Scenario | None = None) -> None:
        self.path = Path(path)
        self.generation = 0
        self._set_scenario(scenario if scenario is not None else load(self.path))
        self._walk = _Walk(0, default_param(self.scenario).canonical)
        self._derive_lock = threading.Lock()  # one symbolic build at a time; a burst of keys waits for it
        self._warm: set[tuple[int, str]] = set()  # (generation, param) whose symbolic chain is built
        self._derivation = functools.lru_cache(maxsize=DERIVATION_CACHE)(self._derive_text)

    def _set_scenario(self, scenario: Scenario, epochs: int | None = None) -> None:
        self.scenario = scenario
        self.trace = Trace(scenario, epochs)
        self.results: tuple[ExpectationResult, ...] = tuple(sorted(self.trace.check_all(), key=lambda r: r.step))
        # why each failing printed figure fails, by expectation index: None until :meth:`diagnose` has run
        self.diagnoses: dict[int, Diagnosis] | None = None if any(not r.holds for r in self.results) else {}
        self.diagnosis_failed: str | None = None  # why :meth:`diagnose` found nothing, if it failed

    def diagnose(self, generation: int | None = None) -> dict[int, Diagnosis] | None:
        """Which failing printed figures are root slips and which follow from them (core.diagnosis), on a trace
        of its own so this may run in a worker (a second or two on the blog); kept when ``generation`` is still
        the session's (None: a reload came in between, and nothing is kept)."""
        generation = self.generation if generation is None else generation
        scenario, results, known = self.scenario, self.results, self.diagnoses
        if known is not None:
            return known
        failed = None
        try:
            from ..core.diagnosis import diagnose

            found = {d.expectation.index: d.diagnosis for d in diagnose(Trace(scenario), results)}
        except Exception as exc:  # noqa: BLE001 - the panel says "not diagnosed"; the walk goes on
            found, failed = {}, f"the printed figures could not be diagnosed: {type(exc).__name__}: {exc}"
        if generation != self.generation:
            return None
        self.diagnoses, self.diagnosis_failed = found, failed
        return found

    # ------------------------------------------------------------------------------------------- where
    @property
    def position(self) -> Position:
        return Position(self.generation, self._walk.index, self._walk.param)

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
    def selected(self) -> Param:
        """The selected parameter."""
        return self.scenario.params.get(self._walk.param)

    @property
    def title(self) -> str:
        return self.scenario.title or self.path.name

    @property
    def breakpoints(self) -> frozenset[Breakpoint]:
        return frozenset(self._walk.breakpoints)

    def figure_counts(self) -> tuple[int, int]:
        """(holding, failing) among the printed figures the walk has reached."""
        reached = [r for r in self.results if r.step <= self._walk.index]
        holding = sum(r.holds for r in reached)
        return holding, len(reached) - holding

    def losses_reached(self) -> np.ndarray:
        """Loss of every epoch whose loss has been computed by the current step (its error step reached)."""
        step = self.step
        epochs = step.epoch - 1
        first = 1 if self.trace.passes_per_epoch > 1 else None
        if step.index >= self.trace.first_step_of(step.epoch, first, "error"):
            epochs += 1
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
            more = f"; {again} again goes on past it" if d < target else ""
            return Move(True, (Note(f"training diverged here: {found.describe()}{more}", "warning", 8),))
        moved = target != here
        self._walk.index = target
        return Move(moved)

    # ------------------------------------------------------------------------------------------ moving
    def next_step(self) -> Move:
        notes: tuple[Note, ...] = ()
        if self._walk.index + 1 >= len(self.trace):
            self.trace.extend(self.trace.epochs + 1)
            e = self.scenario.epochs
            notes = (Note(f"epoch {self.trace.epochs}: training past the scenario's {_plural(e, 'epoch')}",
                          timeout=3),)
        move = self._land(self._walk.index + 1, "n")
        return Move(move.moved, notes + move.notes)

    def previous_step(self) -> Move:
        if self._walk.index == 0:
            return STAY
        self._walk.index -= 1
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
        return f"1 … {self.trace.epochs} walked so far; a larger number trains further"

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

        generation, offset = self.generation, self._offset
        reached = self.trace.advance(epoch, report, should_stop)
        cancelled = reached < epoch
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
    def toggle_breakpoint(self) -> Move:
        """A breakpoint on the current step's kind (and layer), or off again."""
        bp = Breakpoint(self.step.kind, self.step.layer)
        if bp in self._walk.breakpoints:
            self._walk.breakpoints.discard(bp)
            return Move(True, (Note(f"breakpoint removed: {bp.label}", timeout=2),))
        self._walk.breakpoints.add(bp)
        return Move(True, (Note(f"breakpoint set: every {bp.label} step", timeout=2),))

    def next_stop(self) -> int | None:
        """The nearest later step that is a breakpoint, fails a printed figure, or diverges (within the trace)."""
        spp, here = self.trace.steps_per_pass, self._walk.index
        candidates = [r.step for r in self.results if not r.holds and r.step > here]
        for t in self.trace.templates:
            if any(bp.holds_at(t) for bp in self._walk.breakpoints):
                i = here + 1 + (t.position - (here + 1)) % spp
                if i < len(self.trace):
                    candidates.append(i)
        d = self._divergence_index(self.trace.epochs)
        if d is not None and d > here:
            candidates.append(d)
        return min(candidates, default=None)

    def continue_run(self) -> Move:
        """To :meth:`next_stop`."""
        target = self.next_stop()
        if target is None:
            return Move(False, (Note(f"no breakpoint or failing printed figure ahead (to the end of epoch "
                                     f"{self.trace.epochs})", timeout=3),))
        return self._land(target, "c")

    # -------------------------------------------------------------------------------------------- reload
    def reload(self) -> Reload:
        """Re-read the scenario; keep the position when its shape is unchanged, else start over."""
        try:
            scenario = load(self.path)
        except ScenarioError as exc:
            return Reload(Note(str(exc), "error", 8, "reload refused; the loaded scenario stays"), ok=False)
        same = self.scenario.same_shape(scenario)
        epochs = max(scenario.epochs, self.trace.epochs) if same else None
        self.generation += 1
        self._set_scenario(scenario, epochs)
        if same:
            self._walk.index = min(self._walk.index, len(self.trace) - 1)
        else:
            self._walk = _Walk(0, default_param(scenario).canonical)
        text = "reloaded; same position" if same else "reloaded; the network changed, back to step 1"
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

    def export(self, fmt: str, path: str | Path, epochs: int) -> Note:
        """Render the transcript on a trace of its own (so this may run in a worker) and write it; never over a
        file read to build the run."""
        refused = self.refusal(path)
        if refused is not None:
            return refused
        from ..core.atomic import OutputError, write_output
        from ..transcript import Options, render

        try:
            text = render(fmt, Trace(self.scenario, epochs), Options(epochs))
            write_output(path, text, protect=self.protected_files())
        except OutputError as exc:
            return Note(str(exc), "error")
        except OSError as exc:
            return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
        except Exception as exc:  # noqa: BLE001 - a failed export must not end the session
            return Note(f"export failed: {type(exc).__name__}: {exc}", "error")
        return Note(f"wrote the {fmt} transcript ({_plural(epochs, 'epoch')}) to {path}")

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
                lines = list(derivation.derive(trace[index], p, scenario=scenario).text_lines())
            except Exception as exc:  # noqa: BLE001 - shown in the panel, the walk goes on
                return f"could not derive {p.short}: {type(exc).__name__}: {exc}"
            self._warm.add((generation, param))
            return lines


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve() if str(a) and str(b) else False


def breakpoint_labels(breakpoints: Iterable[Breakpoint]) -> str:
    return ", ".join(bp.label for bp in sorted(breakpoints, key=lambda b: b.label))

