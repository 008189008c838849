"""The current step written as the text would write it (from :mod:`bpdebug.text.narrate`).

A line-API widget: as tall as the step's lines up to the room the stylesheet gives it (``max-height``),
then it scrolls, and its border says how many lines are above or below the view. A narration line that
would wrap to more than :data:`MAX_ROWS_PER_LINE` rows is cut there, and a note says how many numbers were
left out (narrate already writes a large vector or matrix as its first numbers and "… N more", so this is
what a narrow terminal meets).
"""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip

from ...text.narrate import GIVEN, NEW, NOTE, SYMBOL, Line, Narration, wrap_indent, wrap_points
from ..session import Session, View
from . import LineView, content_strip, set_border

# how each narration role looks: what this step computed stands out; notes recede
ROLE_STYLE = {SYMBOL: "bold", GIVEN: "", NEW: "bold $text-success on $success-muted", NOTE: "dim italic"}
MAX_ROWS_PER_LINE = 6  # wrapped rows one narration line may take before it is cut
# for counting numbers at C speed: digits become "0", the separators before a number a space
_CLASSES = bytes.maketrans(b"0123456789[(\t", b"0000000000   ")
_STARTS = tuple(sep + sign + first for sep in (b" ",) for sign in (b"", b"-", "−".encode())
                for first in (b"0", b"nan", b"inf"))


def count_numbers(text: str) -> int:
    """How many numbers (as :func:`~bpdebug.text.narrate.fmt` writes them, nan and inf included) ``text``
    holds: the tokens after a space or bracket that start with a digit, a sign and a digit, nan or inf.
    Counted in C, not with a regex: a cut 784-input matrix is millions of characters. A whole vector or
    matrix as ``fmt_vector``/``fmt_matrix`` write it (one space between numbers, the space of ``] [``
    between rows) is counted from its spaces alone. The counts in the marks of a shortened vector or matrix
    (``… 776 more``, ``… 125 more rows``) are not numbers written, so they are not counted."""
    if "…" in text:  # a vector or matrix narrate shortened ("… 776 more", no-break spaces): counted one by one
        return count_numbers(text.replace("…", "·"))
    if text.startswith("[") and text.endswith("]") and not any(op in text for op in _OPERATORS):
        return 0 if text.strip("[]") == "" else text.count(" ") + 1  # a space between any two numbers
    data = b" " + text.encode("utf-8", "replace").translate(_CLASSES)
    return sum(data.count(start) for start in _STARTS)


_OPERATORS = ("·", "⊙", "⊗", "=", "+", " − ", "(")


class StepPanel(LineView, can_focus=False):
    """Formula in symbols, the numbers it uses, and (highlighted) what it computes."""

    DEFAULT_CSS = """
    StepPanel {
        height: auto;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    view: reactive[View | None] = reactive(None, init=False, repaint=False)  # bound to the screen's (data_bind)

    def __init__(self, session: Session | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.narration: Narration | None = None
        self.lines: list[Content] = []
        self._width = 0
        self._tallest = 0
        self._tallest_width = -1

    def watch_view(self, view: View | None) -> None:
        """Paint the session's narration of its step."""
        if view is not None and self.session is not None:
            self.show(self.session.narration())

    def show(self, narration: Narration) -> None:
        """Show ``narration`` from its first line (or keep the view when it is the same step again)."""
        same = self.narration == narration
        self.narration = narration
        set_border(self, title=narration.heading)
        self._lay_out(scroll_home=not same)

    def on_resize(self) -> None:
        if self.narration is not None and self._room() != self._width:
            self._lay_out(scroll_home=False)
        else:
            self._mark_cut()

    def _room(self) -> int:
        return self.scrollable_content_region.width or self.content_size.width

    def _lay_out(self, scroll_home: bool) -> None:
        assert self.narration is not None
        self._width = self._room()
        width = self._width or 10_000
        lines: list[Content] = []
        for line in self.narration.lines:
            line, left_out = self._cut(line, width * MAX_ROWS_PER_LINE)
            # a trailing note that would wrap goes on a line of its own, indented under the formula
            if len(line) > 1 and line[-1].role == NOTE and sum(len(s.text) for s in line) > width:
                lines.extend(self._wrapped(self._assemble(line[:-1]), width))
                lines.append(Content.styled("   " + line[-1].text.strip(), ROLE_STYLE[NOTE]))
            else:
                lines.extend(self._wrapped(self._assemble(line), width))
            if left_out:
                lines.append(Content.styled(f"   … {left_out:,} more numbers on this line (cut here)",
                                            ROLE_STYLE[NOTE]))
        self.lines = lines
        # as tall as the tallest step met at this width (up to max-height): a step never shrinks the panel,
        # so stepping does not lay the screen out again (a layout pass costs more than the rest of a step)
        self._tallest = max(self._tallest, len(lines)) if self._tallest_width == self._width else len(lines)
        self._tallest_width = self._width
        size = Size(self._width, self._tallest)
        if self.virtual_size != size:
            self.virtual_size = size
        if scroll_home:
            self.scroll_to(y=0, animate=False, immediate=True)
        self._mark_cut()
        self.refresh()

    @staticmethod
    def _cut(line: Line, limit: int) -> tuple[Line, int]:
        """``line`` cut to at most ``limit`` characters at a space, and how many numbers it lost."""
        if sum(len(s.text) for s in line) <= limit:
            return line, 0
        kept: list = []
        used = 0
        for k, span in enumerate(line):
            if used + len(span.text) <= limit:
                kept.append(span)
                used += len(span.text)
                continue
            room = limit - used
            at = span.text.rfind(" ", 0, room) if room > 0 else -1
            at = at if at > 0 else max(0, room)
            head = span.text[:at]
            if at:
                kept.append(type(span)(head, span.role))
            # numbers left out: this span's less those kept (a whole matrix counts fast), then the rest
            left = count_numbers(span.text) - count_numbers(head)
            left += sum(count_numbers(s.text) for s in line[k + 1:])
            return tuple(kept), left
        return line, 0

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._mark_cut()

    def _mark_cut(self) -> None:
        """"↑ 2 above · ↓ 3 more lines" in the border when lines are out of view, else nothing."""
        height = self.scrollable_content_region.height
        top = round(self.scroll_y)
        above, below = top, max(0, len(self.lines) - top - height) if height else 0
        parts = [f"↑ {above} above"] if above else []
        if below:
            parts.append(f"↓ {below} more line{'s' if below != 1 else ''}")
        set_border(self, subtitle=" · ".join(parts))

    def on_mount(self) -> None:
        super().on_mount()
        self.call_after_refresh(self._mark_cut)

    def render_line(self, y: int) -> Strip:
        top, width = self._frame
        k = top + y
        if not 0 <= k < len(self.lines):
            return Strip.blank(width, self.rich_style)
        return content_strip(self, self.lines[k], width)

    def text(self) -> str:
        """Every line of the step (scrolled out of view or not), as plain text."""
        return "\n".join(line.plain for line in self.lines)

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
