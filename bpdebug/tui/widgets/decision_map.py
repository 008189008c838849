"""The decision map: what a two-input network outputs over the input plane, two pixels per cell (``▀``).

The map comes from :func:`bpdebug.core.decision_map.decision_map`, one batched forward pass per repaint at
the widget's size (its width × twice its height, less a legend row). Each class has a colour; confidence is
brightness (dark near the boundary, bright far from it). The training examples sit on it as ``●`` when the
network puts them on their target's side and ``✕`` when not, in their target's colour on a dark cell. The last row is a
legend. A network without exactly two inputs gets one line saying so.

Hand it weights with :meth:`DecisionMapView.show` (the weights of the step shown, typically
``step.weights``); it repaints only when the weights or its size change.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from ...core.decision_map import Bounds, DecisionMap, decision_map
from ...core.scenario import Scenario

# class colours (RGB), after the usual categorical palette; index -1 = not finite
PALETTE: tuple[tuple[int, int, int], ...] = (
    (66, 135, 245), (245, 130, 32), (44, 180, 90), (170, 90, 240), (230, 190, 20), (235, 70, 150),
    (30, 190, 200), (150, 110, 70),
)
UNKNOWN = (110, 110, 110)
BACKGROUND = (16, 16, 20)
LEVELS = 8  # confidence is shown in this many brightness steps (cached styles; stable snapshots)
FLOOR = 0.22  # brightness of a pixel right on the boundary, so its class still shows
LEGEND_MIN_ROWS = 4  # below this height the legend row is left out


def class_colour(k: int) -> tuple[int, int, int]:
    return UNKNOWN if k < 0 else PALETTE[k % len(PALETTE)]


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return (round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f), round(a[2] + (b[2] - a[2]) * f))


def pixel_colour(k: int, level: int) -> tuple[int, int, int]:
    """The colour of class ``k`` at brightness step ``level`` (0 … LEVELS-1)."""
    return _blend(BACKGROUND, class_colour(k), FLOOR + (1 - FLOOR) * level / (LEVELS - 1))


def pixel_rgb(winner: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Colour of every pixel (rows × columns × 3 ints), computed for the whole grid at once."""
    palette = np.array(PALETTE + (UNKNOWN,), dtype=float)  # index -1 is UNKNOWN
    level = np.minimum((confidence * LEVELS).astype(int), LEVELS - 1)
    f = FLOOR + (1 - FLOOR) * level / (LEVELS - 1)
    base = palette[np.where(winner < 0, -1, winner % len(PALETTE))]
    bg = np.array(BACKGROUND, dtype=float)
    return np.rint(bg + (base - bg) * f[..., None]).astype(np.int64)


def _packed(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unpack(code: int) -> tuple[int, int, int]:
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


@lru_cache(maxsize=4096)
def _cell_segment(pair: int) -> Segment:
    """A ``▀`` cell whose top and bottom pixels are packed as ``top << 24 | bottom``."""
    return Segment("▀", _half_block(_unpack(pair >> 24), _unpack(pair & 0xFFFFFF)))


def _hex(rgb: tuple[int, int, int]) -> str:
    return f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"


@lru_cache(maxsize=4096)
def _half_block(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Style:
    return Style(color=_hex(top), bgcolor=_hex(bottom))


@lru_cache(maxsize=256)
def _marker(k: int, background: tuple[int, int, int]) -> Style:
    return Style(color=_hex(_blend(class_colour(k), (255, 255, 255), 0.2)), bgcolor=_hex(background), bold=True)


class DecisionMapView(Widget):
    """A decision map sized to the widget; repainted from :meth:`show`."""

    DEFAULT_CSS = """
    DecisionMapView { width: 1fr; height: 1fr; min-height: 3; }
    """

    def __init__(self, scenario: Scenario, weights: tuple[np.ndarray, ...] | None = None,
                 bounds: Bounds | None = None, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.scenario = scenario
        self.weights = weights if weights is not None else scenario.weights
        self.bounds = bounds
        self._map: DecisionMap | None = None
        self._map_key: tuple | None = None
        self._lines: list[Strip] = []

    @property
    def available(self) -> bool:
        """Whether the network has the two inputs a map needs."""
        return self.scenario.layers[0] == 2

    def show(self, weights: tuple[np.ndarray, ...], scenario: Scenario | None = None) -> None:
        """Draw the map of these weights (and this scenario, when it changed)."""
        if scenario is not None:
            self.scenario = scenario
        if weights is self.weights and scenario is None:
            return
        self.weights = weights
        self._map_key = None
        self.refresh()

    @property
    def map(self) -> DecisionMap | None:
        """The map last drawn (None before the first paint or without two inputs)."""
        return self._map

    def _legend_rows(self, height: int) -> int:
        return 1 if height >= LEGEND_MIN_ROWS else 0

    def _build(self, size: Size) -> None:
        key = (id(self.weights), id(self.scenario), size.width, size.height)
        if key == self._map_key:
            return
        self._map_key = key
        width, height = size.width, size.height
        if not self.available:
            self._map = None
            text = f"decision map: needs a network with 2 inputs, this one has {self.scenario.layers[0]}"
            self._lines = [Strip([Segment(text[:width])])] if height else []
            return
        rows = height - self._legend_rows(height)
        if width < 1 or rows < 1:
            self._map, self._lines = None, []
            return
        m = decision_map(self.scenario, self.weights, width, 2 * rows, self.bounds)
        self._map = m
        codes = _packed(pixel_rgb(m.winner, m.confidence))
        pairs = (codes[0::2] << 24) | codes[1::2]  # one int per cell: its top and bottom pixels
        markers: dict[tuple[int, int], Segment] = {}
        for (x1, x2), target, correct in zip(m.example_inputs, m.example_target, m.correct, strict=True):
            if not (np.isfinite(x1) and np.isfinite(x2)):
                continue
            lo1, hi1, lo2, hi2 = m.bounds
            if not (lo1 <= x1 <= hi1 and lo2 <= x2 <= hi2):
                continue
            py, px = m.cell(float(x1), float(x2))
            markers[(py // 2, px)] = Segment("●" if correct else "✕", _marker(int(target), BACKGROUND))
        lines = []
        for r, row in enumerate(pairs.tolist()):
            segments = [_cell_segment(pair) for pair in row]
            for (mr, mc), marker in markers.items():
                if mr == r:
                    segments[mc] = marker
            lines.append(Strip(segments, width))
        if self._legend_rows(height):
            lines.append(self._legend(m, width))
        self._lines = lines

    def _legend(self, m: DecisionMap, width: int) -> Strip:
        segments: list[Segment] = []
        for k, label in enumerate(m.labels):
            segments += [Segment("■ ", Style(color=_hex(class_colour(k)))), Segment(f"{label}  ")]
        segments += [Segment("● right side  ✕ wrong side")]
        return Strip(segments).crop(0, width).extend_cell_length(width)

    def render_line(self, y: int) -> Strip:
        self._build(self.size)
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width)
