"""Loss per epoch as a sparkline, once more than one epoch has run.

Non-finite losses (a diverging run) are written as they are (nan, inf) in the label and left out of the
sparkline, which draws the finite ones; the label says from which epoch the loss stops being finite.
A long history is reduced with NumPy to :data:`SPARK_VALUES` bucket maxima (what the sparkline itself
would draw) before it reaches the widget, whose own bucketing is Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.visual import RulesMap
    from textual.widgets import Sparkline

from ...text.narrate import fmt
from ..session import Session, View

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


class LossLabel(Widget):
    """The first and last loss in the words :func:`loss_label` chooses for the width the label is laid out and
    painted at, chosen again whenever that width changes: never for a width it does not have (the panel's before
    it is laid out, or before a resize), which would wrap the text and leave the label a row too tall."""

    DEFAULT_CSS = """
    LossLabel {
        height: auto;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.losses: np.ndarray = np.empty(0)
        self._key: tuple[int, str, str, int] | None = None
        self._words: dict[int, Content] = {}  # the words for each width asked for, for these losses

    def words(self, width: int) -> Content:
        """The words for ``width`` (a layout pass, a paint and a test each ask: the history is read once)."""
        if width not in self._words:
            self._words[width] = Content(loss_label(self.losses, width) if len(self.losses) else "")
        return self._words[width]

    def rows(self, width: int) -> int:
        """The rows the words for ``width`` take, wrapped as Textual wraps them."""
        # a widget's styles are the rules Textual's own get_content_height passes (typed as the rules' dict)
        return self.words(width).get_height(cast("RulesMap", self.styles), width)

    @property
    def content(self) -> Content:
        """What the label shows at its width."""
        return self.words(self.content_size.width)

    def show(self, losses: np.ndarray) -> None:
        bad = np.flatnonzero(~np.isfinite(losses))
        # what loss_label reads, compared instead of the whole history (a step within an epoch changes none of it)
        key = (len(losses), str(losses[0]), str(losses[-1]), int(bad[0]) if bad.size else -1) if len(losses) else None
        if key == self._key:
            return
        self.losses, self._key, self._words = losses, key, {}
        width, rows = self.content_size
        # a layout pass only when the rows change (the latest number alone wider than the label wraps): a step
        # otherwise repaints the label without laying out the screen
        self.refresh(layout=not width or self.rows(width) != rows)

    def render(self) -> Content:
        return self.content

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # the height of the words chosen for the width being laid out (the label's own size is not set yet)
        return self.rows(width)


class LossPanel(Vertical):
    """The loss of each epoch reached so far (before its update), first and last in numbers."""

    # the label spans the panel: the width its words are chosen for
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

    def _parts(self) -> tuple[LossLabel, Sparkline]:
        """Its label and sparkline, mounted the first time there is a loss to show (at launch the panel is
        hidden, and start-up builds neither them nor the sparkline's module)."""
        from textual.widgets import Sparkline

        if not self.children:
            self.mount(LossLabel(id="loss-label"), Sparkline([], id="loss-sparkline"))
        return self.query_one(LossLabel), self.query_one(Sparkline)

    def show(self, losses: Sequence[float] | np.ndarray) -> None:
        """Show ``losses`` (epoch 1 first); hidden while there is at most one."""
        visible = len(losses) > 1
        self.set_class(not visible, "-empty")  # a class, so the small layout can still hide the panel
        if not visible or not self.is_attached:  # painted before it is in the DOM (again on mount) or after
            return
        label, spark = self._parts()
        values = np.asarray(losses, dtype=float)
        label.show(values)  # its words chosen for its own width, when it is laid out and painted
        key = (len(values), str(values[-1]))
        if getattr(spark, "_bpdebug_key", None) != key:
            spark._bpdebug_key = key  # type: ignore[attr-defined]
            with np.errstate(invalid="ignore"):
                finite = np.where(np.isfinite(values), values, np.nan)
            spark.data = bucket_max(finite, SPARK_VALUES).tolist()
