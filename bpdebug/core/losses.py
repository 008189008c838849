"""The five losses: per-output error terms, the batch loss and its gradient with respect to the outputs.

Each loss is written per example as a sum over output units of *error terms* (what the scenario's
``error`` quantity shows); a batch combines examples by sum or by mean, as the format specifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

NAMES = ("sse", "half_sse", "mse", "cross_entropy", "binary_cross_entropy")


@dataclass(frozen=True)
class Loss:
    """``terms(o, t)`` are the per-output error terms (rows = examples); ``grad(o, t)`` is ∂E/∂o of
    the batch loss (the combining sum or mean included)."""

    name: str
    reduction: str  # "sum" or "mean" over the examples of a batch
    formula: str  # per example, in plain text, for summaries
    terms: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(repr=False, compare=False)
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def batch_loss(self, terms: np.ndarray) -> float:
        """Combine error terms (examples × outputs) into the batch loss."""
        per_example = terms.sum(axis=1)
        return float(per_example.sum() if self.reduction == "sum" else per_example.mean())


def _n(o: np.ndarray) -> int:
    return o.shape[0]


_LOSSES = {
    "sse": Loss("sse", "sum", "Σ_k (t_k − o_k)²",
                lambda o, t: (t - o) ** 2,
                lambda o, t: 2.0 * (o - t)),
    "half_sse": Loss("half_sse", "sum", "½ Σ_k (t_k − o_k)²",
                     lambda o, t: 0.5 * (t - o) ** 2,
                     lambda o, t: o - t),
    "mse": Loss("mse", "mean", "(1/K) Σ_k (t_k − o_k)²",
                lambda o, t: (t - o) ** 2 / o.shape[1],
                lambda o, t: 2.0 * (o - t) / o.shape[1] / _n(o)),
    "cross_entropy": Loss("cross_entropy", "mean", "−Σ_k t_k log o_k",
                          lambda o, t: -t * np.log(o),
                          lambda o, t: -t / o / _n(o)),
    "binary_cross_entropy": Loss("binary_cross_entropy", "mean",
                                 "−Σ_k [t_k log o_k + (1 − t_k) log(1 − o_k)]",
                                 lambda o, t: -(t * np.log(o) + (1.0 - t) * np.log(1.0 - o)),
                                 lambda o, t: (-t / o + (1.0 - t) / (1.0 - o)) / _n(o)),
}


def get(name: str) -> Loss:
    return _LOSSES[name]
