"""The picture panel: the loss curve, the gradient flow, or the decision map of the session's current step.

``v`` cycles through :func:`pictures_for` (the map only for a network with two inputs) and then hides the
panel; ``L`` switches the loss curve's y axis between linear and log. With a what-if fork the loss curve shows
the original run and the fork on the original's epochs (:meth:`Session.loss_curves`), each in its colour.
Only the picture shown is computed, at each repaint of the step: the loss from the trace's bounded history
(:meth:`Trace.loss_summary`), the gradient norms from :class:`~bpdebug.core.gradient_flow.GradientFlow`
(cached, one pass per new epoch), the map with one batched forward pass of the step's weights. The app imports
this module the first time ``v`` is pressed, so the first frame pays nothing for it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ContentSwitcher

from ...core.engine import Trace
from ...core.gradient_flow import GradientFlow, describe_sampling, sample_epochs
from ...core.scenario import Scenario
from ..session import Session
from . import set_border
from .decision_map import DecisionMapView
from .gradient_flow import GradientFlowView
from .loss_plot import SERIES_COLOURS, LossPlot, Series

if TYPE_CHECKING:
    from ..session import LossCurve


class Picture(enum.Enum):
    LOSS = "loss"
    GRADIENTS = "gradients"
    MAP = "map"

    @property
    def title(self) -> str:
        return {"loss": "loss curve", "gradients": "gradient flow: ‖∂E/∂Θ‖₂ per layer",
                "map": "decision map"}[self.value]


def pictures_for(scenario: Scenario) -> tuple[Picture, ...]:
    """The pictures a scenario has, in the order ``v`` shows them."""
    return tuple(p for p in Picture if p is not Picture.MAP or scenario.layers[0] == 2)


def loss_series(trace: Trace, epochs: int, buckets: int, label: str = "run", offset: int = 0,
                colour: str | None = None, bold: bool = False) -> Series:
    """Epochs 1 … ``epochs`` of ``trace``'s loss in at most ``buckets`` buckets (bounded for any run), drawn at
    epochs ``offset + 1`` … of the plot (a fork on the original's axis)."""
    s = trace.loss_summary(epochs, max(1, buckets))
    return Series(label, s.first_epochs() + offset, s.low, s.high, colour, bold)


def curve_series(curves: Sequence[LossCurve], buckets: int) -> list[Series]:
    """The session's loss curves as plot series, the original first (so a fork is drawn over it where they
    meet), each in its colour, the shown run bold in the legend; a run with no epoch yet is left out when it is
    the only one, and kept in the legend otherwise."""
    out = []
    for k, c in enumerate(curves):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        if c.epochs:
            out.append(loss_series(c.trace, c.epochs, buckets, c.label, c.offset, colour, c.shown and len(curves) > 1))
        elif len(curves) > 1:
            out.append(Series(c.label, np.empty(0, dtype=np.int64), np.empty(0), np.empty(0), colour, c.shown))
    return out


class PicturePanel(Vertical):
    """One picture at a time, for the session's current step."""

    DEFAULT_CSS = """
    PicturePanel ContentSwitcher { height: 1fr; }
    """

    def __init__(self, session: Session, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.picture = pictures_for(session.scenario)[0]
        self.log_scale = False
        self._flow: GradientFlow | None = None
        self._flow_trace: Trace | None = None

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="picture-loss"):
            yield LossPlot(id="picture-loss")
            yield GradientFlowView(id="picture-gradients")
            yield DecisionMapView(self.session.scenario, id="picture-map")

    def cycle(self) -> Picture | None:
        """The next picture, or None after the last one (the app hides the panel)."""
        order = pictures_for(self.session.scenario)
        i = order.index(self.picture) if self.picture in order else -1
        if i + 1 >= len(order):
            self.picture = order[0]
            return None
        self.picture = order[i + 1]
        return self.picture

    def flow(self) -> GradientFlow:
        trace = self.session.trace
        if self._flow is None or self._flow_trace is not trace:  # a reload makes a new trace
            self._flow, self._flow_trace = GradientFlow(trace), trace
        return self._flow

    def show(self) -> None:
        """Draw the current picture for the session's step."""
        if self.picture not in pictures_for(self.session.scenario):  # reloaded with another input count
            self.picture = Picture.LOSS
        self.query_one(ContentSwitcher).current = f"picture-{self.picture.value}"
        s, step = self.session, self.session.step
        width = self.content_region.width  # the panel's: a picture just switched to is not laid out yet
        subtitle = ""
        if self.picture is Picture.LOSS:
            plot = self.query_one(LossPlot)
            curves = s.loss_curves()
            reached = max(c.offset + c.epochs for c in curves)  # on the original's axis
            series = curve_series(curves, 2 * max(1, width))
            if not any(len(x.epochs) for x in series):
                series = []
            current = s.run.offset + step.epoch
            d = s.divergence
            diverged = None
            if d is not None and s.index >= d.step:  # the walk is past where the numbers stop being finite
                diverged = s.run.offset + d.epoch
                reached = max(reached, diverged)
            plot.show(series, max(1, min(current, reached or 1)), max(reached, 1), self.log_scale, diverged)
            subtitle = f"L: {'linear' if self.log_scale else 'log'} scale"
            if s.forked is not None:
                subtitle += "  o: original/fork  O: drop the fork"
        elif self.picture is Picture.GRADIENTS:
            view = self.query_one(GradientFlowView)
            epochs = sample_epochs(step.epoch, view.columns_for(width))
            view.show(epochs, self.flow().norms(epochs))
            subtitle = describe_sampling(epochs)
        else:
            view_map = self.query_one(DecisionMapView)
            view_map.show(step.weights, s.scenario if s.scenario is not view_map.scenario else None)
            subtitle = f"weights of epoch {step.epoch}'s pass"
        set_border(self, title=f"{self.picture.title}  (v: next)", subtitle=subtitle)

    @property
    def map_view(self) -> DecisionMapView:
        return self.query_one(DecisionMapView)

    @property
    def values(self) -> np.ndarray | None:
        """The decision map's outputs at the training examples, as last drawn (None before)."""
        m = self.map_view.map
        return None if m is None else m.example_outputs
