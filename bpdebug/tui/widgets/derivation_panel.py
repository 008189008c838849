"""The chain rule of the selected parameter, from ``bpdebug.derivation`` (SymPy), computed by the app.

A line-API widget that scrolls itself and carries its own border: no scrolling box around it (one widget
fewer to mount, style and paint before the first frame), and a paint draws only the lines in view.
"""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style

from ...text.narrate import wrap
from ...text.numbers import PENDING
from . import LineView, content_strip


class DerivationPanel(LineView, can_focus=False):
    """Shows the derivation's text lines; factors not yet computed at this step appear as a dim "…"."""

    DEFAULT_CSS = """
    DerivationPanel {
        overflow-x: hidden;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lines: list[Content] = []

    def show_lines(self, lines: list[str], previous: list[str] | None = None) -> int | None:
        """Show ``lines``, wrapped to the room in view; those that differ from the previous step's (numbers just
        filled in) are highlighted. Returns the row of the first changed line, for the app to scroll to."""
        width = self.scrollable_content_region.width or 10_000
        rendered: list[Content] = []
        first_changed: int | None = None
        for k, text in enumerate(lines):
            changed = previous is not None and (k >= len(previous) or previous[k] != text)
            if changed and first_changed is None:
                first_changed = len(rendered)
            for line in wrap(text, width):
                pieces = line.split(PENDING)
                parts: list[str | tuple[str, str]] = []
                for i, piece in enumerate(pieces):
                    if i:
                        parts.append((PENDING, "$warning bold"))
                    parts.append((piece, "$text-success bold") if changed else piece)
                rendered.append(Content.assemble(*parts))
        self._show(rendered)
        return first_changed

    def show_message(self, message: str) -> None:
        self._show([Content.assemble((message, "dim italic"))])

    def _show(self, lines: list[Content]) -> None:
        if "\n" in "".join(line.plain for line in lines):  # a line that holds a break shows as two, as text would
            lines = [part for line in lines for part in line.split("\n", allow_blank=True)]
        if [(line.plain, line.spans) for line in lines] == [(line.plain, line.spans) for line in self.lines]:
            return  # the same text and styles: nothing to repaint
        self.lines = lines
        # only the line count is the virtual size: a change of it lays the screen out again (scrollbar, scroll
        # range), a change of the text alone repaints this panel
        size = Size(0, len(lines))
        if self.virtual_size != size:
            self.virtual_size = size
        self.refresh()

    @property
    def content(self) -> Content:
        """Every line (scrolled out of view or not), as one text: what the panel shows."""
        return Content("\n").join(self.lines)

    def render_line(self, y: int) -> Strip:
        top, width = self._frame
        k = top + y
        base = self.visual_style
        # the room right of a line and under the last one in the background alone, as a text widget pads
        background = base.background_style.rich_style
        if not 0 <= k < len(self.lines):
            return Strip.blank(width, background)
        line = self.lines[k]
        selection = self.text_selection  # text selected with the mouse, shown as a text widget shows it
        if selection is not None and (span := selection.get_span(k)) is not None:
            start, end = span
            selected = Style.from_styles(self.screen.get_component_styles("screen--selection"))
            line = line.stylize(selected, start, len(line.plain) if end == -1 else end)
        return content_strip(self, line, width, row=k, pad=background)  # row: for get_selection

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The text under a mouse selection (copied with the screen's copy key)."""
        return selection.extract(self.content.plain), "\n"
