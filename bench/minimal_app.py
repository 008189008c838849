"""The floor of the first-frame benchmark: the least a Textual app that imports NumPy does to show a frame.

``python bench/minimal_app.py``: bench_instant.py times it from launch to its first frame in tmux, beside
``bpdebug scenarios/blog.toml``. NumPy is part of bpdebug's stack, so its import is part of the floor; nothing
else is imported (the benchmarks' own modules, with their statistics and subprocess, would slow the floor).
"""

import numpy  # noqa: F401 - the stack's floor
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static


class MinimalApp(App[None]):
    """The floor: the least a Textual app does to show a frame and react to a key."""

    BINDINGS = [("n", "next", "next")]

    def compose(self) -> ComposeResult:
        yield Static("0", id="counter")
        yield Footer()

    def action_next(self) -> None:
        counter = self.query_one("#counter", Static)
        counter.update(str(int(str(counter.content)) + 1))


if __name__ == "__main__":
    MinimalApp().run()
