"""The Textual debugger: a thin view over the engine's steps and the derivation builder.

State is two reactive values on the app, the current step index and the selected parameter (canonical
name); every panel re-renders from them. Numbers come from :class:`~bpdebug.engine.Step`, words from
:mod:`bpdebug.narrate`, symbols from :mod:`bpdebug.derivation` (SymPy, imported in a worker thread so the
first frame never waits for it). Key bindings are data (:data:`KEYS`), each with an id, so they can be
listed, tested and remapped with ``App.set_keymap``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import partial
from importlib import resources
from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar
from textual.worker import get_current_worker

from ..core.engine import ExpectationResult, Step, Trace
from ..text.narrate import default_param, narrate
from ..core.params import Param
from ..core.scenario import Scenario, ScenarioError, load
from .widgets import set_border
from .widgets.derivation_panel import DerivationPanel
from .widgets.expectations import ExpectationsPanel
from .widgets.loss_panel import LossPanel
from .widgets.modals import ExportModal, HelpScreen, PromptModal
from .widgets.network import NetworkView
from .widgets.params_table import ParamsTable
from .widgets.status import StatusBar
from .widgets.step_panel import StepPanel

# The keys, as data: key(s), action on the app, footer label, id, and a longer description (tooltip) that the
# help screen and the command palette show. Secondary keys are listed in the same binding.
STEP_KEYS = Binding.Group("step")
EPOCH_KEYS = Binding.Group("epoch")

KEYS: tuple[Binding, ...] = (
    Binding("n,space,right", "app.next_step", "next", id="step.next", tooltip="Next step (n, space, →)",
            group=STEP_KEYS),
    Binding("p,left", "app.previous_step", "prev", id="step.previous", tooltip="Previous step (p, ←)",
            group=STEP_KEYS),
    Binding("left_square_bracket", "app.previous_epoch", "epoch−", id="epoch.previous",
            tooltip="Same step of the previous epoch", group=EPOCH_KEYS),
    Binding("right_square_bracket", "app.next_epoch", "epoch+", id="epoch.next",
            tooltip="Same step of the next epoch (trains further past the scenario's epochs)", group=EPOCH_KEYS),
    Binding("g", "app.goto_epoch", "go to", id="epoch.goto", tooltip="Go to epoch N"),
    Binding("w", "app.pick_param", "param", id="param.pick",
            tooltip="Select a parameter by name: w5, b3 or theta2[1,1]"),
    Binding("tab,down", "app.next_param", "next param", id="param.next", show=False,
            tooltip="Select the next parameter (tab, ↓)"),
    Binding("shift+tab,up", "app.previous_param", "prev param", id="param.previous", show=False,
            tooltip="Select the previous parameter (shift+tab, ↑)"),
    Binding("b", "app.toggle_breakpoint", "break", id="breakpoint.toggle", show=False,
            tooltip="Toggle a breakpoint on this kind of step (e.g. every delta of layer 2)"),
    Binding("c", "app.continue_run", "continue", id="breakpoint.continue", show=False,
            tooltip="Continue to the next breakpoint or the next printed figure that does not hold"),
    Binding("pagedown", "app.scroll_chain(1)", "chain ↓", id="chain.down", show=False,
            tooltip="Scroll the chain rule down (page down)"),
    Binding("pageup", "app.scroll_chain(-1)", "chain ↑", id="chain.up", show=False,
            tooltip="Scroll the chain rule up (page up)"),
    Binding("x", "app.export", "export", id="export", tooltip="Export the transcript (a format and a path)"),
    Binding("r", "app.reload", "reload", id="reload", show=False, tooltip="Reload the scenario file from disk"),
    Binding("question_mark,f1", "app.help", "help", id="help", tooltip="Keys and how to read the screen"),
    Binding("q", "app.quit", "quit", id="quit", tooltip="Quit bpdebug"),
)

LEGEND = (
    "Top: the scenario, then epoch / example, the four phases (current one reversed), step k of n.",
    "Network: each unit's net (z) and out (a) once computed; … = not computed yet at this step.",
    "  Green: what this step computed. Accent: the two units the selected parameter connects.",
    "Step: the formula in symbols, the numbers it uses, and (highlighted) what it computes.",
    "Chain rule: ∂E/∂p of the selected parameter in symbols (SymPy), closed form and numbers;",
    "  … marks a factor not computed yet; green lines changed at this step.",
    "Parameters: value before this pass, gradient once known, new value after the update.",
    "  * marks a frozen parameter. Click a row (or a unit) to select.",
    "Printed figures: the scenario's [[expect]] values, checked when the walk reaches them.",
)

BUSY_ACTIONS = {"next_step", "previous_step", "next_epoch", "previous_epoch", "goto_epoch", "continue_run",
                "reload", "export", "pick_param", "next_param", "previous_param"}
SYNC_EPOCHS = 200  # going this many epochs past what is computed runs in a worker with a progress bar
DERIVATION_CACHE = 512


def bundled_scenarios() -> Path:
    """The folder of the scenarios shipped inside the package."""
    return Path(str(resources.files("bpdebug") / "scenarios"))


class DebuggerScreen(Screen):
    """The one main screen; it carries :data:`KEYS` (tab included, which a Screen would use for focus)."""

    BINDINGS = list(KEYS)

    def compose(self) -> ComposeResult:
        app = self.app
        assert isinstance(app, DebuggerApp)
        yield StatusBar(id="status")
        with Horizontal(id="top"):
            with Vertical(id="top-left"):
                yield NetworkView(app.scenario, id="network")
                yield LossPanel(id="loss")
                yield ExpectationsPanel(id="expectations")
            with VerticalScroll(id="params", can_focus=False):
                yield ParamsTable(id="params-table")
        yield StepPanel(id="step")
        with VerticalScroll(id="derivation-box", can_focus=False):
            yield DerivationPanel(id="derivation")
        yield Footer()

    def on_mount(self) -> None:
        titles = {"#network": "network", "#params": "parameters", "#expectations": "printed figures",
                  "#loss": "loss per epoch", "#step": "step", "#derivation-box": "chain rule"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        app = self.app
        assert isinstance(app, DebuggerApp)
        self.query_one(ParamsTable).set_scenario(app.scenario)
        app.render_step()


class DebuggerApp(App[int]):
    """Walk through training one keypress per step; see the chain rule of the selected parameter."""

    CSS_PATH = "app.tcss"
    TITLE = "bpdebug"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    # repaint=False: the panels repaint what changed; a repaint of the app would redraw every widget
    step_index: reactive[int] = reactive(0, init=False, repaint=False)
    param: reactive[str] = reactive("", init=False, repaint=False)
    busy: reactive[bool] = reactive(False, init=False, repaint=False)

    def __init__(self, scenario_path: str | Path) -> None:
        super().__init__()
        self.scenario_path = str(scenario_path)
        self.generation = 0  # bumped on reload, so cached derivations of the old file are not reused
        self._derivations: OrderedDict[tuple, list[str] | str] = OrderedDict()
        self._deriving: set[tuple] = set()  # keys with a worker under way
        self._painted_width: int | None = None
        self._warm: set[tuple[int, str]] = set()  # (generation, param) whose symbolic chain is built
        self._derive_lock = threading.Lock()
        self.breakpoints: set[tuple[str, int | None]] = set()
        self._set_scenario(load(self.scenario_path))
        self.set_reactive(DebuggerApp.param, default_param(self.scenario).canonical)

    # --------------------------------------------------------------------------------------- state
    def _set_scenario(self, scenario: Scenario, epochs: int | None = None) -> None:
        self.scenario = scenario
        self.trace = Trace(scenario, epochs)
        self.results: tuple[ExpectationResult, ...] = tuple(sorted(self.trace.check_all(), key=lambda r: r.step))

    @property
    def step(self) -> Step:
        """The current step."""
        return self.trace[self.step_index]

    @property
    def selected(self) -> Param:
        """The selected parameter."""
        return self.scenario.params.get(self.param)

    def get_default_screen(self) -> Screen:
        return DebuggerScreen(id="debugger")

    def on_resize(self) -> None:
        """Panels wrap and compact to the width: repaint once the new size is laid out."""
        if self._painted_width is not None:
            self.call_after_refresh(self.render_step)

    def watch_step_index(self) -> None:
        self.render_step()

    def watch_param(self) -> None:
        self.render_step()

    def watch_busy(self, busy: bool) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While a long run computes, navigation waits (greyed out in the footer)."""
        if self.busy and action in BUSY_ACTIONS:
            return None
        return True

    # -------------------------------------------------------------------------------------- render
    def render_step(self) -> None:
        """Hand the current step and parameter to every panel."""
        try:
            main = self.screen_stack[0]
        except IndexError:
            return
        if not isinstance(main, DebuggerScreen):
            return
        step, p = self.step, self.selected
        holding, failing = main.query_one(ExpectationsPanel).show(self.results, step.index)
        compact = main.size.width < 100
        self._painted_width = main.size.width
        extra = []
        if holding + failing:
            extra.append(f"figures ✓{holding} ✗{failing}" if compact else
                         f"printed figures: {holding} hold, {failing} do not")
        if self.breakpoints:
            extra.append(("● " if compact else "breakpoints: ")
                         + ", ".join(sorted(_bp_label(k, l) for k, l in self.breakpoints)))
        main.query_one(StatusBar).show(self.scenario.title or Path(self.scenario_path).name, step,
                                       self.trace.epochs, self.scenario.epochs, "  ·  ".join(extra), compact)
        network = main.query_one(NetworkView)
        network.show(step, p, compact=compact)
        main.query_one(StepPanel).show(narrate(step, self.scenario))
        main.query_one(ParamsTable).show(step, p)
        main.query_one(LossPanel).show(self._losses_reached(step))
        self._show_derivation(step, p)

    def _losses_reached(self, step: Step) -> np.ndarray:
        """Loss of every epoch whose loss has been computed by ``step`` (its error step reached)."""
        epochs = step.epoch - 1
        if step.index >= self.trace.first_step_of(step.epoch, None, "error"):  # the epoch's first pass
            epochs += 1
        if epochs <= 1:
            return np.empty(0)
        return self.trace.loss_history(epochs)

    # --------------------------------------------------------------------------------- derivation
    def _show_derivation(self, step: Step, p: Param) -> None:
        main = self.screen_stack[0]
        panel = main.query_one(DerivationPanel)
        key = (self.generation, step.index, p.canonical)
        set_border(main.query_one("#derivation-box"), title=f"chain rule of {p.short} = {p.canonical}")
        cached = self._derivations.get(key)
        if isinstance(cached, list):
            before = self._derivations.get((self.generation, step.index - 1, p.canonical))
            first = panel.show_lines(cached, before if isinstance(before, list) else None)
            box = main.query_one("#derivation-box")
            target = 0 if first is None else max(0, first - 1)
            if box.scroll_y != target and (target or box.scroll_y):
                box.scroll_to(y=target, animate=False)
        elif isinstance(cached, str):
            panel.show_message(cached)
        elif (self.generation, p.canonical) in self._warm:
            # SymPy is loaded and the chain's symbols are cached: substituting numbers takes well under a
            # millisecond, so do it now and paint the step in one frame
            self._derivation_ready(key, self._derive_result(step, p, self.scenario))
        else:
            panel.show_message("deriving with SymPy …")
            if key not in self._deriving:
                self._deriving.add(key)
                # after the frame that shows this step, so neither SymPy nor the thread delays it
                self.call_after_refresh(self._derive, key, step, p, self.scenario)

    @work(thread=True, group="derive")
    def _derive(self, key: tuple, step: Step, p: Param, scenario: Scenario) -> None:
        """Build the derivation in a thread: the first use imports SymPy and builds the symbolic chain,
        which takes a moment; later ones only substitute numbers. One at a time (the lock), so a burst of
        keys waits for the first symbolic build instead of repeating it."""
        with self._derive_lock:
            self._derive_one(key, step, p, scenario)

    def _derive_one(self, key: tuple, step: Step, p: Param, scenario: Scenario) -> None:
        result = self._derive_result(step, p, scenario)
        self.call_from_thread(self._derivation_ready, key, result)

    def _derive_result(self, step: Step, p: Param, scenario: Scenario) -> list[str] | str:
        """The derivation's text lines, or a one-line reason why there are none."""
        try:
            from .. import derivation
        except ImportError as exc:
            result: list[str] | str = f"the chain rule is not available ({exc})"
        else:
            try:
                result = list(derivation.derive(step, p, scenario=scenario).text_lines())
                if step.kind == "update" and not scenario.plan.is_plain:  # the optimizer's rule, state, numbers
                    from ..text.update_rule import update_lines

                    result += ["", *update_lines(step.record, p)]
            except Exception as exc:  # noqa: BLE001 - shown in the panel, the walk goes on
                result = f"could not derive {p.short}: {type(exc).__name__}: {exc}"
        return result

    def _derivation_ready(self, key: tuple, result: list[str] | str) -> None:
        self._deriving.discard(key)
        if isinstance(result, list):
            self._warm.add((key[0], key[2]))
        self._derivations[key] = result
        while len(self._derivations) > DERIVATION_CACHE:
            self._derivations.popitem(last=False)
        if key == (self.generation, self.step_index, self.param):
            self._show_derivation(self.step, self.selected)

    # ------------------------------------------------------------------------------------- actions
    def action_next_step(self) -> None:
        if self.step_index + 1 >= len(self.trace):
            self.trace.extend(self.trace.epochs + 1)
            self.notify(f"epoch {self.trace.epochs}: training past the scenario's {self.scenario.epochs} "
                        f"epoch{'s' if self.scenario.epochs != 1 else ''}", timeout=3)
        self.step_index += 1

    def action_previous_step(self) -> None:
        if self.step_index == 0:
            self.bell()
            return
        self.step_index -= 1

    def action_next_epoch(self) -> None:
        self.go_to_epoch(self.step.epoch + 1)

    def action_previous_epoch(self) -> None:
        if self.step.epoch == 1:
            self.bell()
            return
        self.go_to_epoch(self.step.epoch - 1)

    def action_goto_epoch(self) -> None:
        hint = f"1 … {self.trace.epochs} walked so far; a larger number trains further"
        self.push_screen(PromptModal("Go to epoch", hint, placeholder="epoch number"), self._goto_answer)

    def _goto_answer(self, text: str | None) -> None:
        if not text:
            return
        try:
            epoch = int(text)
        except ValueError:
            self.notify(f"'{text}' is not an epoch number: expected a whole number ≥ 1", severity="error",
                        markup=False)
            return
        if epoch < 1:
            self.notify(f"epoch {epoch}: epochs start at 1", severity="error")
            return
        self.go_to_epoch(epoch)

    def go_to_epoch(self, epoch: int) -> None:
        """The same step position in ``epoch``; far epochs are computed in a worker with progress."""
        offset = self.step_index % self.trace.steps_per_epoch
        if epoch - self.trace.losses_computed > SYNC_EPOCHS and epoch > self.trace.epochs:
            self._run_to_epoch(epoch, offset)
            return
        self.trace.extend(epoch)
        self.step_index = (epoch - 1) * self.trace.steps_per_epoch + offset

    @work(thread=True, exclusive=True, group="run")
    def _run_to_epoch(self, epoch: int, offset: int) -> None:
        """Train up to ``epoch`` in chunks, reporting progress; navigation waits meanwhile."""
        worker = get_current_worker()
        self.call_from_thread(self._start_progress, epoch)
        start = self.trace.losses_computed
        chunk = max(SYNC_EPOCHS, (epoch - start) // 50)
        for e in [*range(start + chunk, epoch, chunk), epoch]:
            if worker.is_cancelled:
                return
            self.trace.loss_history(e)  # trains with the fast path, keeping checkpoints on the way
            self.call_from_thread(self._progress, e)
        self.call_from_thread(self._finish_run, epoch, offset)

    def _start_progress(self, epoch: int) -> None:
        bar = ProgressBar(total=epoch, show_eta=False, id="progress")
        self.screen_stack[0].mount(bar, after="#status")
        bar.update(progress=self.trace.losses_computed)
        self.busy = True
        self.notify(f"training to epoch {epoch} …", timeout=2)

    def _progress(self, epoch: int) -> None:
        for bar in self.screen_stack[0].query(ProgressBar):
            bar.update(progress=epoch)

    def _finish_run(self, epoch: int, offset: int) -> None:
        self.busy = False
        for bar in self.screen_stack[0].query("#progress"):
            bar.remove()
        self.trace.extend(epoch)
        self.step_index = (epoch - 1) * self.trace.steps_per_epoch + offset

    def action_pick_param(self) -> None:
        s = self.scenario
        names = [p.short for p in s.params] + [p.canonical for p in s.params]
        self.push_screen(PromptModal("Select a parameter", f"{s.params.describe_names()}",
                                     placeholder="w5", suggestions=names), self._param_answer)

    def _param_answer(self, text: str | None) -> None:
        if not text:
            return
        p = self.scenario.params.find(text)
        if p is None:
            self.notify(f"unknown parameter '{text}': expected {self.scenario.params.describe_names()}",
                        severity="error", markup=False)
            return
        self.param = p.canonical

    def _move_param(self, delta: int) -> None:
        params = self.scenario.params.params
        i = params.index(self.selected)
        self.param = params[(i + delta) % len(params)].canonical

    def action_next_param(self) -> None:
        self._move_param(1)

    def action_previous_param(self) -> None:
        self._move_param(-1)

    def action_scroll_chain(self, direction: int) -> None:
        box = self.screen_stack[0].query_one("#derivation-box", VerticalScroll)
        box.scroll_to(y=box.scroll_y + direction * max(1, box.scrollable_content_region.height - 1), animate=False)

    def action_toggle_breakpoint(self) -> None:
        key = (self.step.kind, self.step.layer)
        if key in self.breakpoints:
            self.breakpoints.discard(key)
            self.notify(f"breakpoint removed: {_bp_label(*key)}", timeout=2)
        else:
            self.breakpoints.add(key)
            self.notify(f"breakpoint set: every {_bp_label(*key)} step", timeout=2)
        self.render_step()

    def action_continue_run(self) -> None:
        """To the nearest later step that is a breakpoint or where a printed figure does not hold."""
        spp, here = self.trace.steps_per_pass, self.step_index
        candidates = [r.step for r in self.results if not r.holds and r.step > here]
        for t in self.trace.templates:
            if (t.kind, t.layer) in self.breakpoints:
                i = here + 1 + (t.position - (here + 1)) % spp
                if i < len(self.trace):
                    candidates.append(i)
        if not candidates:
            self.notify(f"no breakpoint or failing printed figure ahead (to the end of epoch {self.trace.epochs})",
                        timeout=3)
            return
        self.step_index = min(candidates)

    def action_export(self) -> None:
        from ..transcript import FORMATS

        formats = list(FORMATS)
        default = "md" if "md" in formats else formats[0]
        self.push_screen(ExportModal(formats, default, self.export_stem()), self._export_answer)

    def export_stem(self) -> str:
        """Where a transcript goes by default: next to the scenario (the working folder for the bundled one)."""
        path = Path(self.scenario_path)
        if path.resolve().parent == bundled_scenarios().resolve():
            return str(Path.cwd() / path.stem)
        return str(path.with_suffix(""))

    def _export_answer(self, answer: tuple[str, str] | None) -> None:
        if answer is None:
            return
        fmt, path = answer
        epochs = max(self.scenario.epochs, self.step.epoch)
        self._export(fmt, path, self.scenario, epochs)

    @work(thread=True, group="export")
    def _export(self, fmt: str, path: str, scenario: Scenario, epochs: int) -> None:
        """Render on a trace of its own (the app's trace stays with the UI thread) and write atomically."""
        from ..core.atomic import write_atomic
        from ..transcript import Options, render

        try:
            text = render(fmt, Trace(scenario, epochs), Options(epochs))
            written = write_atomic(path, text)
        except OSError as exc:
            self.call_from_thread(self.notify, f"cannot write {path}: {exc.strerror or exc}", severity="error",
                                  markup=False)
            return
        except Exception as exc:  # noqa: BLE001 - a failed export must not end the session
            self.call_from_thread(self.notify, f"export failed: {type(exc).__name__}: {exc}", severity="error",
                                  markup=False)
            return
        self.call_from_thread(self.notify, f"wrote the {fmt} transcript ({epochs} epoch"
                              f"{'s' if epochs != 1 else ''}) to {written}", markup=False)

    async def action_reload(self) -> None:
        """Re-read the scenario; keep the position when its shape is unchanged, else start over."""
        try:
            scenario = load(self.scenario_path)
        except ScenarioError as exc:
            self.notify(str(exc), title="reload refused; the loaded scenario stays", severity="error",
                        markup=False, timeout=8)
            return
        same = self.scenario.same_shape(scenario)
        epochs = max(scenario.epochs, self.trace.epochs) if same else None
        self.generation += 1
        self._set_scenario(scenario, epochs)
        main = self.screen_stack[0]
        main.query_one(ParamsTable).set_scenario(scenario)
        if not same:
            main.query_one(NetworkView).set_scenario(scenario)
            self.set_reactive(DebuggerApp.param, default_param(scenario).canonical)
            self.set_reactive(DebuggerApp.step_index, 0)
        self.render_step()
        self.notify("reloaded; same position" if same else "reloaded; the network changed, back to step 1",
                    timeout=3)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_table(), LEGEND))

    def key_table(self) -> list[tuple[str, str]]:
        """(keys as displayed, description) for every binding in :data:`KEYS`, after any keymap."""
        keys: dict[str, list[str]] = {b.id: [] for b in KEYS if b.id}
        for key, active in self.screen_stack[0].active_bindings.items():
            if active.binding.id in keys:
                keys[active.binding.id].append(self.get_key_display(active.binding.with_key(key)))
        return [(" ".join(keys[b.id]), b.tooltip or b.description) for b in KEYS if b.id]

    # --------------------------------------------------------------------------------- palette, mouse
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key's action is also in the command palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        for b in KEYS:
            yield SystemCommand(b.tooltip or b.description, f"key: {b.key.replace(',', ' / ')}",
                                partial(self.run_action, b.action))

    @on(NetworkView.UnitPicked)
    def _unit_clicked(self, event: NetworkView.UnitPicked) -> None:
        """A unit stands for its first incoming weight (an input unit or bias: its first outgoing one)."""
        l, i = event.layer, event.unit
        for p in self.scenario.params:
            if l > 1 and i > 0 and p.layer == l - 1 and p.receiving_unit == i and not p.is_bias:
                break
            if (l == 1 or i == 0) and p.layer == l and p.sending_unit == i:
                break
        else:
            return
        self.param = p.canonical

    @on(ParamsTable.ParamClicked)
    def _row_clicked(self, event: ParamsTable.ParamClicked) -> None:
        self.param = event.param.canonical


def _bp_label(kind: str, layer: int | None) -> str:
    if kind in ("z", "a", "delta"):
        return f"{kind}{layer}" if kind != "delta" else f"δ{layer}"
    if kind == "gradient":
        return f"∂E/∂Θ{layer}"
    return kind


def make_app(scenario_path: str | Path) -> DebuggerApp:
    """The debugger for ``scenario_path``; raises ScenarioError for an invalid file (before any screen)."""
    return DebuggerApp(scenario_path)
