"""Fitting the layout to the screen, apart from painting: the top row's and the network's heights are bounded so
every other panel keeps its borders and a line (a tall layer then elides units, as a wide one does). Measured on
the laid-out screen, so a change repaints once more."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .widgets.expectations import ExpectationsPanel
from .widgets.footer import FittingFooter
from .widgets.network import MIN_ROWS, NetworkView
from .widgets.step_panel import StepPanel

if TYPE_CHECKING:
    from .app import DebuggerScreen

LEAST_PANEL = 3  # rows a panel keeps at the least: its borders and a line


def fit_top(screen: DebuggerScreen, retry: bool = True) -> None:
    """Bound the debugger ``screen``'s top row and network so every other panel keeps its borders and a line;
    ``retry``: a panel not laid out yet is measured after the next refresh (then the screen repaints once more
    if the network's room changed)."""
    if not screen.is_attached:
        return
    top, view = screen.query_one("#top"), screen.query_one(NetworkView)
    moved = False
    measured = [w for w in (*screen.query("#status, #progress, #fork, #step, #watches"),
                            screen.query_one(FittingFooter)) if w.display and not w.has_class("-empty")]
    rows = screen.size.height - sum(w.outer_size.height for w in measured)
    step = screen.query_one(StepPanel)
    limit = step.styles.base.max_height
    step_max = int(limit.resolve(screen.size, screen.size)) if step.display and limit is not None else 0
    if screen.has_class("-short"):  # the step grows with its lines up to its limit: on a short screen keep that
        rows -= max(0, step_max - step.outer_size.height)  # room (a tall one has rows to spare)
    for child in screen.query("#derivation-box, #pictures"):  # these two take the rest, down to their least
        least = child.styles.min_height
        rows -= int(least.value) if child.display and least is not None else 0
    base = top.styles.base.height
    if screen.compact or base is None or not base.is_cells:
        top.styles.inline.clear_rule("height")  # the stylesheet's height (auto below 100 columns)
        step.styles.inline.clear_rule("max_height")
    else:  # beside the parameters: the top's height (less if need be), less the loss and a printed line
        loss = screen.loss_panel  # None until there is a loss to show
        shown = [loss] if loss is not None and loss.display and not loss.has_class("-empty") else []
        measured += shown
        beside = sum(w.outer_size.height for w in shown) + (
            LEAST_PANEL if screen.query_one(ExpectationsPanel).display else 0)
        height = min(int(base.value), max(rows, MIN_ROWS + beside))
        moved = height != top.outer_size.height  # the top changes: measure again once it is laid out
        short = MIN_ROWS + beside - rows  # rows the step gives up (it scrolls) so the chain rule keeps its own
        if step_max and short > 0:
            step.styles.max_height = max(LEAST_PANEL + 2, step_max - short)
        else:
            step.styles.inline.clear_rule("max_height")
        if height < base.value:
            top.styles.height = height
        else:
            top.styles.inline.clear_rule("height")
        rows = height - beside
    if not view.display:
        return
    if retry and (moved or any(not w.outer_size.height for w in measured)):  # not laid out yet: once more
        screen.call_after_refresh(fit_top, screen, False)
    elif view.fit(rows if rows > 0 else None):
        screen.render_step()
