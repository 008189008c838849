"""Load test of ``bpdebug serve`` over loopback (not a test): ``python bench/bench_serve.py [--sessions 1 10 30]``.

For each N (1 as the floor, then 10 and 30): start ``bpdebug serve scenarios/xor.toml --max-sessions N`` on a
free loopback port, open N websocket sessions at once as textual-serve's page does (120x40 terminals), wait
until each has drawn its first screen, then have every session press ``n`` 100 times concurrently. Reported:

- start: from opening the N sockets to the last session's first frame;
- memory per session: the session processes' RSS and PSS (PSS shares the pages they have in common fairly),
  median over the N, plus the server's own RSS;
- keypress latency: from sending ``n`` to the first bytes of the repaint coming back, over all N × 100
  keypresses (median, p90, p99, max). Each session waits for its screen to settle (no output for 30 ms)
  before the next key, as a person reading would, so the keys measure repaints, not a queue.

The machine's other load counts: run it alone for figures worth quoting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "bpdebug" / "scenarios" / "xor.toml"
SETTLE = 0.03


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB from /proc."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Session:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.latencies: list[float] = []
        self.output = asyncio.Event()
        self.first_frame = asyncio.Event()
        self.finished = asyncio.Event()
        self.last_output = 0.0

    async def run(self, steps: int, go: asyncio.Event, release: asyncio.Event) -> None:
        async with self.http.ws_connect(f"{self.url}?width=120&height=40", max_msg_size=0) as ws:
            await ws.send_json(["resize", {"width": 120, "height": 40}])
            reader = asyncio.create_task(self._read(ws))
            await go.wait()
            for _ in range(steps):
                await self._settle()
                self.output.clear()
                sent = time.perf_counter()
                await ws.send_json(["stdin", "n"])
                await asyncio.wait_for(self.output.wait(), 30)
                self.latencies.append(self.last_output - sent)
            await self._settle()
            self.finished.set()
            await release.wait()  # the sessions stay open until their memory is read
            reader.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.last_output = time.perf_counter()
                self.output.set()
                self.first_frame.set()

    async def _settle(self) -> None:
        while time.perf_counter() - self.last_output < SETTLE:
            await asyncio.sleep(SETTLE / 3)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(n: int, steps: int) -> dict[str, float]:
    port = free_port()
    status = tempfile.mkdtemp(prefix="bench-serve-")
    env = dict(os.environ, PYTHONPATH=str(ROOT), BPDEBUG_SESSION_STATUS=status)
    server = subprocess.Popen([sys.executable, "-m", "bpdebug", "serve", str(SCENARIO), "--port", str(port),
                               "--max-sessions", str(n)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http:
            sessions = [Session(http, f"ws://127.0.0.1:{port}/ws/xor") for _ in range(n)]
            go, release = asyncio.Event(), asyncio.Event()
            opened = time.perf_counter()
            tasks = [asyncio.create_task(s.run(steps, go, release)) for s in sessions]
            await asyncio.wait_for(asyncio.gather(*(s.first_frame.wait() for s in sessions)), 300)
            start = time.perf_counter() - opened
            for _ in range(600):  # every session has written its status (its pid)
                if len(list(Path(status).glob("*.json"))) >= n:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            pids = [int(p.stem) for p in Path(status).glob("*.json")]
            before = [memory_kb(pid) for pid in pids]
            go.set()
            await asyncio.gather(*(s.finished.wait() for s in sessions))
            after = [memory_kb(pid) for pid in pids]
            server_rss = memory_kb(server.pid)[0]
            release.set()
            await asyncio.gather(*tasks)
        latencies = [x for s in sessions for x in s.latencies]
        return {
            "n": n, "start": start, "sessions": len(pids),
            "rss": statistics.median(r for r, _ in after) / 1024, "pss": statistics.median(p for _, p in after) / 1024,
            "rss0": statistics.median(r for r, _ in before) / 1024, "server": server_rss / 1024,
            "keys": len(latencies), "median": statistics.median(latencies) * 1000,
            "p90": percentile(latencies, 0.9) * 1000, "p99": percentile(latencies, 0.99) * 1000,
            "max": max(latencies) * 1000,
        }
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    print(f"bpdebug serve load test: xor, 120x40, {args.steps} steps per session, {os.cpu_count()} CPUs")
    print("| sessions | all drawn | RSS/session (start → end) | PSS/session | server RSS | keys | "
          "latency median | p90 | p99 | max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sessions:
        r = asyncio.run(load(n, args.steps))
        print(f"| {r['n']} ({r['sessions']} seen) | {r['start']:.1f} s | {r['rss0']:.0f} → {r['rss']:.0f} MB | "
              f"{r['pss']:.0f} MB | {r['server']:.0f} MB | {r['keys']} | {r['median']:.0f} ms | {r['p90']:.0f} ms | "
              f"{r['p99']:.0f} ms | {r['max']:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
