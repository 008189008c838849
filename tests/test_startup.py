"""What start-up does not load: SymPy stays out of loading, training and the app's first frame, and the condition
language (breakpoints) out of the first frame.

SymPy costs ~250 ms to import; only the chain-rule panel, the diagnosis, exports and an optimizer's printed rule
need it, so it is imported by the derivation worker the first frame schedules, never before that frame. The
modules of the panels hidden at start (the what-if line, the watches, the loss) are imported when they first
show, and the values only later actions build (:mod:`bpdebug.tui.parts.outcomes`) with the first of them. The
formula language (:mod:`bpdebug.core.expr`) and the divergence's location (:mod:`bpdebug.core.divergence`) are
imported when a formula is first read and a run first stops being finite. Each check runs in a fresh
interpreter (this one has SymPy loaded by other tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _bundled import NETWORKS
from _diverging import diverging_softmax_text

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = NETWORKS  # graph scenarios are not loaded by core.scenario.load

LOAD_AND_TRAIN = """
import sys
import numpy as np
from bpdebug.core.engine import Trace, train
from bpdebug.core.graph.trace import GraphTrace
from bpdebug.core.scenario import Scenario, load_any
for path in sys.argv[1:]:
    s = load_any(path)
    if isinstance(s, Scenario):
        train(s, 3)
        trace = Trace(s, 3)
    else:  # a computation graph: its own engine behind the same protocol
        trace = GraphTrace(s, 3)
    trace.advance(3)
    trace[len(trace) - 1]
    trace.loss_history(3)
print("sympy" in sys.modules)
"""

AT_FIRST_FRAME = """
import asyncio, sys
from bpdebug.tui import app as tui_app

MODULES = sys.argv[2:]
seen = []


def recording(method):  # the first frame starts the chain rule's worker and the diagnosis's thread from these
    def record(self, *args):
        seen.append([name in sys.modules for name in MODULES])
        return method(self, *args)
    return record


for name in ("_derive", "_diagnose"):
    setattr(tui_app.DebuggerScreen, name, recording(getattr(tui_app.DebuggerScreen, name)))


async def main():
    app = tui_app.make_app(sys.argv[1])
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.01)
            if seen:
                break
        await app.workers.wait_for_complete()
        print(seen[0])  # MODULES loaded as the first frame started them
        print([name in sys.modules for name in MODULES])  # and once the chain rule is derived
        print([(e.text, e.enabled) for e in app.session.conditions], app.session.divergence is None)


asyncio.run(main())
"""


def _first_frame(*modules: str) -> list[str]:
    """Which of ``modules`` the app's first frame of the blog has loaded, which the derivation after it has,
    and then the breakpoints and whether the run diverged."""
    return _run(AT_FIRST_FRAME, str(ROOT / "scenarios" / "blog.toml"), *modules).split("\n")


STARTED = """
import asyncio, sys
from bpdebug.tui.app import make_app
from bpdebug.tui.widgets.footer import FittingFooter


async def started(app, pilot):  # start-up's frames: the footer's fitted one is the last
    for _ in range(200):
        await pilot.pause(0.01)
        if app.screen.query_one(FittingFooter).fitted:
            return
"""

HIDDEN_PANELS = STARTED + """
MODULES = ("bpdebug.tui.widgets.watches", "bpdebug.tui.widgets.loss_panel")


async def main():
    app = make_app(sys.argv[1])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        print([name in sys.modules for name in MODULES])
        await pilot.press("a", "w", "5", "enter")  # a watch
        await pilot.pause()
        print([name in sys.modules for name in MODULES])
        await pilot.press("right_square_bracket", "right_square_bracket")  # epoch 3: the losses of two epochs
        await pilot.pause()
        print([name in sys.modules for name in MODULES])
        await app.workers.wait_for_complete()


asyncio.run(main())
"""


def _run(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "", "HOME": str(ROOT)}, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_loading_and_training_every_bundled_scenario_leaves_sympy_unimported() -> None:
    assert _run(LOAD_AND_TRAIN, *map(str, SCENARIOS)) == "False"


def test_the_apps_first_frame_comes_before_sympy_is_imported() -> None:
    # [False]: not imported when the first frame started the chain rule's worker (or the diagnosis's thread);
    # True: imported by then
    assert _first_frame("sympy")[:2] == ["[False]", "[True]"]


def test_the_apps_first_frame_does_not_import_the_condition_language() -> None:
    # the b key's tooltip and the default breakpoint (nan) read the condition registry when first needed; the
    # breakpoints are then nan, on
    first, _, after = _first_frame("bpdebug.core.conditions")
    assert first == "[False]" and after == "[('nan', True)] True"


def test_the_panels_hidden_at_start_are_imported_when_they_first_show() -> None:
    # the what-if line and the watches (widgets/watches.py), the loss (widgets/loss_panel.py): not at start-up
    assert _run(HIDDEN_PANELS, str(ROOT / "scenarios" / "blog.toml")).split("\n") == ["[False, False]",
                                                                                     "[True, False]",
                                                                                     "[True, True]"]


OUTCOMES = STARTED + """
MODULE = "bpdebug.tui.parts.outcomes"


async def main():
    app = make_app(sys.argv[1])
    async with app.run_test(size=(120, 40)) as pilot:
        await started(app, pilot)
        await app.workers.wait_for_complete()  # the derivation and the diagnosis, started by the first frame
        print(MODULE in sys.modules)
        await pilot.press("c")  # a search for the next stop: its result is an outcome
        await app.workers.wait_for_complete()
        await pilot.pause()
        print(MODULE in sys.modules, app.session.stopped_here is not None)


asyncio.run(main())
"""


def test_the_apps_first_frame_does_not_define_the_outcomes_of_later_actions() -> None:
    # parts/outcomes.py (a long run's end, a reload, breakpoints, a search's stop, loss curves, export choices):
    # ~3 ms of dataclasses created on first need, here the search that c starts
    assert _run(OUTCOMES, str(ROOT / "scenarios" / "blog.toml")).split("\n") == ["False", "True True"]


SESSION_NAMES = """
import sys
import bpdebug.tui.session as session
from bpdebug.tui.session import *  # noqa: F403

print("bpdebug.tui.parts.outcomes" in sys.modules)  # imported by the star import, through __getattr__
missing = [name for name in session.__all__ if name not in globals()]
from bpdebug.tui.parts import outcomes
moved = [name for name in vars(outcomes) if name in session.__all__]
print(missing, sorted(moved), all(getattr(session, name) is getattr(outcomes, name) for name in moved))
try:
    from bpdebug.tui.session import Nothing  # noqa: F401
except ImportError as exc:
    print(type(exc).__name__)
"""


def test_every_name_the_session_module_exports_still_imports() -> None:
    # the outcomes through the module's __getattr__ (PEP 562), the same classes as parts/outcomes.py's; any other
    # name is still an error
    assert _run(SESSION_NAMES).split("\n") == [
        "True",
        "[] ['BreakEntry', 'Breakpoint', 'ExportFormat', 'LossCurve', 'Reload', 'RunOutcome', 'Search'] True",
        "ImportError"]


GC_AROUND_START = """
import gc, sys
from textual.app import App
from bpdebug import cli

seen = []
run = App.run


def headless(self, **_):  # the app as `bpdebug SCENARIO` runs it, driven headless
    async def pilot(p):
        seen.append(gc.isenabled())  # the app is up; its first frame may still be coming
        for _ in range(50):
            await p.pause(0.01)
            if gc.isenabled():
                break
        seen.append(gc.isenabled())
        self.exit()
    return run(self, headless=True, size=(120, 40), auto_pilot=pilot)


App.run = headless
code = cli.main(sys.argv[1:])
print(seen[-1], gc.isenabled(), code)
"""


def test_garbage_collection_is_off_while_the_app_starts_and_back_on_after_its_first_frame() -> None:
    # cmd_app turns the collector off before its first import (start-up builds ~90,000 objects that stay, and a
    # full collection among them costs ~20 ms and frees nothing); the first frame turns it back on
    for scenario in ("blog.toml", "micrograd.toml"):
        assert _run(GC_AROUND_START, str(ROOT / "scenarios" / scenario)) == "True True 0"


SWITCH_AROUND_RUN = """
import sys
from textual.app import App
from bpdebug import cli

before = sys.getswitchinterval()
seen = []
run = App.run


def headless(self, **_):  # the app as `bpdebug SCENARIO` runs it, driven headless
    async def pilot(p):
        await p.pause(0.05)
        seen.append(sys.getswitchinterval())
        self.exit()
    return run(self, headless=True, size=(120, 40), auto_pilot=pilot)


App.run = headless
code = cli.main(sys.argv[1:])
shorter = seen == [cli.FRAME_SWITCH_INTERVAL] and cli.FRAME_SWITCH_INTERVAL < before
print(shorter, sys.getswitchinterval() == before, code)
"""


def test_the_app_hands_the_gil_to_textuals_writer_thread_quickly_and_gives_the_interval_back() -> None:
    # Textual writes frames from its own thread: with Python's default 5 ms switch interval a frame waited up
    # to 5 ms for the UI thread to finish laying out (cmd_app sets a shorter one while the app runs)
    for scenario in ("blog.toml", "micrograd.toml"):
        assert _run(SWITCH_AROUND_RUN, str(ROOT / "scenarios" / scenario)) == "True True 0"


EXIT_AT_ONCE = """
import sys
from textual.app import App
from bpdebug import cli

run = App.run


def headless(self, **_):  # the app told to quit as soon as it runs, before its screen has mounted
    async def pilot(p):
        self.exit()
    return run(self, headless=True, size=(120, 40), auto_pilot=pilot)


App.run = headless
print(cli.main(sys.argv[1:]))
"""


def test_an_app_that_quits_while_its_screen_is_composed_ends_cleanly() -> None:
    # the screen's panels are gone by the time its mount handler runs: it shows nothing, and says nothing
    for scenario in ("blog.toml", "micrograd.toml"):
        assert _run(EXIT_AT_ONCE, str(ROOT / "scenarios" / scenario)) == "0"


def test_the_apps_first_frame_imports_neither_the_formula_language_nor_the_divergence() -> None:
    # the built-in activations' formulas are parsed when first read (here by the derivation the first frame
    # starts, after it); the status line's divergence() of a finite run needs no divergence module
    first, derived, after = _first_frame("bpdebug.core.expr", "bpdebug.core.divergence")
    assert first == "[False, False]" and derived.startswith("[True,") and after.endswith("True")


DIVERGING = """
import sys
from bpdebug.core import engine
from bpdebug.core.scenario import loads

trace = engine.Trace(loads(sys.argv[1], "<boom>"))
trace.advance(3)
trace[20]  # a step past the divergence (step 14 of epoch 2)
print("bpdebug.core.divergence" in sys.modules)
d = trace.divergence()
from bpdebug.core.engine import Divergence
from bpdebug.core import divergence
print("bpdebug.core.divergence" in sys.modules, type(d) is Divergence is divergence.Divergence is engine.Divergence)
print(d.describe())
print(sorted(d.as_dict().items()))
try:
    engine.Nothing
except AttributeError as exc:
    print(exc)
"""


def test_a_diverging_run_imports_the_divergence_when_located_and_reports_it_as_before() -> None:
    # stepping a run does not need bpdebug.core.divergence; locating its first non-finite number imports it, and
    # the engine still exports Divergence (PEP 562); the report is the one the eager import gave
    assert _run(DIVERGING, diverging_softmax_text()).split("\n") == [
        "False",
        "True True",
        "epoch 2, step error: E_o1 = inf (log of 0)",
        "[('cause', 'log of 0'), ('epoch', 2), ('example', None), ('message', 'epoch 2, step error: E_o1 = inf (log "
        "of 0)'), ('quantity', 'error'), ('step', 14), ('unit', 'o1')]",
        "module 'bpdebug.core.engine' has no attribute 'Nothing'",
    ]
