"""Resident memory of long runs: checkpoints under their ceiling, a bounded loss history.

    python bench/bench_memory.py                 # both cases
    python bench/bench_memory.py xor --seconds 60
    python bench/bench_memory.py mnist --epochs 5000

xor: ``Trace.advance(10**8)`` on the bundled xor scenario, cancelled (``should_stop``) after ``--seconds``; the
resident set is sampled at every progress report. Target: under 300 MB whatever the epoch reached.
mnist: the 784-128-10 network of bench/networks.py advanced to ``--epochs`` (5,000 by default), then a step
back to a recent epoch and to a far one. Target: under 500 MB. Each case runs in its own process, so one
case's peak does not hide the other's.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """The current resident set size in MB (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(name: str, trace, to_epoch: int, seconds: float | None) -> None:
    samples: list[tuple[float, int, float]] = []
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        samples.append((time.monotonic() - started, done, rss_mb()))

    def should_stop() -> bool:
        return seconds is not None and time.monotonic() - started > seconds

    reached = trace.advance(to_epoch, progress, should_stop)
    elapsed = time.monotonic() - started
    t0 = time.perf_counter()
    trace.epoch(max(1, reached - 3))
    back_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    trace.epoch(max(1, reached // 2 + 1))
    far_ms = (time.perf_counter() - t0) * 1000
    cp = trace.checkpoints
    print(f"{name}: epoch {reached:,} of {to_epoch:,} in {elapsed:.1f} s "
          f"({reached / elapsed:,.0f} epochs/s, {len(samples)} progress reports, "
          f"{len(samples) / elapsed:.1f}/s)")
    print(f"  resident now {rss_mb():.0f} MB, peak {peak_mb():.0f} MB; checkpoints {len(cp):,} "
          f"({cp.nbytes() / 2**20:.0f} MB, grid every {cp.spacing} epochs, {cp.recent_size} recent)")
    for when, done, mb in samples[:: max(1, len(samples) // 8)]:
        print(f"    {when:6.1f} s  epoch {done:>12,}  {mb:6.0f} MB")
    print(f"  step back 3 epochs: {back_ms:.1f} ms; to epoch {reached // 2 + 1:,}: {far_ms:.1f} ms")


def case(which: str, seconds: float, epochs: int) -> None:
    from bpdebug.core.engine import Trace
    from bpdebug.core.scenario import load

    if which == "xor":
        run("xor to 10^8 (cancelled)", Trace(load(ROOT / "bpdebug" / "scenarios" / "xor.toml")), 10**8, seconds)
    else:
        from bench.networks import mnist_like

        run("784-128-10, 256 examples", Trace(mnist_like()), epochs, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", nargs="?", choices=("xor", "mnist"))
    parser.add_argument("--seconds", type=float, default=60.0, help="xor: cancel after this long")
    parser.add_argument("--epochs", type=int, default=5000, help="mnist: epochs to reach")
    args = parser.parse_args()
    if args.case:
        case(args.case, args.seconds, args.epochs)
        return
    for which in ("xor", "mnist"):  # each in a fresh process
        subprocess.run([sys.executable, __file__, which, "--seconds", str(args.seconds),
                        "--epochs", str(args.epochs)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


if __name__ == "__main__":
    main()
