"""Breakpoints: conditions of the condition language (:mod:`bpdebug.core.conditions`), each on or off (``nan`` from
the start), and the search for the next stop (a condition that holds, or a printed figure that fails).

The condition language is imported on first need (the defaults are parsed then): start-up does not use it (~4 ms).
The values built here (:class:`~.outcomes.Breakpoint`, :class:`~.outcomes.BreakEntry`, :class:`~.outcomes.Search`)
are in :mod:`.outcomes`, imported with the first of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ...core.engine import ExpectationResult

if TYPE_CHECKING:
    from ...core.conditions import Condition
    from .outcomes import BreakEntry, Breakpoint, Search

from .base import SessionState
from .values import STAY, SYNC_EPOCHS, Move, Note

STEPPED_SYNC = 20  # a search that walks the steps of more epochs than this runs in a worker


DEFAULT_CONDITIONS = ("nan",)  # breakpoints on from the start


class Breakpoints(SessionState):
    """The breakpoints and the search for the next stop."""

    # -------------------------------------------------------------------------------------- breakpoints
    def _parse_all(self, texts: Iterable[str], enabled: Iterable[bool] | None = None) -> list[BreakEntry]:
        """Conditions parsed against the current scenario (those that no longer parse are left out)."""
        from ...core.conditions import ConditionError, parse_condition
        from .outcomes import BreakEntry

        flags = list(enabled) if enabled is not None else None
        out = []
        for i, text in enumerate(texts):
            try:
                c = parse_condition(text, self.scenario)
            except ConditionError:
                continue
            out.append(BreakEntry(c, True if flags is None else flags[i]))
        return out

    def _parse_again(self, entries: list[BreakEntry] | None) -> list[BreakEntry] | None:
        """Breakpoints parsed again against the current scenario (a reload); the defaults not parsed yet stay so."""
        if entries is None:
            return None
        return self._parse_all([e.text for e in entries], [e.enabled for e in entries])

    @property
    def _breaks(self) -> list[BreakEntry]:
        """The walk's breakpoints, the defaults (:data:`DEFAULT_CONDITIONS`) parsed when first asked for."""
        if self._walk.conditions is None:
            self._walk.conditions = self._parse_all(DEFAULT_CONDITIONS)
        return self._walk.conditions

    @property
    def conditions(self) -> tuple[BreakEntry, ...]:
        """Every breakpoint, on or off, in the order given."""
        return tuple(self._breaks)

    @property
    def breakpoints(self) -> frozenset[Breakpoint]:
        """The ``step=KIND`` breakpoints that are on, as :class:`~.outcomes.Breakpoint` values."""
        from .outcomes import Breakpoint

        steps = [e.condition for e in self._breaks if e.enabled and e.condition.kind == "step"]
        return frozenset(Breakpoint(t.kind, t.layer) for t in self.trace.templates for c in steps
                         if t.kind == c.step_kind and c.layer in (None, t.layer))

    def breakpoint_labels(self) -> str:
        """The conditions that are on, for the status line ("" while they are the defaults: nan)."""
        if self._walk.conditions is None:  # the defaults, not parsed yet (the first frame shows this line)
            return ""
        on = tuple(e.text for e in self._walk.conditions if e.enabled)
        return "" if on == DEFAULT_CONDITIONS else ", ".join(on)

    def suggested_condition(self) -> str:
        """The current step's kind (and layer) as a condition: what ``b`` offers."""
        from .outcomes import Breakpoint

        return Breakpoint(self.step.kind, self.step.layer).condition

    def add_condition(self, text: str) -> Move:
        """Parse ``text`` and add it (on); an existing one is switched on instead."""
        from ...core.conditions import ConditionError, parse_condition
        from .outcomes import BreakEntry

        try:
            c = parse_condition(text, self.scenario)
        except ConditionError as exc:
            return Move(False, (Note(str(exc), "error", 8),))
        breaks = self._breaks
        for i, e in enumerate(breaks):
            if e.text == c.text:
                breaks[i] = BreakEntry(c, True)
                return Move(True, (Note(f"breakpoint on: {c.text}", timeout=2),))
        breaks.append(BreakEntry(c))
        return Move(True, (Note(f"breakpoint set: {c.text} ({c.entry.sentence})", timeout=3),))

    def toggle_condition(self, i: int) -> Move:
        from .outcomes import BreakEntry

        breaks = self._breaks
        if not 0 <= i < len(breaks):
            return STAY
        e = breaks[i]
        breaks[i] = BreakEntry(e.condition, not e.enabled)
        return Move(True, (Note(f"breakpoint {'off' if e.enabled else 'on'}: {e.text}", timeout=2),))

    def remove_condition(self, i: int) -> Move:
        breaks = self._breaks
        if not 0 <= i < len(breaks):
            return STAY
        e = breaks.pop(i)
        return Move(True, (Note(f"breakpoint removed: {e.text}", timeout=2),))

    def toggle_breakpoint(self) -> Move:
        """A breakpoint on the current step's kind (and layer), or off again."""
        from ...core.conditions import parse_condition
        from .outcomes import BreakEntry, Breakpoint

        bp = Breakpoint(self.step.kind, self.step.layer)
        breaks = self._breaks
        for i, e in enumerate(breaks):
            if e.text == bp.condition:
                breaks.pop(i)
                return Move(True, (Note(f"breakpoint removed: {bp.label}", timeout=2),))
        breaks.append(BreakEntry(parse_condition(bp.condition, self.scenario)))
        return Move(True, (Note(f"breakpoint set: every {bp.label} step ({bp.condition})", timeout=2),))

    def _enabled(self) -> tuple[Condition, ...]:
        return tuple(e.condition for e in self._breaks if e.enabled)

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
        from ...core.conditions import Stop, first_stop
        from .outcomes import Search

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
        if stop is None:  # the status line no longer says why the walk stopped here: this search found nothing
            self._walk.stopped = None
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
