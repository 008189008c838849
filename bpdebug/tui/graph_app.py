"""The debugger on a computation graph: the graph panel where a network has its network panel, the step in words
and numbers, the chain rule of the selected value, the printed figures and watches, and the status line.

A view of a :class:`~bpdebug.tui.graph_session.GraphSession`: actions call the session and show the note it
returns; long runs (``g`` to a far epoch, ``c`` through many epochs) run in a worker that only posts messages,
with a progress bar, and Escape stops them. Keys are data (:data:`GRAPH_KEYS`), the network's where they mean
the same; a key that only means something for a network says so in one line.
"""

from __future__ import annotations

import threading
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from ..core.graph.scenario import GraphScenario
from .app import startup_done
from .graph_session import GraphSession
from .keys import QUIT_ANYWHERE
from .widgets import set_border
from .widgets.footer import FittingFooter
from .widgets.graph import GraphView
from .widgets.modals import ExportModal, HelpScreen, PromptModal

GRAPH_KEYS: tuple[Binding, ...] = (
    Binding("n,space,right", "next_step", "next", id="step.next",
            tooltip="Next step: forward in program order, backward in reverse, then the update (n, space, →)"),
    Binding("p,left", "previous_step", "prev", id="step.previous", tooltip="Previous step (p, ←)"),
    Binding("u", "toggle_by_line", "op/line", id="step.units",
            tooltip="Step by operation or by program line (all the operations of a line at once)"),
    Binding("left_square_bracket", "previous_epoch", "epoch−", id="epoch.previous",
            tooltip="Same step of the previous epoch"),
    Binding("right_square_bracket", "next_epoch", "epoch+", id="epoch.next",
            tooltip="Same step of the next epoch"),
    Binding("g", "goto_epoch", "go to", id="epoch.goto", tooltip="Go to epoch N (a far one shows progress)"),
    Binding("w", "pick_value", "select", id="param.pick",
            tooltip="Select a value or leaf by name (a, c, c@2, #7): the chain rule panel shows ∂output/∂it"),
    Binding("escape", "cancel_run", "stop", id="run.cancel", show=False, tooltip="Stop a long run"),
    Binding("b", "edit_breakpoints", "break", id="breakpoint.edit",
            tooltip="Add (or remove) a breakpoint: nan, loss-up, NAME<X, NAME~sign, grad>X, step=backward, expect"),
    Binding("c", "continue_run", "continue", id="breakpoint.continue",
            tooltip="Continue to the first step where a breakpoint holds"),
    Binding("k", "gradient_check", "gradcheck", id="chain.gradcheck", show=False,
            tooltip="Check the selected leaf's gradient by a central difference"),
    Binding("a", "watch", "watch", id="watch.toggle", show=False, tooltip="Watch a value (c, grad.a, a.after)"),
    Binding("e", "edit_value", "what if", id="whatif.edit", show=False,
            tooltip="What if: new starting values for leaves (a=-3, b=1): a new run from them"),
    Binding("o", "switch_run", "orig/fork", id="whatif.switch", show=False,
            tooltip="Switch between the original run and the what-if fork"),
    Binding("P", "practice", "practice", id="practice",
            tooltip="Practice: type each next step's number before it is shown"),
    Binding("v", "network_only", "picture", id="picture.cycle", show=False,
            tooltip="Pictures of a network (decision map, gradient flow per layer): not for a graph"),
    Binding("x", "export", "export", id="export",
            tooltip="Export the run shown: md, tex, txt (the worked example gate by gate), json, py, dot, svg"),
    Binding("question_mark,f1", "help", "help", id="help", tooltip="Keys and how to read the screen"),
    Binding("q", "app.quit", "quit", id="quit", tooltip="Quit bpdebug"),
)

# folded from the footer, in this order, while its keys do not fit (help and quit always show; the palette lists all)
GRAPH_SPARE_KEYS = ("toggle_by_line", "export", "previous_epoch", "next_epoch", "continue_run", "edit_breakpoints")

GRAPH_LEGEND = (
    "Graph: every value with its operation, value and gradient (∂); … = not computed yet at this step.",
    "  Bold green: what this step computes. Accent: the selected value's paths to the output.",
    "  Leaves left and the output right (columns by depth) when the graph fits, else one line per value.",
    "Step: the operation in symbols and numbers; backward, the sum over the value's uses.",
    "Chain rule: ∂output/∂(selected value) as the sum over its paths (each a product of local derivatives),",
    "  or, when there are many paths, over its uses (δ form): the upstream gradient times the local derivative.",
    "Not for a graph: the decision map, the gradient flow per layer, unit by unit, a batch's examples.",
)


class GraphScreen(Screen):
    """The one screen of a graph: graph panel, step, chain rule, figures and watches."""

    BINDINGS = list(GRAPH_KEYS)

    class RunProgress(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

    class RunFinished(Message):
        def __init__(self, note: str) -> None:
            super().__init__()
            self.note = note

    class DerivationReady(Message):
        def __init__(self, at: tuple, lines: list[str]) -> None:
            super().__init__()
            self.at, self.lines = at, lines

    def __init__(self, session: GraphSession) -> None:
        super().__init__(id="graph-debugger")
        self.session = session
        self._stop = threading.Event()
        self.busy = False
        self.note = ""

    def compose(self) -> ComposeResult:
        yield Static(id="graph-status")
        with Horizontal(id="graph-top"):
            yield GraphView(self.session.program, id="graph-panel")
            with Vertical(id="graph-right"):
                yield Static(id="graph-step")
                with VerticalScroll(id="graph-side"):
                    yield Static(id="graph-side-text")
        yield Static(id="graph-chain")
        yield ProgressBar(id="graph-progress", show_eta=False)
        yield Static(id="graph-note")
        yield FittingFooter(GRAPH_SPARE_KEYS, width=self.app.size.width)

    def on_mount(self) -> None:
        if not self.is_attached:  # the app exited while the screen was composed (its panels are gone): nothing to show
            return
        self.refresh_views()
        self.on_resize()
        self.call_after_refresh(startup_done)

    def on_resize(self, event: events.Resize | None = None) -> None:
        """As the network's screen: below 100 columns the palette's hint gives way and the footer tightens, and
        the footer folds its spare keys while they do not fit, so help and quit always show."""
        self.query_one(FittingFooter).style_for(self.size.width)
        self.refresh_bindings()  # the footer recomposes, measures its keys and folds what does not fit

    # ------------------------------------------------------------------------------------------ repaint
    def refresh_views(self) -> None:
        s = self.session
        self.query_one("#graph-status", Static).update(f"{s.title()}  │  {s.status()}")
        graph = self.query_one(GraphView)
        if graph.program is not s.program:
            graph.set_program(s.program)
        graph.show(s.step, s.selected_node, s.paths_of_selected(), s.hidden())
        set_border(graph, "graph" + (" (by depth: leaves left)" if graph.picture else " (program order)"))
        step_panel = self.query_one("#graph-step", Static)
        chain = self.query_one("#graph-chain", Static)
        set_border(chain, f"chain rule: ∂{s.trace.layout.output_key}/∂{s.selected}")
        if s.practising:  # nothing that would give the answer away
            step_panel.update(f"practice: {s.practice_prompt()}\nn: answer (the number shown as ? in the graph)")
            set_border(step_panel, "practice")
            chain.update("the chain rule shows again when practice ends (P)")
        else:
            step_panel.update("\n".join(s.narration()))
            set_border(step_panel, f"step: {s.step.title}")
            self._derive((s.trace, s.index, s.selected))
        side = ["printed figures:", *s.figures()] if s.scenario.expectations and not s.practising else []
        if s.watches:
            side += ["watches:", *s.watch_rows()]
        side += ["breakpoints: " + ", ".join(c.text for c in s.conditions)]
        if s.practice is not None:
            side.append(s.practice.score_line())
        self.query_one("#graph-side-text", Static).update("\n".join(side))
        set_border(self.query_one("#graph-side"), "figures · watches · breakpoints")
        self.query_one("#graph-note", Static).update(self.note)

    @work(thread=True, exclusive=True, exit_on_error=False, group="graph-derivation")
    def _derive(self, at: tuple) -> None:
        """The chain rule in a worker (SymPy is loaded on the first one, off the first frame)."""
        lines = self.session.derivation_at(*at)
        self.post_message(self.DerivationReady(at, lines))

    @on(DerivationReady)
    def _derived(self, event: DerivationReady) -> None:
        s = self.session
        if event.at == (s.trace, s.index, s.selected):  # still where the walk is
            self.query_one("#graph-chain", Static).update("\n".join(event.lines))

    def show_note(self, note: str) -> None:
        self.note = note
        self.refresh_views()

    # ------------------------------------------------------------------------------------------- actions
    def action_next_step(self) -> None:
        if self.busy:
            return
        if self.session.practising:
            self._ask()
            return
        self.show_note(self.session.next_step())

    def _ask(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.show_note(self.session.practice_answer(text))

        self.app.push_screen(PromptModal(self.session.practice_prompt(), "the number shown as ? (Enter); h: a hint, "
                                         "r: reveal; Escape: later", "a number"), answered)

    def action_previous_step(self) -> None:
        if not self.busy:
            self.show_note(self.session.previous_step())

    def action_toggle_by_line(self) -> None:
        self.show_note(self.session.toggle_by_line())

    def action_next_epoch(self) -> None:
        if not self.busy:
            self.show_note(self.session.next_epoch())

    def action_previous_epoch(self) -> None:
        if not self.busy:
            self.show_note(self.session.previous_epoch())

    def action_pick_value(self) -> None:
        def picked(text: str | None) -> None:
            if text:
                self.show_note(self.session.select(text))

        self.app.push_screen(PromptModal("select a value", "a leaf or a value: a, c, c@2, #7", "a",
                                         self.session.names()), picked)

    def action_goto_epoch(self) -> None:
        def picked(text: str | None) -> None:
            if not text:
                return
            try:
                epoch = int(text)
            except ValueError:
                self.show_note(f"{text}: expected an epoch number")
                return
            self._long(lambda progress, stop: self.session.go_to_epoch(epoch, progress, stop))

        self.app.push_screen(PromptModal("go to epoch", f"1 … (the scenario has {self.session.trace.epochs})",
                                         "N"), picked)

    def action_continue_run(self) -> None:
        if not self.busy:
            self._long(lambda progress, stop: self.session.continue_run(None, progress, stop))

    def _long(self, job) -> None:
        self.busy = True
        self._stop.clear()
        self.add_class("-busy")
        self._run(job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="graph-run")
    def _run(self, job) -> None:
        note = job(lambda done, total: self.post_message(self.RunProgress(done, total)), self._stop.is_set)
        self.post_message(self.RunFinished(note))

    @on(RunProgress)
    def _progress(self, event: RunProgress) -> None:
        self.query_one(ProgressBar).update(total=event.total, progress=event.done)

    @on(RunFinished)
    def _finished(self, event: RunFinished) -> None:
        self.busy = False
        self.remove_class("-busy")
        self.show_note(event.note)

    def action_cancel_run(self) -> None:
        self._stop.set()

    def action_edit_breakpoints(self) -> None:
        def picked(text: str | None) -> None:
            if text:
                self.show_note(self.session.add_condition(text))

        self.app.push_screen(PromptModal("breakpoint (the same again removes it)", self.session.condition_help(),
                                         "loss-up"), picked)

    def action_gradient_check(self) -> None:
        self.show_note(self.session.gradient_check())

    def action_watch(self) -> None:
        def picked(text: str | None) -> None:
            if text:
                self.show_note(self.session.toggle_watch(text))

        self.app.push_screen(PromptModal("watch", "a value, grad.NAME, NAME.after or loss", "grad.a",
                                         self.session.names()), picked)

    def action_edit_value(self) -> None:
        def picked(text: str | None) -> None:
            if text:
                self.show_note(self.session.fork(text))

        self.app.push_screen(PromptModal("what if", "NAME=VALUE for leaves, comma-separated: a=-3, b=1",
                                         f"{self.session.program.leaves[0]}=1"), picked)

    def action_switch_run(self) -> None:
        self.show_note(self.session.switch_run())

    def action_practice(self) -> None:
        self.show_note(self.session.toggle_practice())

    def action_export(self) -> None:
        def picked(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                fmt, path = choice
                self._long(lambda progress, stop: self.session.export(fmt, path))

        if not self.busy:
            self.app.push_screen(ExportModal(self.session.EXPORTS, "md", self.session.path.stem), picked)

    def action_network_only(self) -> None:
        self.show_note(self.session.network_only())

    def action_help(self) -> None:
        keys = [(b.key.replace(",", " "), b.tooltip or b.description) for b in GRAPH_KEYS]
        self.app.push_screen(HelpScreen(keys, GRAPH_LEGEND))


class GraphApp(App[int]):
    """The debugger on a graph scenario."""

    CSS_PATH = "graph.tcss"
    TITLE = "bpdebug"
    BINDINGS = [QUIT_ANYWHERE]

    def __init__(self, scenario_path: str | Path, scenario: GraphScenario) -> None:
        super().__init__()
        self.session = GraphSession(scenario_path, scenario)

    def get_default_screen(self) -> Screen:
        return GraphScreen(self.session)
