"""The footer, which leaves out the secondary keys where the terminal is too narrow for every key.

Below :data:`NARROW_FOOTER` columns the keys in :data:`bpdebug.tui.keys.SECONDARY_ACTIONS` give way, so the keys a
person needs first (step, epoch, go to, param, help, quit) always show; help (?) and the command palette list all.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from ..keys import SECONDARY_ACTIONS


class KeyFooter(Footer):
    """A :class:`~textual.widgets.Footer` that drops the secondary keys while ``narrow``."""

    narrow: reactive[bool] = reactive(False, recompose=True)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if self.narrow and isinstance(widget, FooterKey) and widget.action in SECONDARY_ACTIONS:
                continue
            yield widget
