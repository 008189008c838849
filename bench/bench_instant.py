"""Issue 17's targets, each as a ratio against its baseline measured side by side in the same run.

Run from the repository root:  python bench/bench_instant.py [--quick]

As a user meets them: ``bpdebug`` is the installed command beside this interpreter (``python -m bpdebug``
where it is not installed), in the environment a user has (nothing set here: BLAS keeps its default thread
count unless the row says the thread policy is applied, as the ``bpdebug`` command applies it). Repetitions
alternate between a measure and its baseline so that a busy machine slows both alike; medians are reported.
Rows:

1. First complete frame of ``bpdebug scenarios/blog.toml`` (the panels hold the first step's numbers) beside
   the first frame of ``bench/minimal_app.py`` (a Textual app that imports NumPy: its counter shown), both whole
   processes in tmux (120x40), from launch to the screen showing them, bytecode cached. Target <= 1.25x. Like
   for like: in both first frames the footer is still empty (Textual's Footer composes its keys after the
   screen's first frame); the row below compares the frames that show the footer's keys, each app's own.
2. The first chain rule of a session (blog, w5, the first step, as the app derives it), SymPy imported.
   Target <= 50 ms.
3. The fast path (``engine.train``) beside a tuned float64 NumPy loop (in-place, views taken once) and beside
   the matmul-only ceiling (the loop's matrix products alone): blog, XOR, 784-128-10 with 256 examples.
   Targets >= 0.9x the loop (blog, XOR), >= 0.95x (784-128-10).
4. ``bpdebug run scenarios/blog.toml --epochs 300000`` beside ``bench/tuned_loop.py 300000``, whole processes
   (wall and CPU time). Target >= 0.85x.
5. Keys to the next frame (``n``, ``]``) on the blog and on 784-128-10 with 16 examples, with the library's
   BLAS threads and with the thread policy, beside the minimal app's key. Target for 784-128-10 ``]`` with the
   policy: <= 25 ms median.
6. The parameter prompt (``w``) on 784-128-10 with 16 examples: key to the frame showing it. Target <= 20 ms.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import numpy as np  # noqa: E402
from bench_app import SIZE, FrameClock, MinimalApp, complete, key_latencies, settle  # noqa: E402
from networks import mnist_like, write_mnist_like  # noqa: E402
from textual.app import App  # noqa: E402

from bpdebug.core import engine, threads  # noqa: E402
from bpdebug.core.scenario import Scenario, load  # noqa: E402

BLOG = ROOT / "scenarios" / "blog.toml"
XOR = ROOT / "scenarios" / "xor.toml"
PYTHON = sys.executable
# the command as a user types it: the installed entry point beside this interpreter (README: pip install -e .),
# else the module run by this interpreter
_SCRIPT = Path(PYTHON).parent / "bpdebug"
BPDEBUG = [str(_SCRIPT)] if _SCRIPT.exists() else [PYTHON, "-m", "bpdebug"]
POLL = 0.01  # seconds between two looks at the tmux screen
ROWS: list[tuple[str, str, str, str, str]] = []  # measure, value, baseline, ratio, target


def row(measure: str, value: str, baseline: str, ratio: str, target: str) -> None:
    ROWS.append((measure, value, baseline, ratio, target))
    print(f"  {measure:52} {value:>12} {baseline:>12} {ratio:>7}  {target}", flush=True)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                     for i in __import__("threadpoolctl").threadpool_info() if i.get("user_api") == "blas")
    extra = f", OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}" if os.environ.get("OPENBLAS_CORETYPE") else ""
    return (f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}; Python "
            f"{platform.python_version()}, NumPy {np.__version__}, BLAS {blas}{extra}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def alternate(fns: list[Callable[[], float]], repeats: int) -> list[float]:
    """Median of each, run alternately (forwards, then backwards)."""
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        order = list(enumerate(fns))
        for i, fn in order if r % 2 == 0 else order[::-1]:
            times[i].append(fn())
    return [statistics.median(t) for t in times]


# ------------------------------------------------------------------------------- 1. first frame, tmux

def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode as installed
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bpdebug-bench-pycache")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(BENCH)])
    env["TERM"] = "xterm-256color"
    return env


class Tmux:
    """A private tmux server (its own socket) kept running between launches."""

    def __init__(self) -> None:
        self.socket = f"bpdebug-bench-{os.getpid()}"
        self.run("new-session", "-d", "-s", "keep", "-x", str(SIZE[0]), "-y", str(SIZE[1]), "sleep 3600")

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=False).stdout

    def first_frame(self, command: str, *groups: tuple[str, ...], timeout: float = 60.0) -> list[float]:
        """Seconds from launching ``command`` in a new window to the screen showing every marker of each group."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in _child_env().items()
                       if k in ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "TERM"))
        name = f"w{time.monotonic_ns()}"
        seen: list[float | None] = [None] * len(groups)
        start = time.perf_counter()
        self.run("new-session", "-d", "-s", name, "-x", str(SIZE[0]), "-y", str(SIZE[1]),
                 f"cd {shlex.quote(str(ROOT))} && env -u PYTHONDONTWRITEBYTECODE {env} {command}; sleep 60")
        try:
            while time.perf_counter() - start < timeout:
                screen = self.run("capture-pane", "-p", "-t", name)
                now = time.perf_counter() - start
                for i, markers in enumerate(groups):
                    if seen[i] is None and all(m in screen for m in markers):
                        seen[i] = now
                if all(t is not None for t in seen):
                    return [t for t in seen if t is not None]
                time.sleep(POLL)  # the polling clients must not take the CPU the app needs
            raise TimeoutError(f"{command}: no frame with {groups}")
        finally:
            self.run("kill-session", "-t", name)
            time.sleep(0.2)  # let the app's process end before the next launch

    def close(self) -> None:
        self.run("kill-server")


COMPLETE = ("z2 = Θ1·x", "b4    theta2[2,0]")  # the step panel and the parameters table filled in
FOOTER = ("q quit",)  # the footer's keys fitted (the last of them)
MINIMAL = ("0",)  # the minimal app's first frame: its counter
MINIMAL_FOOTER = ("n next", "0")  # and its footer's key


def first_frames(repeats: int) -> None:
    tmux = Tmux()
    try:
        minimal_app = f"{PYTHON} bench/minimal_app.py"
        blog_app = f"{shlex.join(BPDEBUG)} scenarios/blog.toml"
        tmux.first_frame(minimal_app, MINIMAL, MINIMAL_FOOTER), tmux.first_frame(blog_app, COMPLETE, FOOTER)  # bytecode
        times: dict[str, list[list[float]]] = {"minimal": [], "blog": []}
        for r in range(repeats):
            for name in (["minimal", "blog"] if r % 2 == 0 else ["blog", "minimal"]):
                times[name].append(tmux.first_frame(minimal_app, MINIMAL, MINIMAL_FOOTER) if name == "minimal"
                                   else tmux.first_frame(blog_app, COMPLETE, FOOTER))
    finally:
        tmux.close()
    minimal, minimal_footer = (statistics.median(t[i] for t in times["minimal"]) for i in (0, 1))
    blog, footer = (statistics.median(t[i] for t in times["blog"]) for i in (0, 1))
    # the spread: each repetition's launch of the blog beside the minimal app's launch next to it
    pairs = sorted(b[0] / m[0] for b, m in zip(times["blog"], times["minimal"], strict=True))
    quartiles = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else [pairs[0]] * 3
    row("first complete frame, blog, tmux (whole process)", ms(blog), ms(minimal), f"{blog / minimal:.2f}x",
        "<= 1.25x the minimal Textual + NumPy app's first frame (panels filled); launch by launch "
        f"{quartiles[0]:.2f}x-{quartiles[2]:.2f}x (interquartile)")
    row("  ... with the footer's keys (q quit shown)", ms(footer), ms(minimal_footer),
        f"{footer / minimal_footer:.2f}x", "beside the minimal app's frame with its footer's key")


# ------------------------------------------------------------------------------- 2. first derivation

FIRST_DERIVATION = """
import sys, time
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
s = load(sys.argv[1])
trace = Trace(s)
step = trace[0]
t0 = time.perf_counter()
import sympy
x = sympy.Symbol("x")
x + 2 * x**2 + 1  # SymPy's first arithmetic imports sympy.tensor (Add.flatten): part of loading SymPy
t1 = time.perf_counter()
from bpdebug import derivation
t2 = time.perf_counter()
derivation.derive(step, s.params.get("w5"), scenario=s).text_lines()
t3 = time.perf_counter()
derivation.derive(trace[len(trace) - 1], s.params.get("w1"), scenario=s).text_lines()
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def first_derivation(repeats: int) -> None:
    runs = [subprocess.run([PYTHON, "-c", FIRST_DERIVATION, str(BLOG)], capture_output=True, text=True,
                           env=_child_env(), check=True).stdout.split() for _ in range(repeats)]
    sympy_import, module, first, second = (statistics.median(float(r[i]) for r in runs) for i in range(4))
    row("first chain rule of a session (blog w5, SymPy loaded)", ms(first), "50.0 ms", f"{first / 0.05:.2f}x",
        f"<= 50 ms (before it: SymPy loaded {ms(sympy_import)}, bpdebug.derivation {ms(module)}; "
        f"the next parameter {ms(second)})")


# ------------------------------------------------------------------------------- 3. fast path

def tuned_loop(s: Scenario, epochs: int) -> tuple[np.ndarray, ...]:
    """A tuned float64 NumPy loop for a biased network with sigmoid output (tanh or sigmoid hidden), half_sse,
    batch updates: weight views taken once, activations and updates in place, the loss by a dot product."""
    x, t, lr = s.inputs, s.targets, s.learning_rate
    ws = [np.array(w) for w in s.weights]
    W, B = [w[:, 1:] for w in ws], [w[:, 0] for w in ws]
    WT = [m.T for m in W]
    tanh = [a.name == "tanh" for a in s.activations]
    n = len(ws)
    for _ in range(epochs):
        outs = [x]
        for l in range(n):
            z = outs[-1] @ WT[l]
            z += B[l]
            if tanh[l]:
                np.tanh(z, out=z)
            else:
                np.negative(z, out=z), np.exp(z, out=z), np.add(z, 1.0, out=z), np.divide(1.0, z, out=z)
            outs.append(z)
        o = outs[-1]
        d = o - t
        0.5 * np.dot(d.ravel(), d.ravel())  # the loss, as the engine reports each epoch's
        delta = d * o * (1.0 - o)
        for l in range(n - 1, -1, -1):
            a = outs[l]
            gW, gB = delta.T @ a, delta.sum(axis=0)
            if l:
                back = delta @ W[l]
                delta = back * (1.0 - a * a) if tanh[l - 1] else back * a * (1.0 - a)
            gW *= lr
            W[l] -= gW
            gB *= lr
            B[l] -= gB
    return tuple(ws)


def matmul_only(s: Scenario, epochs: int) -> None:
    """The tuned loop's matrix products and nothing else: the ceiling any loop reaches."""
    x = s.inputs
    W = [np.array(w)[:, 1:] for w in s.weights]
    WT = [m.T for m in W]
    n = len(W)
    for _ in range(epochs):
        outs = [x]
        for l in range(n):
            outs.append(outs[-1] @ WT[l])
        delta = outs[-1]
        for l in range(n - 1, -1, -1):
            delta.T @ outs[l]
            if l:
                delta = delta @ W[l]


def rate(fn: Callable[[int], object], epochs: int) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        fn(epochs)
        return epochs / (time.perf_counter() - start)
    return timed


def fast_path(quick: bool) -> None:
    cases = [("blog", load(BLOG), 3000 if quick else 20000, 0.9), ("XOR", load(XOR), 3000 if quick else 20000, 0.9),
             ("784-128-10, 256 examples", mnist_like(256), 10 if quick else 60, 0.95)]
    repeats = 5 if quick else 15
    for name, s, epochs, target in cases:
        net = engine.Network(s)
        for a, b in zip(engine.train(s, 5, net=net).weights, tuned_loop(s, 5), strict=True):
            assert np.allclose(a, b, rtol=1e-9, atol=1e-12), f"{name}: the tuned loop disagrees with the engine"
        fns = [rate(lambda n, s=s, net=net: engine.train(s, n, net=net), epochs),
               rate(lambda n, s=s: tuned_loop(s, n), epochs), rate(lambda n, s=s: matmul_only(s, n), epochs)]
        for fn in fns:
            fn()
        engine_rate, loop_rate, ceiling = alternate(fns, repeats)
        row(f"fast path, {name} (epochs/s)", f"{engine_rate:,.0f}", f"{loop_rate:,.0f}",
            f"{engine_rate / loop_rate:.2f}x", f">= {target}x the tuned loop; matmul-only {ceiling:,.0f}/s: "
            f"{engine_rate / ceiling:.2f}x")


# ------------------------------------------------------------------------------- 4. bpdebug run

def process(args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system) of a whole process, and its last output line."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    lines = out.strip().splitlines()
    return wall, usage.ru_utime + usage.ru_stime, lines[-1] if lines else ""


def run_process(quick: bool) -> None:
    epochs = 30000 if quick else 300000
    runs: dict[str, list[tuple[float, float, str]]] = {"run": [], "loop": []}
    commands = {"run": [*BPDEBUG, "run", "scenarios/blog.toml", "--epochs", str(epochs)],
                "loop": [PYTHON, "bench/tuned_loop.py", str(epochs)]}
    process(commands["run"])  # bytecode
    for r in range(2 if quick else 3):
        for name in (["run", "loop"] if r % 2 == 0 else ["loop", "run"]):
            runs[name].append(process(commands[name]))
    loss_run, loss_loop = runs["run"][-1][2].split()[1], runs["loop"][-1][2].split()[1]
    assert loss_run == loss_loop, f"final losses differ: {loss_run} != {loss_loop}"
    for i, what in ((0, "wall"), (1, "CPU")):
        ours, base = (statistics.median(x[i] for x in runs[k]) for k in ("run", "loop"))
        row(f"bpdebug run blog --epochs {epochs} ({what}, process)", f"{ours:.2f} s", f"{base:.2f} s",
            f"{base / ours:.2f}x", ">= 0.85x the tuned loop's process (speed: loop time / run time)")


# ------------------------------------------------------------------------------- 5, 6. keys, prompt

class MinimalPromptApp(MinimalApp):
    """The minimal app with a ``w`` key that opens bpdebug's prompt (no suggestions): the floor of a modal."""

    BINDINGS = [*MinimalApp.BINDINGS, ("w", "prompt", "prompt")]

    def action_prompt(self) -> None:
        from bpdebug.tui.widgets.modals import PromptModal

        self.push_screen(PromptModal("Select a parameter", "w1 … w8", placeholder="w5"))


async def prompt_latencies(build: Callable[[], App], openings: int) -> list[float]:
    """Key ``w`` to the first frame showing the parameter prompt, then Escape, ``openings`` times."""
    from textual import events

    from bpdebug.tui.widgets.modals import PromptModal

    app = build()
    clock = FrameClock(app)
    out = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(openings):
            await asyncio.sleep(0.03)
            await settle(pilot)
            t0 = after = time.perf_counter()
            app.post_message(events.Key("w", "w"))
            while True:  # the first frame painted with the prompt on screen
                after = await clock.next_frame(after)
                if isinstance(app.screen, PromptModal):
                    break
            out.append(after - t0)
            await pilot.press("escape")
            await settle(pilot)
    return out


async def keys_and_prompt(quick: bool) -> None:
    from bpdebug.tui.app import make_app

    presses = 10 if quick else 30
    wide = write_mnist_like(Path(tempfile.mkdtemp(prefix="bench-instant-")) / "784-128-10.toml", 16)
    await first_frame_warm(wide)
    floor = statistics.median((await key_latencies(MinimalApp, presses))[0])
    row("key to frame, minimal Textual app (the floor)", ms(floor), "", "", "")
    for policy in ("library default", "thread policy"):
        if policy == "thread policy":
            threads.apply()
        else:
            threads.restore()
        blas = threads.blas_threads()
        for name, path in (("blog", BLOG), ("784-128-10 (16 ex.)", wide)):
            for key, character, label in (("n", None, "n"), ("right_square_bracket", "]", "]")):
                wall, cpu = await key_latencies(lambda p=path: make_app(p), presses, key, character)
                median = statistics.median(wall)
                target = "<= 25 ms median; " if (name.startswith("784") and label == "]" and
                                                 policy == "thread policy") else ""
                row(f"key {label}, {name}, {policy} (BLAS {blas})", ms(median), ms(floor), f"{median / floor:.2f}x",
                    f"{target}UI-thread CPU {ms(statistics.median(cpu))}")
    openings = 8 if quick else 20
    modal_floor = statistics.median(await prompt_latencies(MinimalPromptApp, openings))
    prompt = await prompt_latencies(lambda: make_app(wide), openings)
    q = statistics.quantiles(prompt, n=10) if len(prompt) > 1 else prompt
    row("parameter prompt w, 784-128-10 (16 ex.)", ms(statistics.median(prompt)), ms(modal_floor),
        f"{statistics.median(prompt) / modal_floor:.2f}x", f"<= 20 ms median (p90 {ms(q[-1])}); baseline: the "
        "minimal app opening the same prompt")


async def first_frame_warm(path: Path) -> None:
    """Import everything (and SymPy in the derivation worker) once, so every key measure is of a warm app."""
    from bpdebug.tui.app import make_app

    app = make_app(path)
    clock = FrameClock(app, complete)
    async with app.run_test(size=SIZE) as pilot:
        await clock.complete_frame()
        await settle(pilot)


def main() -> None:
    quick = "--quick" in sys.argv
    print(f"machine: {machine()}")
    print(f"command: python bench/bench_instant.py{' --quick' if quick else ''}\n")
    print(f"  {'measure':52} {'value':>12} {'baseline':>12} {'ratio':>7}  target")
    first_frames(3 if quick else 21)
    first_derivation(3 if quick else 7)
    threads.apply()  # the engine rows run as the bpdebug command runs them
    fast_path(quick)
    run_process(quick)
    asyncio.run(keys_and_prompt(quick))
    print("\n| measure | value | baseline | ratio | target |\n|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(c.replace("|", "/") for c in r) + " |")


if __name__ == "__main__":
    main()
