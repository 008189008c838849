"""Loading a large scenario: tomllib, the TOML line locator and the whole loader, side by side in one run.

Run from the repository root:  python bench/bench_loader.py

The text is a 784-128-10 scenario written out in full (256 examples of inputs and targets, both weight
matrices inline, one [[expect]] table so the locator runs, as it does for any scenario with expectations),
about 6 MB. Repetitions alternate between the three so a noisy machine slows all alike; medians are
reported. Not part of the test suite.
"""

from __future__ import annotations

import statistics
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpdebug.core.scenario import loads  # noqa: E402
from bpdebug.core.toml_locator import TomlLocator  # noqa: E402


def rows(m: np.ndarray) -> str:
    return "[" + ",\n".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in m) + "]"


def big_text(seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 1.0, size=(256, 784))
    targets = np.eye(10)[rng.integers(0, 10, size=256)]
    theta1 = rng.uniform(-0.1, 0.1, size=(128, 785))
    theta2 = rng.uniform(-0.1, 0.1, size=(10, 129))
    return f'''title = "784-128-10, inline"
description = """
A multi-line description: [training] here is text, not a table.
"""
[network]
layers = [784, 128, 10]
[training]
learning_rate = 0.01  # a comment [data]
[data]
inputs = {rows(inputs)}
targets = {rows(targets)}
[weights]
theta1 = {rows(theta1)}
theta2 = {rows(theta2)}

[[expect]]
quantity = "loss"
value = 1.0
'''


def main(repeats: int = 5) -> None:
    text = big_text()
    contenders = {
        "tomllib.loads": lambda: tomllib.loads(text),
        "TomlLocator": lambda: TomlLocator(text),
        "scenario.loads (all)": lambda: loads(text, "<784-128-10>"),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(f"784-128-10 scenario written inline: {len(text) / 1e6:.1f} MB, {text.count(chr(10)) + 1} lines, "
          f"median of {repeats}")
    for name, values in times.items():
        print(f"  {name:22s} {statistics.median(values) * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
