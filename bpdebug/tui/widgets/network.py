"""The network: layers as columns of units with their net input and output.

One widget draws the whole network as text (a widget per unit would cost more to mount and lay out
than the numbers are worth). The selected parameter's connection is drawn by highlighting its two units
and naming it in the border; every parameter with its value sits in the parameters table beside it.
Units are clickable: a click posts :class:`NetworkView.UnitPicked` and the app selects a parameter of
that unit. Values come from :meth:`Step.value`, so a unit shows nothing before its step has run.
"""

from __future__ import annotations

import numpy as np
from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from ...core.engine import Step
from ...core.params import Param
from ...core.scenario import Scenario
from ...text.narrate import fmt, param_connection, unit_name
from ...text.numbers import PENDING
from . import set_border, set_content

Cell = list[tuple[str, str]]  # one line of a unit: (text, style) pieces
MIN_ROWS = 5  # the least the panel takes when others need the room: its borders, the titles and 2 lines of units


class NetworkView(Static):
    """Columns of units (one per layer), bias units marked, the selected connection's units highlighted."""

    class UnitPicked(Message):
        """A unit was clicked (layer 1-based, unit 1-based, 0 = bias)."""

        def __init__(self, layer: int, unit: int) -> None:
            super().__init__()
            self.layer, self.unit = layer, unit

    def __init__(self, scenario: Scenario, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self._hits: list[tuple[int, int, int, int, int, int]] = []  # x0, x1, y0, y1, layer, unit
        self._lines_cache: dict[tuple[int, int, int, bool, int], list[Cell]] = {}
        self.row = 0  # which example of a batch pass the units show (0-based within the pass)
        self.unit: int | None = None  # unit by unit: the unit of the step's layer computed so far (None: all)

    def set_scenario(self, scenario: Scenario) -> None:
        """Draw another scenario's network (after a reload)."""
        self.scenario = scenario

    def _unit_lines(self, step: Step, l: int, i: int, compact: bool, digits: int) -> list[Cell]:
        """The one or two lines of unit ``i`` (0 = bias) of layer ``l`` at ``step`` (each drawn once per
        :meth:`show`, however many layouts it tries)."""
        key = (step.index, l, i, compact, digits)
        cached = self._lines_cache.get(key)
        if cached is None:
            cached = self._lines_cache[key] = self._draw_unit(step, l, i, compact, digits)
        return cached

    def _draw_unit(self, step: Step, l: int, i: int, compact: bool, digits: int) -> list[Cell]:
        name = unit_name(self.scenario.layers, l, i)
        if i == 0:
            return [[(f"{name} ", "bold"), ("1", "")]]

        def number(quantity: str) -> tuple[str, str]:
            if not step.is_known(quantity) or self._ahead(step, quantity, i):
                return PENDING, "dim"
            values = np.asarray(step.value(quantity))
            return fmt(float(values[min(self.row, len(values) - 1), i - 1]), digits), ""

        if l == 1:  # an input unit has only an output: its value
            return [[(f"{name} ", "bold"), number("a1")]]
        net, out = number(f"z{l}"), number(f"a{l}")
        if compact:
            return [[(f"{name} ", "bold"), net, (" → ", "dim"), out]]
        pad = " " * (len(name) + 1)
        return [[(f"{name} ", "bold"), ("net ", "dim"), net], [(pad, ""), ("out ", "dim"), out]]

    def _ahead(self, step: Step, quantity: str, i: int) -> bool:
        """Unit by unit: whether unit ``i``'s ``quantity`` is one this step computes, for a later unit."""
        return self.unit is not None and i > self.unit and quantity in step.computes

    def show(self, step: Step, selected: Param, compact: bool = False, row: int = 0,
             unit: int | None = None) -> None:
        """Render the values known at ``step``, with ``selected``'s connection and what ``step`` computed;
        ``unit`` (unit-by-unit steps) shows the step's layer computed up to that unit.

        A network too wide for the panel is drawn with two lines per unit, then with 4 significant digits
        (the step and the table keep all 7), and clipped past that."""
        self.row = row = min(row, len(step.record.rows) - 1)
        self.unit = unit
        room = self.content_size.width or 10_000
        everything = list(range(1, self.scenario.n_layers + 1))
        self._lines_cache = {}
        tries = dict.fromkeys(((compact, 7), (False, 7), (compact, 4), (False, 4), (False, 3)))
        for one_line, digits in tries:
            grid, width = self._grid(step, selected, one_line, digits, everything)
            if width <= room:
                break
        else:
            grid = self._window(step, selected, room)
        set_content(self, Content("\n").join(Content.assemble(*line) for line in grid))
        s = self.scenario
        new = step.is_known(f"theta{selected.layer}.after")
        value = step.param(selected, "after" if new else "before")
        rows = step.record.rows
        batch = ""
        if len(rows) > 1:  # a mini-batch's examples are numbered in the data set: its own count in parentheses
            whole = len(rows) == s.n_examples
            batch = f" · values of example {rows[row] + 1}" + (f" of {len(rows)}" if whole else
                                                                f" ({row + 1} of {len(rows)})")
        set_border(self, subtitle=f"{selected.short} = {fmt(value)}{' (new)' if new else ''} "
                                  f"on {param_connection(s, selected)}{batch}")

    def _window(self, step: Step, selected: Param, room: int) -> list[Cell]:
        """A network too wide even with 3 digits: the selected connection's two layers, widened by neighbours
        (the layer this step computes first) while they fit; ``⋯`` marks the layers left out."""
        L = self.scenario.n_layers
        first, last = selected.layer, selected.layer + 1
        wanted = [step.layer] if step.layer and step.kind in ("z", "a", "delta") else []
        wanted += [n for k in range(1, L) for n in (last + k, first - k)]
        for titled, digits in ((True, 7), (True, 4), (True, 3), (False, 3)):  # then "layer 3" without its role
            grid, width = self._grid(step, selected, False, digits, list(range(first, last + 1)), titled)
            if width <= room:
                break
        for layer in wanted:
            if not 1 <= layer <= L or first <= layer <= last:
                continue
            lo, hi = min(first, layer), max(last, layer)
            wider, width = self._grid(step, selected, False, digits, list(range(lo, hi + 1)), titled)
            if width > room:
                break
            grid, first, last = wider, lo, hi
        return grid

    def _grid(self, step: Step, selected: Param, compact: bool, digits: int,
              layers: list[int], titled: bool = True) -> tuple[list[Cell], int]:
        """The lines of the drawing of ``layers`` (consecutive, 1-based; pieces of styled text) and its width;
        ``titled`` False: each column's title is "layer N" alone (its role goes, for a narrow panel)."""
        s = self.scenario
        L = s.n_layers
        computed = set(step.computes)
        columns: list[tuple[str, list[tuple[int | None, list[Cell]]]]] = []
        for l in layers:
            role = "in" if l == 1 else "out" if l == L else "hidden"
            legend = "in" if l == 1 else "net → out"
            title = (f"layer {l}: {legend}" if compact else f"layer {l} · {role}") if titled else f"layer {l}"
            units = list(range(1, s.layers[l - 1] + 1)) + ([0] if s.bias and l < L else [])
            focus = (selected.sending_unit if l == selected.layer else
                     selected.receiving_unit if l == selected.layer + 1 else 1)
            one_line = compact or l == 1
            column: list[tuple[int | None, list[Cell]]] = []
            for i in self._units_shown(units, units.index(focus), one_line):
                if i < 0:  # units left out: how many
                    column.append((None, [[(f"⋮ {-i} more", "dim")]]))
                else:
                    column.append((i, self._unit_lines(step, l, i, compact, digits)))
            columns.append((title, column))
        widths = [max(len(title), *(2 + sum(len(t) for t, _ in line) for _, cells in col for line in cells))
                  for title, col in columns]
        heights = [sum(len(cells) for _, cells in col) for _, col in columns]
        rows = 1 + max(heights)
        grid: list[list[tuple[str, str]]] = [[] for _ in range(rows)]
        self._hits = []
        x = 0
        if layers[0] > 1:  # layers left out on the left
            for r in range(rows):
                grid[r].append(("⋯ " if r == rows // 2 else "  ", "dim"))
            x += 2
        for l, ((title, col), width) in zip(layers, zip(columns, widths, strict=True), strict=True):
            if l > 1:  # the weights that carry layer l-1 to l, on the arrow between them: the titles keep apart
                link = f"Θ{l - 1}→ "
                for r in range(rows):
                    grid[r].append((link if r == max(1, rows // 2) else " " * len(link), "dim"))
                x += len(link)
            grid[0].append((title.ljust(width), "italic dim"))
            r = 1
            for unit, cells in col:
                if unit is None:
                    grid[r].append(((" " + cells[0][0][0]).ljust(width), "dim"))
                    r += 1
                    continue
                i = unit
                ends = (l == selected.layer and i == selected.sending_unit) or (
                    l == selected.layer + 1 and (i == selected.receiving_unit or selected.shared))
                new = i > 0 and bool({f"z{l}", f"a{l}"} & computed) and self.unit in (None, i)
                marker = ("▌", "$accent bold") if ends else ("▌", "$panel-lighten-2")
                background = "on $success-muted" if new else "on $accent-muted" if ends else ""
                for line in cells:
                    used = 1 + sum(len(t) for t, _ in line)
                    grid[r] += [marker, *((t, f"{style} {background}".strip()) for t, style in line),
                                (" " * (width - used), background)]
                    r += 1
                self._hits.append((x, x + width, r - len(cells), r, l, i))
            for rest in range(r, rows):
                grid[rest].append((" " * width, ""))
            x += width
        if layers[-1] < L:  # and on the right
            for r in range(rows):
                grid[r].append((f" Θ{layers[-1]} ⋯" if r == rows // 2 else " " * (len(str(layers[-1])) + 4), "dim"))
            x += len(str(layers[-1])) + 4
        return grid, x

    def fit(self, rows: int | None) -> bool:
        """Take at most ``rows`` rows (borders included; None: as the stylesheet says), eliding units past them
        as a wide layer's are; whether that changed what the panel may take (then :meth:`show` it again)."""
        base = self.styles.base.max_height
        if rows is not None and base is not None and base.is_cells and rows >= base.value:
            rows = None  # the stylesheet's limit is the tighter one
        before = self.styles.inline.max_height
        if rows is None:
            self.styles.inline.clear_rule("max_height")
        else:
            self.styles.max_height = max(MIN_ROWS, rows)
        return self.styles.inline.max_height != before

    def _unit_budget(self) -> int:
        """Lines a column of units may take: the panel's max-height less its border, padding and title."""
        limit = self.styles.max_height
        if limit is None or not limit.is_cells:
            return 11
        return max(2, int(limit.value) - self.styles.gutter.height - 1)

    def _units_shown(self, units: list[int], focus: int, one_line: bool) -> list[int]:
        """``units`` (in drawing order; 0 = bias, one line, others ``one_line`` or two) cut to a window
        around ``units[focus]`` that fits :meth:`_unit_budget`; a negative entry −k stands for a
        "⋮ k more" line where k units are left out. A thousand units cost what ten do."""
        budget = self._unit_budget()

        def lines(i: int) -> int:
            return 1 if one_line or i == 0 else 2

        if sum(lines(i) for i in units[: budget + 1]) <= budget and len(units) <= budget:
            return units
        lo, hi = focus, focus + 1
        used = lines(units[focus])
        grew = True
        while grew:
            grew = False
            for side in (1, -1):
                a, b = (lo, hi + 1) if side == 1 else (lo - 1, hi)
                if a < 0 or b > len(units):
                    continue
                cost = used + lines(units[b - 1] if side == 1 else units[a]) + (a > 0) + (b < len(units))
                if cost <= budget:
                    used += lines(units[b - 1] if side == 1 else units[a])
                    lo, hi, grew = a, b, True
        shown = units[lo:hi]
        if lo:
            shown.insert(0, -lo)
        if hi < len(units):
            shown.append(-(len(units) - hi))
        return shown

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for x0, x1, y0, y1, layer, unit in self._hits:
            if x0 <= offset.x < x1 and y0 <= offset.y < y1:
                self.post_message(self.UnitPicked(layer, unit))
                return
