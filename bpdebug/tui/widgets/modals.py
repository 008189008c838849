"""Small dialogs: a one-line prompt (go to epoch, select parameter), export, a yes/no question, the key help."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, Static


class PromptModal(ModalScreen[str | None]):
    """Ask for one line of text; dismiss with it (Enter) or with None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, hint: str, placeholder: str = "", suggestions: Iterable[str] = (),
                 value: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.hint, self.placeholder = title, hint, placeholder
        self.suggestions, self.value = list(suggestions), value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            suggester = SuggestFromList(self.suggestions, case_sensitive=False) if self.suggestions else None
            yield Input(self.value, placeholder=self.placeholder, suggester=suggester, id="prompt-input")
            yield Label(self.hint, classes="dialog-hint")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportModal(ModalScreen[tuple[str, str] | None]):
    """Choose what to export and a path; the path's extension follows the choice until edited. ``formats``: the
    choices, each a format name or (key, label, extension); the dialog answers (key, path)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel")]

    def __init__(self, formats: Sequence[str | tuple[str, str, str]], default_format: str, stem: str) -> None:
        super().__init__(classes="dialog-screen")
        self.choices = [(f, f, f) if isinstance(f, str) else f for f in formats]
        self.formats = [key for key, _, _ in self.choices]
        self.default_format, self.stem = default_format, stem

    def _path_for(self, key: str) -> str:
        extension = next(ext for k, _, ext in self.choices if k == key)
        suffix = "-exercise" if key != extension and key.endswith("exercise") else ""
        return f"{self.stem}{suffix}.{extension}"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export the transcript", classes="dialog-title")
            yield Select([(label, key) for key, label, _ in self.choices], value=self.default_format,
                         allow_blank=False, id="export-format")
            # the path is not selected on focus: a key typed goes at its end, it never replaces the path
            yield Input(self._path_for(self.default_format), id="export-path", select_on_focus=False)
            yield Label("", id="export-why", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")
            yield Label("Enter writes (asks before replacing a file). Escape cancels.", classes="dialog-hint")

    def on_mount(self) -> None:
        path = self.query_one("#export-path", Input)
        path.focus()
        path.cursor_position = len(path.value)

    @on(Select.Changed)
    def format_changed(self, event: Select.Changed) -> None:
        path = self.query_one("#export-path", Input)
        for key in sorted(self.formats, key=lambda k: -len(self._path_for(k))):  # md-exercise before md
            old = self._path_for(key).removeprefix(self.stem)
            if path.value.endswith(old):
                path.value = path.value[: -len(old)] + self._path_for(str(event.value)).removeprefix(self.stem)
                break

    @on(Input.Changed, "#export-path")
    def _typed(self) -> None:
        self.query_one("#export-why", Label).update("")

    @on(Input.Submitted)
    @on(Button.Pressed, "#export-ok")
    def accept(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        fmt = str(self.query_one("#export-format", Select).value)
        if not path:  # say why nothing happens, and stay
            self.query_one("#export-why", Label).update(
                Content.styled("a path is needed: type where the file goes (nothing written)", "$text-error"))
            self.query_one("#export-path", Input).focus()
            return
        self.dismiss((fmt, path))

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(ModalScreen[bool]):
    """Ask a yes/no question: Enter, y or the first button says yes; Escape, n or the second says no."""

    BINDINGS = [Binding("escape,n", "answer(False)", "No", id="confirm.no"),
                Binding("y", "answer(True)", "Yes", id="confirm.yes")]

    def __init__(self, question: str, hint: str, yes: str = "Overwrite", no: str = "Keep") -> None:
        super().__init__(classes="dialog-screen")
        self.question, self.hint, self.yes, self.no = question, hint, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes, variant="warning", id="confirm-yes")
                yield Button(self.no, id="confirm-no")
            yield Label(self.hint, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#confirm-yes", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """The keys (from the app's binding data) and how to read the screen."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close", id="help.close")]

    def __init__(self, keys: Sequence[tuple[str, str]], legend: Sequence[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.keys, self.legend = keys, legend

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Label("bpdebug: keys", classes="dialog-title")
            with Grid(classes="help-keys"):  # two columns: a description wraps under itself, not under the keys
                for keys, description in self.keys:
                    yield Static(keys, classes="help-key", markup=False)
                    yield Static(description, markup=False)
            yield Label("Reading the screen", classes="dialog-title")
            for line in self.legend:  # an indented line goes on the one above: it wraps under its own indent
                yield Static(line.lstrip(), classes="help-legend" + (" -more" if line.startswith(" ") else ""),
                             markup=False)
            yield Label("Escape, q or ? closes this help. Ctrl+P opens the command palette.", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
