"""Where we are: the scenario, epoch, example, phase and step k of n."""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.widgets import Static

from ...core.engine import PHASES, Step
from . import set_content

TITLE_KEEPS = 12  # characters of the title kept however long the rest of the first line is


class StatusBar(Static):
    """Two lines at the top: the scenario's title (and a summary), then the position with the four phases."""

    def show(self, title: str, step: Step, epochs: int, scenario_epochs: int, extra: str = "",
             compact: bool = False, unit: str = "", extra_short: str = "") -> None:
        """Render the position of ``step`` (``epochs`` = epochs the trace covers now); ``unit``: where a
        unit-by-unit walk is in the step (``unit h1 of 2``), after the step. ``extra`` (what the run says) gives
        way to ``extra_short`` where it does not fit beside the title's first characters."""
        example = ("batch" if compact else "all (batch)") if step.example is None else f"{step.example}"
        rows = step.record.rows
        if step.example is None and step.scenario is not None and len(rows) < step.scenario.n_examples:
            shown = ", ".join(str(r + 1) for r in rows[:6]) + (", …" if len(rows) > 6 else "")
            example = (f"mini-batch {step.record.batch}" if compact
                       else f"{shown} (mini-batch {step.record.batch}, {len(rows)} examples)")
        parts: list[str | tuple[str, str]] = [("epoch ", "dim"), (f"{step.epoch}", "bold"), (f"/{epochs}", "dim")]
        if epochs > scenario_epochs and not compact:
            parts.append((f" (scenario: {scenario_epochs})", "dim"))
        if compact and step.example is None:
            parts += [("  ", ""), (example, "bold"), (" ", "")]
        else:
            parts += [("  example ", "dim"), (example, "bold"), ("  ", "")]
        for phase in PHASES:
            parts.append((f" {phase} ", "reverse bold" if phase == step.phase else "dim"))
        per_epoch, uneven = divmod(step.total, epochs) if epochs > 0 else (0, 1)
        if compact and per_epoch and not uneven:  # far epochs make the count of the whole run too long for 80
            parts += [("  step ", "dim"), (f"{step.index - (step.epoch - 1) * per_epoch + 1}", "bold"),
                      (f"/{per_epoch}", "dim")]
        else:
            parts += [("  step ", "dim"), (f"{step.index + 1}", "bold"), (f" of {step.total}", "dim")]
        if unit:
            parts += [("  " if compact else "  ·  ", "dim"), (unit, "bold")]
        head: list[str | tuple[str, str]] = [(title, "bold")]
        width = self.content_size.width  # 0 before the first layout
        if extra and extra_short and width and TITLE_KEEPS + 1 + cell_len("  ·  " + extra) > width:
            extra = extra_short
        if extra:
            extra = "  ·  " + extra
            # what the run says (stopped, diverged, the figures) matters more than the title: the title gives way
            if width and cell_len(title) + cell_len(extra) > width:
                title = title[:max(TITLE_KEEPS, width - cell_len(extra) - 1)].rstrip() + "…"
            head = [(title, "bold"), (extra, "")]
        set_content(self, Content.assemble(*head, "\n", *parts))
