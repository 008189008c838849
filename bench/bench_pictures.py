"""Benchmark of the picture panel (not a test): ``python bench/bench_pictures.py [--presses N]``.

XOR at epoch 2000, key ``]`` (next epoch) to the next frame with no picture, the loss curve, the gradient flow
and the decision map shown, and the loss curve with a what-if fork overlaid (forked at epoch 1000), side by side in
one run (120x40), plus the time to draw each picture alone
(``PicturePanel.show`` and the widget's lines, no compositor). Median and p90.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

from textual import events
from textual.worker import WorkerCancelled

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_app import FrameClock  # noqa: E402

from bpdebug.tui.app import DebuggerApp, DebuggerScreen  # noqa: E402

XOR = ROOT / "scenarios" / "xor.toml"
SIZE = (120, 40)


async def settle(app: DebuggerApp) -> None:
    """Wait for the workers under way (a derivation cancelled by the next one is fine)."""
    with contextlib.suppress(WorkerCancelled):
        await app.workers.wait_for_complete()


async def latencies(presses_v: int, presses: int, fork: bool = False) -> tuple[list[float], list[float]]:
    from bpdebug.tui.widgets.pictures import PicturePanel

    app = DebuggerApp(XOR)
    clock = FrameClock(app)
    keys, draws = [], []
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        if fork:  # a what-if fork at epoch 1000, walked to its epoch 1001 (the original's 2000): two curves
            screen.go_to_epoch(1000)
            while screen.busy:
                await pilot.pause(0.05)
            screen.apply(app.session.fork("learning_rate=2"))
            screen.go_to_epoch(1001)
        else:
            screen.go_to_epoch(2000)
        while screen.busy:
            await pilot.pause(0.05)
        for _ in range(presses_v):
            await pilot.press("v")
        await pilot.pause()
        await settle(app)
        for _ in range(presses):
            await asyncio.sleep(0.03)
            await settle(app)
            await pilot.pause()
            t0 = time.perf_counter()
            app.post_message(events.Key("right_square_bracket", None))
            keys.append(await clock.next_frame(t0) - t0)
        panels = screen.query(PicturePanel)
        if panels:
            panel = panels.first()
            for _ in range(presses):
                t0 = time.perf_counter()
                panel.show()
                shown = panel.query_one(f"#picture-{panel.picture.value}")
                shown._key = shown._map_key = None  # type: ignore[attr-defined]
                for y in range(shown.size.height):
                    shown.render_line(y)
                draws.append(time.perf_counter() - t0)
    return keys, draws


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):6.1f} ms   p90 {ms[int(0.9 * (len(ms) - 1))]:6.1f} ms"


async def main(presses: int) -> None:
    print(f"XOR at epoch 2000, {SIZE[0]}x{SIZE[1]}, key ']' to next frame ({presses} presses) | draw alone")
    for label, v, fork in (("no picture", 0, False), ("loss curve", 1, False), ("loss + fork", 1, True),
                           ("gradient flow", 2, False), ("decision map", 3, False)):
        keys, draws = await latencies(v, presses, fork)
        print(f"  {label:14} {fmt(keys)}   | {fmt(draws)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=30)
    asyncio.run(main(parser.parse_args().presses))
