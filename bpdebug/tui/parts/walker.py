"""Where the walk is and how it moves: the current step and parameter, the moves (step, epoch, go to), the
example of a batch pass shown, unit-by-unit steps, and the step as the step panel writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.engine import Step
from ...core.params import Param
from ...text.narrate import (
    MAX_UNITS_WALKED,
    NEW,
    NOTE,
    Narration,
    Span,
    narrate,
    narrate_unit,
    unit_name,
    unit_walk,
)
from ...text.numbers import PENDING

if TYPE_CHECKING:
    pass

from ...text.numbers import plural
from .base import SessionState
from .values import STAY, Move, Note, PendingStep, Position


class Walker(SessionState):
    """Where the walk is, and the moves."""

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

    def figure_counts(self) -> tuple[int, int]:
        """(holding, failing) among the printed figures the walk has reached."""
        reached = [r for r in self.results if r.step <= self.reached]
        holding = sum(r.holds for r in reached)
        return holding, len(reached) - holding

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
