"""Generated starting weights: ``init = "uniform"`` (in ``range``), ``"xavier"`` or ``"he"``, drawn from one seed."""

from __future__ import annotations

import math

import numpy as np

INIT_METHODS = ("uniform", "xavier", "he")


def draw(method: str, layers: tuple[int, ...], bias: bool, low: float, high: float, seed: int,
         shared: bool = False) -> tuple[np.ndarray, ...]:
    """theta1 ... theta{L-1} as ``method`` draws them from ``seed`` (read-only); xavier and he start biases at 0."""
    rng = np.random.default_rng(seed)
    out = []
    for l in range(1, len(layers)):
        n_in, n_out = layers[l - 1], layers[l]
        if method == "uniform":
            m = rng.uniform(low, high, size=(n_out, n_in + (1 if bias else 0)))
        else:
            if method == "xavier":
                limit = math.sqrt(6.0 / (n_in + n_out))
                w = rng.uniform(-limit, limit, size=(n_out, n_in))
            else:  # he
                w = rng.normal(0.0, math.sqrt(2.0 / n_in), size=(n_out, n_in))
            m = np.hstack([np.zeros((n_out, 1)), w]) if bias else w
        if shared:  # one bias per layer: the first unit's draw for every unit
            m[:, 0] = m[0, 0]
        m.setflags(write=False)
        out.append(m)
    return tuple(out)
