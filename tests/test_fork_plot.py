"""A what-if fork on the loss curve: the original's loss and the fork's on one plot, the fork from the epoch it
forked at on the original's epoch axis, each in its colour and named in a legend line; dropped with the fork.

The numbers drawn are compared with losses computed here from the weights (a forward pass written out), not
with the trace that drew them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.tui.app import DebuggerScreen, make_app
from bpdebug.tui.session import Session
from bpdebug.tui.widgets.loss_plot import SERIES_COLOURS, LossPlot, Series, _label, plot_cells
from bpdebug.tui.widgets.pictures import Picture, PicturePanel

ROOT = Path(__file__).resolve().parent.parent
BLOG, XOR = ROOT / "scenarios" / "blog.toml", ROOT / "scenarios" / "xor.toml"


def blog_loss(weights: tuple[np.ndarray, ...]) -> float:
    """The blog network's loss (sigmoid 2-2-2, ½ Σ (t − o)², biases in column 0), written out."""
    s = load(BLOG)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    x, t = s.inputs[0], s.targets[0]
    h = sig(weights[0][:, 0] + weights[0][:, 1:] @ x)
    o = sig(weights[1][:, 0] + weights[1][:, 1:] @ h)
    return float(0.5 * np.sum((t - o) ** 2))


async def _type(pilot, *keys: str) -> None:
    for key in keys:
        if len(key) > 1 and key not in ("enter", "escape"):
            for ch in key:
                await pilot.press(ch)
        else:
            await pilot.press(key)
    await pilot.pause()


async def _settle(pilot) -> None:
    screen = pilot.app.screen
    for _ in range(400):
        await pilot.pause(0.02)
        if not isinstance(screen, DebuggerScreen) or not screen.busy:
            break
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def lines(plot: LossPlot) -> list[str]:
    return [plot.render_line(y).text for y in range(plot.size.height)]


async def test_e_at_epoch_3_overlays_the_fork_on_the_loss_curve_and_O_drops_it():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await _type(pilot, "g", "3", "enter")
        await _settle(pilot)
        for _ in range(4):  # past the error step, so epoch 3's loss is reached
            await pilot.press("n")
        await _type(pilot, "v")
        await _settle(pilot)
        plot = app.screen.query_one(LossPlot)
        assert [s.label for s in plot.series] == ["run"] and not lines(plot)[0].strip().startswith("━━")

        await _type(pilot, "e", "w5=0.5", "enter")
        for _ in range(4):
            await pilot.press("n")
        await _type(pilot, "]", "]")  # fork epochs 1 … 3 = the original's 3 … 5
        await _settle(pilot)
        assert app.session.showing_fork and app.session.step.epoch == 3
        original, fork = plot.series
        assert original.label == "original" and fork.label == "fork: w5=0.5 from epoch 3"
        assert fork.bold and not original.bold and original.colour != fork.colour
        assert list(fork.epochs) == [3, 4, 5] and list(original.epochs) == [1, 2, 3, 4, 5]
        # the fork's first loss is that of the original's weights before epoch 3 with w5 = 0.5
        weights = [w.copy() for w in Trace(load(BLOG), 3).weights_before(3)]
        assert blog_loss(tuple(weights)) == pytest.approx(original.low[2], rel=1e-14)
        weights[1][0, 1] = 0.5
        assert fork.low[0] == pytest.approx(blog_loss(tuple(weights)), rel=1e-14)
        assert fork.low[0] != original.low[2]
        assert plot.current == 5 and plot.last == 5  # the current epoch on the original's axis
        text = lines(plot)
        assert "━━ original" in text[0] and "━━ fork: w5=0.5 from epoch 3" in text[0] and "▲5" in text[-1]
        await _type(pilot, "L")  # log scale spans both runs' losses
        lows = np.concatenate([original.low, fork.low])
        assert plot.log_scale and plot.y_range == pytest.approx((np.log10(lows.min()), np.log10(lows.max())))

        await _type(pilot, "o")  # the original shown: both curves stay, on the same axis
        assert not app.session.showing_fork and [s.bold for s in plot.series] == [True, False]
        assert list(plot.series[1].epochs) == [3, 4, 5] and plot.current == 5

        await _type(pilot, "O")
        assert app.session.forked is None
        assert [s.label for s in plot.series] == ["run"]
        assert "━━" not in lines(plot)[0]
        assert app.screen.query_one(PicturePanel).picture is Picture.LOSS


def test_a_fork_not_yet_reached_from_the_original_is_named_but_not_drawn():
    s = Session(XOR)
    s.go_to_epoch(30)
    s.fork("learning_rate=2")
    s.switch_run()
    s.go_to_epoch(10)  # before the fork's start
    original, fork = s.loss_curves()
    assert (original.epochs, fork.epochs, fork.offset) == (s.loss_epochs, 0, 29)


def test_the_run_not_shown_is_trained_only_a_bounded_stretch_on_a_repaint():
    from bpdebug.tui.session import SYNC_EPOCHS

    s = Session(XOR)
    s.go_to_epoch(5)
    s.fork("learning_rate=2")
    s.go_to_epoch(5000)
    original, fork = s.loss_curves()
    assert fork.epochs == s.loss_epochs and fork.shown
    assert original.epochs <= max(s.original.trace.losses_computed, 4 + SYNC_EPOCHS)
    outcome = s.run_to(6000)  # a long run trains the other run as far, so the plot compares them
    s.finish_run(outcome)
    original, fork = s.loss_curves()
    assert original.epochs == fork.offset + fork.epochs


# ------------------------------------------------------------------------------------- NaN, inf, log scale

LOSSES = st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.floats(1e-12, 10), min_size=1, max_size=60)


@settings(max_examples=80, deadline=None)
@given(LOSSES, LOSSES, st.integers(0, 30), st.booleans(), st.integers(12, 90), st.integers(3, 20))
def test_overlaid_series_with_any_numbers_never_crash_and_keep_each_colour(a, b, offset, log, width, height):
    one = Series("original", np.arange(1, len(a) + 1), np.array(a), np.array(a), SERIES_COLOURS[0])
    two = Series("fork: w5=0.5", np.arange(1, len(b) + 1) + offset, np.array(b), np.array(b), SERIES_COLOURS[1], True)
    last = max(len(a), len(b) + offset)
    columns, rows = width - 10, height - 2
    if columns >= 4 and rows >= 2:
        bits, owner, yr = plot_cells([one, two], last, columns, rows, log)
        assert set(np.unique(owner)) <= {-1, 0, 1} and ((bits > 0) == (owner >= 0)).all()
        assert yr is None or (np.isfinite(yr[0]) and np.isfinite(yr[1]) and yr[0] < yr[1])

    plot = LossPlot()
    plot.series, plot.current, plot.last, plot.log_scale = (one, two), last, last, log
    built = plot._build(width, height)
    assert 1 <= len(built) <= height


def test_y_labels_fit_the_margin_without_cutting_an_exponent():
    assert _label(3.033603e-5, False) == "3.034e-5"
    assert float(_label(1.5e-200, False)) == pytest.approx(1.5e-200)
    assert _label(0.026477, False) == "0.026477"


# -------------------------------------------------------------------------------------------------- snapshot

class ForkedPictureApp(App[None]):
    """xor forked at epoch 100 with learning_rate=2, walked to the fork's epoch 200 (the original's 299)."""

    def __init__(self) -> None:
        super().__init__()
        self.session = Session(XOR)
        self.session.go_to_epoch(100)
        self.session.fork("learning_rate=2")
        self.session.go_to_epoch(200)
        self.panel = PicturePanel(self.session, id="pictures")
        self.panel.picture = Picture.LOSS

    def compose(self) -> ComposeResult:
        yield self.panel

    def on_mount(self) -> None:
        self.call_after_refresh(self.panel.show)


def test_snapshot_fork_overlaid_on_the_loss_curve(snap_compare):
    assert snap_compare(ForkedPictureApp(), terminal_size=(120, 40))
