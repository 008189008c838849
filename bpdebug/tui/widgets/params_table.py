"""Every parameter: short and canonical name, value, gradient (once known) and new value (after the update).

Drawn as one block of text with fixed columns (a DataTable renders every cell through Rich and costs
more per keypress than the whole rest of the screen); the selected row is highlighted, and a click on a
row selects that parameter.
"""

from __future__ import annotations

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from ...core.engine import Step
from ...core.params import Param
from ...core.scenario import Scenario
from ...text.narrate import fmt
from ...text.numbers import PENDING
from . import set_content

NUMBER_WIDTH = 14  # "−0.0005745018", "−1.234568e-6": 7 significant digits with sign, point and zeros
NEW = "bold $text-success"


class ParamsTable(Static):
    """One row per parameter under a header; frozen ones are marked ``*`` and never get a new value."""

    class ParamClicked(Message):
        """A row was clicked."""

        def __init__(self, param: Param) -> None:
            super().__init__()
            self.param = param

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.params: list[Param] = []
        self.frozen: frozenset[str] = frozenset()
        self._widths = (4, 11)

    def set_scenario(self, scenario: Scenario) -> None:
        """Take ``scenario``'s parameters (at start and after a reload)."""
        self.params = list(scenario.params)
        self.frozen = scenario.frozen
        self._widths = (max(5, *(len(p.short) + 2 for p in self.params)),
                        max(9, *(len(p.canonical) for p in self.params)))
        self.border_subtitle = "* frozen: never updated" if scenario.frozen else ""
        if self.parent is not None:  # the scrolling box around the table: as wide as a row, border and scrollbar
            self.parent.styles.width = self.row_width + 3

    @property
    def row_width(self) -> int:
        """Cells of one row: the names as wide as the longest, then three number columns (the last one's
        padding left out: it is only there for numbers as long as −0.0005745018)."""
        wn, wc = self._widths
        return wn + wc + 3 * NUMBER_WIDTH - 1

    def show(self, step: Step, selected: Param) -> None:
        """The numbers known at ``step``; what ``step`` itself computed is highlighted."""
        wn, wc = self._widths
        updated = step.kind == "update"
        new_grads = {int(name[len("grad.theta"):]) for name in step.computes if name.startswith("grad.theta")}
        header = Content.styled(f" {'name':<{wn}} {'canonical':<{wc}} {'value':<{NUMBER_WIDTH - 2}} "
                                f"{'∂E/∂p':<{NUMBER_WIDTH}} {'new value':<{NUMBER_WIDTH - 2}}", "bold dim")
        lines = [header]
        for p in self.params:
            frozen = p.canonical in self.frozen
            grad = step.gradient(p)
            if grad is None:
                grad_cell = (f"{PENDING:<{NUMBER_WIDTH}}", "dim")
            else:
                grad_cell = (f"{fmt(grad):<{NUMBER_WIDTH}}", NEW if p.layer in new_grads else "")
            if not updated:
                after_cell = (f"{PENDING:<{NUMBER_WIDTH - 2}}", "dim")
            elif frozen:
                after_cell = (f"{'frozen':<{NUMBER_WIDTH - 2}}", "dim")
            else:
                after_cell = (f"{fmt(step.param(p, 'after')):<{NUMBER_WIDTH - 2}}", NEW)
            row = Content.assemble(
                (f" {p.short + ('*' if frozen else ''):<{wn}} ", "bold"), (f"{p.canonical:<{wc}} ", ""),
                (f"{fmt(step.param(p)):<{NUMBER_WIDTH - 2}} ", ""), grad_cell, " ", after_cell)
            if p == selected:
                row = row.stylize("on $accent-muted")
            lines.append(row)
        set_content(self, Content("\n").join(lines))
        row = 1 + self.params.index(selected)
        if self.parent is not None and hasattr(self.parent, "scroll_to"):
            top, height = self.parent.scroll_y, self.parent.scrollable_content_region.height
            if height and not top + 1 <= row < top + height:
                self.parent.scroll_to(y=max(0, row - height // 2), animate=False)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and 1 <= offset.y <= len(self.params):
            self.post_message(self.ParamClicked(self.params[offset.y - 1]))
