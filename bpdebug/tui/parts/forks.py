"""What-if forks: an edit forks the shown run from the current epoch; the session keeps the original and the
fork, switches between them, compares their parameters and loss, and saves the fork as a scenario. The loss
curves it hands the plot (:class:`~.outcomes.LossCurve`) are in :mod:`.outcomes`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...core.engine import Trace

if TYPE_CHECKING:
    from .outcomes import LossCurve

from .base import SessionState
from .values import SYNC_EPOCHS, Move, Note


class Forks(SessionState):
    """What-if forks of the shown run."""

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
        from ...core import whatif
        from ...core.whatif import EditError

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
        from .outcomes import LossCurve

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
        from ...core.atomic import OutputError, write_output
        from ...core.scenario_writer import restarted, to_toml

        try:
            write_output(path, to_toml(self.forked.scenario), protect=self.protected_files())
        except OutputError as exc:
            return Note(str(exc), "error")
        except OSError as exc:
            return Note(f"cannot write {path}: {exc.strerror or exc}", "error")
        wrote = f"wrote the what-if scenario ({', '.join(self.forked.edits)}) to {path}"
        differs = restarted(self.forked.scenario)  # the format cannot carry a continued run's optimizer state
        return Note(f"{wrote}; {differs} (said at the top of the file)", "warning", 12) if differs else Note(wrote)
