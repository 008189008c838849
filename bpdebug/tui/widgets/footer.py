"""The footer: Textual's, but a footer short of room folds its spare keys (:data:`~bpdebug.tui.keys.SPARE_KEYS`)
one at a time rather than clip the last ones (q quit among them). Help and the command palette still list them."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from ..keys import SPARE_KEYS

PALETTE_WIDTH = 100  # below this many columns the palette's hint gives way (the screens' compact width)
ROOMY_FOOTER = 132  # below this many columns the keys sit one space apart (at 120 every key fits)
KEY = "FooterKey"  # Footer's key widgets, by their CSS type (their class is private to textual.widgets._footer)


class FittingFooter(Footer):
    """Folds the ``spare`` actions (default :data:`SPARE_KEYS`), in order, while its keys are wider than the screen;
    unfolds them when the width or the keys change (a resize, a long run ending, the side panels toggled)."""

    # compact (below 132 columns, so that every key fits, q included), a group's label keeps its space
    DEFAULT_CSS = """
    FittingFooter.-compact FooterLabel {
        margin: 0 1 0 0;
    }
    """

    class Fitted(Message):
        """The keys are laid out within the width (after start-up: the screen's first frames are complete)."""

    def __init__(self, spare: tuple[str, ...] = SPARE_KEYS, width: int | None = None) -> None:
        super().__init__()
        if width is not None:  # styled for the screen's width from the start (the screen restyles on resize)
            self.style_for(width)
        self.spare = spare
        self.folded: tuple[str, ...] = ()  # the actions folded away, in the order of ``spare``
        self.fitted = False  # its keys are laid out within the width (False while a recompose is due)
        self._queued = False  # a recompose for changed bindings is due
        self._rebound = False  # the bindings changed since the last recompose
        self._fold_width = 0  # the width the keys were last fitted to
        self._shown: tuple[object, ...] | None = None  # the keys composed last: _showing() and the folded actions

    def compose(self) -> ComposeResult:
        # None while it has no keys (Footer composes them once the screen's bindings are ready, after the first
        # frame); widgets are yielded as Footer makes them (its key groups are ``with`` blocks around their keys)
        self._shown = None
        for widget in super().compose():
            if getattr(widget, "action", None) not in self.folded:  # a key widget holds its action
                if self._shown is None:
                    self._shown = (self._showing(), self.folded)
                yield widget

    def _showing(self) -> tuple[object, ...]:
        """What the keys would show now, before folding: each shown binding's key, description, action,
        whether it is enabled and its tooltip, whether the palette's key shows, and the compact style."""
        bindings = tuple((b.key, b.description, b.action, enabled, tooltip)
                         for _, b, enabled, tooltip in self.screen.active_bindings.values() if b.show)
        return bindings, self.show_command_palette, self.compact

    def style_for(self, width: int) -> None:
        """Below :data:`PALETTE_WIDTH` columns the palette's hint gives way; below :data:`ROOMY_FOOTER` the keys
        tighten (so that quit shows)."""
        self.show_command_palette = width >= PALETTE_WIDTH
        self.compact = width < ROOMY_FOOTER

    def watch_virtual_size(self, size: Size) -> None:
        self._fit(size)

    def _fit(self, size: Size) -> None:
        """After each layout: while the keys overflow the width, fold the spare keys shown, in order, as many as
        their measured widths cover the overflow, in one recompose (one at a time if a key is not measured yet)."""
        self._fold_width = self.size.width
        overflow = size.width - self.size.width
        if overflow <= 0:
            fitted = bool(self.children)
            if fitted and not self.fitted:
                self.post_message(self.Fitted())
            self.fitted = fitted
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
        if event.size.width != self._fold_width:  # folded for another width
            self._unfold()

    def bindings_changed(self, screen: Screen) -> None:
        """As Footer's, but several changes in a row (start-up brings four) recompose once, not once each."""
        self._rebound = True
        if self._queued:
            return
        self._queued = screen.app.app_focus and self.is_attached and screen is self.screen
        super().bindings_changed(screen)  # which then recomposes after the next refresh

    async def recompose(self) -> None:
        """Recompose when what the keys show changed: other bindings (folded again from all of them) or other
        folds. Start-up's four bindings changes change nothing the footer shows."""
        self._queued = False
        rebound, self._rebound = self._rebound, False
        if not self.is_attached:
            return
        showing = self._showing()
        if rebound and self._shown is not None and showing != self._shown[0]:
            self.folded = ()  # other keys: fold again from all of them
        elif (showing, self.folded) == self._shown:
            return  # the same keys, folded the same
        self.fitted = False
        # new keys are measured by their first layout, even when their total width is the one before: forget
        # it, so that layout calls watch_virtual_size
        self.set_reactive(Widget.virtual_size, Size(0, 0))
        await super().recompose()
