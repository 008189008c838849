"""A 784-128-10 sigmoid network (101,770 parameters) on two examples: the wide net the app must stay quick on."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def wide_scenario(path: Path) -> Path:
    """Write the 784-128-10 scenario to ``path`` and return it."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(2, 784))

    def rows(m: np.ndarray) -> str:
        return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in m) + "]"

    path.write_text(f"""title = "784-128-10"
[network]
layers = [784, 128, 10]
activation = "sigmoid"
[loss]
function = "half_sse"
[training]
learning_rate = 0.01
[data]
inputs = {rows(x)}
targets = {rows(np.eye(10)[[3, 7]])}
[weights]
init = "uniform"
range = [-0.1, 0.1]
seed = 3
""")
    return path
