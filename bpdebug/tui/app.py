"""The Textual debugger: a view of a :class:`~bpdebug.tui.session.Session`.

The session holds the state and the rules (where the walk is, breakpoints, long runs, derivations); the
screen holds what the view needs to repaint, as reactives: the session's position, whether a long run is
under way and whether the side panels show. Actions call the session and show the notes it returns;
workers (long runs, derivations, exports) run session methods in a thread and only post messages back,
handled on the UI thread. Key bindings are data (:mod:`bpdebug.tui.keys`).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from ..core.engine import Step, Trace
from ..core.params import Param
from ..core.scenario import Scenario
from ..text.numbers import PENDING
from .fit import fit_top
from .keys import BUSY_ACTIONS, KEYS, PICTURE_ACTIONS, QUIT_ANYWHERE, RUN_ACTIONS, TABLE_ACTIONS, tooltip
from .session import Move, Note, Position, Session, View, bundled_scenarios, export_formats
from .widgets import add_stylesheet, set_border
from .widgets.derivation_panel import DerivationPanel
from .widgets.expectations import ExpectationsPanel
from .widgets.footer import PALETTE_WIDTH, FittingFooter
from .widgets.network import NetworkView
from .widgets.params_table import FILTER_HELP, ParamFilter, ParamsTable
from .widgets.status import StatusBar
from .widgets.step_panel import StepPanel

if TYPE_CHECKING:  # the dialogs are imported where they open, the hidden panels where they first show
    from ..core.graph.scenario import GraphScenario
    from ..text.practice import Question
    from .session import RunOutcome, Search
    from .widgets.bound import BoundPanel
    from .widgets.loss_panel import LossPanel
    from .widgets.modals import PromptModal
    from .widgets.watches import ForkLine, WatchPanel

__all__ = ["KEYS", "LEGEND", "DebuggerApp", "DebuggerScreen", "bundled_scenarios", "make_app"]

LEGEND = (
    "Top: the scenario, then epoch / example, the four phases (current one reversed), step k of n.",
    "Network: each unit's net (z) and out (a) once computed; … = not computed yet at this step.",
    "  Green: what this step computed. Accent: the two units the selected parameter connects.",
    "  Unit by unit (u): a layer fills in one unit per step; the status line says which (unit h1 of 2).",
    "Step: the formula in symbols, the numbers it uses, and (highlighted) what it computes.",
    "Chain rule: ∂E/∂p of the selected parameter in symbols (SymPy), closed form and numbers;",
    "  … marks a factor not computed yet; green lines changed at this step.",
    "Parameters: value before this pass, gradient once known, new value after the update.",
    "  * marks a frozen parameter. Click a row (or a unit) to select; / filters the rows.",
    "Printed figures: the scenario's [[expect]] values, checked when the walk reaches them.",
    "Divergence: the status line names the first number that is not finite; moves stop there once.",
    "Long runs show a progress bar; Escape stops them at the last epoch computed.",
)

WATCH_EXTRA = ("loss", "error")  # quantities a watch completes to beside the parameters' names
STARTUP_WAIT = 0.5  # seconds start-up's threads wait at most for the footer's fitted frame (FittingFooter.Fitted)
COMPACT_WIDTH = PALETTE_WIDTH  # below this many columns the side panels fold away and the status line abbreviates
HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (COMPACT_WIDTH, "-wide")]  # the screen's classes by width
VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # and by height
ON_DEMAND_CSS = Path(__file__).resolve().parent / "on_demand.tcss"  # styles what shows once asked for (app.tcss)

PanelT = TypeVar("PanelT", bound="BoundPanel | LossPanel")  # a panel mounted when it first has something to show


class DebuggerScreen(Screen):
    """The one main screen: the panels, and the view state as reactives."""

    BINDINGS = list(KEYS)

    # repaint=False: the panels repaint what changed; a repaint of the screen would redraw every widget
    at: reactive[Position | None] = reactive(None, init=False, repaint=False)
    busy: reactive[bool] = reactive(False, init=False, repaint=False)
    side: reactive[bool] = reactive(False, init=False, repaint=False)  # side panels toggled (f)
    view: reactive[View | None] = reactive(None, init=False, repaint=False)  # what the bound children paint

    class RunProgress(Message):
        """A long run computed ``done`` of ``total`` epochs."""

        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

    class RunFinished(Message):
        """A long run ended (reached its epoch, or was stopped)."""

        def __init__(self, outcome: RunOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    class SearchFinished(Message):
        """A search for the next stop (``c``) ended in a worker."""

        def __init__(self, found: Search) -> None:
            super().__init__()
            self.found = found

    class DerivationReady(Message):
        """The chain rule of a step has been derived (in a worker)."""

        def __init__(self, position: Position, lines: list[str] | str | None,
                     previous: list[str] | str | None) -> None:
            super().__init__()
            self.position, self.lines, self.previous = position, lines, previous

    class Diagnosed(Message):
        """The session's printed figures have been diagnosed (in a worker)."""

    class Exported(Message):
        def __init__(self, note: Note) -> None:
            super().__init__()
            self.note = note

    def __init__(self, session: Session) -> None:
        # the breakpoint classes (-wide, -tall …) the first resize would give it, from the start: styled once
        super().__init__(id="debugger", classes=" ".join(breakpoint_classes(self.app.size)))
        self.session = session
        self._painted_size: Size | None = None  # the size the panels were last laid out for
        self._deriving: Position | None = None  # the position a derivation worker is under way for
        self.chain_shown: Position | None = None  # the position whose chain rule is painted (None: deriving)
        self._diagnosing: set[int] = set()  # the run generations whose printed figures are being diagnosed
        self._revision = 0  # repaints so far: each is a new view, so the bound children paint again
        # set once the footer has fitted its keys, the last of start-up's frames: the threads start-up schedules
        # (the chain rule's, which imports SymPy, and the diagnosis) wait for it, so as not to slow those frames
        self._started = threading.Event()
        # the panels hidden until they have something to show, mounted then (None before): see _mount_shown
        self.fork_line: ForkLine | None = None
        self.loss_panel: LossPanel | None = None
        self.watch_panel: WatchPanel | None = None

    # ----------------------------------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        # bound to the screen's view: each paints itself when it changes (``watch_view``); the what-if line
        # (#fork, under the status), the loss (#loss, under the network) and the watches (#watches, under the
        # step) are mounted there the first time they have something to show (_mount_shown)
        yield StatusBar(self.session, id="status").data_bind(DebuggerScreen.view)
        with Horizontal(id="top"):
            with Vertical(id="top-left"):
                yield NetworkView(self.session.scenario, self.session, id="network").data_bind(DebuggerScreen.view)
                yield ExpectationsPanel(id="expectations")
            yield ParamsTable(id="params")  # bordered itself: a scroll view, it needs no scrolling box around it
        yield StepPanel(self.session, id="step").data_bind(DebuggerScreen.view)
        yield DerivationPanel(id="derivation-box")  # bordered and scrolling itself, as the parameters table
        yield FittingFooter(width=self.app.size.width)

    def on_mount(self) -> None:
        if not self.is_attached:  # the app exited while the screen was composed (its panels are gone): nothing to show
            return
        titles = {"#network": "network", "#params": "parameters", "#expectations": "printed figures",
                  "#step": "step", "#derivation-box": "chain rule"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one(ParamsTable).set_scenario(self.session.scenario)
        self.at = self.session.position
        self.on_resize()
        self.call_after_refresh(startup_done)

    def on_resize(self, event: events.Resize | None = None) -> None:
        """Panels wrap and compact to the width: repaint once the new size is laid out."""
        self.query_one(FittingFooter).style_for(self.size.width)
        self.refresh_bindings()  # the filter key shows only where the parameters table does
        if self.at is not None and self.size != self._painted_size:
            self._painted_size = self.size
            self.call_after_refresh(self.render_step)

    @property
    def compact(self) -> bool:
        return self.size.width < COMPACT_WIDTH

    # ------------------------------------------------------------------------------------------ state
    def watch_at(self) -> None:
        self.render_step()

    def watch_busy(self, busy: bool) -> None:
        self.refresh_bindings()
        if busy:
            from textual.widgets import ProgressBar  # here: start-up does not need it (nor what it imports)

            self.add_on_demand_css()
            self.mount(ProgressBar(total=None, show_eta=True, id="progress"), after="#status")
        else:
            for bar in self.query("#progress"):
                bar.remove()

    def watch_side(self, side: bool) -> None:
        self.add_on_demand_css()
        self.set_class(side, "-side")
        self.refresh_bindings()
        self.call_after_refresh(self.render_step)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While a long run computes, navigation waits (greyed out in the footer); Escape shows only then."""
        if action in RUN_ACTIONS:
            return self.busy
        if action in TABLE_ACTIONS and self.compact and not self.side:
            return False  # the parameters table is folded away
        if action in PICTURE_ACTIONS:
            return self.has_class("-pictures")
        if self.busy and action in BUSY_ACTIONS:
            return None
        return True

    def apply(self, move: Move) -> None:
        """Show what an action of the session did: its notes, the bell when it refused, and the new position."""
        if move.refused:
            self.app.bell()
        if move.notes:  # what this move says replaces what earlier ones said: toasts never pile up
            self.app.clear_notifications()
        for note in move.notes:
            self.app.notify(note.text, title=note.title, severity=note.severity, timeout=note.timeout,
                            markup=False)
        self.at = self.session.position

    # ----------------------------------------------------------------------------------------- render
    def render_step(self) -> None:
        """Repaint: a new view for the bound children (status, what-if line, network, loss, step, watches),
        then the printed figures, the parameters, the picture and the chain rule; the layout is fitted after."""
        s = self.session
        step, p = s.shown_step, s.selected  # practising, the step's results are hidden until answered
        compact = self.compact
        self.query_one(ExpectationsPanel).show(s.results, s.reached, s.diagnoses)
        if s.diagnoses is None and s.generation not in self._diagnosing:  # a new run: diagnose after this frame
            self._diagnosing.add(s.generation)
            self.call_after_refresh(self._diagnose, s.generation)
        self._revision += 1
        self.view = View(s.position, compact, self._revision)  # the bound children paint (their watch_view)
        self._mount_shown()  # and a panel with something to show for the first time is mounted, and paints
        # on a short screen the step panel yields to watches and a what-if line
        self.set_class(bool(s.watches) or s.forked is not None, "-crowded")
        self.query_one(ParamsTable).show(step, p)
        if self.has_class("-pictures"):
            self._show_picture()
        self._show_derivation()
        self.call_after_refresh(fit_top, self)

    def _mount_shown(self) -> None:
        """Mount each panel hidden while it has nothing to show the first time it has something (a what-if fork,
        a watch, the loss of a second epoch), where it belongs, so the first frame builds (and imports) none of
        them. Once mounted a panel stays, hidden by its ``-empty`` class when it has nothing to show again."""
        if not self.is_attached:  # quitting (a long run's end posted as the app exits): nothing is shown again
            return
        s = self.session
        if self.fork_line is None and s.forked is not None:
            from .widgets.watches import ForkLine

            self.fork_line = self._mount_bound(ForkLine(s, id="fork", classes="-empty"), None, before="#top")
        if self.loss_panel is None and len(s.losses_reached()) > 1:  # what LossPanel.show shows
            from .widgets.loss_panel import LossPanel

            self.loss_panel = self._mount_bound(LossPanel(s, id="loss", classes="-empty"), "loss per epoch",
                                                after="#network")
        if self.watch_panel is None and s.watches:
            from .widgets.watches import WatchPanel

            self.watch_panel = self._mount_bound(WatchPanel(s, id="watches", classes="-empty"),
                                                 "watches (a adds or removes)", after="#step")

    def add_on_demand_css(self) -> None:
        """Add ``on_demand.tcss`` to the app's stylesheet (once) before the first of what it styles shows: the
        fold, the pictures, the loss, the watches, the what-if line, a long run's progress."""
        add_stylesheet(self.app, ON_DEMAND_CSS)

    def _mount_bound(self, panel: PanelT, title: str | None, *, before: str | None = None,
                     after: str | None = None) -> PanelT:
        """Mount ``panel`` (``before``/``after`` a panel, with its border ``title``) bound to the screen's view as
        compose's ``data_bind`` binds the others (``data_bind`` binds to the message pump it is called from, and an
        action runs in the app's). The watch calls it at once with the current view: it paints in the same repaint
        as the panels already there, before the layout is fitted to it."""
        self.add_on_demand_css()  # their rules
        self.mount(panel, before=before, after=after)
        if title is not None:
            panel.border_title = title

        def bound(view: View | None) -> None:
            panel.view = view

        panel.watch(self, "view", bound)
        return panel

    # ------------------------------------------------------------------------------------- derivation
    def _show_derivation(self) -> None:
        s, at = self.session, self.session.position
        p = s.selected
        set_border(self.query_one("#derivation-box"), title=f"chain rule of {p.short} = {p.canonical}")
        index = at.index - at.pending  # practising: as the step before (its results are the question)
        if at.pending and not s.step.template.position:
            self._paint_derivation(at, f"{PENDING} the chain rule of {p.short} fills in as you answer", None)
        elif s.derivation_is_quick(at.param):
            # SymPy is loaded and the chain's symbols are built: substituting numbers takes well under a
            # millisecond, so do it now and paint the step in one frame
            self._paint_derivation(at, s.derivation(index, at.param),
                                   s.derivation(index - 1, at.param) if index else None)
        else:
            self.chain_shown = None
            self.query_one(DerivationPanel).show_message("deriving with SymPy …")
            if self._deriving != at:
                self._deriving = at
                # after the frame that shows this step, so neither SymPy nor the thread delays it
                self.call_after_refresh(self._derive, at)

    @work(thread=True, exclusive=True, group="derive")
    def _derive(self, at: Position) -> None:
        """Build the derivation in a thread. The first use imports :mod:`bpdebug.derivation` and with it SymPy
        (~250 ms): nothing the first frame needs imports it, so the first frame never waits for it, and this
        worker is started only after that frame (see :meth:`_show_derivation`)."""
        self._started.wait(STARTUP_WAIT)
        if get_current_worker().is_cancelled:
            return
        s = self.session
        index = at.index - at.pending
        lines = s.derivation(index, at.param, at.generation)
        previous = s.derivation(index - 1, at.param, at.generation) if index else None
        self.post_message(self.DerivationReady(at, lines, previous))

    @on(DerivationReady)
    def _derivation_ready(self, event: DerivationReady) -> None:
        if event.position == self._deriving:
            self._deriving = None
        if event.position == self.session.position:
            self._paint_derivation(event.position, event.lines, event.previous)

    def _paint_derivation(self, at: Position, lines: list[str] | str | None,
                          previous: list[str] | str | None) -> None:
        self.chain_shown = at
        panel = self.query_one(DerivationPanel)
        if isinstance(lines, str):
            panel.show_message(lines)
        elif lines is not None:
            first = panel.show_lines(lines, previous if isinstance(previous, list) else None)
            target = 0 if first is None else max(0, first - 1)
            if panel.scroll_y != target and (target or panel.scroll_y):
                # once laid out, in the scroll range of this step's layout (the step panel above may grow)
                panel.call_after_refresh(panel.scroll_to, y=target, animate=False)

    # -------------------------------------------------------------------------------- printed figures
    def _diagnose(self, generation: int) -> None:
        """Which failing printed figures are root slips: seconds on the blog, so after the first frame and in a
        daemon thread (it cannot be cancelled half-way, and quitting must not wait for it)."""
        def run() -> None:
            self._started.wait(STARTUP_WAIT)
            if self.session.diagnose(generation) is not None:
                self.post_message(self.Diagnosed())

        threading.Thread(target=run, name="bpdebug-diagnose", daemon=True).start()

    @on(FittingFooter.Fitted)
    def _footer_fitted(self) -> None:
        self._started.set()

    @on(Diagnosed)
    def _diagnosed(self) -> None:
        s = self.session
        self.query_one(ExpectationsPanel).show(s.results, s.reached, s.diagnoses)
        if s.diagnosis_failed:
            self.say(Note(s.diagnosis_failed, "warning", 8))

    # ------------------------------------------------------------------------------- dialogs' answers
    def say(self, *notes: Note) -> None:
        """Show ``notes`` where the walk stays (no move, no bell)."""
        self.apply(Move(False, notes))

    def ask(self, prompt: PromptModal, act: Callable[[str], Move | None], repaint: bool = False) -> None:
        """Show ``prompt``; a non-empty answer goes to ``act`` and the move it returns is shown (None: the act
        shows what it did itself); ``repaint``: then the step is repainted, for an act that changes what shows
        without moving. Escape or nothing typed: nothing happens."""
        def answered(text: str | None) -> None:
            if text:
                move = act(text)
                if move is not None:
                    self.apply(move)
                if repaint:
                    self.render_step()

        self.app.push_screen(prompt, answered)

    def write_checked(self, path: str, write: Callable[[], object], nothing: str) -> None:
        """``write`` to ``path`` (a fork saved, an export) unless the session refuses the path; when it would
        replace a file, ask first, and keeping the file says "PATH kept; ``nothing``"."""
        from .widgets.modals import ConfirmModal

        s = self.session
        refused = s.refusal(path)
        if refused is not None:
            self.say(refused)
        elif s.would_overwrite(path):
            def answered(yes: bool | None) -> None:
                if yes:
                    write()
                else:
                    self.say(Note(f"{path} kept; {nothing}", timeout=3))

            self.app.push_screen(ConfirmModal(f"{path} exists. Overwrite it?", "Enter or y overwrites; Escape or n "
                                              "keeps the file."), answered)
        else:
            write()

    # ---------------------------------------------------------------------------------------- actions
    def action_next_step(self) -> None:
        self.apply(self.session.next_step())

    def action_previous_step(self) -> None:
        self.apply(self.session.previous_step())

    def action_next_epoch(self) -> None:
        self.go_to_epoch(self.session.step.epoch + 1)

    def action_previous_epoch(self) -> None:
        self.apply(self.session.previous_epoch())

    def action_goto_epoch(self) -> None:
        from .widgets.modals import PromptModal

        self.ask(PromptModal("Go to epoch", self.session.epoch_hint(), placeholder="epoch number"), self._goto_answer)

    def _goto_answer(self, text: str) -> None:
        epoch = self.session.parse_epoch(text)
        if isinstance(epoch, Note):
            self.say(epoch)
        else:
            self.go_to_epoch(epoch)

    def go_to_epoch(self, epoch: int) -> None:
        """The same step position in ``epoch``; far epochs are computed in a worker with progress."""
        if self.session.is_long_run(epoch):
            self.busy = True
            self._run(epoch)
        else:
            self.apply(self.session.go_to_epoch(epoch, again="]" if epoch == self.session.step.epoch + 1 else "g"))

    @work(thread=True, exclusive=True, group="run")
    def _run(self, epoch: int) -> None:
        """Train up to ``epoch``, posting progress; Escape (or quitting) cancels the worker, which stops it."""
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self.post_message(self.RunProgress(done, total))

        outcome = self.session.run_to(epoch, progress, lambda: worker.is_cancelled)
        self.post_message(self.RunFinished(outcome))

    @on(RunProgress)
    def _run_progress(self, event: RunProgress) -> None:
        from textual.widgets import ProgressBar

        for bar in self.query("#progress").results(ProgressBar):
            bar.update(total=event.total, progress=event.done)

    @on(RunFinished)
    def _run_finished(self, event: RunFinished) -> None:
        self.busy = False
        self.apply(self.session.finish_run(event.outcome))

    def action_cancel_run(self) -> None:
        self.workers.cancel_group(self, "run")
        self.workers.cancel_group(self, "export")

    def action_pick_param(self) -> None:
        from .widgets.modals import PromptModal, prefix_suggester

        s = self.session
        self.ask(PromptModal("Select a parameter", s.scenario.params.describe_names(), placeholder="w5",
                             suggestions=prefix_suggester(s.scenario.params, s.param_names)), s.select)

    def action_filter_params(self) -> None:
        from .widgets.modals import PromptModal

        self.app.push_screen(PromptModal("Filter the parameters", FILTER_HELP, placeholder="layer 2 top 20",
                                         value=self.query_one(ParamsTable).filter_text), self._filter_answer)

    def _filter_answer(self, text: str | None) -> None:
        if text is None:
            return
        try:
            flt = ParamFilter.parse(text)
        except ValueError as exc:
            self.say(Note(str(exc), "error"))
            return
        self.query_one(ParamsTable).set_filter(flt, text)

    def action_next_param(self) -> None:
        self.apply(self.session.select_next(1))

    def action_previous_param(self) -> None:
        self.apply(self.session.select_next(-1))

    def action_scroll_step(self, direction: int) -> None:
        self.query_one(StepPanel).scroll_page(direction)

    def action_scroll_chain(self, direction: int) -> None:
        self.query_one(DerivationPanel).scroll_page(direction)

    def action_toggle_breakpoint(self) -> None:
        self.apply(self.session.toggle_breakpoint())
        self.render_step()  # the status line lists the breakpoints

    def action_edit_breakpoints(self) -> None:
        from .widgets.breakpoints import BreakpointsModal

        self.app.push_screen(BreakpointsModal(self.session), lambda _: self.render_step())

    def action_continue_run(self) -> None:
        """To the first step where a breakpoint holds (or a printed figure fails); long searches in a worker."""
        if self.session.search_is_long():
            self.busy = True
            self._search()
        else:
            self.apply(self.session.continue_run())
            self.render_step()  # the status line says why it stopped, or no longer does

    @work(thread=True, exclusive=True, group="run")
    def _search(self) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self.post_message(self.RunProgress(done, total))

        self.post_message(self.SearchFinished(self.session.search(progress, lambda: worker.is_cancelled)))

    @on(SearchFinished)
    def _search_finished(self, event: SearchFinished) -> None:
        self.busy = False
        self.apply(self.session.finish_search(event.found))
        self.render_step()  # the status line says why it stopped

    def action_next_example(self) -> None:
        self.apply(self.session.next_example())
        self.render_step()

    def action_whole_batch(self) -> None:
        self.apply(self.session.whole_batch())
        self.render_step()

    def action_toggle_units(self) -> None:
        self.apply(self.session.toggle_units())
        self.render_step()  # the status line says unit by unit, even on a step that stays whole

    def action_gradient_check(self) -> None:
        self.say(self.session.gradient_check())

    def action_watch(self) -> None:
        from .widgets.modals import PromptModal, prefix_suggester

        s = self.session
        names = [w.name for w in s.watches]
        hint = ("w5, grad.w1, delta2, a3, loss: its value here, at this step of the previous epoch, and the "
                "change" + (f"; watching {', '.join(names)} (type one to remove it)" if names else ""))
        suggester = prefix_suggester(s.scenario.params, s.param_names, WATCH_EXTRA)
        self.ask(PromptModal("Watch a quantity", hint, placeholder="delta2", suggestions=suggester), s.toggle_watch,
                 repaint=True)

    def action_edit_value(self) -> None:
        from .widgets.modals import PromptModal

        s = self.session
        self.ask(PromptModal(f"What if {s.selected.short} = …", s.edit_hint(),
                             placeholder=f"{s.step.param(s.selected):.7g}"), s.fork, repaint=True)

    def action_switch_run(self) -> None:
        self.apply(self.session.switch_run())
        self.render_step()

    def action_drop_fork(self) -> None:
        self.apply(self.session.drop_fork())
        self.render_step()

    def action_save_fork(self) -> None:
        from .widgets.modals import PromptModal

        s = self.session
        if s.forked is None:
            self.say(Note("no what-if fork to save: e edits a value and forks the run", timeout=3))
            return
        self.ask(PromptModal("Save the what-if fork as a scenario", "a new TOML file; the scenario you opened is "
                             "never changed", value=s.fork_path()),
                 lambda path: self.write_checked(path, lambda: self.say(s.save_fork(path)), "nothing saved"))

    def action_toggle_side(self) -> None:
        self.side = not self.side

    def _show_picture(self) -> None:
        from .widgets.pictures import PicturePanel

        self.query_one(PicturePanel).show()

    def action_cycle_picture(self) -> None:
        """v: the picture panel (mounted, and its module imported, the first time), then its next picture,
        then hidden."""
        from .widgets.pictures import PicturePanel

        panels = self.query(PicturePanel)
        if not panels:
            self.add_on_demand_css()
            self.mount(PicturePanel(self.session, id="pictures"), after="#top")
            self.add_class("-pictures")
            self.call_after_refresh(self._show_picture)  # once it is laid out at its size
        elif not self.has_class("-pictures"):
            self.add_class("-pictures")
            self._show_picture()
        elif panels.first().cycle() is None:
            self.remove_class("-pictures")
        else:
            self._show_picture()
        self.refresh_bindings()

    def action_toggle_log(self) -> None:
        from .widgets.pictures import PicturePanel

        panel = self.query_one(PicturePanel)
        panel.log_scale = not panel.log_scale
        panel.show()

    def action_export(self) -> None:
        from .widgets.modals import ExportModal

        choices = [(f.key, f.label, f.extension) for f in export_formats()]
        keys = [key for key, _, _ in choices]
        default = "md" if "md" in keys else keys[0]
        self.app.push_screen(ExportModal(choices, default, self.session.export_stem()), self._export_answer)

    def _export_answer(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            return
        fmt, path = answer
        epochs = self.session.export_epochs()
        refused = self.session.export_refusal(fmt, epochs)
        if refused is not None:
            self.say(refused)
        else:
            self.write_checked(path, lambda: self.start_export(fmt, path, epochs), "nothing exported")

    def start_export(self, fmt: str, path: str, epochs: int) -> None:
        """Export in a worker; a long one shows its progress and a note, and Escape stops it."""
        if self.session.export_is_long(epochs):
            self.busy = True
            self.say(Note(f"exporting the {fmt} transcript of {epochs} epochs to {path} …; Escape stops",
                          timeout=4))
        self._export(fmt, path, epochs)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, fmt: str, path: str, epochs: int) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self.post_message(self.RunProgress(done, total))

        self.post_message(self.Exported(self.session.export(fmt, path, epochs, progress,
                                                            lambda: worker.is_cancelled)))

    @on(Exported)
    def _exported(self, event: Exported) -> None:
        self.busy = False
        self.say(event.note)

    def action_reload(self) -> None:
        """Re-read the scenario; keep the position when its shape is unchanged, else start over."""
        result = self.session.reload()
        if result.ok:
            self.query_one(ParamsTable).set_scenario(self.session.scenario)
            if not result.same_shape:
                self.query_one(NetworkView).set_scenario(self.session.scenario)
        self.say(result.note)
        if result.ok:
            self.render_step()  # the same position may show different numbers

    def action_practice(self) -> None:
        """Practice mode from the current step, asking for the selected parameter's gradient and update; the
        panels follow the questions and show … for what is not answered yet."""
        from .widgets.practice import PracticeModal

        self.app.push_screen(PracticeModal(self.session.start_practice(), self._practice_asks), self._practice_done)

    def _practice_asks(self, question: Question | None) -> None:
        self.session.ask(question)
        self.at = self.session.position

    def _practice_done(self, score: str | None) -> None:
        self._practice_asks(None)
        if score:
            self.say(Note(score, title="practice", timeout=8))

    def action_help(self) -> None:
        from .widgets.modals import HelpScreen

        self.app.push_screen(HelpScreen(self.key_table(), LEGEND))

    def key_names(self) -> dict[str, list[str]]:
        """The keys of every binding in :data:`KEYS` as displayed, by binding id, after any keymap; a binding
        not offered here and now (Escape outside a long run, L without the loss curve) keeps its declared keys."""
        keys: dict[str, list[str]] = {b.id: [] for b in KEYS if b.id}
        for key, active in self.active_bindings.items():
            if active.binding.id in keys:
                keys[active.binding.id].append(self.app.get_key_display(active.binding.with_key(key)))
        for b in KEYS:
            if b.id and not keys[b.id]:
                keys[b.id] = [self.app.get_key_display(b.with_key(key.strip())) for key in b.key.split(",")]
        return keys

    def key_table(self) -> list[tuple[str, str]]:
        """(keys as displayed, description) for every binding in :data:`KEYS`, after any keymap."""
        keys = self.key_names()
        return [(" ".join(keys[b.id]), tooltip(b) or b.description) for b in KEYS if b.id]

    def complete_tooltips(self) -> None:
        """Give this screen's bindings their tooltips as :func:`~.keys.tooltip` completes them (the b key's is
        completed on first need, not at start-up), for Textual's keys panel, which shows each binding's own."""
        bindings = self._bindings.key_to_bindings  # Textual offers no public way to change a binding in place
        for key, group in bindings.items():
            bindings[key] = [b if (text := tooltip(b)) == b.tooltip else replace(b, tooltip=text) for b in group]

    # ------------------------------------------------------------------------------------------ mouse
    @on(NetworkView.UnitPicked)
    def _unit_clicked(self, event: NetworkView.UnitPicked) -> None:
        self.apply(self.session.select_unit(event.layer, event.unit))

    @on(ParamsTable.ParamClicked)
    def _row_clicked(self, event: ParamsTable.ParamClicked) -> None:
        self.apply(self.session.select(event.param.canonical))


class DebuggerApp(App[int]):
    """Walk through training one keypress per step; see the chain rule of the selected parameter."""

    CSS_PATH = "app.tcss"
    TITLE = "bpdebug"
    BINDINGS = [QUIT_ANYWHERE]
    HORIZONTAL_BREAKPOINTS = HORIZONTAL_BREAKPOINTS
    VERTICAL_BREAKPOINTS = VERTICAL_BREAKPOINTS

    def __init__(self, scenario_path: str | Path, scenario: Scenario | None = None) -> None:
        super().__init__()
        self.session = Session(scenario_path, scenario)  # raises ScenarioError before any screen

    # read-only shortcuts to the session, for tests and benches
    @property
    def scenario(self) -> Scenario:
        return self.session.scenario

    @property
    def trace(self) -> Trace:
        return self.session.trace

    @property
    def step(self) -> Step:
        return self.session.step

    @property
    def step_index(self) -> int:
        return self.session.position.index

    @property
    def param(self) -> str:
        return self.session.param

    @property
    def selected(self) -> Param:
        return self.session.selected

    def on_load(self) -> None:
        """No garbage collection while the screen is built (a full collection costs ~25 ms there and frees
        nothing); after the first frame what startup built is frozen out of later collections."""
        gc.disable()

    def on_unmount(self) -> None:
        gc.unfreeze()
        gc.enable()

    def get_default_screen(self) -> Screen:
        return DebuggerScreen(self.session)

    def action_show_help_panel(self) -> None:
        """Textual's keys panel (the palette's Keys), showing the debugger's keys with their tooltips complete."""
        if isinstance(self.screen, DebuggerScreen):
            self.screen.complete_tooltips()
        super().action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key's action is also in the command palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        if isinstance(screen, DebuggerScreen):
            keys = screen.key_names()
            for b in KEYS:
                target = self if b.action.startswith("app.") else screen
                yield SystemCommand(tooltip(b) or b.description, f"key: {' / '.join(keys.get(b.id or '', []))}",
                                    partial(target.run_action, b.action.removeprefix("app.")))


def breakpoint_classes(size: Size) -> tuple[str, ...]:
    """The classes Textual's breakpoints give a screen of ``size`` (the largest breakpoint each dimension
    reaches), or none before the terminal's size is known."""
    if not size.width or not size.height:
        return ()
    return tuple(max((b for b in points if extent >= b[0]), default=(0, ""))[1]
                 for points, extent in ((HORIZONTAL_BREAKPOINTS, size.width), (VERTICAL_BREAKPOINTS, size.height)))


def startup_done() -> None:
    """After the first frame: what start-up built stays (frozen out of the collector's scans), and
    garbage collection resumes (``bpdebug`` turns it off before its first import, see ``cli.cmd_app``)."""
    gc.freeze()
    gc.enable()


def make_app(scenario_path: str | Path, scenario: Scenario | GraphScenario | None = None,
             served: bool = False) -> DebuggerApp:
    """The debugger for ``scenario_path``; raises ScenarioError for an invalid file (before any screen).
    A caller that has already loaded the file (the CLI, to refuse a bad one first) passes ``scenario``
    so it is not read twice. ``served``: a browser visitor's session (:mod:`.served`): no reload, exports
    as downloads."""
    if getattr(scenario, "kind", None) == "graph":  # a computation graph: its own screen (graph_app)
        from .graph_app import GraphApp

        return GraphApp(scenario_path, cast("GraphScenario", scenario))  # type: ignore[return-value]
    scenario = cast("Scenario | None", scenario)
    if served:
        from .served import ServedApp

        return ServedApp(scenario_path, scenario)
    return DebuggerApp(scenario_path, scenario)
