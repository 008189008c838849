"""The debugger's keys, as data: key(s), action on the debugger screen, footer label, id, and a longer
description (tooltip) that the help screen, the command palette and Textual's keys panel show, read through
:func:`tooltip`. Secondary keys share a binding."""

from __future__ import annotations

from textual.binding import Binding

from ..text.narrate import MAX_UNITS_WALKED

STEP_KEYS = Binding.Group("step")
EPOCH_KEYS = Binding.Group("epoch")

KEYS: tuple[Binding, ...] = (
    Binding("n,space,right", "next_step", "next", id="step.next", tooltip="Next step (n, space, →)",
            group=STEP_KEYS),
    Binding("p,left", "previous_step", "prev", id="step.previous", tooltip="Previous step (p, ←)",
            group=STEP_KEYS),
    Binding("left_square_bracket", "previous_epoch", "epoch−", id="epoch.previous",
            tooltip="Same step of the previous epoch", group=EPOCH_KEYS),
    Binding("right_square_bracket", "next_epoch", "epoch+", id="epoch.next",
            tooltip="Same step of the next epoch (trains further past the scenario's epochs)", group=EPOCH_KEYS),
    Binding("g", "goto_epoch", "go to", id="epoch.goto", tooltip="Go to epoch N"),
    Binding("u", "toggle_units", "units", id="step.units",
            tooltip=f"Unit by unit: n and p walk the net input, output and delta of a layer up to "
                    f"{MAX_UNITS_WALKED} units wide one unit at a time (h1, then h2); u again: whole layers"),
    Binding("escape", "cancel_run", "stop", id="run.cancel",
            tooltip="Stop a long run at the last epoch computed (escape)"),
    Binding("w", "pick_param", "param", id="param.pick",
            tooltip="Select a parameter by name: w5, b3 or theta2[1,1]"),
    Binding("slash", "filter_params", "filter", id="param.filter",
            tooltip="Filter the parameters table: layer N, a name, top N (largest |∂E/∂p| first)"),
    Binding("tab,down", "next_param", "next param", id="param.next", show=False,
            tooltip="Select the next parameter (tab, ↓)"),
    Binding("shift+tab,up", "previous_param", "prev param", id="param.previous", show=False,
            tooltip="Select the previous parameter (shift+tab, ↑)"),
    Binding("b", "edit_breakpoints", "break", id="breakpoint.edit", show=False,
            tooltip="Breakpoints: conditions to stop on ({examples}); add, turn on or off, delete"),  # see tooltip()
    Binding("B", "toggle_breakpoint", "break here", id="breakpoint.toggle", show=False,
            tooltip="Toggle a breakpoint on this kind of step (step=delta2: every delta of layer 2)"),
    Binding("c", "continue_run", "continue", id="breakpoint.continue", show=False,
            tooltip="Continue to the first step where a breakpoint holds or a printed figure fails"),
    Binding("k", "gradient_check", "gradcheck", id="chain.gradcheck", show=False,
            tooltip="Check the selected parameter's gradient numerically (central difference, this step's "
                    "weights)"),
    Binding("a", "watch", "watch", id="watch.toggle", show=False,
            tooltip="Watch a quantity (w5, grad.w1, delta2, a3, loss), or stop watching it"),
    Binding("e", "edit_value", "what if", id="whatif.edit", show=False,
            tooltip="What if: a new value for the selected parameter (or NAME=VALUE: learning_rate=1, x1=0.3); "
                    "the run forks from this epoch"),
    Binding("o", "switch_run", "orig/fork", id="whatif.switch", show=False,
            tooltip="Switch between the original run and the what-if fork"),
    Binding("O", "drop_fork", "drop fork", id="whatif.drop", show=False, tooltip="Drop the what-if fork"),
    Binding("s", "save_fork", "save fork", id="whatif.save", show=False,
            tooltip="Save the what-if fork as a new scenario file"),
    Binding("m", "next_example", "example", id="example.next", show=False,
            tooltip="Batch mode: show the next example of the pass in the network and the step (round the "
                    "batch)"),
    Binding("M", "whole_batch", "whole batch", id="example.all", show=False,
            tooltip="Batch mode: the step shows the whole batch again (the network keeps its example)"),
    Binding("pagedown", "scroll_chain(1)", "chain ↓", id="chain.down", show=False,
            tooltip="Scroll the chain rule down (page down)"),
    Binding("pageup", "scroll_chain(-1)", "chain ↑", id="chain.up", show=False,
            tooltip="Scroll the chain rule up (page up)"),
    Binding("shift+down", "scroll_step(1)", "step ↓", id="step_panel.down", show=False,
            tooltip="Scroll the step panel down, when its border says more lines are below (shift+↓)"),
    Binding("shift+up", "scroll_step(-1)", "step ↑", id="step_panel.up", show=False,
            tooltip="Scroll the step panel up (shift+↑)"),
    Binding("f", "toggle_side", "panels", id="panels.toggle",
            tooltip="Show or fold the parameters, loss and printed figures (folded below 100 columns)"),
    Binding("v", "cycle_picture", "picture", id="picture.cycle",
            tooltip="Show the next picture: loss curve, gradient flow, decision map (two inputs); then hide it"),
    Binding("L", "toggle_log", "log", id="picture.log", show=False,
            tooltip="Loss curve: switch the y axis between linear and log scale (L)"),
    Binding("P", "practice", "practice", id="practice",
            tooltip="Practice: type each next step's numbers before they are shown (h or r, then Enter: hint, answer)"),
    Binding("x", "export", "export", id="export", tooltip="Export the transcript (a format and a path)"),
    Binding("r", "reload", "reload", id="reload", show=False, tooltip="Reload the scenario file from disk"),
    Binding("question_mark,f1", "help", "help", id="help", tooltip="Keys and how to read the screen"),
    Binding("q", "app.quit", "quit", id="quit", tooltip="Quit bpdebug (also ctrl+c, even during a long run)"),
)


def tooltip(binding: Binding) -> str:
    """A binding's tooltip as shown. A tooltip with an ``{examples}`` field (the b key's) names an example of each
    kind of condition, filled in here from their registry when first shown: start-up does not import the condition
    language (~4 ms)."""
    if "{examples}" in binding.tooltip:
        from ..core.conditions import examples

        return binding.tooltip.format(examples=", ".join(examples()))
    return binding.tooltip


# ctrl+c quits from anywhere, dialogs and long runs included (an App binding with priority)
QUIT_ANYWHERE = Binding("ctrl+c", "quit", "quit", id="quit.anywhere", show=False, priority=True)

# actions that wait (greyed out in the footer) while a long run computes
BUSY_ACTIONS = frozenset({"next_step", "previous_step", "next_epoch", "previous_epoch", "goto_epoch",
                          "continue_run", "reload", "export", "pick_param", "next_param", "previous_param",
                          "toggle_breakpoint", "edit_breakpoints", "gradient_check", "watch", "edit_value",
                          "switch_run", "drop_fork", "save_fork", "next_example", "practice",
                          "whole_batch", "toggle_units"})
# actions shown only during a long run
RUN_ACTIONS = frozenset({"cancel_run"})
# actions on the parameters table, offered only where it shows
TABLE_ACTIONS = frozenset({"filter_params"})
# actions on the picture panel, offered only while it shows
PICTURE_ACTIONS = frozenset({"toggle_log"})
# keys that leave the footer, in this order, while it is short of room (below 100 columns, during a long run):
# the help screen and the command palette still list them; q quit and ? help always show
SPARE_KEYS = ("practice", "toggle_units", "cycle_picture", "export", "toggle_side", "filter_params")
