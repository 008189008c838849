"""Benchmark of the slip diagnosis the app runs for its printed-figures panel (not a test):
``python bench/bench_diagnosis.py``.

Side by side in one run, the blog (12 printed figures, 10 failing) and a 784-128-10 network (32 examples,
:func:`networks.mnist_like_text`) given two wrong printed figures (its loss and example 1's output a3):

1. ``Session.diagnose()``: the diagnosis itself (core.diagnosis on a trace of its own), wall time.
2. The app's first complete frame (bench_app's clock), and whether the diagnosis was still under way then
   (it runs in a worker scheduled after the first frame, so the first frame must never wait for it).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_app import SIZE, FrameClock, complete, settle  # noqa: E402
from networks import mnist_like_text  # noqa: E402

from bpdebug.core.scenario import loads  # noqa: E402
from bpdebug.tui.app import make_app  # noqa: E402
from bpdebug.tui.session import Session  # noqa: E402

WRONG = """
[[expect]]
quantity = "loss"
value = 1.0
tolerance = 0.0005

[[expect]]
quantity = "a3"
example = 1
value = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
tolerance = 0.0005
"""


def wide_file(folder: Path) -> Path:
    path = folder / "wide-with-figures.toml"
    path.write_text(mnist_like_text(32) + WRONG, encoding="utf-8")
    loads(path.read_text(encoding="utf-8"), str(path))  # refuse a bad file before timing
    return path


def diagnose_time(path: Path) -> tuple[float, int, int]:
    session = Session(path)
    failing = sum(not r.holds for r in session.results)
    start = time.perf_counter()
    found = session.diagnose()
    return time.perf_counter() - start, failing, len(found or {})


async def first_frame(path: Path) -> tuple[float, bool]:
    start = time.perf_counter()
    app = make_app(path)
    clock = FrameClock(app, complete)
    pending_at_frame: list[bool] = []
    async with app.run_test(size=SIZE) as pilot:
        await clock.complete_frame()
        pending_at_frame.append(app.session.diagnoses is None)
        frame = clock.complete
        await settle(pilot)
        while app.session.diagnoses is None:  # a daemon thread, which the app's workers do not wait for
            await asyncio.sleep(0.05)
    assert frame is not None
    return frame - start, pending_at_frame[0]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cases = {"blog 2-2-2": ROOT / "scenarios" / "blog.toml", "784-128-10 (32 ex.)": wide_file(Path(tmp))}
        print(f"{'scenario':<22}{'failing':>8}{'diagnose':>12}{'first frame':>13}  diagnosis at the first frame")
        for name, path in cases.items():
            seconds, failing, _ = diagnose_time(path)
            frame, pending = asyncio.run(first_frame(path))
            print(f"{name:<22}{failing:>8}{seconds * 1e3:>10.0f} ms{frame * 1e3:>10.0f} ms  "
                  f"{'still under way (not waited for)' if pending else 'already done'}")


if __name__ == "__main__":
    main()
