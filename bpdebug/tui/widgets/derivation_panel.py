"""The chain rule of the selected parameter, from ``bpdebug.derivation`` (SymPy), computed by the app."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ...text.narrate import wrap
from ...text.numbers import PENDING
from . import set_content


class DerivationPanel(Static):
    """Shows the derivation's text lines; factors not yet computed at this step appear as a dim "…"."""

    def show_lines(self, lines: list[str], previous: list[str] | None = None) -> int | None:
        """Show ``lines``; those that differ from the previous step's (numbers just filled in) are
        highlighted. Returns the row of the first changed line, for the app to scroll to."""
        width = self.content_size.width or 10_000
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
        set_content(self, Content("\n").join(rendered))
        return first_changed

    def show_message(self, message: str) -> None:
        set_content(self, Content.assemble((message, "dim italic")))
