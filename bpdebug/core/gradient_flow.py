"""Gradient flow: the L2 norm of each layer's gradient, epoch by epoch, for a picture of training.

For epoch ``e`` and weight layer ``l`` (``theta_l``), the norm is ``‖∂E/∂theta_l‖₂`` (Frobenius, bias column
included) of the gradient the engine's own :func:`~bpdebug.core.compute.compute_pass` computes for that epoch:
in batch mode the epoch's one pass; in online mode the sum of the epoch's passes' gradients (what the
epoch's updates moved the weights by, over the learning rate). A layer whose norm stays orders of magnitude
below the others is a vanishing gradient.

Bounded and cached: :class:`GradientFlow` computes an epoch's norms with one pass (batch) or one epoch of
passes (online) from the trace's stored weights before that epoch, and keeps at most :data:`CACHE` epochs'
norms. A picture of epochs 1 … N asks for :func:`sample_epochs` (every ``stride``-th epoch, ``stride`` a power of
two, plus N), so stepping an epoch at a time costs one new pass and a long run costs at most ``columns``
passes. Non-finite gradients give nan or inf norms, never an error.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .compute import compute_pass
from .trace import Trace

CACHE = 1 << 16  # epochs whose norms are kept at most


def layer_norms(gradients: tuple | list) -> np.ndarray:
    """The L2 (Frobenius) norm of each layer's gradient, one value per weight layer."""
    with np.errstate(all="ignore"):
        return np.array([np.sqrt(np.sum(np.square(g))) for g in gradients], dtype=float)


def sample_epochs(last: int, columns: int) -> np.ndarray:
    """Epochs 1, 1 + s, 1 + 2s, … up to ``last`` and ``last`` itself, with the stride ``s`` the least power of
    two giving at most ``columns`` of them; every epoch when ``last`` ≤ ``columns``."""
    if last < 1 or columns < 1:
        return np.empty(0, dtype=np.int64)
    stride = 1
    while (last - 1) // stride + 1 > max(1, columns - 1) and stride < last:
        stride *= 2
    epochs = np.arange(1, last + 1, stride, dtype=np.int64)
    return epochs if epochs[-1] == last else np.append(epochs, last)


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
        trace, net, s = self.trace, self.trace.net, self.trace.scenario
        weights = trace.weights_before(epoch)
        x, t = s.inputs, s.targets
        with np.errstate(all="ignore"):
            if s.update == "batch":
                return layer_norms(compute_pass(net, weights, x, t).gradients)
            total = [np.zeros_like(w) for w in weights]
            for k in range(x.shape[0]):
                numbers = compute_pass(net, weights, x[k:k + 1], t[k:k + 1])
                for g_sum, g in zip(total, numbers.gradients, strict=True):
                    g_sum += g
                weights = numbers.weights_after
            return layer_norms(total)

    def norms(self, epochs: np.ndarray | list[int]) -> np.ndarray:
        """Norms for each epoch of ``epochs`` (rows) and weight layer (columns)."""
        out = np.empty((len(epochs), self.layers))
        for i, e in enumerate(epochs):
            out[i] = self.epoch(int(e))
        return out
