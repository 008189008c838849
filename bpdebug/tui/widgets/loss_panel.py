"""Loss per epoch as a sparkline, once more than one epoch has run."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Label, Sparkline

from ...text.narrate import fmt
from . import set_content


class LossPanel(Vertical):
    """The loss of each epoch reached so far (before its update), first and last in numbers."""

    def compose(self) -> ComposeResult:
        yield Label("", id="loss-label")
        yield Sparkline([], id="loss-sparkline")

    def show(self, losses: Sequence[float]) -> None:
        """Show ``losses`` (epoch 1 first); hidden while there is at most one."""
        visible = len(losses) > 1
        self.set_class(not visible, "-empty")  # a class, so the small layout can still hide the panel
        if visible:
            n = len(losses)
            set_content(self.query_one(Label), Content(f"epoch 1: {fmt(losses[0])}  →  epoch {n}: {fmt(losses[-1])}"))
            spark = self.query_one(Sparkline)
            if spark.data is None or len(spark.data) != n:
                spark.data = list(losses)
