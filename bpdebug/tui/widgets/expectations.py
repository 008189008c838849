"""The scenario's printed figures, checked at the step they belong to (never ahead of the walk)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import numpy as np
from textual.content import Content
from textual.widgets import Static

from ...core.engine import ExpectationResult
from ...core.scenario import Expectation
from ...text.narrate import fmt, fmt_matrix, fmt_vector
from . import set_border, set_content

if TYPE_CHECKING:  # core.diagnosis is imported where the diagnosis runs (a worker), not at startup
    from ...core.diagnosis import Diagnosis

FOLLOWS = "follows"  # core.diagnosis.FOLLOWS


def figure_lines(values: tuple[float, ...], scalar: bool, shape: tuple[int, int] | None = None) -> list[str]:
    """A figure as the panel shows it: one line, or a whole matrix (``shape``) a row a line, as ``check`` has
    it row by row (``[[0.1 0.2]`` then `` [0.3 0.4]]``, the second under the first's row)."""
    if scalar:
        return [fmt(values[0])]
    if shape is not None and len(values) == shape[0] * shape[1] and shape[0] > 1:
        rows = [fmt_vector(row) for row in np.reshape(values, shape)]
        return ["[" + rows[0], *(" " + row for row in rows[1:-1]), " " + rows[-1] + "]"]
    if shape is not None and len(values) == shape[0] * shape[1]:
        return [fmt_matrix(np.reshape(values, shape))]
    return [fmt_vector(values)]


class ExpectationsPanel(Static):
    """Reached expectations: printed vs computed, holds or not; later ones only say where they wait.

    The source of a figure (where the text prints it, and why it may be off) is shown at the step that
    checks it, so the errata appear one by one as the walk reaches them.
    """

    def show(self, results: tuple[ExpectationResult, ...], index: int,
             diagnoses: dict[int, Diagnosis] | None = None) -> tuple[int, int]:
        """Render for the step ``index``; returns (holding, failing) among the figures reached.

        ``diagnoses`` (by expectation index; None while they are computed) marks each failing figure as a
        root slip (with the catalogue's cause) or as following from the printed figures it names.

        The panel has a fixed height and shows the window of lines that holds the figures checked at this
        step (or the latest reached), so a step never changes its size and never lays out the screen."""
        lines: list[Content] = []
        holding = failing = 0
        here_line: int | None = None
        ahead = [r for r in results if r.step > index]
        for r in results:
            if r.step > index:
                continue
            e = r.expectation
            here = r.step == index
            if here and here_line is None:
                here_line = len(lines)
            if r.holds:
                holding += 1
                mark = (" ✓ ", "bold $text-success")
            else:
                failing += 1
                mark = (" ✗ ", "bold $text-error")
            where = "" if e.epoch == 1 and e.example == 1 else f" (epoch {e.epoch}, example {e.example})"
            printed = figure_lines(e.value, e.scalar, e.shape)
            lines.append(Content.assemble(mark, (f"{e.quantity}{where}", "bold reverse" if here else "bold"),
                                          ("  printed ", "dim"), printed[0]))
            indent = " " * (len(mark[0]) + len(f"{e.quantity}{where}") + len("  printed "))
            lines.extend(Content(indent + row) for row in printed[1:])
            verdict = ("holds", "$text-success") if r.holds else ("does not hold", "$text-error")
            computed = figure_lines(r.computed, e.scalar, e.shape)
            lines.append(Content.assemble(("   computed ", "dim"), computed[0],
                                          *(("  ", verdict) if len(computed) == 1 else ())))
            lines.extend(Content(" " * len("   computed ") + row) for row in computed[1:])
            if len(computed) > 1:  # a matrix's rows fill the width: the verdict on a line of its own
                lines.append(Content.assemble("   ", verdict))
            if not r.holds:
                lines.extend(self._mark(results, r, diagnoses, here))
            if here and e.source:
                width = max(20, (self.content_size.width or 52) - 3)
                for piece in textwrap.wrap(e.source, width):
                    lines.append(Content.styled(f"   {piece}", "italic dim"))
        if ahead:
            names = ", ".join(f"{r.expectation.quantity} (step {r.step + 1})" for r in ahead[:6])
            rest = f" and {len(ahead) - 6} more" if len(ahead) > 6 else ""
            width = max(20, (self.content_size.width or 52) - 4)
            for k, piece in enumerate(textwrap.wrap(f"ahead: {names}{rest}", width)):
                lines.append(Content.styled(("   " if k else " ") + piece, "dim"))
        if not results:
            lines.append(Content.styled("this scenario records no printed figures ([[expect]])", "dim italic"))
        height = self.content_size.height or len(lines)
        if len(lines) > height:
            focus = here_line if here_line is not None else len(lines) - height
            start = max(0, min(focus, len(lines) - height))
            if start > 0:  # the arrow takes the line above the figures of this step, never their first line
                lines = [Content.styled(f" ↑ {start} more lines", "dim"), *lines[start:]]
            lines = lines[:height]
        set_content(self, Content("\n").join(lines), fixed=True)
        summary = f"{holding} hold · {failing} do not" if holding + failing else "none reached yet"
        set_border(self, subtitle=summary)
        return holding, failing

    def _mark(self, results: tuple[ExpectationResult, ...], r: ExpectationResult,
              diagnoses: dict[int, Diagnosis] | None, here: bool) -> list[Content]:
        """The line(s) saying whether a failing figure is a root slip or follows from earlier printed ones:
        wrapped in full at the step that checks it, one line (cut with …) elsewhere."""
        d = None if diagnoses is None else diagnoses.get(r.expectation.index)
        if d is None:
            text, style = ("diagnosing …" if diagnoses is None else "not diagnosed"), "dim italic"
        elif d.verdict == FOLLOWS:
            text, style = f"↳ follows from {mark_names(results, d.follows_from, r.expectation)}", "$text-warning"
        else:
            text, style = f"● root: {d.cause or 'no catalogue slip explains it'}", "bold $text-error"
        width = max(20, (self.content_size.width or 52) - 4)
        pieces = textwrap.wrap(text, width) if here else [textwrap.shorten(text, width, placeholder=" …")]
        return [Content.styled(("   " if k == 0 else "     ") + piece, style) for k, piece in enumerate(pieces)]


def mark_names(results: tuple[ExpectationResult, ...], indices: tuple[int, ...], of: Expectation) -> str:
    """The printed figures ``indices`` as a reader names them: "z2", "a2, w5" (with epoch and example where
    they differ from the figure's own)."""
    by_index = {r.expectation.index: r.expectation for r in results}
    own = of.epoch, of.example
    names: list[str] = []
    for i in indices:
        u = by_index.get(i)
        if u is None:
            continue
        where = "" if (u.epoch, u.example) == own else f" (epoch {u.epoch}, example {u.example})"
        names.append(f"the printed {u.quantity}{where}" if not names else f"{u.quantity}{where}")
    return ", ".join(dict.fromkeys(names)) or "earlier printed figures"
