"""The app on a graph of 5,000+ nodes (bench_graph's RNN unrolled 500 steps): the first frame (load, trace, the
first epoch, the screen composed and painted; in a warm process, after a tiny graph started Textual once), key
``n`` to the next frame (bench_app's FrameClock; half forward, half backward steps), and the chain rule of any
value (every leaf, and values along the graph).

Run from the repository root:  python bench/bench_graph_app.py [STEPS]

Targets (issue 19): first frame <= 1 s, n <= 50 ms median, any chain rule <= 100 ms. Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_app import FrameClock  # noqa: E402
from bench_graph import rnn_text  # noqa: E402
from textual import events  # noqa: E402

from bpdebug.core.graph.scenario import GraphScenario  # noqa: E402
from bpdebug.core.scenario import loads_any  # noqa: E402
from bpdebug.derivation.graph import derive_graph  # noqa: E402
from bpdebug.tui.graph_app import GraphApp, GraphScreen  # noqa: E402

SIZE = (120, 40)


def graph(text: str) -> GraphScenario:
    scenario = loads_any(text)
    assert isinstance(scenario, GraphScenario)
    return scenario


async def first_frame(text: str, size: tuple[int, int] = SIZE) -> float:
    """From loading the file's text to the first frame the compositor hands the (headless) driver."""
    started = time.perf_counter()
    app = GraphApp("rnn.toml", graph(text))
    clock = FrameClock(app)
    async with app.run_test(size=size) as pilot:
        frame = await clock.next_frame(started)
        await pilot.pause()
    return frame - started


async def key_frames(text: str, presses: int = 40, size: tuple[int, int] = SIZE) -> list[float]:
    """Key ``n`` to the next frame, half in the forward pass and half in the backward pass."""
    app = GraphApp("rnn.toml", graph(text))
    clock = FrameClock(app)
    out = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GraphScreen)
        for at in (0, app.session.trace.layout.backward_at[app.session.program.output]):
            app.session.index = int(at)
            for _ in range(presses // 2):
                await asyncio.sleep(0.03)  # the previous chain rule's repaint lands first
                await pilot.pause()
                t0 = time.perf_counter()
                app.post_message(events.Key("n", None))
                out.append(await clock.next_frame(t0) - t0)
        await pilot.pause()
    return out


def chain_rules(text: str) -> list[tuple[str, float]]:
    scenario = graph(text)
    from bpdebug.core.graph.trace import GraphStepKind, GraphTrace

    trace = GraphTrace(scenario)
    end = max(t.position for t in trace.templates if t.kind is GraphStepKind.BACKWARD)
    step = trace.step(end)
    program = scenario.program
    names = list(program.leaves) + [program.nodes[i].key for i in program.stepped[:: max(1, len(program.nodes) // 20)]]
    out = []
    for name in names:
        t0 = time.perf_counter()
        derive_graph(step, name).text_lines()
        out.append((name, time.perf_counter() - t0))
    return out



def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    text = rnn_text(steps)
    asyncio.run(first_frame(rnn_text(4)))  # Textual's own first start (imports, CSS) is not the graph's
    first = asyncio.run(first_frame(text))  # the first time this text is loaded in the process
    nodes = len(graph(text).program.nodes)
    times = asyncio.run(key_frames(text))
    print(f"graph: {nodes} nodes (an RNN unrolled {steps} steps), 120x40")
    print(f"first frame (load, trace, epoch 1, screen)  {first * 1000:8.1f} ms  (target <= 1000 ms)")
    print(f"n: median of {len(times)} steps             {statistics.median(times) * 1000:8.1f} ms  "
          f"(max {max(times) * 1000:.1f} ms; target <= 50 ms median)")
    rules = chain_rules(text)
    worst = max(rules, key=lambda r: r[1])
    print(f"chain rule: {len(rules)} values, worst {worst[0]}  {worst[1] * 1000:8.1f} ms  (target <= 100 ms), "
          f"median {statistics.median(t for _, t in rules) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
