"""The debugger as one browser visitor's session (``bpdebug serve`` starts one process per visitor).

The same app with what a visitor must not do on the server taken out: no reload from disk, no file written on
the server (an export reaches the browser as a download through ``App.deliver_text``), and no run longer than
:data:`RUN_SECONDS` per "go to epoch" or "continue" (it shows progress and Escape stops it sooner, as in the
terminal; ``g`` again goes on from where it stopped). A visitor never names a
file: the server starts ``python -m bpdebug.tui.served PATH`` with a path it chose from its own list.

For tests and benchmarks, ``BPDEBUG_SESSION_STATUS=DIR`` makes each session write ``DIR/<pid>.json`` whenever
the step or the selected parameter changes: the app's state, read without scraping the browser's canvas.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from textual import on, work
from textual.dom import DOMNode
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Label
from textual.worker import get_current_worker

from ..core.atomic import write_output
from ..core.scenario import Scenario, ScenarioError, load
from .app import DebuggerApp, DebuggerScreen
from .widgets.modals import ExportModal

# a served session trains at most this long per "go to epoch" or "continue" (Escape stops it sooner), so one
# visitor's g 99999999 cannot keep a core busy for the others; g (or c) again goes on from where it stopped
RUN_SECONDS = 30.0
# actions a served session refuses (hidden from the footer, the help and the command palette's keys)
SERVED_OFF: frozenset[str] = frozenset({"reload"})
STATUS_ENV = "BPDEBUG_SESSION_STATUS"


class DownloadModal(ExportModal):
    """The export dialog, saying that the file goes to the browser."""

    def on_mount(self) -> None:
        for label in self.query(".dialog-hint").results(Label):
            label.update("Enter downloads the file in your browser. Escape cancels.")


class ServedScreen(DebuggerScreen):
    """The main screen of a served session: reload is off, and an export is a download."""

    class Rendered(Message):
        """A transcript rendered in a worker, ready to be sent to the browser."""

        def __init__(self, text: str | None, filename: str, error: str | None = None) -> None:
            super().__init__()
            self.text, self.filename, self.error = text, filename, error

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in SERVED_OFF:
            return False
        return super().check_action(action, parameters)

    def watch_at(self) -> None:
        super().watch_at()
        app = self.app
        if isinstance(app, ServedApp):
            app.changed()

    def _stopper(self) -> Callable[[], bool]:
        """``should_stop`` for a run in this worker: Escape (the worker cancelled) or :data:`RUN_SECONDS` spent;
        the second says so in a notification when it ends the run."""
        worker = get_current_worker()
        deadline = time.monotonic() + RUN_SECONDS
        said = [False]

        def should_stop() -> bool:
            if worker.is_cancelled:
                return True
            if time.monotonic() < deadline:
                return False
            if not said[0]:
                said[0] = True
                self.app.call_from_thread(
                    self.app.notify, f"a served session trains at most {RUN_SECONDS:g} s at a time: stopped there; "
                    "g or c again goes on", severity="warning", timeout=6, markup=False)
            return True

        return should_stop

    @work(thread=True, exclusive=True, group="run")
    def _run(self, epoch: int) -> None:
        """Train up to ``epoch`` with progress, as the app does, for at most :data:`RUN_SECONDS`."""
        should_stop = self._stopper()

        def progress(done: int, total: int) -> None:
            self.post_message(self.RunProgress(done, total))

        self.post_message(self.RunFinished(self.session.run_to(epoch, progress, should_stop)))

    @work(thread=True, exclusive=True, group="run")
    def _search(self) -> None:
        """Search for the next breakpoint with progress, as the app does, for at most :data:`RUN_SECONDS`."""
        should_stop = self._stopper()

        def progress(done: int, total: int) -> None:
            self.post_message(self.RunProgress(done, total))

        self.post_message(self.SearchFinished(self.session.search(progress, should_stop)))

    def action_export(self) -> None:
        from ..transcript import FORMATS

        formats = list(FORMATS)
        default = "md" if "md" in formats else formats[0]
        self.app.push_screen(DownloadModal(formats, default, self.session.path.stem), self._download_answer)

    def _download_answer(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            return
        fmt, name = answer
        epochs = self.session.export_epochs()
        refused = self.session.export_refusal(fmt, epochs)
        if refused is not None:
            self.say(refused)
            return
        self._render_download(fmt, Path(name).name or f"{self.session.path.stem}.{fmt}", epochs)

    def action_save_fork(self) -> None:
        """The what-if fork as a scenario file, downloaded: nothing is written on the server."""
        s = self.session
        if s.forked is None:
            super().action_save_fork()  # says there is no fork
            return
        from ..core.scenario_writer import restarted, to_toml

        self.post_message(self.Rendered(to_toml(s.forked.scenario), f"{s.path.stem}-whatif.toml"))
        differs = restarted(s.forked.scenario)  # the format cannot carry a continued run's optimizer state
        if differs:
            self.app.notify(f"{differs} (said at the top of the file)", severity="warning", timeout=12, markup=False)

    @work(thread=True, exclusive=True, group="export")
    def _render_download(self, fmt: str, filename: str, epochs: int) -> None:
        from ..core.engine import Trace
        from ..transcript import Options, render

        try:
            text = render(fmt, Trace(self.session.scenario, epochs), Options(epochs, what_if=self.session.what_if()))
        except Exception as exc:  # noqa: BLE001 - a failed export must not end the session
            self.post_message(self.Rendered(None, filename, f"export failed: {type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Rendered(text, filename))

    @on(Rendered)
    def _deliver(self, event: Rendered) -> None:
        if event.text is None:
            self.app.notify(event.error or "export failed", severity="error", markup=False)
            return
        self.app.deliver_text(io.StringIO(event.text), save_filename=event.filename)
        self.app.notify(f"{event.filename}: sent to your browser", markup=False, timeout=3)


class ServedApp(DebuggerApp):
    """One visitor's debugger: no reload, exports delivered as downloads, optionally reporting its state."""

    served = True

    def __init__(self, scenario_path: str | Path, scenario: Scenario | None = None) -> None:
        super().__init__(scenario_path, scenario)
        self.status_dir = os.environ.get(STATUS_ENV) or None
        self.keys_seen = 0  # steps and parameter changes since the start, for the status file
        self._shown: tuple[int, str] | None = None  # the position last shown

    def get_default_screen(self) -> Screen:
        return ServedScreen(self.session)

    def on_mount(self) -> None:
        if self.status_dir:
            self.call_after_refresh(self._report)

    async def run_action(self, action: str | tuple[str, str, tuple[object, ...]],
                         default_namespace: DOMNode | None = None,
                         namespaces: Mapping[str, DOMNode] | None = None) -> bool:
        """Refuse served-off actions however they are asked for (key, palette, mouse)."""
        name = action if isinstance(action, str) else action[1]
        if name.split("(", 1)[0].rsplit(".", 1)[-1] in SERVED_OFF:
            self.notify("not available in a served session", severity="warning", timeout=3)
            return False
        return await super().run_action(action, default_namespace, namespaces)

    # ------------------------------------------------------------------------------------- status
    def status(self) -> dict[str, object]:
        """What the session shows, as data (step, epoch, parameter, what is switched off)."""
        step = self.step
        screen = self.screen
        return {
            "pid": os.getpid(),
            "scenario": str(self.session.path),
            "step_index": self.session.position.index,
            "epoch": step.epoch,
            "kind": str(step.kind),
            "param": self.param,
            "changes": self.keys_seen,
            "reload_allowed": bool(screen.check_action("reload", ())) if isinstance(screen, ServedScreen) else False,
            "size": [self.size.width, self.size.height],
            "time": time.time(),
        }

    def changed(self) -> None:
        """The screen shows a position: count it when the step or the selected parameter changed."""
        now = (self.session.position.index, self.param)
        if self._shown is not None and now != self._shown:
            self.keys_seen += 1
        self._shown = now
        self._report()

    def _report(self) -> None:
        if self.status_dir:
            write_output(Path(self.status_dir) / f"{os.getpid()}.json", json.dumps(self.status()))


def main(argv: list[str] | None = None) -> int:
    """``python -m bpdebug.tui.served PATH``: run one served session (the server chose PATH)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bpdebug.tui.served SCENARIO (started by bpdebug serve)", file=sys.stderr)
        return 2
    try:
        scenario = load(args[0])
    except ScenarioError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from .app import make_app

    app = make_app(args[0], scenario, served=True)
    app.run()
    return int(app.return_code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
