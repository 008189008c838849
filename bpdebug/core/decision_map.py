"""The decision map of a network with two inputs: what it outputs over the input plane.

One batched NumPy forward pass (:func:`bpdebug.core.engine.forward`) over every pixel of a grid, with the
training examples appended to the same batch, so the map and the examples' classes come from the very same
arithmetic. No per-pixel Python.

Classes. With several outputs the class is the output with the largest value (argmax) and the confidence
is its margin over the runner-up, as a fraction of the targets' range (1 for 0/1 or one-hot targets). With
one output there are two classes, below and above the midpoint of the targets' range (0.5 for 0/1 targets,
0 for ±1), and the confidence is the distance from that midpoint over half the range. Confidence is clipped
to [0, 1]. A pixel whose outputs are not finite has class -1 and confidence 0.

Rows run top to bottom: row 0 is the top of the plane (the largest x2), column 0 its left (the smallest x1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import Network, forward
from .scenario import Scenario

Bounds = tuple[float, float, float, float]  # x1 min, x1 max, x2 min, x2 max
PAD = 0.15  # default bounds: the examples' box widened by this fraction of its span on each side


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class DecisionMap:
    """The map over a ``height`` × ``width`` grid of pixels and the examples' classes."""

    bounds: Bounds
    x1: np.ndarray = field(repr=False)  # width: pixel centres along the first input
    x2: np.ndarray = field(repr=False)  # height: pixel centres along the second input, top row first
    outputs: np.ndarray = field(repr=False)  # height × width × outputs
    winner: np.ndarray = field(repr=False)  # height × width: class index, -1 where not finite
    confidence: np.ndarray = field(repr=False)  # height × width, in [0, 1]
    n_classes: int
    labels: tuple[str, ...]  # a name per class: "o1 < 0.5", "o1 ≥ 0.5"; or "o1", "o2", … (argmax)
    example_inputs: np.ndarray = field(repr=False)  # examples × 2
    example_target: np.ndarray = field(repr=False)  # examples: the target's class
    example_winner: np.ndarray = field(repr=False)  # examples: the network's class at the example
    example_outputs: np.ndarray = field(repr=False)  # examples × outputs

    @property
    def correct(self) -> np.ndarray:
        """Per example: the network puts it on its target's side."""
        return self.example_winner == self.example_target

    def cell(self, x1: float, x2: float) -> tuple[int, int]:
        """(row, column) of the pixel holding the point (x1, x2), clipped to the grid."""
        lo1, hi1, lo2, hi2 = self.bounds
        w, h = len(self.x1), len(self.x2)
        col = int(np.clip(np.floor((x1 - lo1) / (hi1 - lo1) * w), 0, w - 1))
        row = int(np.clip(np.floor((hi2 - x2) / (hi2 - lo2) * h), 0, h - 1))
        return row, col


def default_bounds(scenario: Scenario) -> Bounds:
    """The examples' bounding box, padded; a flat side gets a span of 1 around its value."""
    x = scenario.inputs
    out: list[float] = []
    for k in range(2):
        lo, hi = float(np.min(x[:, k])), float(np.max(x[:, k]))
        span = hi - lo
        if not np.isfinite(span) or span <= 0:
            mid = lo if np.isfinite(lo) else 0.0
            lo, hi, span = mid - 0.5, mid + 0.5, 1.0
        out += [lo - PAD * span, hi + PAD * span]
    return out[0], out[1], out[2], out[3]


def threshold(targets: np.ndarray) -> float:
    """The boundary of a single output: the midpoint of the targets' range (0.5 when they are all equal)."""
    t_lo, t_hi = float(np.min(targets)), float(np.max(targets))
    return (t_lo + t_hi) / 2 if t_hi > t_lo else 0.5


def classify(values: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Class and confidence of each row of ``values`` (rows × outputs), by the rule in the module's text."""
    t_lo, t_hi = float(np.min(targets)), float(np.max(targets))
    span = t_hi - t_lo if t_hi > t_lo else 1.0
    finite = np.all(np.isfinite(values), axis=1)
    safe = np.where(np.isfinite(values), values, 0.0)
    with np.errstate(all="ignore"):
        if values.shape[1] == 1:
            mid = threshold(targets)
            v = safe[:, 0]
            winner = (v >= mid).astype(int)
            confidence = np.abs(v - mid) / (span / 2)
            n_classes = 2
        else:
            winner = np.argmax(safe, axis=1)
            top2 = np.sort(safe, axis=1)[:, -2:]
            confidence = (top2[:, 1] - top2[:, 0]) / span
            n_classes = values.shape[1]
    winner = np.where(finite, winner, -1)
    confidence = np.where(finite, np.clip(np.nan_to_num(confidence), 0.0, 1.0), 0.0)
    return winner, confidence, n_classes


def decision_map(scenario: Scenario, weights: tuple[np.ndarray, ...], width: int, height: int,
                 bounds: Bounds | None = None) -> DecisionMap:
    """The map of ``scenario``'s network with ``weights`` over ``width`` × ``height`` pixels.

    ValueError when the network does not have exactly two inputs or the grid is empty."""
    if scenario.layers[0] != 2:
        raise ValueError(f"a decision map needs a network with 2 inputs, this one has {scenario.layers[0]}")
    if width < 1 or height < 1:
        raise ValueError(f"a decision map needs at least one pixel, got {width} x {height}")
    lo1, hi1, lo2, hi2 = bounds or default_bounds(scenario)
    x1 = lo1 + (np.arange(width) + 0.5) * (hi1 - lo1) / width
    x2 = hi2 - (np.arange(height) + 0.5) * (hi2 - lo2) / height
    g1, g2 = np.meshgrid(x1, x2)  # height × width each
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    batch = np.vstack([grid, scenario.inputs])
    with np.errstate(all="ignore"):
        _, a = forward(Network(scenario), weights, batch)
    out = np.asarray(a[-1], dtype=float)
    winner, confidence, n_classes = classify(out, scenario.targets)
    target_class, _, _ = classify(np.asarray(scenario.targets, dtype=float), scenario.targets)
    n = width * height
    k = out.shape[1]
    if k == 1:
        mid = f"{threshold(scenario.targets):g}"
        labels: tuple[str, ...] = (f"o1 < {mid}", f"o1 ≥ {mid}")
    else:
        labels = tuple(f"o{i + 1}" for i in range(k))
    return DecisionMap(
        bounds=(lo1, hi1, lo2, hi2), x1=x1, x2=x2,
        outputs=out[:n].reshape(height, width, k),
        winner=winner[:n].reshape(height, width),
        confidence=confidence[:n].reshape(height, width),
        n_classes=n_classes,
        labels=labels,
        example_inputs=np.asarray(scenario.inputs, dtype=float),
        example_target=target_class,
        example_winner=winner[n:],
        example_outputs=out[n:],
    )
