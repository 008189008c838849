"""Gradient flow: the L2 norm of each layer's gradient, epoch by epoch, for a picture of training.

For epoch ``e`` and weight layer ``l`` (``theta_l``), the norm is ``‖∂E/∂theta_l‖₂`` (Frobenius, bias column
included) of the gradient the engine's own :func:`~bpdebug.core.compute.compute_pass` computes for that epoch:
in batch mode the epoch's one pass; with online or mini-batch updates the sum of the epoch's passes'
gradients, each pass from the weights and optimizer state the previous one left, in the epoch's (shuffled)
order. A layer whose norm stays orders of magnitude below the others is a vanishing gradient.

Bounded and cached: :class:`GradientFlow` computes an epoch's norms with one pass (batch) or one epoch of
passes (online) from the trace's stored weights before that epoch, and keeps at most :data:`CACHE` epochs'
norms. A picture of epochs 1 … N asks for :func:`sample_epochs`: every epoch near N (the recent half of the
columns), older epochs ever sparser on power-of-two grids back to epoch 1, so the epochs around the current
one are seen one by one, stepping an epoch at a time costs one new pass and a long run costs at most
``columns`` passes. Non-finite gradients give nan or inf norms, never an error.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .compute import compute_pass, parameter_gradients
from .trace import Trace
from .training import select

CACHE = 1 << 16  # epochs whose norms are kept at most


def layer_norms(gradients: tuple | list, shared: bool = False) -> np.ndarray:
    """The L2 (Frobenius) norm of each layer's gradient, one value per weight layer (a shared bias once)."""
    with np.errstate(all="ignore"):
        return np.array([np.sqrt(np.sum(np.square(parameter_gradients(g, shared)))) for g in gradients], dtype=float)


def _pow2_at_least(n: int) -> int:
    """The least power of two ≥ ``n`` (1 for n ≤ 1)."""
    return 1 << max(0, int(n) - 1).bit_length()


def sample_epochs(last: int, columns: int) -> np.ndarray:
    """At most ``columns`` epochs of 1 … ``last`` for a picture, dense where the learner is: every epoch when
    ``last`` ≤ ``columns``; else epoch 1, then older epochs ever sparser, then the last ``columns // 2`` epochs
    each (the current one last). The older ones come in levels going back in time, each of ``B`` epochs that
    are multiples of its stride 2, 4, 8, …; the oldest level's stride is as large as it must be to reach
    epoch 1. A multiple of a stride is a multiple of every smaller one, so an epoch that leaves the dense
    window as the learner steps on was computed already: a step costs one new pass (the new current epoch),
    except on the few steps where a level's size changes."""
    if last < 1 or columns < 1:
        return np.empty(0, dtype=np.int64)
    if last <= columns:
        return np.arange(1, last + 1, dtype=np.int64)
    dense = max(1, columns // 2)
    start = last - dense + 1  # epochs start … last: every one
    older: list[int] = []
    budget = columns - dense - 1  # columns for epochs 2 … start - 1 (epoch 1 is always drawn)
    need = start - 2
    if budget > 0 and need > 0:
        # the fewest levels that reach epoch 2 with a level's worth to spare (a level may start below a multiple)
        levels = next((k for k in range(1, budget + 1) if (budget // k - 1) * ((2 << k) - 2) >= need), budget)
        per = budget // levels
        high = start  # the next level's epochs are below this one
        for k in range(1, levels + 1):
            stride = 1 << k
            if k == levels:  # the oldest level reaches back to epoch 2 in ``per`` epochs
                stride = max(stride, _pow2_at_least(-(-(high - 2) // per)))
            m = (high - 1) // stride * stride
            for _ in range(per):
                if m <= 1:
                    break
                older.append(m)
                m -= stride
            if older:
                high = older[-1]
            if high <= 2:
                break
    epochs = [1, *reversed(older), *range(start, last + 1)]
    return np.array(epochs, dtype=np.int64)


def describe_sampling(epochs: np.ndarray) -> str:
    """What :func:`sample_epochs` drew, in a few words: "every epoch", or how many recent epochs are drawn
    each and how sparse the older ones get."""
    if len(epochs) < 2 or np.all(np.diff(epochs) == 1):
        return "every epoch"
    steps = np.diff(epochs[1:]) if len(epochs) > 3 else np.diff(epochs)  # the grid's, not epoch 1's gap
    dense = len(epochs) - dense_start(epochs)
    return f"last {dense} epoch{'s' if dense > 1 else ''} each, older ones down to one in {int(steps.max()):,}"


def dense_start(epochs: np.ndarray) -> int:
    """The index where the run of consecutive epochs at the end of ``epochs`` begins (0: every epoch)."""
    if len(epochs) < 2:
        return 0
    gaps = np.flatnonzero(np.diff(epochs) != 1)
    return int(gaps[-1]) + 1 if len(gaps) else 0


class GradientFlow:
    """The gradient norm of each layer for any epoch of a trace, cached."""

    def __init__(self, trace: Trace, cache: int = CACHE) -> None:
        self.trace = trace
        self.layers = trace.scenario.n_layers - 1
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache
        self._lock = threading.Lock()

    def epoch(self, epoch: int) -> np.ndarray:
        """The norms of ``epoch``'s gradients, one per weight layer (theta_1 first)."""
        if epoch < 1:
            raise ValueError(f"epoch {epoch}: epochs start at 1")
        with self._lock:
            found = self._cache.get(epoch)
            if found is not None:
                self._cache.move_to_end(epoch)
                return found
        norms = self._compute(epoch)
        with self._lock:
            self._cache[epoch] = norms
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return norms

    def _compute(self, epoch: int) -> np.ndarray:
        """The engine's own passes of ``epoch``: from the weights and optimizer state before it, each
        (mini-)batch in the epoch's order, each from the weights and state the previous one left."""
        trace, net, s = self.trace, self.trace.net, self.trace.scenario
        plan, n = s.plan, s.n_examples
        weights, state = trace.position_before(epoch)
        count = plan.first_update(n, epoch)
        with np.errstate(all="ignore"):
            if plan.mode == "batch":
                return layer_norms(compute_pass(net, weights, s.inputs, s.targets, state, count).gradients, net.shared)
            total = [np.zeros_like(w) for w in weights]
            for rows in plan.batches(n, epoch):
                x, t = select(s.inputs, s.targets, rows)
                numbers = compute_pass(net, weights, x, t, state, count)
                for g_sum, g in zip(total, numbers.gradients, strict=True):
                    g_sum += g
                weights, state, count = numbers.weights_after, numbers.state_after, count + 1
            return layer_norms(total, net.shared)

    def norms(self, epochs: np.ndarray | list[int]) -> np.ndarray:
        """Norms for each epoch of ``epochs`` (rows) and weight layer (columns)."""
        out = np.empty((len(epochs), self.layers))
        for i, e in enumerate(epochs):
            out[i] = self.epoch(int(e))
        return out
