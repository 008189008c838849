"""How long a derivation takes to build and render: ``python bench/bench_derivation.py``.

Targets: the blog's parameters < 20 ms each after the first derivation (SymPy imported, factor kinds
derived); the slowest parameter of a 784-128-10 sigmoid network with 256 examples < 100 ms.
Each figure is build + ``text_lines()`` + ``latex_lines()``; "first" is the first derivation of that
parameter (its symbolic form built and cached), "again" a later step (only the numbers change).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
from networks import mnist_like

from bpdebug import derivation
from bpdebug.core.engine import Trace
from bpdebug.core.params import Param
from bpdebug.core.scenario import Scenario, load

ROOT = Path(__file__).resolve().parent.parent


def timed(step, p: Param, scenario: Scenario) -> float:
    """Milliseconds to derive and render one parameter at one step."""
    t0 = time.perf_counter()
    d = derivation.derive(step, p, scenario=scenario)
    d.text_lines()
    d.latex_lines()
    return (time.perf_counter() - t0) * 1000


def report(title: str, times: dict[str, tuple[float, float]]) -> None:
    print(title)
    for name, (first, again) in times.items():
        print(f"  {name:<16} first {first:7.2f} ms   again {again:7.2f} ms")
    worst = max(max(v) for v in times.values())
    print(f"  slowest: {worst:.2f} ms")


def main() -> None:
    t0 = time.perf_counter()
    blog = load(ROOT / "bpdebug" / "scenarios" / "blog.toml")
    trace = Trace(blog)
    update = trace[trace.first_step_of(1, kind="update")]
    timed(update, blog.params.get("w5"), blog)  # the first: imports SymPy, derives the factor kinds
    print(f"first derivation of the session (SymPy import, factor kinds): {(time.perf_counter() - t0) * 1000:.0f} ms")
    derivation.clear_cache()
    times = {}
    for p in blog.params:
        first = timed(update, p, blog)
        again = float(np.median([timed(update, p, blog) for _ in range(5)]))
        times[p.short] = (first, again)
    report("blog 2-2-2 (every parameter, at the update step; again = median of 5)", times)

    t1 = time.perf_counter()
    big = mnist_like()
    trace = Trace(big)
    update = trace[trace.first_step_of(1, kind="update")]
    print(f"\n784-128-10 scenario built and its first pass computed in {(time.perf_counter() - t1) * 1000:.0f} ms")
    picks = ["theta1[1,1]", "theta1[128,784]", "theta1[5,0]", "theta2[1,1]", "theta2[10,128]", "theta2[3,0]"]
    times = {}
    for name in picks:
        p = big.params.get(name)
        first = timed(update, p, big)
        again = float(np.median([timed(update, p, big) for _ in range(3)]))
        times[name] = (first, again)
    report("784-128-10 sigmoid, 256 examples in the batch (first layer: δ form over 10 outputs, Σ_n)", times)
    gc_pauses(update, big)


def full_collection_ms() -> float:
    t0 = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - t0) * 1000


def gc_pauses(step, scenario: Scenario, params: int = 1500) -> None:
    """A full garbage collection with a large symbolic cache: the collector walking it, then with it frozen."""
    gc.unfreeze()
    derivation.clear_cache()
    t0 = time.perf_counter()
    for p in list(scenario.params)[:params]:
        derivation.derive(step, p, scenario=scenario)
    built = (time.perf_counter() - t0) * 1000
    gc.unfreeze()  # derive froze as the cache grew: measure the collector walking all of it first
    walked = float(np.median([full_collection_ms() for _ in range(3)]))
    objects = len(gc.get_objects())
    gc.freeze()
    frozen = float(np.median([full_collection_ms() for _ in range(3)]))
    print(f"\n{params} first-layer derivations of 784-128-10 cached in {built:.0f} ms; {objects:,} objects tracked")
    print(f"  full gc.collect(): {walked:.1f} ms walking the cache, {frozen:.1f} ms after gc.freeze() (median of 3)")


if __name__ == "__main__":
    main()
