"""Watches: a name is watched when the network has that quantity, so every watch gets a value at some step of
an epoch; the names it refuses (delta1, z1, theta3 on a 3-layer net) are refused in one line. More watches than
the panel's rows say how many more there are."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpdebug.core.engine import Trace
from bpdebug.core.quantity import Kind, Quantity, When
from bpdebug.core.scenario import load
from bpdebug.tui.app import make_app
from bpdebug.tui.watching import WatchError, parse_watch
from bpdebug.tui.widgets.watches import WatchPanel

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"
DEEP = ROOT / "scenarios" / "deep.toml"


def names(layers: int) -> list[str]:
    """Every name of the quantity grammar with a layer from 0 to one past the network's last, and the plain
    ones."""
    out = []
    for kind in Kind:
        if kind in (Kind.Z, Kind.A, Kind.DELTA, Kind.DADZ, Kind.DE_DA, Kind.GRAD, Kind.THETA):
            whens = (When.BEFORE, When.AFTER) if kind is Kind.THETA else (When.BEFORE,)
            out += [Quantity(kind, layer, None, when).name for layer in range(layers + 2) for when in whens]
        else:
            out.append(Quantity(kind).name)
    return out


@pytest.mark.parametrize("path", [BLOG, DEEP], ids=lambda p: p.stem)
def test_a_watch_is_accepted_exactly_when_it_gets_a_value(path):
    scenario = load(path)
    trace = Trace(scenario)
    steps = [trace[i] for i in range(trace.steps_per_epoch)]
    for name in names(scenario.n_layers):
        try:
            watch = parse_watch(name, scenario)
        except WatchError as exc:
            message = str(exc)
            assert "\n" not in message and name in message
            assert all(not s.is_known(name) for s in steps), f"{name} refused but the network has it"
            continue
        assert any(watch.read(s) is not None for s in steps), f"{name} is watched and never gets a value"


async def test_more_watches_than_rows_say_how_many_more():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 24)) as pilot:
        for name in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "loss"):
            app.session.toggle_watch(name)
        app.screen.render_step()
        await pilot.pause()
        panel = app.screen.query_one(WatchPanel)
        lines = panel.content.plain.splitlines()
        shown = len(lines) - 1
        assert lines[-1].startswith(f"+{9 - shown} more")
        assert panel.content_size.height >= len(lines)  # the line saying so is on screen
