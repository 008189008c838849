"""The breakpoint editor (``b``): the conditions to stop on, each on or off; add one by typing it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ...core.conditions import KINDS, examples, kind_of, suggestions
from ..session import Move, Session
from .dialog import Dialog

HINT = ("Enter adds the condition typed. ↓ or tab to the list: Enter or space turns one on or off, delete "
        "removes it. Escape closes the editor; then c continues to the first step where one holds.")


class BreakpointsModal(Dialog[None]):
    """List, add, toggle and delete the session's breakpoints (changes apply at once)."""

    BINDINGS = [Binding("escape", "close", "Close", id="breakpoints.close"),
                Binding("delete,d", "remove", "Delete", id="breakpoints.delete", show=False),
                Binding("space", "switch", "On/off", id="breakpoints.toggle", show=False),
                Binding("down", "focus_list", "List", id="breakpoints.list", show=False)]

    def __init__(self, session: Session) -> None:
        super().__init__(classes="dialog-screen")
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog breakpoints"):
            yield Label("Breakpoints: stop where a condition holds", classes="dialog-title")
            yield OptionList(id="breakpoint-list")
            yield Input(self.session.suggested_condition(), placeholder=", ".join(examples()) + " …",
                        suggester=SuggestFromList([*suggestions(self.session.scenario),
                                                   self.session.suggested_condition()]),
                        id="breakpoint-input")
            yield Label(self._form(self.session.suggested_condition()), id="breakpoint-form", classes="dialog-hint")
            yield Label(HINT, classes="dialog-hint")

    @staticmethod
    def _form(text: str) -> Content:
        """What the condition being typed is: its kind's forms and sentence; else every kind's forms."""
        if not text.strip():
            return Content("Type a condition (tab completes); what it means shows here.")
        kind = kind_of(text)
        if kind is None:
            return Content("Not a condition yet: " + "; ".join(k.grammar for k in KINDS.values()))
        return Content.assemble((kind.grammar, "bold"), ": " + kind.sentence)

    @on(Input.Changed, "#breakpoint-input")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#breakpoint-form", Label).update(self._form(event.value))

    def on_mount(self) -> None:
        self._fill()
        self.query_one("#breakpoint-input", Input).focus()

    def _fill(self, highlight: int | None = None) -> None:
        options = self.query_one("#breakpoint-list", OptionList)
        options.clear_options()
        for e in self.session.conditions:
            mark = ("● ", "bold $text-error") if e.enabled else ("○ ", "dim")
            text = Content.assemble(mark, (e.text, "bold" if e.enabled else "dim"),
                                    ("  " + e.condition.entry.sentence.split(":")[0], "dim"))
            options.add_option(Option(text))
        if not self.session.conditions:
            options.add_option(Option(Content.styled("no breakpoints: type one below", "dim"), disabled=True))
        elif highlight is not None:
            options.highlighted = max(0, min(highlight, len(self.session.conditions) - 1))

    def _apply(self, move: Move, highlight: int | None = None) -> None:
        if move.notes:  # the latest replaces the earlier ones (toasts never pile up)
            self.app.clear_notifications()
        for note in move.notes:
            self.app.notify(note.text, severity=note.severity, timeout=note.timeout, markup=False)
        self._fill(highlight)

    @on(Input.Submitted)
    def add(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        move = self.session.add_condition(text)
        if move.moved:
            event.input.value = ""
        self._apply(move, len(self.session.conditions) - 1)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self._apply(self.session.toggle_condition(event.option_index), event.option_index)

    def _highlighted(self) -> int | None:
        options = self.query_one("#breakpoint-list", OptionList)
        return options.highlighted if options.has_focus else None

    def action_switch(self) -> None:
        i = self._highlighted()
        if i is not None:
            self._apply(self.session.toggle_condition(i), i)

    def action_remove(self) -> None:
        i = self._highlighted()
        if i is not None:
            self._apply(self.session.remove_condition(i), i)

    def action_focus_list(self) -> None:
        options = self.query_one("#breakpoint-list", OptionList)
        if not options.has_focus:
            options.focus()
            if options.highlighted is None and self.session.conditions:
                options.highlighted = 0

    def action_close(self) -> None:
        self.dismiss(None)
