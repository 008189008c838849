"""Small dialogs: a one-line prompt (go to epoch, select parameter), export, a yes/no question, the key help."""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Select, Static

from .dialog import Dialog


class PrefixSuggester(Suggester):
    """Completes what is typed (case-insensitively) with the first name, in sorted order, that starts with it.

    The names are sorted once, on the first keystroke (in a thread, so the prompt opens at once), from
    ``names`` or what ``names()`` returns; each keystroke is then one binary search, where ``SuggestFromList``
    casefolds and scans the whole list (a 784-128-10 network's 203,540 parameter names)."""

    def __init__(self, names: Iterable[str] | Callable[[], Iterable[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=False)  # values arrive casefolded
        self._source = names
        self._lock = threading.Lock()
        self._index: tuple[list[str], list[str]] | None = None  # sorted casefolded names, and as given

    def _built(self) -> tuple[list[str], list[str]]:
        with self._lock:
            if self._index is None:
                names = self._source() if callable(self._source) else self._source
                by_key: dict[str, str] = {}
                for name in names:
                    by_key.setdefault(name.casefold(), name)  # the first spelling of a name wins
                keys = sorted(by_key)
                self._index = (keys, [by_key[k] for k in keys])
            return self._index

    def suggest(self, value: str) -> str | None:
        keys, names = self._built()
        key = value.casefold()
        i = bisect_left(keys, key)
        return names[i] if i < len(keys) and keys[i].startswith(key) else None

    async def get_suggestion(self, value: str) -> str | None:
        if self._index is None:
            await asyncio.to_thread(self._built)
        return self.suggest(value)


_SUGGESTERS: dict[tuple[int, tuple[str, ...]], tuple[object, PrefixSuggester]] = {}


def prefix_suggester(owner: object, names: Callable[[], Iterable[str]],
                     extra: tuple[str, ...] = ()) -> PrefixSuggester:
    """One :class:`PrefixSuggester` per ``owner`` of the names (a scenario's parameter index) and ``extra``
    names: a prompt opened again reuses it (the last few are kept)."""
    key = (id(owner), extra)
    found = _SUGGESTERS.get(key)
    if found is None or found[0] is not owner:
        found = (owner, PrefixSuggester(lambda: (*names(), *extra)))
        _SUGGESTERS[key] = found
        while len(_SUGGESTERS) > 8:
            del _SUGGESTERS[next(iter(_SUGGESTERS))]
    return found[1]


class PromptModal(Dialog[str | None]):
    """Ask for one line of text; dismiss with it (Enter) or with None (Escape). ``suggestions``: names to
    complete from, or a ready :class:`~textual.suggester.Suggester` (built once for a long list)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, hint: str, placeholder: str = "", suggestions: Iterable[str] | Suggester = (),
                 value: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.hint, self.placeholder = title, hint, placeholder
        self.value = value
        self.suggester: Suggester | None = None
        if isinstance(suggestions, Suggester):
            self.suggester = suggestions
        elif names := tuple(suggestions):
            self.suggester = PrefixSuggester(names)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, suggester=self.suggester, id="prompt-input")
            yield Label(self.hint, classes="dialog-hint")

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportModal(Dialog[tuple[str, str] | None]):
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


class ConfirmModal(Dialog[bool]):
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


class HelpScreen(Dialog[None]):
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
