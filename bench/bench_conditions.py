"""Epochs per second of a condition search (conditions.first_stop) beside plain training (engine.train).

Run from the repository root:  python bench/bench_conditions.py

Three searches over the same epochs of the blog and of deep.toml, none of which ever holds, so each covers every
epoch: a fast-path condition (a parameter threshold in batch mode), a stepped one (a gradient norm: it reads
every pass's numbers), and the default nan. Repetitions alternate, medians reported; BLAS on one thread.
Not part of the test suite.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpdebug.core.conditions import first_stop, parse_condition  # noqa: E402
from bpdebug.core.engine import Trace, train  # noqa: E402
from bpdebug.core.scenario import load  # noqa: E402


def main() -> None:
    for name, epochs in (("blog", 5000), ("deep", 3000)):
        s = load(ROOT / "scenarios" / f"{name}.toml")
        cases = {
            "engine.train": lambda s=s, n=epochs: train(s, n),
            "first_stop w1>1e9 (fast)": lambda s=s, n=epochs: first_stop(Trace(s, n), [parse_condition("w1>1e9", s)]),
            "first_stop nan (fast)": lambda s=s, n=epochs: first_stop(Trace(s, n), [parse_condition("nan", s)]),
            "first_stop grad<0 (stepped)": lambda s=s, n=epochs: first_stop(Trace(s, n),
                                                                             [parse_condition("grad<0", s)]),
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(5):
            for label, run in cases.items():
                t0 = time.perf_counter()
                assert run() is None or label == "engine.train"
                times[label].append(time.perf_counter() - t0)
        base = statistics.median(times["engine.train"])
        print(f"{name}, {epochs} epochs")
        for label, ts in times.items():
            m = statistics.median(ts)
            print(f"  {label:<30} {epochs / m:>10,.0f} epochs/s  {base / m:5.2f}x of engine.train")


if __name__ == "__main__":
    main()
