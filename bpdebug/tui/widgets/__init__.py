"""The panels of the debugger, one module each. Widgets only render what the app hands them."""

from __future__ import annotations

from pathlib import Path

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.app import App
from textual.content import Content, Span
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Static

_RESOLVED: dict[tuple[str, str], str] = {}
_VARIABLES: dict[str, dict[str, str]] = {}  # each theme's variables (Textual builds them anew on each call)


def _resolve(widget: Static, style: str | Style) -> str | Style:
    """A style with its theme variables ($accent-muted …) replaced by their colours, once per theme: Textual
    would otherwise resolve them span by span on every paint, which costs more than the rest of a step."""
    if not isinstance(style, str) or "$" not in style:
        return style
    app = widget.app
    key = (app.theme, style)
    if key not in _RESOLVED:
        variables = _VARIABLES.get(app.theme)
        if variables is None:
            variables = _VARIABLES[app.theme] = app.get_css_variables()
        _RESOLVED[key] = " ".join(variables.get(w[1:], w) if w.startswith("$") else w for w in style.split())
    return _RESOLVED[key]


def set_content(widget: Static, content: Content, auto_width: bool = False, fixed: bool = False) -> None:
    """Update ``widget`` only when its content changed, and ask for a layout pass only when its size could
    have changed (line count, or the widest line for a width: auto widget; never when ``fixed``, a widget
    whose size the stylesheet fixes). A step repaints the few panels
    it changes instead of laying out the whole screen, which keeps a keypress well under a frame."""
    if getattr(widget, "_bpdebug_shown", None) == (content.plain, content.spans):
        return
    widget._bpdebug_shown = (content.plain, content.spans)  # type: ignore[attr-defined]
    lines = content.plain.split("\n")
    shape = (len(lines), max(len(line) for line in lines) if auto_width else 0)
    layout = not fixed and shape != getattr(widget, "_bpdebug_shape", None)
    widget._bpdebug_shape = shape  # type: ignore[attr-defined]
    concrete = Content(content.plain, [Span(sp.start, sp.end, _resolve(widget, sp.style)) for sp in content.spans])
    widget.update(concrete, layout=layout)


def set_border(widget: Widget, title: str | None = None, subtitle: str | None = None) -> None:
    """Set a border title or subtitle only when it changes (each assignment repaints the widget)."""
    if title is not None and widget.border_title != title:
        widget.border_title = title
    if subtitle is not None and widget.border_subtitle != subtitle:
        widget.border_subtitle = subtitle


def content_strip(widget: Widget, content: Content, width: int, scroll_x: int = 0, row: int | None = None,
                  pad: RichStyle | None = None) -> Strip:
    """One line of ``content`` as ``widget`` paints it (theme variables resolved), cropped or padded to
    ``width`` cells from ``scroll_x``: the piece a line-API widget's ``render_line`` returns. ``row``: the line's
    row in the widget's text, carried by each character for the screen to select with the mouse; ``pad``: the
    style of the padding (the widget's own by default)."""
    base = widget.visual_style
    parse = widget.app.stylesheet.parse_style
    segments: list[Segment] = []
    x = 0
    for text, style in content.render(base, end="", parse_style=parse):
        segments.append(Segment(text, style.rich_style if row is None else style.rich_style_with_offset(x, row)))
        x += len(text)
    return Strip(segments).crop_extend(scroll_x, scroll_x + width, base.rich_style if pad is None else pad)


class LineView(ScrollView, can_focus=False):
    """A scroll view painted a line at a time (Textual's line API): ``render_line(y)`` paints row ``y`` of the view
    from ``_frame``, the scroll position and width read once per paint rather than once per line (each is a
    reactive lookup). The step, the chain rule, the parameters and the graph are line views."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._frame = (0, 0)  # (the first row in view, the width) of the paint under way

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = (round(self.scroll_y), self.scrollable_content_region.width)
        return super().render_lines(crop)

    def scroll_page(self, direction: int) -> None:
        """Scroll a page down (``direction`` 1) or up (-1), keeping one line of the page before in view."""
        page = max(1, self.scrollable_content_region.height - 1)
        self.scroll_to(y=self.scroll_y + direction * page, animate=False)



def add_stylesheet(app: App, path: Path) -> None:
    """Add the ``.tcss`` file at ``path`` to ``app``'s stylesheet, once: rules the first frame does not need (the
    dialogs', the panels shown on demand), read when what they style first shows. Added before those widgets are
    styled, only this file is parsed (Textual keeps the other sources' rules) and they are styled with it as they
    mount; a class change on the screen restyles its widgets with it."""
    stylesheet = app.stylesheet
    if not stylesheet.has_source(str(path)):
        stylesheet.add_source(path.read_text(encoding="utf-8"), read_from=(str(path), ""))
