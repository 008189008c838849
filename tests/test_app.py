"""The debugger driven like a learner drives it: keys in, panels out (Textual Pilot, headless)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from _diverging import diverging_softmax_text
from rich.console import Console
from textual.message import Message
from textual.notifications import Notify
from textual.widgets._key_panel import BindingsTable

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import ScenarioError, load
from bpdebug.text.narrate import fmt, narrate, wrap
from bpdebug.tui.app import DebuggerApp, make_app
from bpdebug.tui.keys import KEYS, tooltip
from bpdebug.tui.session import Breakpoint
from bpdebug.tui.widgets.derivation_panel import DerivationPanel
from bpdebug.tui.widgets.params_table import ParamsTable
from bpdebug.tui.widgets.status import StatusBar
from bpdebug.tui.widgets.step_panel import StepPanel

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"
SIZE = (120, 40)


def text(widget) -> str:
    """The plain text a Static shows."""
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def row_text(table: ParamsTable, name: str) -> list[str]:
    """The cells of a parameter's row: short, canonical, value, gradient, new value."""
    cells = table.row_text(name).split()
    assert cells[1] == name
    return cells


async def settle(pilot) -> None:
    """Let every worker (the SymPy derivation) finish and the screen repaint."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot, holds, seconds: float = 20.0) -> None:
    """Let the app run until ``holds()`` (a worker's message handled), however loaded the machine is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not holds() and loop.time() < deadline:
        await pilot.pause(0.05)


def screen_text(app: DebuggerApp) -> str:
    """The whole screen as an SVG with its random ids removed, for exact comparisons."""
    return re.sub(r"terminal-\d+", "terminal", app.export_screenshot())


class Notifications(list):
    """Every notification the app shows, collected from its Notify messages (``run_test(message_hook=...)``)."""

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.append(message.notification)


async def type_into_prompt(pilot, value: str) -> None:
    for ch in value:
        await pilot.press(ch)
    await pilot.press("enter")


# ------------------------------------------------------------------------------------------ narration

def test_narration_writes_z2_as_the_text_does():
    scenario = load(BLOG)
    lines = narrate(Trace(scenario)[0], scenario).text_lines()
    assert lines[0].startswith("z2 = Θ1·x")
    assert lines[1] == "   = [[0.1 0.2 0.3] [0.4 0.5 0.6]] · [1 0.85 0.25]"
    assert lines[2] == "   = [0.345 0.975]"


def test_narration_never_reads_ahead():
    scenario = load(BLOG)
    trace = Trace(scenario)
    joined = "\n".join(narrate(trace[0], scenario).text_lines())
    assert fmt(trace[0].record.numbers.a[2][0, 0]) not in joined  # a2 is computed at step 2


def test_numbers_and_wrapping():
    assert fmt(0.003648331859221696) == "0.003648332"
    assert fmt(-0.2280188) == "−0.2280188"
    assert fmt(0.0) == "0"
    lines = wrap("∂out_o1/∂net_o1 = out_o1·(1 − out_o1) = 0.7215165·(1 − 0.7215165) = 0.2009305", 50)
    assert all(len(line) <= 50 for line in lines)
    assert lines[1].lstrip().startswith("=")


# ---------------------------------------------------------------------------------------------- keys

def test_keys_are_data_with_unique_ids():
    ids = [b.id for b in KEYS]
    assert all(ids) and len(set(ids)) == len(ids)
    keys = {k for b in KEYS for k in b.key.split(",")}
    for key in ("n", "space", "right", "p", "left", "right_square_bracket", "left_square_bracket", "g", "w",
                "tab", "x", "r", "q", "question_mark", "f1", "b", "c", "B", "k", "a", "e", "o", "O", "s", "m"):
        assert key in keys


def test_make_app_refuses_a_bad_scenario(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nlayers = [2, 2]\n")
    with pytest.raises(ScenarioError):
        make_app(bad)
    with pytest.raises(ScenarioError):
        make_app(tmp_path / "missing.toml")


# -------------------------------------------------------------------------------------------- walking

async def test_keys_walk_every_phase_of_the_first_epoch_in_order():
    app = make_app(BLOG)
    expected = [(t.phase, t.kind, t.layer) for t in app.session.trace.templates]
    async with app.run_test(size=SIZE) as pilot:
        seen = []
        for k, key in enumerate(["n", "space", "right", "n", "n", "n", "n", "n", "n"]):
            step = app.session.step
            seen.append((step.phase, step.kind, step.layer))
            status = text(app.screen.query_one(StatusBar))
            assert f"step {k + 1} of 10" in status
            assert step.phase in status
            await pilot.press(key)
        seen.append((app.session.step.phase, app.session.step.kind, app.session.step.layer))
        assert seen == expected
        assert [p for p, _, _ in seen] == ["forward"] * 4 + ["error"] + ["backward"] * 4 + ["update"]
        assert "gradient descent update" in app.screen.query_one(StepPanel).border_title


async def test_w5_update_shows_gradient_and_new_value():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await type_into_prompt(pilot, "w5")
        assert app.session.param == "theta2[1,1]"
        for _ in range(9):
            await pilot.press("n")
        await settle(pilot)
        assert app.session.step.kind == "update"
        row = row_text(app.screen.query_one(ParamsTable), "theta2[1,1]")
        assert row[0] == "w5" and row[1] == "theta2[1,1]"
        assert row[3].startswith("0.0036483") and row[4].startswith("0.3996352")
        chain = text(app.screen.query_one(DerivationPanel))
        assert "0.0036483" in chain and "0.3996352" in chain
        assert "…" not in chain


async def test_gradient_is_pending_until_its_step():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(4):
            await pilot.press("n")
        await settle(pilot)
        row = row_text(app.screen.query_one(ParamsTable), "theta2[1,1]")
        assert row[3] == "…" and row[4] == "…"
        assert "…" in text(app.screen.query_one(DerivationPanel))


async def test_stepping_back_restores_the_exact_screen():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(5):
            await pilot.press("n")
        await settle(pilot)
        before = screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert screen_text(app) != before
        await pilot.press("p")
        await settle(pilot)
        assert screen_text(app) == before


async def test_next_then_previous_epoch_returns_to_the_same_step():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await pilot.press("n")
        index = app.session.index
        await pilot.press("right_square_bracket")
        assert app.session.step.epoch == 2 and app.session.step.kind == "a"
        assert "epoch 2/2" in text(app.screen.query_one(StatusBar))
        await pilot.press("left_square_bracket")
        assert app.session.step.epoch == 1 and app.session.index == index


async def test_w1_shows_the_sum_over_paths():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await type_into_prompt(pilot, "w1")
        await settle(pilot)
        assert app.session.param == "theta1[1,1]"
        chain = text(app.screen.query_one(DerivationPanel))
        assert "∂E_total/∂w1" in chain
        assert "∂E_total/∂out_o1" in chain and "∂E_total/∂out_o2" in chain
        assert re.search(r"^\s+\+ ∂E_total/∂out_o2", chain, re.MULTILINE)  # the second path, summed


async def test_unknown_parameter_is_a_clear_notification():
    app = make_app(BLOG)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await pilot.press("w")
        await type_into_prompt(pilot, "w99")
        assert app.session.param == "theta2[1,1]"
        messages = [n.message for n in notes]
        assert any("unknown parameter 'w99'" in m and "w1..w8" in m for m in messages)


async def test_tab_and_arrows_move_the_selection():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("tab")
        assert app.session.selected.short == "w6"
        await pilot.press("up", "up")
        assert app.session.selected.short == "w4"
        await pilot.press("down")
        assert app.session.selected.short == "w5"


async def test_export_writes_a_transcript(tmp_path):
    app = make_app(BLOG)
    target = tmp_path / "blog.json"
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await pilot.press("x")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#export-format").value = "json"
        await pilot.pause()
        dialog.query_one("#export-path").value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        doc = json.loads(target.read_text())
        assert doc["format"] == "bpdebug-transcript/1"
        assert doc["epochs"][0]["steps"][0]["params_after"]["w5"] == pytest.approx(0.3996352, abs=1e-7)
        assert any(str(target) in n.message for n in notes)


async def test_go_to_epoch_extends_training_and_shows_the_loss():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        await type_into_prompt(pilot, "5")
        await settle(pilot)
        assert app.session.step.epoch == 5 and app.session.trace.epochs == 5
        loss = app.screen.query_one("#loss")
        assert loss.display and not loss.has_class("-empty")
        assert "epoch 1: 0.02647731" in text(loss.query_one("#loss-label"))


async def test_going_far_runs_in_a_worker_with_progress():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        app.screen.go_to_epoch(3000)
        await settle(pilot)
        assert app.session.step.epoch == 3000 and not app.screen.busy
        assert len(app.screen.query_one("#loss-sparkline").data) == 2999  # epoch 3000's error step not reached


async def test_breakpoints_and_continue():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(7):
            await pilot.press("n")
        assert (app.session.step.kind, app.session.step.layer) == ("gradient", 2)
        await pilot.press("B")  # b opens the breakpoint editor; B toggles the current step's kind
        assert Breakpoint("gradient", 2) in app.session.breakpoints
        for _ in range(2):
            await pilot.press("p")
        await pilot.press("c")
        assert app.session.index == 7  # the breakpoint
        await pilot.press("c")
        assert app.session.index == 9  # w5.after, a printed figure that does not hold


async def test_expectations_appear_only_when_reached():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one("#expectations")
        assert "0.3996352" not in text(panel)  # w5.after is checked at the update step
        for _ in range(9):
            await pilot.press("n")
        assert "computed 0.3996352  does not hold" in text(panel)


async def test_reload_keeps_the_position_and_refuses_a_broken_file(tmp_path):
    path = tmp_path / "blog.toml"
    shutil.copy(BLOG, path)
    app = make_app(path)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        for _ in range(3):
            await pilot.press("n")
        path.write_text(BLOG.read_text().replace("learning_rate = 0.1", "learning_rate = 0.5"))
        await pilot.press("r")
        await pilot.pause()
        assert app.session.index == 3 and app.session.scenario.learning_rate == 0.5
        path.write_text(BLOG.read_text().replace("layers = [2, 2, 2]", "layers = [2, 2]"))
        await pilot.press("r")
        await pilot.pause()
        assert app.session.scenario.learning_rate == 0.5 and app.session.index == 3
        assert any(n.severity == "error" and str(path) in n.message for n in notes)


async def test_help_lists_every_key_and_closes():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        shown = "\n".join(text(s) for s in app.screen.query("Static"))
        for b in KEYS:
            assert (tooltip(b) or b.description) in shown
        await pilot.press("escape")
        assert app.screen.id == "debugger"


async def test_textuals_keys_panel_shows_the_tooltips_whole():
    """The palette's Keys opens Textual's keys panel, which shows each binding's own tooltip: the b key's, whose
    examples of conditions are filled in on first need, is whole there too."""
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        next(c for c in app.get_system_commands(app.screen) if c.title == "Keys").callback()
        await pilot.pause()
        console = Console(width=400, file=io.StringIO())
        console.print(app.screen.query_one(BindingsTable).render_bindings_table())
        shown = console.file.getvalue()
        active = {a.binding.id for a in app.screen.active_bindings.values()}
        assert "breakpoint.edit" in active and "{" not in shown
        for b in KEYS:
            if b.id in active and tooltip(b):
                assert tooltip(b) in shown, b.id


async def test_small_terminal_hides_the_side_panels():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.screen.query_one("#params").display
        assert app.screen.query_one(DerivationPanel).display
        assert "figures ✓" in text(app.screen.query_one(StatusBar))


async def test_a_network_too_wide_to_draw_shows_the_selected_connection_with_all_digits():
    from bpdebug.tui.widgets.network import NetworkView

    app = make_app(ROOT / "scenarios" / "deep.toml")  # 3-4-4-1: four layers do not fit beside the table
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await type_into_prompt(pilot, "w29")  # theta3[1,1]: hidden layer 3, unit 1 -> the output
        for _ in range(4):  # z2 a2 z3 a3: layer 3 computed
            await pilot.press("n")
        await settle(pilot)
        drawn = text(app.screen.query_one(NetworkView))
        lines = drawn.splitlines()
        assert "layer 3" in lines[0] and "layer 4" in lines[0] and "layer 1" not in lines[0]
        assert "⋯" in drawn  # the layers left out are marked
        h2_1 = app.session.trace[app.session.step.index].value("z3")[0, 0]
        assert fmt(float(h2_1)) in drawn  # with every digit the step panel shows
        assert max(len(line) for line in lines) <= app.screen.query_one(NetworkView).content_size.width


# ------------------------------------------------------------------------------------- export dialog

async def _export_to(pilot, target: Path, fmt: str = "md") -> None:
    await pilot.press("x")
    await pilot.pause()
    dialog = pilot.app.screen
    dialog.query_one("#export-format").value = fmt
    await pilot.pause()
    dialog.query_one("#export-path").value = str(target)
    await pilot.press("enter")
    await pilot.pause()


async def test_export_asks_before_overwriting_and_never_writes_over_the_scenario(tmp_path):
    from bpdebug.tui.widgets.modals import ConfirmModal

    scenario = tmp_path / "blog.toml"
    shutil.copy(BLOG, scenario)
    existing = tmp_path / "notes.md"
    existing.write_text("my notes\n")
    app = make_app(scenario)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await _export_to(pilot, existing)
        assert isinstance(app.screen, ConfirmModal) and str(existing) in text(app.screen.query_one(".dialog-title"))
        await pilot.press("escape")  # keep it
        await settle(pilot)
        assert existing.read_text() == "my notes\n" and app.screen.id == "debugger"
        await _export_to(pilot, existing)
        await pilot.press("y")  # overwrite it
        await settle(pilot)
        assert existing.read_text().startswith("#")
        assert any(str(existing) in n.message and n.severity == "information" for n in notes)
        await _export_to(pilot, scenario)  # the scenario itself: refused without asking
        await settle(pilot)
        assert app.screen.id == "debugger"
        assert scenario.read_text() == BLOG.read_text()
        assert any(n.severity == "error" and str(scenario) in n.message for n in notes)


# ---------------------------------------------------------------------------------------- long runs

async def test_a_long_run_shows_progress_greys_navigation_and_escape_stops_it():
    app = make_app(ROOT / "scenarios" / "xor.toml")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n")
        offset = app.session.index
        await pilot.press("g")
        await type_into_prompt(pilot, "99999999")
        screen = app.screen
        for _ in range(400):  # until the first progress report (a loaded machine may take seconds)
            await pilot.pause(0.05)
            bars = screen.query("#progress")
            if bars and bars.first().progress:
                break
        bar = screen.query_one("#progress")
        assert bar.display and bar.region.height == 1 and bar.total == 99999999 and bar.progress > 0
        assert screen.busy and screen.check_action("next_step", ()) is None  # greyed out
        assert screen.check_action("cancel_run", ()) is True
        await pilot.press("n")  # waits
        await pilot.press("escape")
        await settle(pilot)
        assert not screen.busy and not screen.query("#progress")
        reached = app.session.trace.losses_computed
        assert 1 < app.session.step.epoch <= reached < 99999999
        assert app.session.index % app.session.trace.steps_per_epoch == offset
        assert screen.check_action("cancel_run", ()) is False and screen.check_action("next_step", ()) is True
        await pilot.press("n")
        assert app.session.index % app.session.trace.steps_per_epoch == offset + 1


async def test_q_quits_during_a_long_run():
    app = make_app(ROOT / "scenarios" / "xor.toml")
    async with app.run_test(size=SIZE) as pilot:
        app.screen.go_to_epoch(99999999)
        await pilot.pause(0.3)
        assert app.screen.busy
        await pilot.press("q")
        await pilot.pause(0.5)
    assert app.return_code == 0


# --------------------------------------------------------------------------------- folded side panels

async def test_f_shows_the_folded_side_panels_on_a_small_terminal():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert not screen.query_one("#params").display
        footer = "\n".join(str(k.render()) for k in screen.query("FooterKey"))
        assert "panels" in footer and "quit" in footer
        assert "filter" not in footer  # the table it filters is folded away
        await pilot.press("f")
        await settle(pilot)
        footer = "\n".join(str(k.render()) for k in screen.query("FooterKey"))
        assert "filter" in footer and "quit" in footer
        assert screen.query_one("#params").display and screen.query_one("#params").region.height >= 10
        assert screen.query_one("#expectations").display
        shown = "\n".join(screen.query_one(ParamsTable).visible_text())
        assert "w5" in shown and "w8" in shown
        await pilot.press("f")
        await settle(pilot)
        assert not screen.query_one("#params").display and screen.query_one("#network").display


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (140, 40)])
async def test_every_key_in_the_footer_fits_and_quit_and_help_always_show(size):
    from bpdebug.tui.keys import SPARE_KEYS

    app = make_app(BLOG)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for _ in range(2):  # with the side panels folded and shown
            keys = [k for k in app.screen.query("FooterKey") if k.display]
            assert keys and all(k.region.right <= size[0] for k in keys), [str(k.render()) for k in keys]
            assert {"help", "quit"} <= {k.description for k in keys}
            if size[0] >= 140:  # room for every key: none folded
                assert {k.action for k in keys} >= set(SPARE_KEYS) - {"filter_params"}
            await pilot.press("f")
            await settle(pilot)
        await pilot.press("u")  # a key left out of the footer still works
        await settle(pilot)
        assert app.screen.session.units_on


# ------------------------------------------------------------------------------------------- divergence

async def test_a_diverging_run_stops_once_at_the_first_non_finite_step_and_never_crashes(tmp_path):
    import numpy as np

    path = tmp_path / "sm.toml"
    path.write_text(diverging_softmax_text())
    independent = Trace(load(path), 6)
    first = next(i for i in range(len(independent))
                 if any(not np.all(np.isfinite(independent[i].value(q))) for q in independent[i].computes))
    app = make_app(path)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        for _ in range(3):
            await pilot.press("right_square_bracket")
            await settle(pilot)
            if app.session.index >= first:
                break
        assert app.session.index == first
        assert any("diverged" in n.message for n in notes)
        assert "diverged" in text(app.screen.query_one(StatusBar))
        await pilot.press("right_square_bracket")  # the second press goes on past it
        await settle(pilot)
        assert app.session.index > first
        for key in ["n", "w", "w", "1", "enter", "n", "right_square_bracket", "p"]:
            await pilot.press(key)
        await settle(pilot)
        assert app.return_code is None  # still running: no traceback


# ------------------------------------------------------------------------------- conditions, forks, watches

async def test_the_breakpoint_editor_adds_toggles_and_deletes():
    from bpdebug.tui.widgets.breakpoints import BreakpointsModal

    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(6):
            await pilot.press("n")
        await pilot.press("b")
        assert isinstance(app.screen, BreakpointsModal)
        prompt = app.screen.query_one("#breakpoint-input")
        assert prompt.value == "step=delta2"  # the current step's kind, offered
        await pilot.press("enter")
        assert [(e.text, e.enabled) for e in app.session.conditions] == [("nan", True), ("step=delta2", True)]
        await type_into_prompt(pilot, "w5<0.3")
        await type_into_prompt(pilot, "nonsense")  # refused, nothing added
        assert [e.text for e in app.session.conditions] == ["nan", "step=delta2", "w5<0.3"]
        await pilot.press("down")  # to the list
        await pilot.press("home", "space")  # nan off
        assert not app.session.conditions[0].enabled
        await pilot.press("down", "delete")  # step=delta2 removed
        assert [e.text for e in app.session.conditions] == ["nan", "w5<0.3"]
        await pilot.press("escape")
        assert app.screen is app.get_default_screen() or app.screen.id == "debugger"
        assert "breakpoints: w5<0.3" in text(app.screen.query_one(StatusBar))


async def test_continue_stops_at_a_condition_and_the_status_says_why():
    app = make_app(ROOT / "scenarios" / "xor.toml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # the first frame is up (a loaded machine may still be mounting when c comes)
        app.session.add_condition("step=update")
        await pilot.press("c")
        update = next(t.position for t in app.session.trace.templates if t.kind == "update")
        await until(pilot, lambda: app.session.index == update)
        await pilot.pause()
        assert app.session.index == update
        assert "stopped: step=update" in text(app.screen.query_one(StatusBar))
        await pilot.press("n")
        assert "stopped" not in text(app.screen.query_one(StatusBar))


async def test_a_long_search_runs_in_a_worker_and_escape_stops_it(monkeypatch, tmp_path):
    import bpdebug.tui.parts.breakpoints as breakpoints_part

    monkeypatch.setattr(breakpoints_part, "STEPPED_SYNC", 0)
    long_run = tmp_path / "xor.toml"  # a million epochs to search: still searching when Escape comes, on any machine
    long_run.write_text((ROOT / "scenarios" / "xor.toml").read_text().replace("epochs = 2000", "epochs = 1000000"))
    app = make_app(long_run)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        app.session.add_condition("grad>1e9")  # never holds: it searches every epoch's steps
        await pilot.press("c")
        assert app.screen.busy and app.screen.query("#progress")
        await pilot.press("escape")
        await settle(pilot)
        await until(pilot, lambda: not app.screen.busy)
        assert not app.screen.busy and not app.screen.query("#progress")
        assert "interrupted" in text(app.screen.query_one(StatusBar))


async def test_the_gradient_check_key_shows_analytic_numeric_and_verdict():
    app = make_app(BLOG)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        for key in "nnnnnnnk":  # at the step that computes ∂E/∂w5 (before it: not computed yet, test_app_future)
            await pilot.press(key)
        note = notes[-1]
        analytic = float(Trace(load(BLOG)).epoch(1).passes[0].numbers.gradients[1][0, 1])
        assert note.title == "gradient check" and f"{analytic:.10g}" in note.message
        numeric = float(re.search(r"central difference \(h = [^)]*\) = (\S+)", note.message)[1])
        assert abs(numeric - analytic) <= 1e-7 * abs(analytic) and "agrees" in note.message


async def test_what_if_on_the_blog_forks_switches_saves_and_drops(tmp_path):
    path = tmp_path / "blog.toml"
    shutil.copy(BLOG, path)
    app = make_app(path)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await pilot.press("e")
        await type_into_prompt(pilot, "0.5")
        for _ in range(2):
            await pilot.press("n")
        assert round(float(app.session.step.value("z3")[0][0]), 7) == 1.0105368
        fork_line = text(app.screen.query_one("#fork"))
        assert "what if w5=0.5" in fork_line and "showing fork" in fork_line and "w5 0.4 → 0.5" in fork_line
        assert "1.010537" in text(app.screen.query_one("#network"))
        await pilot.press("o")
        assert "showing original" in text(app.screen.query_one("#fork"))
        assert "0.9519963" in text(app.screen.query_one("#network")) and app.session.index == 2
        await pilot.press("o")
        target = tmp_path / "blog-whatif.toml"
        target.write_text("old")
        await pilot.press("s")
        await pilot.press("enter")  # the default path, next to the scenario: it exists, so it asks
        await pilot.press("y")
        assert "wrote the what-if scenario" in notes[-1].message
        again = Trace(load(target))
        assert np.array_equal(again.step(2).value("z3"), app.session.step.value("z3"))
        assert path.read_text() == BLOG.read_text()  # the scenario opened is never changed
        await pilot.press("O")
        assert app.session.forked is None and app.screen.query_one("#fork").has_class("-empty")


async def test_saving_a_fork_asks_before_overwriting_keeps_on_no_and_never_writes_over_the_scenario(tmp_path):
    from bpdebug.tui.widgets.modals import ConfirmModal, PromptModal

    path = tmp_path / "blog.toml"
    shutil.copy(BLOG, path)
    app = make_app(path)
    notes = Notifications()
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await pilot.press("s")  # no fork yet: says so, no dialog
        assert app.screen.id == "debugger" and "no what-if fork to save" in notes[-1].message
        await pilot.press("e")
        await type_into_prompt(pilot, "0.5")
        target = tmp_path / "blog-whatif.toml"
        target.write_text("old")
        await pilot.press("s")
        assert isinstance(app.screen, PromptModal)
        await pilot.press("enter")  # the default path exists: asks
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        assert target.read_text() == "old" and notes[-1].message == f"{target} kept; nothing saved"
        await pilot.press("s")
        field = app.screen.query_one("Input")
        field.value = str(path)  # the scenario opened: refused without asking
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.id == "debugger" and notes[-1].severity == "error" and str(path) in notes[-1].message
        assert path.read_text() == BLOG.read_text()
        await pilot.press("s")
        await pilot.press("escape")  # nothing typed, nothing done: no note, no bell
        assert app.screen.id == "debugger" and len(notes) == 4  # no fork, forked, kept, refused


async def test_watches_pin_quantities_and_show_them_at_this_step():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        assert not app.screen.query("#watches") and app.screen.watch_panel is None  # built with the first watch
        await pilot.press("a")
        await type_into_prompt(pilot, "delta2")
        await pilot.press("a")
        await type_into_prompt(pilot, "w5")
        panel = app.screen.query_one("#watches")
        assert panel is app.screen.watch_panel and not panel.has_class("-empty") and panel.display
        assert "delta2  …" in text(panel)  # not computed yet at step 1: never a number from the future
        await pilot.press("right_square_bracket")
        delta2 = Trace(load(BLOG), 2).epoch(2).passes[0].numbers.delta[2]
        assert "last epoch" in text(panel) and f"{delta2[0][0]:.7g}" not in text(panel)  # still z2 of epoch 2
        while app.session.step.kind != "delta" or app.session.step.layer != 2:
            await pilot.press("n")
        assert f"{delta2[0][0]:.7g}" in text(panel)
        await pilot.press("a")
        await type_into_prompt(pilot, "delta2")  # the same prompt removes it
        assert "delta2" not in text(panel) and "w5" in text(panel)
        await pilot.press("a")
        await type_into_prompt(pilot, "w5")  # the last one: the panel stays, hidden
        assert app.screen.query_one("#watches") is panel and panel.has_class("-empty") and not panel.display


async def test_in_batch_mode_a_key_chooses_the_example_the_network_shows():
    xor = ROOT / "scenarios" / "xor.toml"
    app = make_app(xor)
    async with app.run_test(size=SIZE) as pilot:
        network = app.screen.query_one("#network")
        assert "values of example 1 of 4" in network.border_subtitle
        for _ in range(2):
            await pilot.press("n")
        await pilot.press("m")
        assert "values of example 2 of 4" in network.border_subtitle
        # independently: example 2's net input of hidden unit 1 from the scenario's numbers
        s = load(xor)
        z = s.weights[0][0, 0] + s.weights[0][0, 1:] @ s.inputs[1]
        assert f"h1 net {fmt(float(z), 4)}" in text(network) or f"h1 net {fmt(float(z))}" in text(network)
        for _ in range(3):
            await pilot.press("m")
        assert "values of example 1 of 4" in network.border_subtitle  # round the batch


# ------------------------------------------------------------------------------ long exports and limits

async def test_export_refuses_a_document_past_the_command_lines_limit_and_points_to_json(tmp_path):
    from bpdebug.transcript import DOCUMENT_EPOCHS

    app = make_app(BLOG)
    notes = Notifications()
    target = tmp_path / "long.md"
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await pilot.press("g")
        await type_into_prompt(pilot, str(DOCUMENT_EPOCHS + 1))
        await until(pilot, lambda: app.session.step.epoch == DOCUMENT_EPOCHS + 1)
        await _export_to(pilot, target)
        await settle(pilot)
        assert not target.exists()
        refused = [n.message for n in notes if n.severity == "error"]
        assert refused and f"at most {DOCUMENT_EPOCHS} epochs" in refused[-1] and "json" in refused[-1]


async def test_a_long_export_shows_its_progress_and_a_note_then_writes(tmp_path):
    from bpdebug.tui.app import DebuggerScreen
    from bpdebug.tui.session import SYNC_EPOCHS

    epochs = 3 * SYNC_EPOCHS
    seen: list[Message] = []
    notes = Notifications()

    def hook(message: Message) -> None:
        notes(message)
        if isinstance(message, DebuggerScreen.RunProgress):
            seen.append(message)

    app = make_app(BLOG)
    target = tmp_path / "long.md"
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await pilot.press("g")
        await type_into_prompt(pilot, str(epochs))
        await until(pilot, lambda: app.session.step.epoch == epochs)
        seen.clear()
        await _export_to(pilot, target)
        await until(pilot, target.exists)
        await settle(pilot)
        assert any(m.done == m.total == epochs for m in seen)  # the progress bar followed the export's training
        assert any(n.message.startswith(f"exporting the md transcript of {epochs} epochs") for n in notes)
        assert any(n.message.startswith(f"wrote the md transcript ({epochs} epochs)") for n in notes)
        assert not app.screen.busy and not app.screen.query("#progress")
        assert f"Epoch {epochs}" in target.read_text()


def test_a_stopped_export_writes_nothing(tmp_path):
    from bpdebug.tui.session import Session

    session = Session(BLOG)
    target = tmp_path / "stopped.md"
    note = session.export("md", target, 500, should_stop=lambda: True)
    assert "stopped" in note.text and not target.exists()


def test_the_go_to_hint_reads_naturally_with_one_epoch_and_with_many():
    from bpdebug.tui.session import Session

    session = Session(BLOG)
    assert session.trace.epochs == 1
    assert session.epoch_hint().startswith("epoch 1 is the only one so far;")
    session.go_to_epoch(4)
    assert session.epoch_hint().startswith("epochs 1 to 4 so far;")
