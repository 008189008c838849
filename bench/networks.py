"""Scenarios the benchmarks share, built in code so no large file is committed."""

from __future__ import annotations

import numpy as np

from bpdebug.core.scenario import Scenario, loads


def mnist_like(n_examples: int = 256, seed: int = 1234) -> Scenario:
    """A 784-128-10 sigmoid network (the size of an MNIST classifier) on random inputs and one-hot targets,
    weights from init = "uniform": the "large" case of the issue's targets."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 1.0, size=(n_examples, 784))
    targets = np.eye(10)[rng.integers(0, 10, size=n_examples)]

    def rows(m: np.ndarray) -> str:
        return "[" + ",\n".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in m) + "]"

    return loads(f"""
title = "784-128-10 sigmoid, {n_examples} examples"
[network]
layers = [784, 128, 10]
activation = "sigmoid"
[loss]
function = "half_sse"
[training]
learning_rate = 0.01
[data]
inputs = {rows(inputs)}
targets = {rows(targets)}
[weights]
init = "uniform"
range = [-0.1, 0.1]
seed = 7
""", "<784-128-10>")
