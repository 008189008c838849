"""The picture panel: loss curve, gradient flow, decision map.

The gradient norms are checked against central finite differences of the loss (no backward pass shared with
the engine); the panel is driven with the app's own keys (``v``, ``L``) and its numbers compared with the
trace's.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _diverging import diverging_softmax_text
from hypothesis import given
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from bpdebug.core.compute import batch_loss
from bpdebug.core.engine import Trace
from bpdebug.core.gradient_flow import GradientFlow, dense_start, describe_sampling, sample_epochs
from bpdebug.core.scenario import load
from bpdebug.tui.app import DebuggerApp, DebuggerScreen
from bpdebug.tui.session import Session
from bpdebug.tui.widgets.decision_map import DecisionMapView
from bpdebug.tui.widgets.gradient_flow import GradientFlowView
from bpdebug.tui.widgets.loss_plot import FLAT_PAD, LossPlot, Series, plot_cells
from bpdebug.tui.widgets.pictures import Picture, PicturePanel, pictures_for

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
XOR, BLOG, DEEP, ONLINE, SOFTMAX = (SCENARIOS / f"{n}.toml" for n in ("xor", "blog", "deep", "online", "softmax"))


def fd_gradients(scenario, weights, x, t, h=1e-6):
    """∂E/∂Θ of every weight by central differences of the loss (forward passes only)."""
    net = Trace(scenario).net
    out = []
    for layer, w in enumerate(weights):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            plus = [v.copy() for v in weights]
            minus = [v.copy() for v in weights]
            plus[layer][idx] += h
            minus[layer][idx] -= h
            g[idx] = (batch_loss(net, tuple(plus), x, t)[0] - batch_loss(net, tuple(minus), x, t)[0]) / (2 * h)
        out.append(g)
    return out


@pytest.mark.parametrize("path,epoch", [(XOR, 1), (XOR, 300), (BLOG, 2), (DEEP, 1), (DEEP, 50)])
def test_batch_norms_are_the_norms_of_the_loss_gradient(path, epoch):
    scenario = load(path)
    trace = Trace(scenario)
    w = trace.weights_before(epoch)
    expected = [np.linalg.norm(g) for g in fd_gradients(scenario, w, scenario.inputs, scenario.targets)]
    got = GradientFlow(trace).epoch(epoch)
    assert got.shape == (scenario.n_layers - 1,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)


def test_online_norms_sum_each_examples_gradient_along_the_epochs_updates():
    scenario = load(ONLINE)
    trace = Trace(scenario)
    weights = [w.copy() for w in trace.weights_before(3)]
    total = [np.zeros_like(w) for w in weights]
    for k in range(scenario.n_examples):
        g = fd_gradients(scenario, tuple(weights), scenario.inputs[k:k + 1], scenario.targets[k:k + 1])
        for s, gi in zip(total, g, strict=True):
            s += gi
        weights = [w - scenario.learning_rate * gi for w, gi in zip(weights, g, strict=True)]
    np.testing.assert_allclose(GradientFlow(trace).epoch(3), [np.linalg.norm(s) for s in total], rtol=1e-5)


def test_norms_are_cached_and_a_diverging_run_gives_non_finite_norms_not_an_error(tmp_path):
    text = diverging_softmax_text()
    assert "1e6" in text
    path = tmp_path / "sm.toml"
    path.write_text(text)
    trace = Trace(load(path))
    flow = GradientFlow(trace, cache=3)
    norms = flow.norms(np.arange(1, 8))
    assert norms.shape == (7, 2) and not np.isfinite(norms).all()
    assert flow.epoch(7) is flow.epoch(7)  # kept
    assert len(flow._cache) == 3


@given(last=st.integers(1, 10**7), columns=st.integers(2, 400))
def test_sampled_epochs_fit_the_columns_dense_near_the_last_sparser_with_age(last, columns):
    e = sample_epochs(last, columns)
    assert e[0] == 1 and e[-1] == last and np.all(np.diff(e) > 0)
    assert len(e) <= columns
    if last <= columns:
        assert list(e) == list(range(1, last + 1))
        return
    # the epochs near the current one are drawn one by one: the last columns // 2 of them at least
    dense = max(1, columns // 2)
    assert list(e[-dense:]) == list(range(last - dense + 1, last + 1))
    assert dense_start(e) <= len(e) - dense
    # older ones ever sparser: going back in time the gaps never shrink (after epoch 1's), and each older
    # epoch is a multiple of the largest power of two its gap to the next holds: a grid that stays as the run
    # grows (a multiple of 16 is one of 8, 4 and 2)
    older = e[1:dense_start(e) + 1]
    gaps = np.diff(older)
    assert np.all(gaps[:-1] >= gaps[1:])
    for epoch, gap in zip(older[:-1], gaps, strict=True):
        assert epoch % (1 << (int(gap).bit_length() - 1)) == 0, (epoch, gap)
    # stepping on by an epoch: the new current epoch, and at most a few others (when a level's size changes)
    nxt = sample_epochs(last + 1, columns)
    assert len(set(nxt.tolist()) - set(e.tolist()) - {last + 1}) <= int(last).bit_length()


@pytest.mark.parametrize("columns", [10, 40, 64, 104])
@pytest.mark.parametrize("first", [50, 1000, 123456])
def test_stepping_epoch_by_epoch_costs_about_one_new_pass_per_step(first, columns):
    """``]`` held for 2000 epochs: the gradient flow computes the new epoch and nothing else."""
    seen = set(sample_epochs(first, columns).tolist())
    extra = 0
    for last in range(first + 1, first + 2001):
        now = set(sample_epochs(last, columns).tolist())
        extra += len(now - seen - {last})
        seen = now
    assert extra == 0


def test_the_sampling_is_described_in_a_few_words():
    assert describe_sampling(sample_epochs(30, 40)) == "every epoch"
    e = sample_epochs(2000, 40).tolist()
    d = 1
    while e[-d - 1] == e[-d] - 1:
        d += 1
    words = re.fullmatch(r"last (\d+) epochs each, older ones down to one in ([\d,]+)", describe_sampling(np.array(e)))
    assert words and int(words[1]) == d >= 20
    stride = int(words[2].replace(",", ""))
    assert stride & (stride - 1) == 0 and stride == max(b - a for a, b in zip(e[1:], e[2:], strict=False))


# ----------------------------------------------------------------------------------------- loss plot

def test_plot_cells_leave_non_finite_losses_out_and_scale_to_the_finite_ones():
    epochs = np.arange(1, 11)
    losses = np.array([1.0, 0.8, 0.6, 0.4, np.nan, np.inf, 0.3, 0.2, 0.1, 0.05])
    s = Series("run", epochs, losses, losses)
    assert s.diverged_at == 5
    bits, owner, yr = plot_cells([s], 10, 10, 4, log=False)
    assert yr == (0.05, 1.0)
    assert bits.shape == (4, 10) and (owner[bits > 0] == 0).all()
    # top-left dot is epoch 1's loss (the highest), bottom-right the last (the lowest)
    assert bits[0, 0] & 0x01 and bits[3, 9] & 0xC0
    # log scale: zeros and negatives are left out too
    _, _, ylog = plot_cells([Series("run", epochs, np.zeros(10), np.zeros(10))], 10, 10, 4, log=True)
    assert ylog is None
    _, _, ylog = plot_cells([s], 10, 10, 4, log=True)
    assert ylog is not None and ylog == pytest.approx((np.log10(0.05), 0.0))


def test_several_named_series_share_the_axes():
    e = np.arange(1, 101)
    a = Series("run", e, 1 / e, 1 / e)
    b = Series("what-if", e, 2 / e, 2 / e)
    bits, owner, yr = plot_cells([a, b], 100, 40, 8, log=True)
    assert yr == pytest.approx((np.log10(0.01), np.log10(2)))
    assert set(np.unique(owner)) == {-1, 0, 1}


# ------------------------------------------------------------------------------------------- the app

async def _goto(pilot, app: DebuggerApp, epoch: int) -> None:
    screen = app.screen
    assert isinstance(screen, DebuggerScreen)
    screen.go_to_epoch(epoch)
    for _ in range(400):
        await pilot.pause(0.02)
        if not screen.busy:
            break
    await pilot.pause()


async def test_v_reaches_the_map_on_xor_whose_values_at_the_examples_are_the_networks_outputs():
    app = DebuggerApp(XOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.screen.query(PicturePanel)  # nothing built before the first v
        await _goto(pilot, app, 2000)
        assert app.step.epoch == 2000
        order = []
        for _ in range(3):
            await pilot.press("v")
            await pilot.pause()
            order.append(app.screen.query_one(PicturePanel).picture)
        assert order == [Picture.LOSS, Picture.GRADIENTS, Picture.MAP]
        panel = app.screen.query_one(PicturePanel)
        m = panel.query_one(DecisionMapView).map
        assert m is not None and m.correct.all()
        np.testing.assert_allclose(m.example_outputs, app.trace.epoch(2000).passes[0].outputs, rtol=1e-12)
        await pilot.press("v")  # after the last picture the panel hides
        await pilot.pause()
        assert not app.screen.has_class("-pictures")


async def test_the_loss_curve_marks_the_current_epoch_and_switches_to_log_on_L():
    app = DebuggerApp(XOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await _goto(pilot, app, 300)
        await pilot.press("v")
        await pilot.pause()
        plot = app.screen.query_one(LossPlot)
        reached = app.session.loss_epochs
        assert plot.last == reached and plot.current == min(300, reached)
        lines = [plot.render_line(y).text for y in range(plot.size.height)]
        assert f"▲{plot.current}" in lines[-1] and "lin" in lines[-1]
        losses = app.trace.loss_history(reached)
        assert plot.y_range == pytest.approx((losses.min(), losses.max()))
        await pilot.press("L")
        await pilot.pause()
        assert plot.log_scale and plot.y_range == pytest.approx((np.log10(losses.min()), np.log10(losses.max())))


@given(st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1e300, allow_subnormal=True)), st.booleans())
def test_one_loss_gets_an_axis_around_it_never_below_zero(loss, log):
    """One epoch's loss (or a flat run): an axis around the value, at most its own size either side, and never
    below 0 for a loss ≥ 0 on a linear axis."""
    series = Series("run", np.array([1]), np.array([loss]), np.array([loss]))
    bits, _, yr = plot_cells([series], 1, 20, 6, log)
    if log and loss == 0:  # left out on a log axis
        assert yr is None
        return
    assert yr is not None
    y0, y1 = yr
    v = np.log10(loss) if log else loss
    assert y0 <= v <= y1 and y0 < y1 and bits.any()
    if not log:
        assert y0 >= 0
        if loss > 10 * FLAT_PAD:  # (a narrower span overflows the pixel scale)
            assert y1 - y0 <= loss and y0 > 0  # the scale of the loss itself, not of 1


async def test_deep_gradient_flow_shows_each_layers_norm_and_the_first_layers_is_the_smallest_at_the_start():
    app = DebuggerApp(DEEP)
    async with app.run_test(size=(120, 40)) as pilot:
        await _goto(pilot, app, 200)
        await pilot.press("v", "v")
        await pilot.pause()
        view = app.screen.query_one(GradientFlowView)
        assert view.epochs[0] == 1 and view.epochs[-1] == 200
        flow = GradientFlow(Trace(load(DEEP)))
        np.testing.assert_allclose(view.norms, flow.norms(view.epochs))
        first = view.norms[0]
        assert first[0] < first[-1] / 5  # the gradient reaching theta1 is a fraction of the output layer's
        lines = [view.render_line(y).text for y in range(view.size.height)]
        assert lines[0].startswith("Θ1") and any(line.startswith("Θ3") for line in lines)


def test_the_map_is_offered_only_for_two_inputs():
    assert pictures_for(load(XOR)) == (Picture.LOSS, Picture.GRADIENTS, Picture.MAP)
    assert Picture.MAP not in pictures_for(load(DEEP))


async def test_a_diverging_run_draws_a_gap_and_a_mark_not_a_crash(tmp_path):
    path = tmp_path / "sm.toml"
    path.write_text(diverging_softmax_text())
    app = DebuggerApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _goto(pilot, app, 50)
        await pilot.press("v")
        await pilot.pause()
        plot = app.screen.query_one(LossPlot)
        lines = [plot.render_line(y).text for y in range(plot.size.height)]
        assert "✕" in lines[0]
        await pilot.press("v", "v")  # gradients, then the map (two inputs) with non-finite weights
        await pilot.pause()
        assert app.screen.query_one(PicturePanel).picture is Picture.MAP


# ---------------------------------------------------------------------------------------------- snapshots

class PicturesApp(App[None]):
    def __init__(self, path: Path, epoch: int, picture: Picture) -> None:
        super().__init__()
        self.session = Session(path)
        self.session.go_to_epoch(epoch)
        self.panel = PicturePanel(self.session, id="pictures")
        self.panel.picture = picture

    def compose(self) -> ComposeResult:
        yield self.panel

    def on_mount(self) -> None:
        self.call_after_refresh(self.panel.show)


@pytest.mark.parametrize("path,epoch,picture", [(XOR, 400, Picture.LOSS), (DEEP, 400, Picture.GRADIENTS),
                                                (XOR, 2000, Picture.MAP)])
def test_snapshot_pictures(snap_compare, path, epoch, picture):
    assert snap_compare(PicturesApp(path, epoch, picture), terminal_size=(80, 16))


def test_mini_batch_norms_sum_the_passes_the_app_steps_through_with_their_optimizer_state():
    """Iris (Adam, shuffled mini-batches of 10): epoch 3's norms are those of the sum of the gradients of the
    15 passes the trace records for it, each from the weights and Adam state the previous one left."""
    trace = Trace(load(DEEP.parent / "iris.toml"))
    passes = trace.epoch(3).passes
    assert len(passes) == 15 and passes[0].update == 31
    total = [sum(p.numbers.gradients[l] for p in passes) for l in range(2)]
    np.testing.assert_allclose(GradientFlow(trace).epoch(3), [np.linalg.norm(g) for g in total], rtol=1e-12)


async def test_the_gradient_flow_draws_the_epochs_before_the_current_one_each_and_marks_where_they_begin():
    app = DebuggerApp(DEEP)
    async with app.run_test(size=(120, 40)) as pilot:
        await _goto(pilot, app, 3000)
        await pilot.press("v", "v")
        await pilot.pause()
        view = app.screen.query_one(GradientFlowView)
        epochs = view.epochs.tolist()
        d = dense_start(view.epochs)
        assert epochs[0] == 1 and epochs[-1] == 3000 and epochs[d:] == list(range(epochs[d], 3001))
        assert len(epochs) - d >= GradientFlowView.columns_for(view.size.width) // 2
        axis = next(view.render_line(y).text for y in range(view.size.height)
                    if view.render_line(y).text.startswith("epoch"))
        assert f"│{epochs[d]}" in axis and "▲3000" in axis
        assert "older ones down to one in" in str(app.screen.query_one("#pictures").border_subtitle)
