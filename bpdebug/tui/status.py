"""What the status line says about the run, in words and in signs (no terminal code): why the walk stopped, the
divergence, the printed figures reached and the breakpoints that are on. The status bar shows the words where
they fit and the signs where they do not (:class:`~bpdebug.tui.widgets.status.StatusBar`)."""

from __future__ import annotations

from dataclasses import dataclass

from .session import Session

SEPARATOR = "  ·  "


@dataclass(frozen=True)
class RunWords:
    """The run's state for the status line: ``long`` in words, ``short`` in signs (the same items, in order)."""

    long: tuple[str, ...]
    short: tuple[str, ...]

    def text(self, short: bool = False) -> str:
        return SEPARATOR.join(self.short if short else self.long)


def run_words(s: Session) -> RunWords:
    """Why the walk stopped here (first), the divergence, the printed figures reached, the breakpoints on."""
    long: list[str] = []
    short: list[str] = []
    holding, failing = s.figure_counts()
    d = s.divergence
    if d is not None:
        long.append(f"⚠ diverged: {d.describe()}")
        short.append(f"⚠ diverged at epoch {d.epoch}")
    if holding + failing:
        long.append(f"printed figures: {holding} hold, {failing} do not")
        short.append(f"figures ✓{holding} ✗{failing}")
    stopped = s.stopped_here
    labels = s.breakpoint_labels()
    if stopped is not None:
        long.insert(0, "stopped: " + stopped)
        short.insert(0, "■ " + stopped)
    elif labels:
        long.append("breakpoints: " + labels)
        short.append("● " + labels)
    return RunWords(tuple(long), tuple(short))
