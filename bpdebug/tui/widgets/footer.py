"""The footer: Textual's, but a footer short of room folds its spare keys (:data:`~bpdebug.tui.keys.SPARE_KEYS`)
one at a time rather than clip the last ones (q quit among them). Help and the command palette still list them."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer

from ..keys import SPARE_KEYS

KEY = "FooterKey"  # Footer's key widgets, by their CSS type (their class is private to textual.widgets._footer)


class FittingFooter(Footer):
    """Folds the ``spare`` actions (default :data:`SPARE_KEYS`), in order, while its keys are wider than the screen;
    unfolds them when the width or the keys change (a resize, a long run ending, the side panels toggled)."""

    def __init__(self, spare: tuple[str, ...] = SPARE_KEYS) -> None:
        super().__init__()
        self.spare = spare
        self.folded: tuple[str, ...] = ()  # the actions folded away, in the order of ``spare``
        self.fitted = False  # its keys are laid out within the width (False while a recompose is due)
        self._queued = False  # a recompose for changed bindings is due

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if getattr(widget, "action", None) not in self.folded:  # a key widget holds its action
                yield widget

    def watch_virtual_size(self, size: Size) -> None:
        """After each layout: while the keys overflow the width, fold the spare keys shown, in order, as many as
        their measured widths cover the overflow, in one recompose (one at a time if a key is not measured yet)."""
        overflow = size.width - self.size.width
        if overflow <= 0:
            self.fitted = bool(self.children)
            return
        widths: dict[str, int] = {}
        for key in self.query(KEY):
            action = getattr(key, "action", None)
            if isinstance(action, str):
                widths[action] = widths.get(action, 0) + key.virtual_region_with_margin.width
        fold: list[str] = []
        for action in self.spare:
            if overflow <= 0:
                break
            if action in widths and action not in self.folded:
                fold.append(action)
                if not widths[action]:  # not laid out: fold it alone, the next layout measures the rest
                    break
                overflow -= widths[action]
        if fold:
            self.folded += tuple(fold)
            self._recompose()

    def _recompose(self) -> None:
        self.fitted = False
        self.refresh(recompose=True)

    def _unfold(self) -> None:
        if self.folded:
            self.folded = ()
            self._recompose()

    def on_resize(self, event: events.Resize) -> None:
        self._unfold()

    def bindings_changed(self, screen: Screen) -> None:
        """As Footer's, but several changes in a row (start-up brings four) recompose once, not once each."""
        self.folded = ()
        self.fitted = False
        if self._queued:
            return
        self._queued = screen.app.app_focus and self.is_attached and screen is self.screen
        super().bindings_changed(screen)  # which then recomposes after the next refresh

    async def recompose(self) -> None:
        self._queued = False
        await super().recompose()
