"""Every parameter: short and canonical name, value, gradient (once known) and new value (after the update).

A line-API widget (:class:`~textual.scroll_view.ScrollView`): only the rows on screen are formatted, so a
step costs the same for the blog's 8 parameters as for the 101,770 of a 784-128-10 network. Per-step work
over all parameters (the gradient order of the ``top`` filter, finding the selected row) is NumPy on
index arrays built once per scenario. The header stays on the first line; the rows scroll under it.
A :class:`ParamFilter` narrows the rows (by layer, by name, or the largest |∂E/∂p| first). A click on
a row selects that parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from textual import events
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip

from ...core.engine import Step
from ...core.params import Param
from ...core.scenario import Scenario
from ...text.narrate import fmt
from ...text.numbers import PENDING
from . import LineView, content_strip, set_border

NUMBER_WIDTH = 14  # "−0.0005745018", "−1.234568e-6": 7 significant digits with sign, point and zeros
NEW = "bold $text-success"
SELECTED = "on $accent-muted"
FILTER_HELP = "layer N · a name (w5, theta2[1,) · top [N]: largest |∂E/∂p| first · empty: every parameter"


@dataclass(frozen=True)
class ParamFilter:
    """Which rows the table shows: parameters of one ``layer`` (Θ number), whose short or canonical name
    contains ``name``, ordered by largest |∂E/∂p| first when ``top`` is set (the first ``top`` of them;
    0 = all). Non-finite gradients count as the largest: in a diverging run they are what to look at."""

    layer: int | None = None
    name: str = ""
    top: int | None = None

    @classmethod
    def parse(cls, text: str) -> ParamFilter:
        """``layer 2``, ``w5``, ``theta2[1,``, ``top``, ``top 20``, or several (``layer 1 top 50``);
        raises ValueError with a one-line reason."""
        layer: int | None = None
        top: int | None = None
        names: list[str] = []
        words = text.split()
        k = 0
        while k < len(words):
            word = words[k].lower()
            nxt = words[k + 1] if k + 1 < len(words) else None
            if word == "layer":
                if nxt is None or not nxt.isdigit() or int(nxt) < 1:
                    raise ValueError("'layer' needs a layer number ≥ 1 (the l of Θl), e.g. layer 2")
                layer, k = int(nxt), k + 2
            elif word == "top":
                if nxt is not None and nxt.isdigit():
                    top, k = int(nxt), k + 2
                else:
                    top, k = 0, k + 1
            else:
                names.append(word)
                k += 1
        if len(names) > 1:
            raise ValueError(f"one name at a time, got {' '.join(names)!r}: expected {FILTER_HELP}")
        return cls(layer, names[0] if names else "", top)

    @property
    def everything(self) -> bool:
        return self.layer is None and not self.name and self.top is None

    def describe(self) -> str:
        parts = []
        if self.layer is not None:
            parts.append(f"Θ{self.layer}")
        if self.name:
            parts.append(f"“{self.name}”")
        if self.top is not None:
            parts.append(f"top {self.top} by |∂E/∂p|" if self.top else "by |∂E/∂p|")
        return " · ".join(parts)


class ParamsTable(LineView, can_focus=False):
    """One row per parameter under a header; frozen ones are marked ``*`` and never get a new value."""

    DEFAULT_CSS = """
    ParamsTable {
        height: 100%;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    class ParamClicked(Message):
        """A row was clicked."""

        def __init__(self, param: Param) -> None:
            super().__init__()
            self.param = param

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.params: Sequence[Param] = ()
        self.frozen: frozenset[str] = frozenset()
        self.filter = ParamFilter()
        self.filter_text = ""
        self._widths = (4, 11)
        self._flat = np.zeros(0, dtype=np.intp)  # each parameter's index in the concatenated weight matrices
        self._layer = np.zeros(0, dtype=np.intp)
        self._offsets: list[int] = []
        self._ncols = np.zeros(0, dtype=np.intp)
        self._by_flat = np.zeros(0, dtype=np.intp)
        self._names: np.ndarray | None = None  # "short canonical", lower case, built on the first name filter
        self._matching = np.zeros(0, dtype=np.intp)  # parameters the filter's layer and name keep, in order
        self._rows = np.zeros(0, dtype=np.intp)  # parameter shown on each row (after the |∂E/∂p| order)
        self._step: Step | None = None
        self._selected: Param | None = None
        self._strips: dict[tuple, Strip] = {}
        self._theme = ""
        self._note = ""

    # ---------------------------------------------------------------------------------------- data
    def set_scenario(self, scenario: Scenario) -> None:
        """Take ``scenario``'s parameters (at start and after a reload)."""
        self.params = scenario.params  # a sequence made on demand: no Param per row up front
        self.frozen = scenario.frozen
        layers, bias = scenario.layers, scenario.bias
        shapes = [(layers[l], layers[l - 1] + (1 if bias else 0)) for l in range(1, len(layers))]
        sizes = [r * c for r, c in shapes]
        self._offsets = [0, *np.cumsum(sizes).tolist()]
        n = len(self.params)
        layer, row, col, _ = scenario.params.arrays()
        ncols = np.array([c for _, c in shapes], dtype=np.intp)
        offsets = np.array(self._offsets[:-1], dtype=np.intp)
        self._layer = layer
        self._flat = offsets[layer - 1] + row * ncols[layer - 1] + col
        self._ncols = ncols
        self._by_flat = np.empty(self._offsets[-1], dtype=np.intp)  # more cells than parameters: shared biases
        self._by_flat[self._flat] = np.arange(n)
        self._names = None
        short, canonical = scenario.params.longest_names()
        self._widths = (max(5, short + 2), max(9, canonical))
        self.styles.width = self.row_width + 3  # as wide as a row, its border and its scrollbar
        self._select_rows()

    def set_filter(self, flt: ParamFilter, text: str = "") -> None:
        """Show only the rows ``flt`` keeps (and in its order); ``text`` is what the user typed."""
        self.filter, self.filter_text = flt, text
        self._select_rows()
        self.scroll_to(y=0, animate=False)
        if self._step is not None and self._selected is not None:
            self.show(self._step, self._selected)

    def _select_rows(self) -> None:
        keep = np.ones(len(self.params), dtype=bool)
        if self.filter.layer is not None:
            keep &= self._layer == self.filter.layer
        if self.filter.name:
            if self._names is None:
                self._names = np.array([f"{p.short} {p.canonical}".lower() for p in self.params])
            keep &= np.strings.find(self._names, self.filter.name.lower()) >= 0
        self._matching = np.flatnonzero(keep)
        self._rows = self._matching

    def _gradients(self, step: Step) -> np.ndarray:
        """∂E/∂p of every parameter in table order, NaN where this step has not computed it yet."""
        grads = step.record.numbers.gradients
        parts = [np.ravel(g) if step.is_known(f"grad.theta{l}") else np.full(np.size(g), np.nan)
                 for l, g in enumerate(grads, 1)]
        return np.concatenate(parts)[self._flat] if parts else np.zeros(0)

    def _order_by_gradient(self, step: Step) -> None:
        """Rows of the ``top`` filter: largest |∂E/∂p| first, non-finite ones before them, unknown last."""
        known = any(step.is_known(f"grad.theta{l}") for l in range(1, len(self._offsets)))
        if not known:
            self._rows = self._matching
            self._note = "∂E/∂p not computed yet at this step: table order"
            return
        grads = self._gradients(step)[self._matching]
        known_mask = np.array([step.is_known(f"grad.theta{l}") for l in range(1, len(self._offsets))])
        is_known = known_mask[self._layer[self._matching] - 1]
        with np.errstate(invalid="ignore"):
            key = np.abs(grads)
        key = np.where(np.isfinite(key), key, np.inf)  # nan and inf first: what a diverging run needs seen
        key = np.where(is_known, key, -1.0)
        count = self.filter.top or len(key)
        if count < len(key):
            part = np.argpartition(-key, count - 1)[:count]
            order = part[np.argsort(-key[part], kind="stable")]
        else:
            order = np.argsort(-key, kind="stable")
        self._rows = self._matching[order]
        self._note = ""

    @property
    def row_width(self) -> int:
        """Cells of one row: the names as wide as the longest, then three number columns (the last one's
        padding left out: it is only there for numbers as long as −0.0005745018)."""
        wn, wc = self._widths
        return wn + wc + 3 * NUMBER_WIDTH - 1

    # ---------------------------------------------------------------------------------------- show
    def show(self, step: Step, selected: Param) -> None:
        """The numbers known at ``step``; what ``step`` itself computed is highlighted."""
        self._step, self._selected = step, selected
        self._note = ""
        if self.filter.top is not None:
            self._order_by_gradient(step)
        size = Size(self.row_width, len(self._rows) + 1)
        if self.virtual_size != size:
            self.virtual_size = size
        self._subtitle()
        self._scroll_to_selected()
        self.refresh()

    def _scroll_to_selected(self) -> None:
        """Bring the selected row into view (centred) when it is off screen; once laid out if not yet."""
        if self._selected is None or self.filter.top is not None:
            return
        height = self.scrollable_content_region.height
        if height <= 1:  # not laid out yet (or hidden): on_resize scrolls once it has a size
            return
        where = np.flatnonzero(self._rows == self._index_of(self._selected))
        if where.size:
            row = 1 + int(where[0])
            top = round(self.scroll_y)
            if not top + 1 <= row < top + height:
                self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True)

    def on_resize(self) -> None:
        self._scroll_to_selected()

    def _index_of(self, p: Param) -> int:
        """Position of ``p`` in the table order, from its place in the weight matrices (no list scan)."""
        return int(self._by_flat[self._offsets[p.layer - 1] + p.row * int(self._ncols[p.layer - 1]) + p.col])

    def _subtitle(self) -> None:
        parts = []
        if not self.filter.everything:
            parts.append(f"{self.filter.describe()}: {len(self._rows):,} of {len(self.params):,}")
        if self._note:
            parts.append(self._note)
        if self.frozen:
            parts.append("* frozen")
        parts.append("/ filter")
        set_border(self, subtitle=" · ".join(parts))

    def header(self) -> Content:
        wn, wc = self._widths
        return Content.styled(f" {'name':<{wn}} {'canonical':<{wc}} {'value':<{NUMBER_WIDTH - 2}} "
                              f"{'∂E/∂p':<{NUMBER_WIDTH}} {'new value':<{NUMBER_WIDTH - 2}}", "bold dim")

    def row(self, k: int) -> Content:
        """Row ``k`` (0-based, under the header) at the step shown."""
        step, selected = self._step, self._selected
        assert step is not None
        p = self.params[int(self._rows[k])]
        wn, wc = self._widths
        frozen = p.canonical in self.frozen
        grad = step.gradient(p)
        if grad is None:
            grad_cell = (f"{PENDING:<{NUMBER_WIDTH}}", "dim")
        else:
            new = f"grad.theta{p.layer}" in step.computes
            grad_cell = (f"{fmt(grad):<{NUMBER_WIDTH}}", NEW if new else "")
        if not step.is_known(f"theta{p.layer}.after"):
            after_cell = (f"{PENDING:<{NUMBER_WIDTH - 2}}", "dim")
        elif frozen:
            after_cell = (f"{'frozen':<{NUMBER_WIDTH - 2}}", "dim")
        else:
            after_cell = (f"{fmt(step.param(p, 'after')):<{NUMBER_WIDTH - 2}}", NEW)
        line = Content.assemble(
            (f" {p.short + ('*' if frozen else ''):<{wn}} ", "bold"), (f"{p.canonical:<{wc}} ", ""),
            (f"{fmt(step.param(p)):<{NUMBER_WIDTH - 2}} ", ""), grad_cell, " ", after_cell)
        if p == selected:
            line = line.stylize(SELECTED)
        return line

    def row_text(self, name: str) -> str:
        """The plain text of the row of the parameter called ``name`` (short or canonical) at this step,
        whether or not it is on screen; KeyError when the filter leaves it out."""
        for k, i in enumerate(self._rows):
            p = self.params[int(i)]
            if name in (p.short, p.canonical):
                return self.row(k).plain
        raise KeyError(name)

    def visible_text(self) -> list[str]:
        """The lines on screen (header first), as plain text."""
        top = round(self.scroll_y)
        height = self.scrollable_content_region.height
        lines = [self.header().plain]
        if self._step is not None:
            lines += [self.row(k).plain for k in range(top, min(len(self._rows), top + height - 1))]
        return lines

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._theme != self.app.theme:  # strips hold the theme's colours
            self._theme = self.app.theme
            self._strips.clear()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        top, width = self._frame
        if y == 0:
            return content_strip(self, self.header(), width)
        k = top + y - 1
        if self._step is None or not 0 <= k < len(self._rows):
            return Strip.blank(width, self.rich_style)
        row = self.row(k)
        key = (width, row.plain, tuple(row.spans))  # a row whose text and styles did not change keeps its strip
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 4096:
                self._strips.clear()
            strip = self._strips[key] = content_strip(self, row, width)
        return strip

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        k = round(self.scroll_y) + offset.y - 1
        if 0 <= k < len(self._rows):
            self.post_message(self.ParamClicked(self.params[int(self._rows[k])]))

