"""Benchmark of the debugger's responsiveness (not a test): ``python bench/bench_app.py``.

1. Launch to first frame: from building the app (``make_app``: load, validate, first epoch, expectations)
   to the first frame the compositor hands to the (headless) driver, as a ratio to a minimal Textual app
   (a Static and a Footer) timed the same way in the same run. Median of several repetitions. Measured
   twice: in one warm process (modules imported: the pure cost of building and painting the screen), and
   from a cold interpreter (what a learner waits for after typing ``bpdebug``).
2. Keypress to repaint: from posting the key ``n`` to the next frame, walking the blog's steps (the
   derivation of w5 is computed in a worker and cached; its own repaint is not counted). Median and p90,
   with the minimal app's key-to-frame time as the floor: Textual paints at most every 1/60 s, so part of
   any key-to-frame time is waiting for the next paint tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BLOG = ROOT / "scenarios" / "blog.toml"
SIZE = (120, 40)
REPEATS = 7
KEYS = 40


class MinimalApp(App[None]):
    """The floor: the least a Textual app does to show a frame and react to a key."""

    BINDINGS = [("n", "next", "next")]

    def compose(self) -> ComposeResult:
        yield Static("0", id="counter")
        yield Footer()

    def action_next(self) -> None:
        counter = self.query_one("#counter", Static)
        counter.update(str(int(str(counter.content)) + 1))


class FrameClock:
    """Records when the compositor hands a frame to the driver (App._display with a renderable)."""

    def __init__(self, app: App) -> None:
        self.frames: list[float] = []
        self.event = asyncio.Event()
        original = app._display

        def display(screen, renderable) -> None:
            if renderable is not None:
                self.frames.append(time.perf_counter())
                self.event.set()
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    async def next_frame(self, after: float, timeout: float = 5.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            later = [t for t in self.frames if t > after]
            if later:
                return later[0]
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout=0.05)
        raise TimeoutError("no frame")


async def first_frame(build) -> float:
    start = time.perf_counter()
    app = build()
    clock = FrameClock(app)
    async with app.run_test(size=SIZE) as pilot:
        frame = await clock.next_frame(start)
        await pilot.app.workers.wait_for_complete()
    return frame - start


async def key_latencies(build, keys: int) -> list[float]:
    app = build()
    clock = FrameClock(app)
    out = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(keys):
            await asyncio.sleep(0.03)  # let the previous derivation's repaint land first
            await app.workers.wait_for_complete()
            await pilot.pause()
            t0 = time.perf_counter()
            app.post_message(events.Key("n", None))
            out.append(await clock.next_frame(t0) - t0)
    return out


CHILD = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
from bench_app import FrameClock, SIZE, BLOG, MinimalApp
async def main():
    if {which!r} == "minimal":
        app = MinimalApp()
    else:
        from bpdebug.tui.app import make_app
        app = make_app(BLOG)
    clock = FrameClock(app)
    async with app.run_test(size=SIZE):
        await clock.next_frame(0.0)
        print("frame", flush=True)
        app.exit()
asyncio.run(main())
"""


def cold_launch(which: str) -> float:
    """A fresh interpreter: imports included, from spawning the process to its first frame."""
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"), which=which)
    # bytecode as an installed package has it (this checkout may run with PYTHONDONTWRITEBYTECODE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bpdebug-bench-pycache")
    start = time.perf_counter()
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("frame"):
                elapsed = time.perf_counter() - start
                break
        else:
            raise RuntimeError(f"{which}: no frame")
        child.wait()
    return elapsed


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10)
    return f"median {statistics.median(values) * 1000:6.1f} ms   p90 {q[-1] * 1000:6.1f} ms"


async def main() -> None:
    from bpdebug.tui.app import make_app  # here, so a cold minimal child does not import bpdebug

    blog = lambda: make_app(BLOG)  # noqa: E731
    # warm imports (Python modules, and SymPy in the derivation worker), so both sides measure a launch
    await first_frame(MinimalApp)
    await first_frame(blog)
    minimal, debugger = [], []
    for _ in range(REPEATS):
        minimal.append(await first_frame(MinimalApp))
        debugger.append(await first_frame(blog))
    m, d = statistics.median(minimal), statistics.median(debugger)
    print(f"first frame at {SIZE[0]}x{SIZE[1]} (median of {REPEATS}, modules already imported)")
    print(f"  minimal Textual app  {m * 1000:7.1f} ms")
    print(f"  bpdebug (blog)       {d * 1000:7.1f} ms")
    print(f"  ratio                {d / m:7.2f}x   (target <= 1.5x)")
    cold_launch("minimal"), cold_launch("bpdebug")  # compile the bytecode once
    cold_min = statistics.median(cold_launch("minimal") for _ in range(5))
    cold_app = statistics.median(cold_launch("bpdebug") for _ in range(5))
    print("first frame from a cold process (python start and imports included, median of 5)")
    print(f"  minimal Textual app  {cold_min * 1000:7.1f} ms")
    print(f"  bpdebug (blog)       {cold_app * 1000:7.1f} ms")
    print(f"  ratio                {cold_app / cold_min:7.2f}x")
    floor = await key_latencies(MinimalApp, KEYS)
    keys = await key_latencies(blog, KEYS)
    print(f"key 'n' to next frame ({KEYS} presses)")
    print(f"  minimal Textual app  {ms(floor)}")
    print(f"  bpdebug (blog)       {ms(keys)}   (target median <= 16 ms)")


if __name__ == "__main__":
    asyncio.run(main())
