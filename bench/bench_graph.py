"""A graph of 5,000+ nodes (a one-unit tanh RNN unrolled 500 steps, a squared error at every step): the time to
load and build it, the first epoch (forward and backward, every node), a step's value, one step's terms, the
known set of a step, and epochs per second of a long run (Trace.advance with its bounded checkpoints).

Run from the repository root:  python bench/bench_graph.py [STEPS]

Medians of several repetitions. Not part of the test suite.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bpdebug.core.graph.trace import GraphTrace  # noqa: E402
from bpdebug.core.scenario import loads_any  # noqa: E402


def rnn_text(steps: int) -> str:
    """h_t = tanh(wx·x_t + wh·h_(t−1) + b); E sums (wy·h_t − t_t)² over the steps: 10 nodes a step."""
    lines = ["E = 0"]
    for t in range(1, steps + 1):
        lines.append(f"h{t} = tanh(wx*x{t % 4} + wh*h{t - 1} + b)")
        lines.append(f"E = E + (wy*h{t} + by - y{t % 3})**2")
    values = "wx = 0.5, wh = -0.3, b = 0.1, wy = 0.8, by = 0.0, h0 = 0.0, x0 = 1.0, x1 = -0.5, x2 = 0.25, x3 = 0.8, " \
             "y0 = 0.1, y1 = -0.2, y2 = 0.3"
    program = "\n".join(lines)
    learn = '["wx", "wh", "b", "wy", "by"]'
    return (f'title = "RNN unrolled {steps} steps"\n[graph]\nvalues = {{ {values} }}\nlearn = {learn}\n'
            f'program = """\n{program}\n"""\n[training]\nlearning_rate = 0.001\n')


def median_time(f, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        f()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    text = rnn_text(steps)
    scenario = loads_any(text)
    trace = GraphTrace(scenario)
    print(f"graph: {len(scenario.program.nodes)} nodes, {trace.steps_per_epoch} steps an epoch")
    load = median_time(lambda: loads_any(text))
    build = median_time(lambda: GraphTrace(scenario))
    traces = [GraphTrace(scenario) for _ in range(5)]
    first = median_time(lambda: traces.pop().epoch(1))
    print(f"load (parse, build the nodes)        {load * 1000:8.1f} ms")
    print(f"trace (steps laid out)               {build * 1000:8.1f} ms")
    print(f"first epoch (forward + backward)     {first * 1000:8.1f} ms")
    print(f"load + trace + first epoch           {(load + build + first) * 1000:8.1f} ms  (target: first frame <= 1 s)")
    trace = GraphTrace(scenario)
    trace.epoch(1)
    middle = trace.steps_per_epoch // 2
    step = median_time(lambda: trace[middle].value(trace[middle].computes[0]), 21)
    print(f"a step and its value (epoch cached)  {step * 1e6:8.1f} µs  (target: n <= 50 ms)")
    backward = trace.first_step_of(1, kind="backward") + trace.steps_per_epoch // 3
    terms = median_time(lambda: trace[backward].terms(), 21)
    print(f"one backward step's terms            {terms * 1e6:8.1f} µs")
    known = median_time(lambda: trace[middle].known, 5)
    print(f"a step's known set (all names)       {known * 1000:8.1f} ms")
    far = GraphTrace(scenario)
    started = time.perf_counter()
    reached = far.advance(200)
    elapsed = time.perf_counter() - started
    print(f"long run: {reached} epochs in {elapsed:.2f} s = {reached / elapsed:.0f} epochs/s, "
          f"checkpoints {len(far.checkpoints)} ({far.checkpoints.nbytes() / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
