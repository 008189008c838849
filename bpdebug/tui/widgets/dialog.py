"""What every dialog shares: its stylesheet, ``dialogs.tcss``, read when the first dialog opens."""

from __future__ import annotations

from pathlib import Path

from textual.screen import ModalScreen, ScreenResultType

from . import add_stylesheet

DIALOG_CSS = Path(__file__).resolve().parent.parent / "dialogs.tcss"


class Dialog(ModalScreen[ScreenResultType]):
    """A modal dialog styled by ``dialogs.tcss``, which the first dialog adds to the app's stylesheet: the first
    frame's stylesheet neither parses its rules nor matches them against every panel. Once added, the rules
    stay (app-wide, as ``app.tcss``'s) for every later dialog."""

    CSS_PATH = DIALOG_CSS  # absolute: dialogs are defined in other directories too (served.py)

    def __init__(self, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name, id, classes)
        # Textual reads a screen's CSS_PATH as push_screen's last step, after the dialog has been styled, and
        # then parses every source again and restyles every widget of the app (~20 ms the first time). Added
        # here, before the dialog is registered and styled, only this file is parsed and push_screen finds it
        # read. A dialog built outside a running app (NoActiveAppError, a RuntimeError) is styled by CSS_PATH.
        try:
            app = self.app
        except RuntimeError:
            return
        add_stylesheet(app, DIALOG_CSS)
