"""Benchmark of the graph export (not a test): ``python bench/bench_dot.py [--repeat N]``.

The blog's 2-2-2 network against a 784-128-10 one (``networks.mnist_like``, 256 examples), side by side in one
run: the time to write the dot text (``dot.graph``, the pass already computed, so only the drawing is timed),
the text's size, its nodes and edges, and the time and size of the SVG Graphviz draws from it (when ``dot``
is installed). The big network draws its first units and one "… N more" node per large layer, so its graph
stays a few kilobytes where one edge per parameter would be 101,770 edges. Median of N runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from networks import mnist_like  # noqa: E402

from bpdebug.core.engine import Trace  # noqa: E402
from bpdebug.core.scenario import load  # noqa: E402
from bpdebug.transcript import dot  # noqa: E402


def median_seconds(run, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = [("2-2-2 (blog)", load(ROOT / "scenarios" / "blog.toml"), ("w5",)),
             ("784-128-10", mnist_like(), ("w50000",))]
    have_dot = shutil.which("dot") is not None
    print(f"{'network':<14} {'params':>8} {'dot ms':>8} {'dot KB':>8} {'nodes':>6} {'edges':>6} "
          f"{'svg ms':>8} {'svg KB':>8}")
    for name, scenario, weights in cases:
        trace = Trace(scenario, 1)
        trace.epoch(1)  # the pass itself is the engine's cost, not the drawing's
        seconds, text = median_seconds(lambda t=trace, w=weights: dot.graph(t, 1, 1, w), args.repeat)
        assert isinstance(text, str)
        nodes = len(re.findall(r"^\s*\w+ \[label=", text, re.M))
        edges = len(re.findall(r"^\s*\w+ -> \w+", text, re.M))
        svg_ms, svg_kb = "-", "-"
        if have_dot:
            svg_seconds, svg = median_seconds(lambda t=text: dot.to_svg(t), max(1, args.repeat // 2))
            svg_ms, svg_kb = f"{svg_seconds * 1000:.0f}", f"{len(str(svg).encode()) / 1024:.1f}"
        print(f"{name:<14} {len(scenario.params):>8} {seconds * 1000:>8.1f} {len(text.encode()) / 1024:>8.1f} "
              f"{nodes:>6} {edges:>6} {svg_ms:>8} {svg_kb:>8}")


if __name__ == "__main__":
    main()
