"""Printed figures in the app: the panel marks root slips apart from the figures that follow, and
practice mode (P) asks for each next step's numbers (Textual Pilot, headless)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from textual.message import Message
from textual.notifications import Notify
from textual.widgets import Input, Static

from bpdebug.core.scenario import load
from bpdebug.tui.app import make_app
from bpdebug.tui.keys import KEYS
from bpdebug.tui.session import Session
from bpdebug.tui.widgets.expectations import ExpectationsPanel
from bpdebug.tui.widgets.practice import PracticeModal

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"
SIZE = (120, 40)


def text(widget: Static) -> str:
    return widget.content.plain if hasattr(widget.content, "plain") else str(widget.content)


def block(panel_text: str, quantity: str, occurrence: int = 0) -> str:
    """The lines of one printed figure in the panel (its ✗/✓ line up to the next figure), joined unwrapped."""
    lines = panel_text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.lstrip(" ✗✓").startswith(f"{quantity} ")]
    start = starts[occurrence]
    end = next((i for i in range(start + 1, len(lines)) if lines[i][:3].strip() in ("✗", "✓")
                or lines[i].startswith(" ahead")), len(lines))
    return " ".join(line.strip() for line in lines[start:end])


async def diagnosed(pilot) -> None:
    """Wait for the diagnosis thread (a daemon thread: the app's workers do not wait for it) and a repaint."""
    deadline = time.monotonic() + 120
    while pilot.app.session.diagnoses is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await pilot.pause()
    await pilot.pause()


class Notifications(list):
    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.append(message.notification)


# ----------------------------------------------------------------------------------- printed figures
def test_the_session_does_not_diagnose_before_the_first_frame():
    session = Session(BLOG)
    assert session.diagnoses is None  # computed later, in a thread, after the first frame
    found = session.diagnose()
    assert found is not None and session.diagnoses is found
    failing = {r.expectation.index for r in session.results if not r.holds}
    assert {i for i, d in found.items() if d.verdict != "holds"} == failing


def test_a_what_if_fork_has_its_own_diagnosis_and_the_original_keeps_its_own():
    session = Session(BLOG)
    original = session.diagnose()
    assert original is not None
    roots = {i for i, d in original.items() if d.verdict == "root"}
    session.fork("w5=0.5")  # at epoch 1: the fork keeps the printed figures, judged against its own numbers
    assert session.showing_fork and session.diagnoses is None
    forked = session.diagnose()
    assert forked is not None and forked is not original
    failing = {r.expectation.index for r in session.results if not r.holds}
    assert {i for i, d in forked.items() if d.verdict != "holds"} == failing
    session.switch_run()
    assert session.diagnoses is original and {i for i, d in original.items() if d.verdict == "root"} == roots
    assert session.diagnose(generation=session.forked.generation) is None  # not the shown run: nothing to show


def test_a_scenario_whose_figures_hold_needs_no_diagnosis():
    assert Session(ROOT / "scenarios" / "mazur.toml").diagnoses == {}


async def test_panel_marks_z2_as_the_root_and_a2_as_following_from_it():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(ExpectationsPanel)
        assert "diagnosing …" in block(text(panel), "z2")  # the first frame did not wait for the diagnosis
        await diagnosed(pilot)
        z2 = block(text(panel), "z2")
        assert "● root:" in z2 and "follows" not in z2
        await pilot.press("n")  # a2
        await pilot.pause()
        a2 = block(text(panel), "a2")
        assert "does not hold" in a2
        assert "↳ follows from the printed z2" in a2 and "root" not in a2
        status = text(app.screen.query_one("#status"))
        assert "printed figures: 2 hold, 2 do not" in status  # the counts stay


async def test_a_root_slip_the_catalogue_explains_names_its_cause():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await diagnosed(pilot)
        s = app.session
        assert s.diagnoses is not None
        error = next(r for r in s.results if r.expectation.quantity == "error" and not r.holds)
        diagnosis = s.diagnoses[error.expectation.index]
        assert diagnosis.verdict == "root" and diagnosis.causes
        while s.index < error.step:
            await pilot.press("n")
        await pilot.pause()
        shown = block(text(app.screen.query_one(ExpectationsPanel)), "error")
        # wrapped in full at the step that checks it
        assert "● root: " + " ".join(diagnosis.cause.split()) in shown  # type: ignore[union-attr]


# -------------------------------------------------------------------------------------------- practice
def test_practice_is_a_key_with_an_id_and_a_tooltip():
    binding = next(b for b in KEYS if b.action == "practice")
    assert binding.key == "P" and binding.id == "practice" and binding.tooltip and binding.show


async def answer(pilot, typed: str) -> None:
    field = pilot.app.screen.query_one("#practice-input", Input)
    field.value = typed
    await pilot.press("enter")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_practice_right_answer_advances_wrong_one_stays_and_says_why():
    s = load(BLOG)
    x = np.concatenate([[1.0], s.inputs[0]])
    z2 = s.weights[0] @ x  # computed here from the scenario's own weights
    without_bias = s.weights[0][:, 1:] @ s.inputs[0]
    notes = Notifications()
    app = make_app(BLOG)
    async with app.run_test(size=SIZE, message_hook=notes) as pilot:
        await pilot.press("P")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, PracticeModal)
        prompt = modal.query_one("#practice-prompt", Static)
        feedback = modal.query_one("#practice-feedback", Static)
        assert text(prompt).startswith("(1/") and "z2" in text(prompt)

        await answer(pilot, " ".join(f"{v:.3f}" for v in without_bias))
        assert text(prompt).startswith("(1/")  # a wrong answer does not advance
        last = text(feedback).split("✗")[-1]
        assert "z2[1], z2[2] are off" in last and "bias" in last  # and says why

        await answer(pilot, "h")
        assert "hint: z2 = Θ1" in text(feedback)

        await answer(pilot, " ".join(f"{v:.4f}" for v in z2))
        assert text(prompt).startswith("(2/") and "a2" in text(prompt)  # a right answer advances
        assert "✓ right" in text(feedback)

        await answer(pilot, "r")
        assert text(prompt).startswith("(3/")
        assert "revealed: a2 = " in text(feedback)

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PracticeModal)
        n = len(modal.practice.questions)
        assert any(f"score: 1 of {n} right" in str(note.message) for note in notes)
