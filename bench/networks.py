"""Scenarios the benchmarks share, built in code so no large file is committed.

``python bench/networks.py [PATH] [--examples N]`` writes the 784-128-10 scenario to a file (default
/tmp/mnist-like.toml) to open it in the app: ``python -m bpdebug /tmp/mnist-like.toml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bpdebug.core.scenario import Scenario, loads


def mnist_like_text(n_examples: int = 256, seed: int = 1234) -> str:
    """The TOML of a 784-128-10 sigmoid network (the size of an MNIST classifier) on random inputs and
    one-hot targets, weights from init = "uniform": the "large" case of the issue's targets."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 1.0, size=(n_examples, 784))
    targets = np.eye(10)[rng.integers(0, 10, size=n_examples)]

    def rows(m: np.ndarray) -> str:
        return "[" + ",\n".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in m) + "]"

    return f"""
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
"""


def mnist_like(n_examples: int = 256, seed: int = 1234) -> Scenario:
    """:func:`mnist_like_text`, loaded."""
    return loads(mnist_like_text(n_examples, seed), "<784-128-10>")


def write_mnist_like(path: str | Path, n_examples: int = 256, seed: int = 1234) -> Path:
    """Write :func:`mnist_like_text` to ``path`` and return it."""
    path = Path(path)
    path.write_text(mnist_like_text(n_examples, seed), encoding="utf-8")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="write the 784-128-10 benchmark scenario to a file")
    parser.add_argument("path", nargs="?", default="/tmp/mnist-like.toml")
    parser.add_argument("--examples", type=int, default=256)
    args = parser.parse_args()
    print(write_mnist_like(args.path, args.examples))
