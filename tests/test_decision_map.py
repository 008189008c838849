"""The decision map: XOR's two lines by epoch 2000, computed in one batched forward pass and drawn two
pixels per cell with the examples on it.

The network's output is recomputed here by hand (tanh hidden layer, sigmoid output; softmax for the
three-class scenario) from the trace's weights, so the map is checked against arithmetic it does not share.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from bpdebug.core import decision_map as dm
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.tui.widgets.decision_map import DecisionMapView, pixel_colour

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
XOR, SOFTMAX, DEEP = SCENARIOS / "xor.toml", SCENARIOS / "softmax.toml", SCENARIOS / "deep.toml"


def by_hand_xor(weights: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    """The 2-2-1 XOR network written out: h = tanh(b + W x), o = σ(b' + w'·h)."""
    t1, t2 = weights
    h = np.tanh(x @ t1[:, 1:].T + t1[:, 0])
    return 1 / (1 + np.exp(-(h @ t2[:, 1:].T + t2[:, 0])))


def by_hand_softmax(weights: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    t1, t2 = weights
    h = np.tanh(x @ t1[:, 1:].T + t1[:, 0])
    z = h @ t2[:, 1:].T + t2[:, 0]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def xor_2000():
    scenario = load(XOR)
    return scenario, Trace(scenario).weights_before(2000)


def test_at_epoch_2000_the_four_xor_examples_are_on_the_right_side(xor_2000):
    scenario, weights = xor_2000
    m = dm.decision_map(scenario, weights, 48, 40)
    outputs = by_hand_xor(weights, scenario.inputs)[:, 0]
    assert np.allclose(m.example_outputs[:, 0], outputs, rtol=1e-12, atol=0)
    # 0 XOR 0 = 0, 0 XOR 1 = 1, 1 XOR 0 = 1, 1 XOR 1 = 0: each output on its target's side of 0.5
    assert list(outputs > 0.5) == [False, True, True, False]
    assert list(m.example_target) == [0, 1, 1, 0] and m.correct.all()
    for (x1, x2), target in zip(scenario.inputs, [0, 1, 1, 0], strict=True):
        row, col = m.cell(x1, x2)
        assert m.winner[row, col] == target  # the pixel the example is drawn on has its colour
    # XOR's two lines: along the diagonal from (0,0) to (1,1) the class goes 0, 1, 0
    diagonal = [m.winner[m.cell(v, v)] for v in np.linspace(0, 1, 21)]
    changes = sum(a != b for a, b in zip(diagonal, diagonal[1:], strict=False))
    assert diagonal[0] == 0 and diagonal[-1] == 0 and 1 in diagonal and changes == 2


@settings(max_examples=30, deadline=None)
@given(width=st.integers(1, 40), height=st.integers(1, 40), epoch=st.integers(1, 400),
       lo=st.floats(-3, 0.5), span=st.floats(0.01, 6))
def test_every_pixel_is_the_networks_output_at_its_centre(width, height, epoch, lo, span):
    scenario = load(XOR)
    weights = Trace(scenario).weights_before(epoch)
    bounds = (lo, lo + span, lo - 0.25, lo + span * 1.5)
    m = dm.decision_map(scenario, weights, width, height, bounds)
    x1 = lo + (np.arange(width) + 0.5) * span / width
    x2 = bounds[3] - (np.arange(height) + 0.5) * (bounds[3] - bounds[2]) / height
    grid = np.array([[a, b] for b in x2 for a in x1])
    o = by_hand_xor(weights, grid)[:, 0].reshape(height, width)
    assert np.allclose(m.outputs[..., 0], o, rtol=1e-12, atol=1e-15)
    assert np.array_equal(m.winner, (o >= 0.5).astype(int))
    assert np.allclose(m.confidence, np.clip(np.abs(o - 0.5) / 0.5, 0, 1), rtol=1e-12, atol=1e-15)


def test_three_classes_win_by_argmax_with_the_margin_as_confidence():
    scenario = load(SOFTMAX)
    weights = Trace(scenario).weights_before(100)
    m = dm.decision_map(scenario, weights, 30, 20)
    grid = np.array([[a, b] for b in m.x2 for a in m.x1])
    p = by_hand_softmax(weights, grid).reshape(20, 30, 3)
    assert np.array_equal(m.winner, p.argmax(axis=2))
    top = np.sort(p, axis=2)
    assert np.allclose(m.confidence, top[..., -1] - top[..., -2], atol=1e-12)
    assert m.correct.all() and m.labels == ("o1", "o2", "o3") and set(np.unique(m.winner)) == {0, 1, 2}


def test_the_map_is_one_batched_forward_pass(monkeypatch, xor_2000):
    scenario, weights = xor_2000
    calls = []
    real = dm.forward

    def counting(net, w, x):
        calls.append(x.shape)
        return real(net, w, x)

    monkeypatch.setattr(dm, "forward", counting)
    dm.decision_map(scenario, weights, 64, 48)
    assert calls == [(64 * 48 + 4, 2)]  # every pixel and the four examples, in one call


def test_non_finite_weights_give_an_unknown_class_not_a_crash():
    scenario = load(XOR)
    weights = tuple(np.full_like(w, np.nan) for w in scenario.weights)
    m = dm.decision_map(scenario, weights, 8, 6)
    assert (m.winner == -1).all() and (m.confidence == 0).all() and not m.correct.any()
    huge = (scenario.weights[0] * 1e308, scenario.weights[1] * 1e308)
    m = dm.decision_map(scenario, huge, 8, 6)
    assert np.isin(m.winner, [-1, 0, 1]).all() and ((m.confidence >= 0) & (m.confidence <= 1)).all()


def test_a_network_without_two_inputs_has_no_map():
    with pytest.raises(ValueError, match="2 inputs, this one has 3"):
        dm.decision_map(load(DEEP), load(DEEP).weights, 10, 10)


# ---------------------------------------------------------------------------------------------- the widget

class MapApp(App[None]):
    CSS = "DecisionMapView { border: round $accent; }"

    def __init__(self, path: Path, epoch: int) -> None:
        super().__init__()
        scenario = load(path)
        self.view = DecisionMapView(scenario, Trace(scenario).weights_before(epoch), id="map")

    def compose(self) -> ComposeResult:
        yield self.view


async def test_the_widget_draws_half_blocks_sized_to_its_panel_with_the_examples_and_a_legend():
    app = MapApp(XOR, 2000)
    async with app.run_test(size=(50, 20)) as pilot:
        await pilot.pause()
        view = app.view
        m = view.map
        assert m is not None
        w, h = view.size.width, view.size.height
        assert (len(m.x1), len(m.x2)) == (w, 2 * (h - 1))  # two pixels per cell, less the legend row
        lines = [view.render_line(y).text for y in range(h)]
        assert "o1 < 0.5" in lines[-1] and "o1 ≥ 0.5" in lines[-1]
        assert sum(line.count("●") for line in lines[:-1]) == 4 and not any("✕" in line for line in lines[:-1])
        assert set("".join(lines[:-1])) == {"▀", "●"}
        # the colours of a cell are its two pixels
        strip = view.render_line(0)
        segment = next(s for s in strip if s.text == "▀")
        col = 0
        top = pixel_colour(int(m.winner[0, col]), min(int(m.confidence[0, col] * 8), 7))
        assert segment.style.color.triplet == top
        # a new size is a new map, evaluated at the new size
        await pilot.resize_terminal(70, 30)
        await pilot.pause()
        assert view.map is not None and len(view.map.x1) == view.size.width


async def test_before_it_learns_xor_the_map_shows_examples_on_the_wrong_side():
    app = MapApp(XOR, 1)
    async with app.run_test(size=(40, 16)) as pilot:
        await pilot.pause()
        lines = [app.view.render_line(y).text for y in range(app.view.size.height)]
        assert app.view.map is not None and not app.view.map.correct.all()
        assert sum(line.count("✕") for line in lines) == int((~app.view.map.correct).sum())


async def test_the_widget_says_in_one_line_when_the_network_has_not_two_inputs():
    app = MapApp(DEEP, 1)
    async with app.run_test(size=(100, 10)) as pilot:
        await pilot.pause()
        assert app.view.render_line(0).text.startswith("decision map: needs a network with 2 inputs, this one has 3")


def test_snapshot_xor_at_epoch_2000(snap_compare):
    assert snap_compare(MapApp(XOR, 2000), terminal_size=(60, 24))
