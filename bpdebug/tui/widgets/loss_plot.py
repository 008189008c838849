"""The loss curve with axes, drawn in braille (2 × 4 dots a cell) with NumPy: no per-point Python.

It takes several labelled :class:`Series` (the run, or the original run and its what-if fork on the original's
epoch axis), each as buckets of epochs with the least and greatest loss of each (a trace's
:meth:`~bpdebug.core.engine.Trace.loss_summary`; one epoch per bucket for short runs, so low = high), in its own
colour; with more than one series a legend line above the plot names each in its colour (the shown run
bold). A bucket spans its column from low to high and joins the previous column, so a long run keeps its spikes;
where two series share a cell the later one is drawn. The y axis is linear or log10 (:attr:`LossPlot.log_scale`);
the current epoch is a highlighted column with its number under the x axis. Non-finite losses are left out (a
gap) and the first one of any series is marked ``✕`` at the top of its column, with the epoch in the x axis row;
with a log scale, losses ≤ 0 are left out the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from ...text.numbers import number

SERIES_COLOURS = ("#4287f5", "#f58220", "#2cb45a", "#aa5af0", "#e6be14", "#eb4696")
AXIS = Style(color="#8a8a8a")
CURRENT = Style(bgcolor="#303848")
DIVERGED = Style(color="#ff4040", bold=True)
BIGGEST = float(np.finfo(float).max)
MARGIN = 10  # columns for the y labels and the axis
FLAT_PAD = 1e-300  # the least half-span of a flat run's axis (the pixel scale of a narrower one overflows)
# braille dot bit of (row within the cell 0…3, column within the cell 0…1)
CELLS = [" "] + [chr(0x2800 + b) for b in range(1, 256)]  # a cell's character from its dot bits
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class Series:
    """Loss buckets of one run: bucket k covers epochs ``epochs[k]`` … ``epochs[k+1] - 1`` (of the plot's axis:
    a fork's start past epoch 1 of the original). ``colour`` None: :data:`SERIES_COLOURS` by position;
    ``bold``: its legend entry stands out (the run being walked)."""

    label: str
    epochs: np.ndarray = field(repr=False)  # first epoch of each bucket
    low: np.ndarray = field(repr=False)
    high: np.ndarray = field(repr=False)
    colour: str | None = None
    bold: bool = False

    @property
    def diverged_at(self) -> int | None:
        """The first epoch of the first bucket holding a non-finite loss, or None."""
        bad = np.flatnonzero(~(np.isfinite(self.low) & np.isfinite(self.high)))
        return int(self.epochs[bad[0]]) if bad.size else None


def _label(value: float, log: bool) -> str:
    """The y axis value in at most ``MARGIN - 2`` characters: fewer digits, never a cut exponent."""
    with np.errstate(all="ignore"):  # a log axis widened past the largest double reads inf, not an error
        v = float(np.power(10.0, value)) if log else value
    text = number(v)
    for digits in range(6, 0, -1):
        if len(text) <= MARGIN - 2:
            break
        text = f"{v:.{digits}g}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")
    return text[: MARGIN - 2]


def plot_cells(series: Sequence[Series], last: int, columns: int, rows: int, log: bool,
               ) -> tuple[np.ndarray, np.ndarray, tuple[float, float] | None]:
    """Braille bits (rows × columns) and the series index owning each cell (-1: empty), and the y range
    (in log10 when ``log``) or None when nothing is finite. Pure NumPy."""
    pw, ph = 2 * columns, 4 * rows
    bits = np.zeros((rows, columns), dtype=np.int64)
    owner = np.full((rows, columns), -1)
    values = []
    with np.errstate(all="ignore"):
        for s in series:
            lo, hi = np.asarray(s.low, dtype=float), np.asarray(s.high, dtype=float)
            if log:
                lo, hi = np.log10(np.where(lo > 0, lo, np.nan)), np.log10(np.where(hi > 0, hi, np.nan))
            ok = np.isfinite(lo) & np.isfinite(hi)
            values.append((lo, hi, ok))
    finite = [np.concatenate((lo[ok], hi[ok])) for lo, hi, ok in values]
    every = np.concatenate(finite) if finite else np.empty(0)
    if every.size == 0:
        return bits, owner, None
    y0, y1 = float(every.min()), float(every.max())
    if y1 - y0 < 1e-12 * max(1.0, abs(y1)):  # one point, or a flat run: an axis around it
        # half a decade on a log axis; else a tenth of the value either side, never below 0 for a loss ≥ 0
        pad = 0.5 if log or y1 == 0 else max(abs(y1) * 0.1, FLAT_PAD)
        y0, y1 = max(y0 - pad, 0.0 if y0 >= 0 and not log else -BIGGEST), min(y1 + pad, BIGGEST)
    span_x = max(1, last)
    py = np.arange(ph)[:, None]
    for k, (s, (lo, hi, ok)) in enumerate(zip(series, values, strict=True)):
        cols = np.clip(((np.asarray(s.epochs) - 1) * pw) // span_x, 0, pw - 1)[ok]
        if cols.size == 0:
            continue
        top_v = np.full(pw, -np.inf)
        bot_v = np.full(pw, np.inf)
        np.maximum.at(top_v, cols, hi[ok])
        np.minimum.at(bot_v, cols, lo[ok])
        has = np.isfinite(top_v)
        # pixel columns between two neighbouring finite buckets carry the earlier one (no holes in the curve;
        # a non-finite bucket between them leaves its gap)
        idx = np.flatnonzero(has)
        if len(idx) > 1:
            step = int(np.max(np.diff(s.epochs))) if len(s.epochs) > 1 else 1
            allowed = -(-step * pw // span_x) + 1
            pos = np.searchsorted(idx, np.arange(pw), side="right") - 1
            inside = (pos >= 0) & (pos < len(idx) - 1) & ~has
            prev_c, next_c = idx[np.clip(pos, 0, len(idx) - 1)], idx[np.clip(pos + 1, 0, len(idx) - 1)]
            fill = inside & (next_c - prev_c <= allowed)
            top_v[fill], bot_v[fill] = top_v[prev_c[fill]], bot_v[prev_c[fill]]
            has = np.isfinite(top_v)
        # join each column to the previous drawn one
        idx = np.flatnonzero(has)
        prev_top, prev_bot = top_v[idx[:-1]], bot_v[idx[:-1]]
        contiguous = np.diff(idx) <= 2
        top_v[idx[1:]] = np.where(contiguous, np.maximum(top_v[idx[1:]], prev_bot), top_v[idx[1:]])
        bot_v[idx[1:]] = np.where(contiguous, np.minimum(bot_v[idx[1:]], prev_top), bot_v[idx[1:]])
        scale = (ph - 1) / (y1 - y0)
        top_px = np.where(has, np.rint((y1 - top_v) * scale), ph)
        bot_px = np.where(has, np.rint((y1 - bot_v) * scale), -1)
        mask = (py >= top_px[None, :]) & (py <= bot_px[None, :])  # ph × pw
        cell = (mask.reshape(rows, 4, columns, 2) * DOT_BITS[None, :, None, :]).sum(axis=(1, 3))
        bits |= cell
        owner = np.where(cell > 0, k, owner)
    return bits, owner, (y0, y1)


class LossPlot(Widget):
    """Loss against epoch for one or more labelled series, with axes (and a legend for several); repainted by
    :meth:`show`."""

    DEFAULT_CSS = """
    LossPlot { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: tuple[Series, ...] = ()
        self.current = 1
        self.last = 1
        self.log_scale = False
        self._key: tuple | None = None
        self._lines: list[Strip] = []
        self.y_range: tuple[float, float] | None = None
        self.diverged: int | None = None  # the epoch whose numbers stop being finite, once the walk is there

    def show(self, series: Sequence[Series], current: int, last: int, log: bool, diverged: int | None = None) -> None:
        """Draw ``series`` over epochs 1 … ``last`` with ``current`` marked; ``log``: log10 y axis; ``diverged``:
        an epoch the walk has seen diverge before its loss is computed (marked ✕ like a non-finite loss)."""
        self.series, self.current, self.last, self.log_scale = tuple(series), current, max(1, last), log
        self.diverged = diverged
        self._key = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        key = (self.size.width, self.size.height, id(self.series), self.current, self.last, self.log_scale,
               self.diverged)
        if key != self._key:
            self._key = key
            self._lines = self._build(self.size.width, self.size.height)
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(self.size.width)

    def series_styles(self) -> list[Style]:
        """Each series' colour, in order."""
        return [Style(color=s.colour or SERIES_COLOURS[k % len(SERIES_COLOURS)]) for k, s in enumerate(self.series)]

    def _legend(self, width: int, styles: list[Style]) -> Strip:
        """``━━ original   ━━ fork: w5=0.5``, each in its series' colour, after the y axis margin."""
        segments = [Segment(" " * MARGIN)]
        for k, (s, style) in enumerate(zip(self.series, styles, strict=True)):
            segments += [Segment("   " if k else ""), Segment("━━ ", style),
                         Segment(s.label, style + Style(bold=True) if s.bold else style)]
        return Strip(segments).crop(0, width).extend_cell_length(width)

    def _build(self, width: int, height: int) -> list[Strip]:
        legend = len(self.series) > 1
        columns, rows = width - MARGIN, height - 1 - legend
        if columns < 4 or rows < 2:
            return [Strip([Segment("loss curve: too small to draw"[:width])])]
        if not self.series:
            return [Strip([Segment("loss curve: no epoch's loss yet"[:width])])]
        bits, owner, yr = plot_cells(self.series, self.last, columns, rows, self.log_scale)
        self.y_range = yr
        cur_col = min(columns - 1, ((self.current - 1) * 2 * columns // self.last) // 2)
        diverged = [d for d in (*(s.diverged_at for s in self.series), self.diverged) if d is not None]
        bad_col = min(columns - 1, ((min(diverged) - 1) * 2 * columns // self.last) // 2) if diverged else None
        styles = self.series_styles()
        label_rows = {0: yr[1], rows - 1: yr[0], (rows - 1) // 2: (yr[0] + yr[1]) / 2} if yr else {}
        lines = [self._legend(width, styles)] if legend else []
        for r in range(rows):
            text = _label(label_rows[r], self.log_scale) if r in label_rows and yr is not None else ""
            segments = [Segment(text.rjust(MARGIN - 1) + "┤", AXIS)]
            chars = "".join(CELLS[b] for b in bits[r].tolist())
            if bad_col is not None and r == 0:
                chars = chars[:bad_col] + "✕" + chars[bad_col + 1:]
            # runs of cells of one style: the owning series (or none), the current epoch's column, the mark
            kind = np.where(bits[r] > 0, owner[r] + 1, 0) * 2
            kind[cur_col] += 1
            if bad_col is not None and r == 0:
                kind[bad_col] = -1
            edges = [0, *(np.flatnonzero(kind[1:] != kind[:-1]) + 1).tolist(), columns]
            for a, b in zip(edges[:-1], edges[1:], strict=True):
                k = int(kind[a])
                style = DIVERGED if k < 0 else (styles[k // 2 - 1] if k >= 2 else Style())
                segments.append(Segment(chars[a:b], style + CURRENT if k % 2 else style))
            lines.append(Strip(Segment.simplify(segments), width))
        lines.append(self._x_axis(width, columns, cur_col, bad_col, diverged))
        return lines

    def _x_axis(self, width: int, columns: int, cur_col: int, bad_col: int | None, diverged: list[int]) -> Strip:
        row = [" "] * columns
        marks: list[tuple[int, str]] = [(0, "1"), (columns - len(str(self.last)), str(self.last))]
        if bad_col is not None:
            marks.append((bad_col, f"✕{min(diverged)}"))
        marks.append((cur_col, f"▲{self.current}"))  # last: the current epoch wins where labels meet
        for start, text in marks:
            start = max(0, min(start, columns - len(text)))
            row[start:start + len(text)] = list(text)
        scale = "log" if self.log_scale else "lin"
        head = f"{scale} epoch".rjust(MARGIN - 1)[: MARGIN - 1] + "└"
        return Strip([Segment(head, AXIS), Segment("".join(row)[:columns], AXIS)]).extend_cell_length(width)
