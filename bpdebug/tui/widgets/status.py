"""Where we are: the scenario, epoch, example, phase and step k of n."""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content

from ...core.engine import PHASES, Step
from ..session import Session, View
from ..status import run_words
from . import set_content
from .bound import BoundPanel

TITLE_KEEPS = 12  # characters of the title kept however long the rest of the first line is


class StatusBar(BoundPanel):
    """Two lines at the top: the scenario's title (and a summary), then the position with the four phases. Bound
    to the screen's :class:`View` (``data_bind``), it paints the session's state whenever that changes."""

    def paint(self, s: Session, view: View) -> None:
        words, compact = run_words(s), view.compact
        self.show(s.title, s.shown_step, s.trace.epochs, s.scenario.epochs, words.text(short=compact), compact,
                  s.unit_status(short=compact), extra_short=words.text(short=True))

    def show(self, title: str, step: Step, epochs: int, scenario_epochs: int, extra: str = "",
             compact: bool = False, unit: str = "", extra_short: str = "") -> None:
        """Render the position of ``step`` (``epochs`` = epochs the trace covers now); ``unit``: where a
        unit-by-unit walk is in the step (``unit h1 of 2``), after the step. ``extra`` (what the run says) gives
        way to ``extra_short`` where it does not fit beside the title's first characters."""
        width = self.content_size.width  # 0 before the first layout
        parts: list[str | tuple[str, str]] = []
        # where the walk is stays whole: the long forms give way, one at a time, until the line fits
        for level in range(0 if not compact else 3, 6):
            parts = self._position(step, epochs, scenario_epochs, compact or level >= 3, level, unit)
            if not width or cell_len("".join(p if isinstance(p, str) else p[0] for p in parts)) <= width:
                break
        head: list[str | tuple[str, str]] = [(title, "bold")]
        if extra and extra_short and width and TITLE_KEEPS + 1 + cell_len("  ·  " + extra) > width:
            extra = extra_short
        if extra:
            extra = "  ·  " + extra
            # what the run says (stopped, diverged, the figures) matters more than the title: the title gives way
            if width and cell_len(title) + cell_len(extra) > width:
                title = title[:max(TITLE_KEEPS, width - cell_len(extra) - 1)].rstrip() + "…"
            head = [(title, "bold"), (extra, "")]
        set_content(self, Content.assemble(*head, "\n", *parts))

    @staticmethod
    def _position(step: Step, epochs: int, scenario_epochs: int, compact: bool, level: int,
                  unit: str) -> list[str | tuple[str, str]]:
        """The position line; from ``level`` 1 on without the scenario's epochs, from 2 with fewer of a
        mini-batch's examples listed, from 3 with the example short (``compact``), from 4 with the step counted
        within its epoch, at 5 with the phases as initials."""
        example = ("batch" if compact else "all (batch)") if step.example is None else f"{step.example}"
        rows = step.record.rows
        if step.example is None and step.scenario is not None and len(rows) < step.scenario.n_examples:
            listed = 6 if level < 2 else 3
            shown = ", ".join(str(r + 1) for r in rows[:listed]) + (", …" if len(rows) > listed else "")
            example = (f"mini-batch {step.record.batch}" if compact
                       else f"{shown} (mini-batch {step.record.batch}, {len(rows)} examples)")
        parts: list[str | tuple[str, str]] = [("epoch ", "dim"), (f"{step.epoch}", "bold"), (f"/{epochs}", "dim")]
        if epochs > scenario_epochs and level < 1:
            parts.append((f" (scenario: {scenario_epochs})", "dim"))
        if compact and step.example is None:
            parts += [("  ", ""), (example, "bold"), (" ", "")]
        else:
            parts += [("  example ", "dim"), (example, "bold"), ("  ", "")]
        for phase in PHASES:
            name = phase[0] if level >= 5 else phase
            parts.append((f" {name} ", "reverse bold" if phase == step.phase else "dim"))
        per_epoch, uneven = divmod(step.total, epochs) if epochs > 0 else (0, 1)
        if (compact or level >= 4) and per_epoch and not uneven:  # far epochs make the run's count long
            parts += [("  step ", "dim"), (f"{step.index - (step.epoch - 1) * per_epoch + 1}", "bold"),
                      (f"/{per_epoch}", "dim")]
        else:
            parts += [("  step ", "dim"), (f"{step.index + 1}", "bold"), (f" of {step.total}", "dim")]
        if unit:
            parts += [("  " if compact else "  ·  ", "dim"), (unit, "bold")]
        return parts
