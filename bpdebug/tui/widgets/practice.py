"""Practice mode in the app: a dialog driven by :class:`~bpdebug.text.practice.PracticeSession`.

The learner types the next step's numbers; Enter checks them (in a thread: a wrong answer runs the slip
catalogue). A right answer, or ``r`` (reveal), goes on to the next question; a wrong one stays and says
which entries are off and why. ``h`` gives a hint (the formula, then the numbers substituted). Escape leaves,
dismissing the dialog with the score line.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, Static

from ...text.practice import Feedback, PracticeSession, Question
from .dialog import Dialog

FEEDBACK_LINES = 4  # the latest feedback entries kept on screen
HINT, REVEAL = ("h", "hint"), ("r", "reveal")
HELP = ("Enter checks · h then Enter: a hint (formula, then numbers) · r then Enter: the answer · Escape leaves "
        "with the score")


class PracticeModal(Dialog[str]):
    """Ask each next step's numbers of the scenario's first epoch; dismiss with the score line."""

    BINDINGS = [Binding("escape", "leave", "leave", id="practice.leave")]

    class Checked(Message):
        """An answer has been checked (in a worker)."""

        def __init__(self, feedback: Feedback) -> None:
            super().__init__()
            self.feedback = feedback

    def __init__(self, practice: PracticeSession, follow: Callable[[Question | None], None] | None = None) -> None:
        """``follow(question)`` is told each question as it is asked (None once every one is answered), so the
        debugger behind the dialog can go to its step and hide its results."""
        super().__init__(classes="dialog-screen")
        self.practice = practice
        self.follow = follow or (lambda question: None)
        self._feedback: list[Content] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog practice"):
            yield Label(f"Practice: work out each next result of epoch {self.practice.epoch}",
                        classes="dialog-title")
            yield Label(self.practice.prompt(), id="practice-prompt", markup=False)
            yield Input(placeholder="the numbers, separated by spaces", id="practice-input")
            with VerticalScroll(id="practice-feedback-box", can_focus=False):
                yield Static(id="practice-feedback")
            yield Label(HELP, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.follow(self.practice.current)
        self.query_one(Input).focus()
        self._say(Content.styled("Work out each result, then type it; the walk goes on when it is right.", "dim"))

    # ---------------------------------------------------------------------------------------- answers
    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.practice.current is None:
            self.action_leave()
            return
        command = text.lower()
        if command in HINT:
            event.input.value = ""
            self._say(Content.assemble(("hint: ", "bold"), self.practice.hint()))
        elif command in REVEAL:
            event.input.value = ""
            self._show(self.practice.reveal())
        elif text:
            event.input.disabled = True  # one check at a time
            self._say(Content.styled(f"checking {text} …", "dim italic"))
            self._check(text)

    @work(thread=True, exclusive=True, group="practice")
    def _check(self, text: str) -> None:
        with np.errstate(all="ignore"):
            feedback = self.practice.answer(text)
        self.post_message(self.Checked(feedback))

    @on(Checked)
    def _checked(self, event: Checked) -> None:
        field = self.query_one(Input)
        field.disabled = False
        if event.feedback.correct:
            field.value = ""
        field.focus()
        self._feedback.pop()  # "checking …"
        self._show(event.feedback)

    def _show(self, feedback: Feedback) -> None:
        if feedback.correct:
            self._say(Content.styled("✓ " + feedback.message, "bold $text-success"))
        elif feedback.revealed:
            self._say(Content.styled("revealed: " + feedback.message, "$text-warning"))
        else:
            self._say(Content.styled("✗ " + feedback.message, "$text-error"))
        prompt = self.query_one("#practice-prompt", Label)
        if feedback.correct or feedback.revealed:
            self.follow(self.practice.current)
        if self.practice.current is None:
            prompt.update(f"Done. {self.practice.score_line()}")
            self._say(Content.styled("Enter or Escape leaves.", "dim"))
        else:
            prompt.update(self.practice.prompt())

    def _say(self, line: Content) -> None:
        self._feedback = [*self._feedback, line][-FEEDBACK_LINES:]
        self.query_one("#practice-feedback", Static).update(Content("\n").join(self._feedback))
        # the latest line in view when the entries wrap to more rows than the box keeps (a short screen)
        box = self.query_one("#practice-feedback-box", VerticalScroll)
        box.call_after_refresh(box.scroll_end, animate=False)

    def action_leave(self) -> None:
        self.workers.cancel_group(self, "practice")
        self.dismiss(self.practice.score_line())
