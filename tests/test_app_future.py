"""No numbers from the future anywhere: the gradient check before the gradient step, and the printed figures of
a step walked unit by unit (its figure shows once its last unit is)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual.message import Message
from textual.notifications import Notify

from bpdebug.core.engine import Trace
from bpdebug.core.gradcheck import check_step
from bpdebug.tui.app import make_app
from bpdebug.tui.widgets.expectations import ExpectationsPanel
from bpdebug.tui.widgets.network import NetworkView

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"


class Notifications(list):
    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.append(message.notification)


def plain(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def test_the_gradient_check_waits_for_the_gradient_step():
    app = make_app(BLOG)
    trace = Trace(app.scenario)
    p = app.session.selected
    analytic = check_step(trace[0], p).analytic
    gradient_step = next(i for i in range(trace.steps_per_epoch) if trace[i].is_known(f"grad.theta{p.layer}"))
    notes = Notifications()
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await pilot.press("k")
        await pilot.pause()
        said = notes[-1].message
        assert f"{analytic:.10g}" not in said and f"{analytic:.4g}" not in said
        assert "available from" in said and f"step {gradient_step + 1}" in said
        for _ in range(gradient_step):
            await pilot.press("n")
        await pilot.press("k")
        await pilot.pause()
        assert f"{analytic:.10g}" in notes[-1].message


async def test_unit_by_unit_the_figures_panel_waits_for_the_whole_layer():
    app = make_app(BLOG)
    z2 = np.ravel(Trace(app.scenario)[0].value("z2"))
    h1, h2 = (f"{v:.7g}" for v in z2)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("u")  # at z2, unit h1
        await pilot.pause()
        main = app.screen
        assert h1 in plain(main.query_one(NetworkView)) and h2 not in plain(main.query_one(NetworkView))
        assert h2 not in plain(main.query_one(ExpectationsPanel))
        assert app.session.figure_counts() == (0, 0)
        await pilot.press("n")  # unit h2: the whole z2
        await pilot.pause()
        assert h2 in plain(main.query_one(ExpectationsPanel))
