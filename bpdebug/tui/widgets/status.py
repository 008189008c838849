"""Where we are: the scenario, epoch, example, phase and step k of n."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ...core.engine import PHASES, Step
from . import set_content


class StatusBar(Static):
    """Two lines at the top: the scenario's title (and a summary), then the position with the four phases."""

    def show(self, title: str, step: Step, epochs: int, scenario_epochs: int, extra: str = "",
             compact: bool = False, unit: str = "") -> None:
        """Render the position of ``step`` (``epochs`` = epochs the trace covers now); ``unit``: where a
        unit-by-unit walk is in the step (``unit h1 of 2``), after the step."""
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
        parts += [("  step ", "dim"), (f"{step.index + 1}", "bold"), (f" of {step.total}", "dim")]
        if unit:
            parts += [("  " if compact else "  ·  ", "dim"), (unit, "bold")]
        head: list[str | tuple[str, str]] = [(title, "bold")]
        if extra:
            head.append(("  ·  " + extra, ""))
        set_content(self, Content.assemble(*head, "\n", *parts))
