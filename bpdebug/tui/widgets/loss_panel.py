"""Loss per epoch as a sparkline, once more than one epoch has run.

Non-finite losses (a diverging run) are written as they are (nan, inf) in the label and left out of the
sparkline, which draws the finite ones; the label says from which epoch the loss stops being finite.
A long history is reduced with NumPy to :data:`SPARK_VALUES` bucket maxima (what the sparkline itself
would draw) before it reaches the widget, whose own bucketing is Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Label

if TYPE_CHECKING:
    from textual.widgets import Sparkline

from ...text.narrate import fmt
from ..session import Session, View
from . import set_content

SPARK_VALUES = 10_000  # a longer history reaches the sparkline reduced to this many bucket maxima


def bucket_max(values: np.ndarray, buckets: int) -> np.ndarray:
    """``values`` reduced to at most ``buckets`` values, each the largest of a run of consecutive ones
    (all of them when there are fewer); NaN entries are ignored, all-NaN buckets dropped."""
    n = len(values)
    if n <= buckets:
        return values[~np.isnan(values)]
    edges = np.linspace(0, n, buckets + 1).astype(np.intp)
    filled = np.where(np.isnan(values), -np.inf, values)
    out = np.maximum.reduceat(filled, edges[:-1])
    return out[np.isfinite(out)]


def loss_label(losses: np.ndarray, width: int) -> str:
    """``epoch 1: 0.52 → epoch 10: 0.49``, shortened to ``width`` by dropping words before numbers, and
    the first loss before the last one: the latest loss is always shown whole."""
    n = len(losses)
    first, last = fmt(losses[0]), fmt(losses[-1])
    bad = np.flatnonzero(~np.isfinite(losses))
    since = f"  (not finite from epoch {bad[0] + 1})" if bad.size else ""
    for text in (f"epoch 1: {first}  →  epoch {n}: {last}{since}",
                 f"epoch 1: {first}  →  epoch {n}: {last}",
                 f"1: {first} → {n}: {last}",
                 f"epoch {n}: {last}",
                 f"{n}: {last}"):
        if len(text) <= width:
            return text
    return last


class LossPanel(Vertical):
    """The loss of each epoch reached so far (before its update), first and last in numbers."""

    # the label spans the panel, so a longer text never waits for a layout pass to be seen whole
    DEFAULT_CSS = """
    LossPanel > #loss-label {
        width: 1fr;
    }
    """

    view: reactive[View | None] = reactive(None, init=False, repaint=False)  # bound to the screen's (data_bind)

    def __init__(self, session: Session | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    def watch_view(self, view: View | None) -> None:
        """Paint the loss of every epoch the session's walk has reached."""
        if view is not None and self.session is not None:
            self.show(self.session.losses_reached())

    def on_mount(self) -> None:
        self.watch_view(self.view)

    def _parts(self) -> tuple[Label, Sparkline]:
        """Its label and sparkline, mounted the first time there is a loss to show (at launch the panel is
        hidden, and start-up builds neither them nor the sparkline's module)."""
        from textual.widgets import Sparkline

        if not self.children:
            self.mount(Label("", id="loss-label"), Sparkline([], id="loss-sparkline"))
        return self.query_one(Label), self.query_one(Sparkline)

    def show(self, losses: Sequence[float] | np.ndarray) -> None:
        """Show ``losses`` (epoch 1 first); hidden while there is at most one."""
        visible = len(losses) > 1
        self.set_class(not visible, "-empty")  # a class, so the small layout can still hide the panel
        if not visible or not self.is_attached:  # painted before it is in the DOM (again on mount) or after
            return
        label, spark = self._parts()
        values = np.asarray(losses, dtype=float)
        width = self.content_size.width or 60
        set_content(label, Content(loss_label(values, width)))
        key = (len(values), str(values[-1]))
        if getattr(spark, "_bpdebug_key", None) != key:
            spark._bpdebug_key = key  # type: ignore[attr-defined]
            with np.errstate(invalid="ignore"):
                finite = np.where(np.isfinite(values), values, np.nan)
            spark.data = bucket_max(finite, SPARK_VALUES).tolist()
