"""Snapshots of the debugger's main phases at 120x40 and of the small 80x24 layout.

Generate with ``pytest tests/test_app_snapshots.py --snapshot-update``. Every snapshot waits for the
derivation of the current position and the printed figures' diagnosis of the shown run (after every key), so
the chain rule and the root / follows marks are on screen; the notifications are cleared first, since their
toasts expire on the wall clock. Nothing on the main screen blinks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bpdebug.tui.app import DebuggerScreen, make_app

BLOG = Path(__file__).resolve().parent.parent / "scenarios" / "blog.toml"


async def settle(pilot) -> None:
    """Wait until the screen shows the state the keys led to, whatever the machine's load: no worker under
    way, the chain rule of the current position painted (not "deriving …"), the shown run's printed figures
    diagnosed (a daemon thread, started again for each new run: a what-if fork is one), and the repaint that
    follows."""
    app = pilot.app
    while True:
        await pilot.pause()
        await app.workers.wait_for_complete()
        s = app.session
        diagnosed = s.diagnoses is not None or s.diagnosis_failed is not None
        main = next(screen for screen in app.screen_stack if isinstance(screen, DebuggerScreen))
        if diagnosed and main.chain_shown == s.position:
            break
        await asyncio.sleep(0.05)
    await pilot.pause()


def walk(*keys: str):
    """Press ``keys``, each once the screen has settled; then settle again and clear the notifications, whose
    toasts expire on the wall clock (a snapshot must not depend on how long the keys took)."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize(("name", "steps"), [
    ("forward_z2", 0),
    ("error", 4),
    ("backward_delta2", 6),
    ("update", 9),
])
def test_phases_at_120x40(snap_compare, name, steps):
    assert snap_compare(make_app(BLOG), terminal_size=(120, 40), run_before=walk(*["n"] * steps))


def test_hidden_weight_w1_at_update(snap_compare):
    keys = ["n"] * 9 + ["w", "w", "1", "enter"]
    assert snap_compare(make_app(BLOG), terminal_size=(120, 40), run_before=walk(*keys))


def test_unit_by_unit_output_of_h1_at_120x40(snap_compare):
    """u, then n twice: the output of h1 alone (h2's still …), "unit h1 of 2" in the status line. The
    toast u shows is cleared first: whether it is still up would depend on the machine's speed."""
    keys = walk("u", "n", "n")

    async def run_before(pilot) -> None:
        await keys(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(BLOG), terminal_size=(120, 40), run_before=run_before)


def test_small_layout_80x24(snap_compare):
    assert snap_compare(make_app(BLOG), terminal_size=(80, 24), run_before=walk(*["n"] * 5))


def test_small_layout_80x24_update(snap_compare):
    assert snap_compare(make_app(BLOG), terminal_size=(80, 24), run_before=walk(*["n"] * 9))


def test_breakpoint_editor(snap_compare):
    keys = ["n"] * 6 + ["b", "enter", "l", "o", "s", "s", "minus", "u", "p", "enter", "down"]
    assert snap_compare(make_app(BLOG), terminal_size=(120, 40), run_before=walk(*keys))


def test_watch_panel_and_what_if_line(snap_compare):
    keys = (["a", *"delta2", "enter", "a", *"w5", "enter", "e", "0", "full_stop", "5", "enter", "right_square_bracket"]
            + ["n"] * 6)
    assert snap_compare(make_app(BLOG), terminal_size=(120, 40), run_before=walk(*keys))
