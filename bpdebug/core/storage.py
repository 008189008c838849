"""Bounded memory for long runs: weight checkpoints under a ceiling, and a loss history that summarizes.

Checkpoints. The weights before an epoch are kept on a grid (every ``spacing`` epochs, epoch 1 always) and,
densely, for the most recent epochs reached. Each part has a byte budget (a quarter of the ceiling for the
recent window, the rest for the grid); when the grid fills, its spacing doubles and every other checkpoint
goes, so a run of any length keeps at most the ceiling, recent epochs are one step away and a far epoch is at
most ``spacing`` epochs of fast path away.

Loss history. The losses of epochs 1 … :data:`EXACT_EPOCHS` are kept exactly (8 MB at most); beyond, every
epoch still lands in a min/max summary of at most 2 × :data:`SUMMARY_BUCKETS` buckets whose width doubles as
the run grows, which is what a plot of a long run needs. Any single epoch's loss stays exact through the trace
(it is recomputed from the nearest checkpoint).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Container
from dataclasses import dataclass, field

import numpy as np

CHECKPOINT_BYTES = 256 << 20
EXACT_EPOCHS = 1 << 20
SUMMARY_BUCKETS = 4096
MAX_GRID = 1 << 16
MAX_RECENT = 1 << 12


def weights_bytes(weights: tuple[np.ndarray, ...]) -> int:
    """Memory a stored copy of ``weights`` takes, Python objects included (about 100 bytes an array)."""
    return sum(w.nbytes + 112 for w in weights) + 56 + 100  # arrays, the tuple, the dict entry


class Checkpoints:
    """The weights before some epochs, within ``ceiling`` bytes (and at most :data:`MAX_GRID` +
    :data:`MAX_RECENT` of them, so looking one up stays cheap)."""

    def __init__(self, start: tuple[np.ndarray, ...], ceiling: int = CHECKPOINT_BYTES) -> None:
        budget = max(16, ceiling // weights_bytes(start))
        self.recent_size = max(4, min(MAX_RECENT, budget // 4))
        self.grid_size = max(8, min(MAX_GRID, budget - self.recent_size))
        self.spacing = 1
        self._grid: dict[int, tuple] = {1: start}
        self._grid_epochs: list[int] = [1]  # sorted keys of _grid
        self._recent: dict[int, tuple] = {}  # the latest epochs reached
        self._recent_epochs: list[int] = []  # sorted keys of _recent
        self._lock = threading.Lock()  # a worker may train while the view steps about

    def __len__(self) -> int:
        return len(self._grid) + len(self._recent)

    @property
    def latest(self) -> int:
        """The furthest epoch whose starting weights are stored."""
        return max(self._recent_epochs[-1] if self._recent_epochs else 1, self._grid_epochs[-1])

    def wanted(self, first: int, last: int, horizon: int = 0) -> Container[int]:
        """Of the epochs ``first + 1`` … ``last`` a chunk of training goes through, those whose :meth:`put` can
        still matter: multiples of the spacing the grid will have thinned to by ``last`` (it is thinned to it
        now), and the recent window's once training reaches ``max(last, horizon)`` (a run stopped before its
        ``horizon`` then holds the grid's checkpoints near where it stopped, not the window's). The fast path
        copies only these (a long run skips most epochs); a run that reaches its horizon leaves the store as
        it would have with every epoch put."""
        end = max(last, horizon)
        with self._lock:
            while last // self.spacing >= self.grid_size:
                self._thin()
            spacing = self.spacing
        grid = range(-(-(first + 1) // spacing) * spacing, last + 1, spacing)
        recent = range(max(first + 1, end - self.recent_size + 1), last + 1)
        return set(grid).union(recent)

    def put(self, epoch: int, weights: tuple) -> None:
        """Remember the weights before ``epoch`` if the grid or the recent window wants them."""
        with self._lock:
            self._put(epoch, weights)

    def _put(self, epoch: int, weights: tuple) -> None:
        if epoch % self.spacing == 0 and epoch not in self._grid:
            self._grid[epoch] = weights
            if epoch > self._grid_epochs[-1]:
                self._grid_epochs.append(epoch)
            else:
                bisect.insort(self._grid_epochs, epoch)
            if len(self._grid) > self.grid_size:
                self._thin()
        keys = self._recent_epochs
        if keys and epoch <= keys[-1]:  # an earlier epoch (stepping back): only within the window
            if epoch <= keys[-1] - self.recent_size or epoch in self._recent:
                return
            bisect.insort(keys, epoch)
        else:  # the common case: training moves on
            keys.append(epoch)
        self._recent[epoch] = weights
        cutoff = keys[-1] - self.recent_size
        if keys[0] <= cutoff:
            drop = bisect.bisect_right(keys, cutoff)
            for e in keys[:drop]:
                del self._recent[e]
            del keys[:drop]

    def _thin(self) -> None:
        self.spacing *= 2
        keep = [e for e in self._grid_epochs if e == 1 or e % self.spacing == 0]
        self._grid = {e: self._grid[e] for e in keep}
        self._grid_epochs = keep

    def get(self, epoch: int) -> tuple | None:
        with self._lock:
            found = self._recent.get(epoch)
            return found if found is not None else self._grid.get(epoch)

    def nearest(self, epoch: int) -> tuple[int, tuple]:
        """The stored epoch nearest at or before ``epoch`` (>= 1) and its weights."""
        with self._lock:
            return self._nearest(epoch)

    def _nearest(self, epoch: int) -> tuple[int, tuple]:
        best = self._grid_epochs[bisect.bisect_right(self._grid_epochs, epoch) - 1]
        i = bisect.bisect_right(self._recent_epochs, epoch)
        if i and self._recent_epochs[i - 1] > best:
            e = self._recent_epochs[i - 1]
            return e, self._recent[e]
        return best, self._grid[best]

    def nbytes(self) -> int:
        with self._lock:
            return sum(weights_bytes(w) for w in (*self._grid.values(), *self._recent.values()))


@dataclass(frozen=True, eq=False)  # holds arrays: equal only to itself (a field-wise == would compare arrays)
class LossSummary:
    """The loss of epochs 1 … ``epochs`` in buckets of ``width`` epochs: bucket k covers epochs
    k·width + 1 … (k + 1)·width (the last may be shorter); ``low``/``high`` are its least and greatest
    loss (nan only when every loss of the bucket is nan)."""

    epochs: int
    width: int
    low: np.ndarray = field(repr=False)
    high: np.ndarray = field(repr=False)

    def first_epochs(self) -> np.ndarray:
        """The first epoch of each bucket."""
        return np.arange(len(self.low)) * self.width + 1


class LossHistory:
    """The loss of each epoch computed so far: exact for the first ``exact`` epochs, summarized for all."""

    def __init__(self, exact: int = EXACT_EPOCHS, buckets: int = SUMMARY_BUCKETS) -> None:
        self.exact_limit = exact
        self.buckets = buckets
        self.count = 0
        self._head = np.empty(min(exact, 1024))
        self.width = 1
        self._low = np.empty(0)
        self._high = np.empty(0)

    def __len__(self) -> int:
        return self.count

    def append(self, losses: np.ndarray) -> None:
        """The losses of the next ``len(losses)`` epochs."""
        m = len(losses)
        if m == 0:
            return
        start = self.count
        if start < self.exact_limit:
            take = min(m, self.exact_limit - start)
            if start + take > len(self._head):
                grown = np.empty(min(self.exact_limit, max(2 * len(self._head), start + take)))
                grown[:start] = self._head[:start]
                self._head = grown
            self._head[start:start + take] = losses[:take]
        while (start + m + self.width - 1) // self.width > 2 * self.buckets:
            self._merge()
        idx = np.arange(start, start + m) // self.width
        starts = np.concatenate(([0], np.flatnonzero(np.diff(idx)) + 1))
        low = np.fmin.reduceat(losses, starts)
        high = np.fmax.reduceat(losses, starts)
        first = int(idx[0])
        if first < len(self._low):  # the last bucket was partly filled
            low[0] = np.fmin(low[0], self._low[first])
            high[0] = np.fmax(high[0], self._high[first])
            self._low, self._high = self._low[:first], self._high[:first]
        self._low = np.concatenate((self._low, low))
        self._high = np.concatenate((self._high, high))
        self.count = start + m

    def _merge(self) -> None:
        low, high = self._low, self._high
        if len(low) % 2:
            low, high = np.append(low, np.nan), np.append(high, np.nan)
        self._low = np.fmin(low[0::2], low[1::2])
        self._high = np.fmax(high[0::2], high[1::2])
        self.width *= 2

    def exact(self, epochs: int) -> np.ndarray:
        """The losses of epochs 1 … ``epochs`` (a copy); ValueError past what is kept exactly."""
        if epochs > min(self.count, self.exact_limit):
            raise ValueError(f"the loss of epochs 1 … {epochs} is not kept exactly (only the first "
                             f"{min(self.count, self.exact_limit)}): use the loss summary")
        return self._head[:epochs].copy()

    def at(self, epoch: int) -> float | None:
        """The loss of ``epoch`` when it is kept exactly, else None."""
        if 1 <= epoch <= min(self.count, self.exact_limit):
            return float(self._head[epoch - 1])
        return None

    def summary(self, epochs: int | None = None, buckets: int | None = None) -> LossSummary:
        """Least and greatest loss per bucket for epochs 1 … ``epochs`` (default all computed), at most
        ``buckets`` buckets (default :data:`SUMMARY_BUCKETS`)."""
        n = self.count if epochs is None else min(epochs, self.count)
        want = buckets or self.buckets
        if n <= self.exact_limit:  # exact values are at hand: bucket them directly
            values = self._head[:n]
            width = 1
            while (n + width - 1) // width > want:
                width *= 2
            low, high = _bucket(values, width)
            return LossSummary(n, width, low, high)
        width = self.width
        nb = (n + width - 1) // width
        low, high = self._low[:nb].copy(), self._high[:nb].copy()
        # the last bucket may cover epochs after n: only when n is the count is it exact
        while len(low) > want:
            if len(low) % 2:
                low, high = np.append(low, np.nan), np.append(high, np.nan)
            low, high = np.fmin(low[0::2], low[1::2]), np.fmax(high[0::2], high[1::2])
            width *= 2
        return LossSummary(n, width, low, high)


def _bucket(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    if len(values) == 0:
        return np.empty(0), np.empty(0)
    starts = np.arange(0, len(values), width)
    return np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
