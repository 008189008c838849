"""Gradient flow as a heat strip: one row per weight layer, one column per sampled epoch, the colour the
log10 of ‖∂E/∂Θ‖₂ on one scale for every layer (dark: small, bright: large), so a layer whose gradient
vanishes is a dark band under bright ones. The epochs are :func:`~bpdebug.core.gradient_flow.sample_epochs`'s:
the recent ones one by one (the axis marks where they begin with ``│``), older ones sparser. Each row ends
with the layer's norm at the current epoch. A zero norm is ``·`` on black, a non-finite one ``✕`` in red.
The norms come from :class:`bpdebug.core.gradient_flow.GradientFlow` (the engine's own passes).
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from ...core.gradient_flow import dense_start
from ...text.numbers import number

# dark blue → teal → yellow (viridis-like), LEVELS steps
STOPS = np.array([(40, 20, 70), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=float)
LEVELS = 16
ZERO = Style(color="#606060", bgcolor="#000000")
BAD = Style(color="#ff4040", bold=True)
AXIS = Style(color="#8a8a8a")
LABEL = 6  # columns for "Θ12 " labels
VALUE = 10  # columns for the current norm


def level_colours() -> list[str]:
    t = np.linspace(0, 1, LEVELS) * (len(STOPS) - 1)
    i = np.minimum(t.astype(int), len(STOPS) - 2)
    f = (t - i)[:, None]
    rgb = np.rint(STOPS[i] + (STOPS[i + 1] - STOPS[i]) * f).astype(int)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]


COLOURS = level_colours()
CELL_STYLES = [Style(bgcolor=c) for c in COLOURS]


def levels(norms: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Colour level of each norm (-1: zero, -2: not finite) on one log10 scale, and that scale's range."""
    with np.errstate(all="ignore"):
        logs = np.log10(np.where(norms > 0, norms, np.nan))
    ok = np.isfinite(logs)
    out = np.where(np.isfinite(norms), -1, -2)
    if not ok.any():
        return out, None
    lo, hi = float(logs[ok].min()), float(logs[ok].max())
    span = hi - lo if hi > lo else 1.0
    lv = np.clip(((logs - lo) / span * (LEVELS - 1)).round(), 0, LEVELS - 1)
    return np.where(ok, np.nan_to_num(lv).astype(int), out), (lo, hi)


class GradientFlowView(Widget):
    """A heat strip of per-layer gradient norms; repainted by :meth:`show`."""

    DEFAULT_CSS = """
    GradientFlowView { width: 1fr; height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.epochs = np.empty(0, dtype=np.int64)
        self.norms = np.empty((0, 0))
        self._key: tuple | None = None
        self._lines: list[Strip] = []

    @staticmethod
    def columns_for(width: int) -> int:
        """How many epochs a strip ``width`` cells wide has room for."""
        return max(1, width - LABEL - VALUE)

    def show(self, epochs: np.ndarray, norms: np.ndarray) -> None:
        """``norms``: rows = ``epochs`` (increasing, the last one current), columns = weight layers."""
        self.epochs, self.norms = epochs, norms
        self._key = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        key = (self.size.width, self.size.height, id(self.norms))
        if key != self._key:
            self._key = key
            self._lines = self._build(self.size.width, self.size.height)
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(self.size.width)

    def _build(self, width: int, height: int) -> list[Strip]:
        n, layers = self.norms.shape if self.norms.ndim == 2 else (0, 0)
        if n == 0 or layers == 0:
            return [Strip([Segment("gradient flow: no epoch yet"[:width])])]
        columns = min(n, self.columns_for(width))
        lv, scale = levels(self.norms[-columns:])
        cells = max(columns, self.columns_for(width))  # the strip fills its width: each epoch gets its share
        sample = (np.arange(cells) * columns) // cells
        per = max(1, min(3, (height - 2) // layers))
        lines: list[Strip] = []
        for layer in range(layers):
            row = lv[sample, layer]
            edges = [0, *(np.flatnonzero(row[1:] != row[:-1]) + 1).tolist(), cells]
            for k in range(per):
                label = f"Θ{layer + 1}" if k == 0 else ""
                segments = [Segment(label.ljust(LABEL)[:LABEL], AXIS)]
                for a, b in zip(edges[:-1], edges[1:], strict=True):
                    v = int(row[a])
                    if v >= 0:
                        segments.append(Segment(" " * (b - a), CELL_STYLES[v]))
                    else:
                        segments.append(Segment(("·" if v == -1 else "✕") * (b - a), ZERO if v == -1 else BAD))
                value = number(float(self.norms[-1, layer])) if k == 0 else ""
                segments.append(Segment(" " + value[: VALUE - 1]))
                lines.append(Strip(Segment.simplify(segments)).crop(0, width).extend_cell_length(width))
        lines.append(self._axis(width, columns, cells))
        if len(lines) < height:
            lines.append(self._legend(width, scale))
        return lines[:height] if height >= 1 else []

    def _axis(self, width: int, columns: int, cells: int) -> Strip:
        """The first epoch, ``│N`` where the epochs drawn one by one begin (when older ones are sparser and
        there is room), and ``▲N`` the current one."""
        epochs = self.epochs[-columns:]
        row = [" "] * cells
        first, last = str(int(epochs[0])), f"▲{int(epochs[-1])}"
        row[: len(first)] = list(first)
        start = max(len(first) + 1, cells - len(last))
        row[start:start + len(last)] = list(last)
        d = dense_start(epochs)
        if d > 1:
            at = -(-d * cells // columns)  # the first cell that shows epochs[d]
            mark = f"│{int(epochs[d])}"
            if len(first) < at and at + len(mark) < start:
                row[at:at + len(mark)] = list(mark)
        text = "epoch".ljust(LABEL) + "".join(row)[:cells] + " ‖∂E/∂Θ‖₂"
        return Strip([Segment(text, AXIS)]).crop(0, width).extend_cell_length(width)

    def _legend(self, width: int, scale: tuple[float, float] | None) -> Strip:
        if scale is None:
            return Strip([Segment("every norm is 0 or not finite", AXIS)]).crop(0, width).extend_cell_length(width)
        lo, hi = scale
        segments = [Segment(" " * LABEL + number(10.0 ** lo) + " ", AXIS)]
        segments += [Segment(" ", s) for s in CELL_STYLES]
        segments.append(Segment(" " + number(10.0 ** hi) + "   · zero  ✕ not finite", AXIS))
        return Strip(segments).crop(0, width).extend_cell_length(width)
