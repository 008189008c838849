"""Practice in the app (``P``): it starts at the step the walk is on, and while a question waits every panel
shows … for what it asks (network, step, parameters, chain rule, printed figures, watches); answered, the walk
goes on to the next question's step."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from textual.widgets import Input, Label

from bpdebug.core.engine import Trace
from bpdebug.tui.app import DebuggerScreen, make_app
from bpdebug.tui.widgets.derivation_panel import DerivationPanel
from bpdebug.tui.widgets.expectations import ExpectationsPanel
from bpdebug.tui.widgets.network import NetworkView
from bpdebug.tui.widgets.params_table import ParamsTable
from bpdebug.tui.widgets.practice import PracticeModal
from bpdebug.tui.widgets.step_panel import StepPanel
from bpdebug.tui.widgets.watches import WatchPanel

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"


def plain(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def numbers(text: str) -> set[str]:
    return set(re.findall(r"−?\d+\.\d+", text.replace("-", "−")))


def panels(main: DebuggerScreen) -> dict[str, str]:
    """The text of every panel that shows numbers (the watch panel's: nothing until a watch mounts it)."""
    table = main.query_one(ParamsTable)
    watches = main.query(WatchPanel)
    return {"network": plain(main.query_one(NetworkView)), "step": main.query_one(StepPanel).text(),
            "figures": plain(main.query_one(ExpectationsPanel)), "chain": plain(main.query_one(DerivationPanel)),
            "parameters": "\n".join(table.row_text(p.short) for p in main.session.scenario.params),
            "watches": plain(watches.only_one()) if watches else ""}


def shown(value) -> set[str]:
    """A quantity's numbers as the panels write them (7 significant digits)."""
    import numpy as np

    return {f"{float(v):.7g}".replace("-", "−") for v in np.ravel(value)}


async def until(pilot, holds, seconds: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not holds() and loop.time() < deadline:
        await pilot.pause(0.05)


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_practice_hides_every_answer_until_it_is_given_and_starts_where_the_walk_is():
    trace = Trace(make_app(BLOG).scenario)
    z3, a3 = trace[2].value("z3"), trace[3].value("a3")
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.screen
        assert isinstance(main, DebuggerScreen)
        for key in ("a", *"z3", "enter", "n", "n"):  # watch z3; walk to the z3 step
            await pilot.press(key)
        await settle(pilot)
        assert shown(z3) <= numbers(panels(main)["network"])  # the walk shows z3 here
        await pilot.press("P")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, PracticeModal)
        prompt = str(modal.query_one("#practice-prompt", Label).content)
        assert prompt.startswith("(3/10) z3")  # where the walk was, not (1/10)
        await until(pilot, lambda: main.chain_shown == app.session.position)
        for name, text in panels(main).items():
            assert not shown(z3) & numbers(text), f"the {name} panel shows the z3 asked for: {text}"
        assert "z3" in panels(main)["watches"] and "…" in panels(main)["watches"]
        # answered: the walk goes to a3's step, z3 shows and a3 is still hidden
        field = modal.query_one(Input)
        field.value = " ".join(f"{v:.7g}" for v in z3.ravel())
        await pilot.press("enter")
        await until(pilot, lambda: str(modal.query_one("#practice-prompt", Label).content).startswith("(4/10)"))
        await settle(pilot)
        await until(pilot, lambda: main.chain_shown == app.session.position)
        assert app.session.index == 3 and app.session.pending
        texts = panels(main)
        assert shown(z3) <= numbers(texts["network"])
        for name, text in texts.items():
            assert not shown(a3) & numbers(text), f"the {name} panel shows the a3 asked for: {text}"
        await pilot.press("escape")
        await settle(pilot)
        assert not app.session.pending and shown(a3) <= numbers(panels(main)["network"])


async def test_practice_at_the_first_step_hides_z2_in_every_panel():
    app = make_app(BLOG)
    z2 = Trace(app.scenario)[0].value("z2")
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.screen
        await pilot.press("P")
        await settle(pilot)
        await until(pilot, lambda: main.chain_shown == app.session.position)
        assert str(app.screen.query_one("#practice-prompt", Label).content).startswith("(1/10) z2")
        for name, text in panels(main).items():
            assert not shown(z2) & numbers(text), f"the {name} panel shows the z2 asked for: {text}"
