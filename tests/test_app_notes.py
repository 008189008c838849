"""What the app says: the status line's "stopped" reason goes once a search finds nothing further, and a move's
notes replace the earlier toasts instead of piling up over the chain rule."""

from __future__ import annotations

from pathlib import Path

from bpdebug.tui.app import make_app
from bpdebug.tui.widgets.status import StatusBar

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"


def plain(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def test_a_search_that_finds_nothing_clears_the_stopped_reason():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        s = app.session
        while True:  # continue to each failing printed figure, to the last one
            before = s.index
            await pilot.press("c")
            await app.workers.wait_for_complete()
            await pilot.pause()
            if s.index == before:
                break
            assert s.stopped_here is not None and "■" in plain(app.screen.query_one(StatusBar))
        assert s.stopped_here is None
        status = plain(app.screen.query_one(StatusBar))
        assert "■" not in status and "printed figure fails" not in status and "stopped" not in status


async def test_toasts_do_not_pile_up():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("a", *"w5", "enter", "a", *"w6", "enter", "a", *"loss", "enter", "u", "u", "B", "B"):
            await pilot.press(key)
            assert len(app._notifications) <= 1  # each key's note replaces the one before
