"""The watch panel (quantities pinned with ``a``) and the what-if line (the parameters a fork changed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.content import Content

from ..session import Session, View
from . import set_content
from .bound import BoundPanel

if TYPE_CHECKING:
    from ..watching import WatchRow


class WatchPanel(BoundPanel):
    """One line per watch: its value at this step, at the same step of the previous epoch, and the change.
    Hidden while nothing is watched. Bound to the screen's :class:`View`, it paints the session's watches."""

    def paint(self, session: Session, view: View) -> None:
        self.show(session.watch_rows(), view.compact)

    def show(self, rows: Sequence[WatchRow], compact: bool = False) -> None:
        self.set_class(not rows, "-empty")
        if not rows:
            set_content(self, Content(""))
            return
        room = self._room()
        more = len(rows) - room if len(rows) > room else 0
        if more:  # the last line says how many more there are
            more += 1
            rows = rows[:room - 1]
        name_w = max(len(r.name) for r in rows) if rows else 0
        now_w = max(len(r.now) for r in rows)
        before_w = max(len(r.before) for r in rows)
        lines: list[Content] = []
        for r in rows:
            parts: list[str | tuple[str, str]] = [(f"{r.name:<{name_w}}", "bold"), "  ", f"{r.now:<{now_w}}"]
            if r.before and not compact:
                parts += [("  last epoch ", "dim"), f"{r.before:<{before_w}}", ("  Δ ", "dim"), r.change]
            elif r.before:  # narrow: the change only
                parts += [("  Δ ", "dim"), r.change]
            lines.append(Content.assemble(*parts))
        if more:
            lines.append(Content.styled(f"+{more} more (a, then a watched name, removes one)", "dim"))
        set_content(self, Content("\n").join(lines))

    def _room(self) -> int:
        """The lines the panel shows at the most (its max-height less its borders), at least 1."""
        limit = self.styles.max_height
        if limit is None or not self.is_attached:
            return 10_000
        size = self.screen.size
        return max(1, int(limit.resolve(size, size)) - self.styles.gutter.height)


class ForkLine(BoundPanel):
    """Under the status line while a what-if fork exists: which run shows, and the parameters that differ
    (original → fork) at this step. Hidden without a fork. Bound to the screen's :class:`View`."""

    def paint(self, s: Session, view: View) -> None:
        self.show(", ".join(s.forked.edits) if s.forked else None, s.showing_fork,
                  s.differences(3 if view.compact else 6), view.compact)

    def show(self, fork: str | None, showing_fork: bool, rows: Sequence[tuple[str, str, str]],
             compact: bool = False) -> None:
        self.set_class(fork is None, "-empty")
        if fork is None:
            set_content(self, Content(""))
            return
        which = ("fork", "bold $text-warning") if showing_fork else ("original", "bold")
        parts: list[str | tuple[str, str]] = [("what if ", "dim"), (fork, "bold"), ("  showing ", "dim"), which,
                                              ("  (o switches, O drops, s saves)" if not compact else "", "dim")]
        if rows:
            parts.append(("\ndiffers: " if not compact else "  ·  ", "dim"))  # compact: one line
            cells: list[str | tuple[str, str]] = []
            for name, original, forked in rows:
                if cells:
                    cells.append(("  ·  ", "dim"))
                cells.append((name, "bold"))
                if forked:
                    cells += [" ", (original or "", ""), (" → " if original else " = ", "dim"), (forked, "")]
            parts += cells
        set_content(self, Content.assemble(*parts))
