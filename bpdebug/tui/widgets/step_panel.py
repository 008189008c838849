"""The current step written as the text would write it (from :mod:`bpdebug.narrate`)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ...text.narrate import GIVEN, NEW, NOTE, SYMBOL, Line, Narration, wrap_indent, wrap_points
from . import set_border, set_content

# how each narration role looks: what this step computed stands out; notes recede
ROLE_STYLE = {SYMBOL: "bold", GIVEN: "", NEW: "bold $text-success on $success-muted", NOTE: "dim italic"}


class StepPanel(Static):
    """Formula in symbols, the numbers it uses, and (highlighted) what it computes."""

    def show(self, narration: Narration) -> None:
        width = self.content_size.width or 10_000
        lines: list[Content] = []
        for line in narration.lines:
            # a trailing note that would wrap goes on a line of its own, indented under the formula
            if len(line) > 1 and line[-1].role == NOTE and sum(len(s.text) for s in line) > width:
                lines.extend(self._wrapped(self._assemble(line[:-1]), width))
                lines.append(Content.styled("   " + line[-1].text.strip(), ROLE_STYLE[NOTE]))
            else:
                lines.extend(self._wrapped(self._assemble(line), width))
        set_content(self, Content("\n").join(lines), fixed=True)
        set_border(self, title=narration.heading)

    @staticmethod
    def _wrapped(content: Content, width: int) -> list[Content]:
        """A long formula broken before an operator or between matrix rows, continuation indented."""
        points = wrap_points(content.plain, width)
        if not points:
            return [content]
        pieces = content.divide(points)
        pad = wrap_indent(content.plain)
        return [pieces[0].rstrip()] + [p.pad_left(pad) for p in pieces[1:]]

    @staticmethod
    def _assemble(line: Line) -> Content:
        return Content.assemble(*((s.text, ROLE_STYLE.get(s.role, "")) for s in line))
