"""A hand-written batch gradient descent, independent of bpdebug's engine, for the tests of conditions and runs.

Written from the scenario format's definitions only (z = theta·[1, a], a = f(z), the losses' formulas, the
delta recursion, p <- p - lr·dE/dp), for batch updates, bias on, and the activations and losses the tests use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (np.tanh, lambda z, a: 1 - a ** 2),
    "relu": (lambda z: np.where(z > 0, z, 0.0), lambda z, a: np.where(z > 0, 1.0, 0.0)),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
}


def _half_sse(o: np.ndarray, t: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    return float(0.5 * ((t - o) ** 2).sum()), o - t


def _sse(o: np.ndarray, t: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    return float(((t - o) ** 2).sum()), 2 * (o - t)


def _mse(o: np.ndarray, t: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    k = o.shape[1]
    return float(((t - o) ** 2).sum() / k / n), 2 * (o - t) / k / n


def _cross_entropy(o: np.ndarray, t: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    return float(-(t * np.log(o)).sum() / n), -t / o / n


def _binary_cross_entropy(o: np.ndarray, t: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    return (float(-(t * np.log(o) + (1 - t) * np.log(1 - o)).sum() / n),
            (-t / o + (1 - t) / (1 - o)) / n)


LOSSES = {"half_sse": _half_sse, "sse": _sse, "mse": _mse, "cross_entropy": _cross_entropy,
          "binary_cross_entropy": _binary_cross_entropy}  # the batch loss and ∂E/∂o (rows = examples)


def loss_and_grad(name: str, o: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    if name not in LOSSES:
        raise NotImplementedError(f"the loss {name!r} has no reference in tests/_reference.py's LOSSES: add one")
    return LOSSES[name](o, t, o.shape[0])


@dataclass
class Epoch:
    epoch: int
    loss: float
    z: list  # z[l] for l = 2..L (index l)
    delta: list  # delta[l] for l = 2..L
    gradients: list  # gradients[l-1] of theta_l
    weights_before: list
    weights_after: list


def reference_epochs(activations: list[str], loss: str, lr: float, x: np.ndarray, t: np.ndarray,
                     weights: list[np.ndarray], epochs: int):
    """Yield an Epoch per epoch of batch training."""
    w = [np.array(m, dtype=float) for m in weights]
    L = len(w) + 1
    with np.errstate(all="ignore"):
        for e in range(1, epochs + 1):
            a: list = [None, np.array(x, dtype=float)]
            z: list = [None, None]
            for l in range(1, L):
                zl = a[l] @ w[l - 1][:, 1:].T + w[l - 1][:, 0]
                z.append(zl)
                a.append(F[activations[l - 1]][0](zl))
            value, d_out = loss_and_grad(loss, a[L], t)
            delta: list = [None] * (L + 1)
            delta[L] = d_out * F[activations[L - 2]][1](z[L], a[L])
            for l in range(L - 1, 1, -1):
                delta[l] = (delta[l + 1] @ w[l - 1][:, 1:]) * F[activations[l - 2]][1](z[l], a[l])
            grads = [np.hstack([delta[l + 1].sum(axis=0)[:, None], delta[l + 1].T @ a[l]]) for l in range(1, L)]
            after = [m - lr * g for m, g in zip(w, grads, strict=True)]
            yield Epoch(e, value, z, delta, grads, w, after)
            w = after


def of(scenario, epochs: int):
    """reference_epochs for a loaded bpdebug scenario (batch, bias on)."""
    assert scenario.update == "batch" and scenario.bias
    return reference_epochs(list(scenario.activation_names), scenario.loss.name, scenario.learning_rate,
                            scenario.inputs, scenario.targets, list(scenario.weights), epochs)
