"""A panel bound to the screen's :class:`~bpdebug.tui.session.View` (``data_bind``): it paints the session's state
whenever the view changes."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from ..session import Session, View


class BoundPanel(Static):
    """A panel that paints ``session`` whenever the screen's view changes (:meth:`paint`)."""

    view: reactive[View | None] = reactive(None, init=False, repaint=False)

    def __init__(self, session: Session | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    def watch_view(self, view: View | None) -> None:
        if view is not None and self.session is not None:
            self.paint(self.session, view)

    def paint(self, session: Session, view: View) -> None:
        """Show what ``session`` holds now, as ``view`` asks (compact or not)."""
        raise NotImplementedError
