"""The status line: where the walk is (epoch, example, phase, step k of n) always stays whole; the long forms
give way first (the scenario's epochs, a mini-batch's list of examples, the example, the run's step count)."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.app import App

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.tui.app import make_app
from bpdebug.tui.widgets.status import StatusBar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _wide import wide_scenario  # noqa: E402

IRIS = ROOT / "scenarios" / "iris.toml"
BLOG = ROOT / "scenarios" / "blog.toml"


async def position_line(path: Path, size: tuple[int, int], keys: tuple[str, ...] = (), epoch: int | None = None):
    app = make_app(path)
    async with app.run_test(size=size) as pilot:
        for key in keys:
            await pilot.press(key)
        if epoch is not None:
            app.screen.go_to_epoch(epoch)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        line = bar.content.plain.splitlines()[1]
        return line, bar.content_size.width, (app.session.step, app.session.trace.steps_per_epoch)


def whole(line: str, at) -> bool:
    """Whether ``line`` names the step whole: ``step k of n`` over the run, or ``step k/n`` within the epoch."""
    step, spe = at
    within = step.index - (step.epoch - 1) * spe + 1
    return (re.search(rf"step {step.index + 1} of {step.total}$", line) is not None
            or re.search(rf"step {within}/{spe}$", line) is not None)


@pytest.mark.parametrize("width", [120, 100, 80])
async def test_iris_at_launch_keeps_its_step_whole(width):
    line, room, step = await position_line(IRIS, (width, 40))
    assert cell_len(line) <= room and whole(line, step), line
    assert f"epoch {step[0].epoch}" in line


@pytest.mark.parametrize("width", [120, 100, 80])
async def test_a_far_epoch_keeps_its_step_whole(width):
    """Epoch 1,234,567 of the blog (10 steps an epoch) as the status bar shows it: its first step is step
    12,345,661 of 12,345,670 (the pass's numbers are epoch 1's: the bar shows only where the walk is)."""
    trace = Trace(load(BLOG))
    epochs, spe = 1234567, trace.steps_per_epoch
    first = trace[0]
    far = dataclasses.replace(first, index=(epochs - 1) * spe, total=epochs * spe,
                              record=dataclasses.replace(first.record, epoch=epochs))

    class Bar(App):
        def compose(self):
            yield StatusBar()

    app = Bar()
    async with app.run_test(size=(width, 10)) as pilot:
        bar = app.query_one(StatusBar)
        bar.show("Backpropagation step by step: the blog's 2-2-2 network", far, epochs, 1, compact=width < 100)
        await pilot.pause()
        line = bar.content.plain.splitlines()[1]
        assert cell_len(line) <= bar.content_size.width and whole(line, (far, spe)), line
        assert f"epoch {epochs}" in line


@pytest.mark.parametrize("width", [120, 80])
async def test_a_wide_net_after_the_next_epoch_keeps_its_step_whole(tmp_path, width):
    line, room, step = await position_line(wide_scenario(tmp_path / "wide.toml"), (width, 40),
                                           ("right_square_bracket",))
    assert step[0].epoch == 2 and cell_len(line) <= room and whole(line, step), line
