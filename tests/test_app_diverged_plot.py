"""The loss curve of a diverged run looks the same at every size: the same peak, and ✕ at the epoch whose
numbers stop being finite once the walk is there (a 2-3-1 linear net, mse, learning rate 5: epoch 5's loss is
about 1e257, epoch 6's forward pass overflows)."""

from __future__ import annotations

import pytest

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.tui.app import make_app
from bpdebug.tui.widgets.loss_plot import LossPlot

SCENARIO = """title = "2-3-1 linear, mse, learning rate 5"
[network]
layers = [2, 3, 1]
activation = "linear"
[loss]
function = "mse"
[training]
learning_rate = 5
epochs = 10
[data]
inputs = [[1.0, 2.0], [2.0, 1.0], [1.5, 0.5]]
targets = [[1.0], [0.0], [0.5]]
[weights]
theta1 = [[0.1, 3.0, -0.2], [0.0, 0.3, 0.1], [0.2, -0.1, 0.4]]
theta2 = [[0.1, 0.5, -0.3, 0.2]]
"""


@pytest.fixture
def diverging(tmp_path):
    path = tmp_path / "diverging.toml"
    path.write_text(SCENARIO)
    return path


async def plot_at(path, size):
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        for key in "vc":  # the loss curve; continue to the nan stop
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.pause()
        plot = app.screen.query_one(LossPlot)
        lines = ["".join(seg.text for seg in plot.render_line(y)) for y in range(plot.size.height)]
        return app.session.divergence, plot.y_range, lines


async def test_the_diverged_curve_has_the_same_peak_and_cross_at_every_size(diverging):
    trace = Trace(load(diverging))
    d = trace.divergence(10)
    assert d is not None
    losses = trace.loss_history(d.epoch - 1)
    seen = {}
    for size in ((80, 24), (120, 40)):
        divergence, y_range, lines = await plot_at(diverging, size)
        assert divergence is not None and divergence.epoch == d.epoch
        assert y_range is not None and y_range[1] == pytest.approx(float(max(losses)))  # the peak: epoch 5's
        assert "✕" in lines[0], f"no ✕ at {size}"
        assert f"▲{d.epoch}" in lines[-1] or f"✕{d.epoch}" in lines[-1]
        assert lines[-1].rstrip().endswith(str(d.epoch))  # the axis runs to the diverged epoch
        seen[size] = y_range
    assert seen[(80, 24)] == seen[(120, 40)]
