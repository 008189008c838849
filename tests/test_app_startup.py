"""What the screen does while it starts (Pilot, headless): styled once with its breakpoint classes, a footer that
recomposes only when what it shows changes and fits at any width, start-up's threads held until the footer's
fitted frame, panel colours that follow the theme, and the dialogs' and on-demand panels' stylesheets left to
their first use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.css.stylesheet import Stylesheet
from textual.geometry import Size

from bpdebug.core.scenario import load_any
from bpdebug.tui.app import (
    HORIZONTAL_BREAKPOINTS,
    ON_DEMAND_CSS,
    VERTICAL_BREAKPOINTS,
    DebuggerScreen,
    breakpoint_classes,
    make_app,
)
from bpdebug.tui.widgets import _resolve
from bpdebug.tui.widgets.dialog import DIALOG_CSS
from bpdebug.tui.widgets.footer import KEY, FittingFooter
from bpdebug.tui.widgets.modals import HelpScreen, PromptModal
from bpdebug.tui.widgets.step_panel import StepPanel

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"
MICROGRAD = ROOT / "scenarios" / "micrograd.toml"
BREAKPOINTS = {name for _, name in HORIZONTAL_BREAKPOINTS + VERTICAL_BREAKPOINTS}


async def settle(pilot, rounds: int = 10) -> None:
    for _ in range(rounds):
        await pilot.pause(0.02)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (99, 31), (100, 32), (120, 40), (160, 50)])
async def test_the_screen_starts_with_the_breakpoint_classes_its_resize_gives_it(size, monkeypatch):
    assert breakpoint_classes(Size(0, 0)) == ()  # no size yet: none
    mounted: list[set[str]] = []
    on_mount = DebuggerScreen.on_mount

    def recording(self) -> None:  # the classes its children are first styled with, before any resize
        mounted.append(set(self.classes) & BREAKPOINTS)
        on_mount(self)

    monkeypatch.setattr(DebuggerScreen, "on_mount", recording)
    app = make_app(BLOG)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert mounted == [set(breakpoint_classes(Size(*size)))] == [set(app.screen.classes) & BREAKPOINTS]


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (140, 40)])
async def test_the_footer_recomposes_once_at_start_and_its_keys_fit(size, monkeypatch):
    composed: list[tuple[str, ...]] = []
    compose = FittingFooter.compose

    def counting(self):
        children = list(compose(self))
        composed.append(tuple(getattr(w, "action", "") for w in children))
        yield from children

    monkeypatch.setattr(FittingFooter, "compose", counting)
    app = make_app(BLOG)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(FittingFooter)
        keys = list(app.screen.query(KEY))
        assert footer.fitted and keys and all(k.region.right <= size[0] for k in keys)
        assert {"help", "quit"} <= {k.description for k in keys}
        # empty (before the screen's bindings are ready), every key, and a second time only if some were folded
        assert composed[0] == () and len(composed) == (2 if not footer.folded else 3), composed
        before = len(composed)
        app.screen.refresh_bindings()  # bindings that change nothing the footer shows: no recompose
        await settle(pilot)
        assert len(composed) == before


async def test_start_up_threads_wait_for_the_footers_fitted_frame(monkeypatch):
    """The chain rule's worker (which imports SymPy) and the diagnosis start their work once the footer has
    fitted its keys: the last of start-up's frames is not slowed by them."""
    app = make_app(BLOG)
    seen: list[tuple[str, bool]] = []
    session = app.session
    derivation, diagnose = session.derivation, session.diagnose

    def footer_fitted() -> bool:
        return app.screen.query_one(FittingFooter).fitted

    monkeypatch.setattr(session, "derivation", lambda *a: seen.append(("derive", footer_fitted())) or derivation(*a))
    monkeypatch.setattr(session, "diagnose", lambda *a: seen.append(("diagnose", footer_fitted())) or diagnose(*a))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            if {"derive", "diagnose"} <= {what for what, _ in seen}:
                break
        await app.workers.wait_for_complete()
    assert {"derive", "diagnose"} <= {what for what, _ in seen} and all(fitted for _, fitted in seen), seen


def neighbours(widget) -> tuple[str | None, ...]:
    """The ids of ``widget`` and of its siblings either side: where it is in the layout."""
    ids = [child.id for child in widget.parent.children]
    at = ids.index(widget.id)
    return tuple(ids[max(0, at - 1):at + 2])


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_hidden_panels_are_mounted_where_they_belong_when_they_first_have_something_to_show(size):
    """The what-if line, the loss and the watches are not built for the first frame (nor while a move leaves
    them nothing to show): each is mounted, in its place and with its title, by the first repaint that has
    something for it."""
    app = make_app(BLOG)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        assert not screen.query("#fork, #loss, #watches") and not screen.query("ForkLine, LossPanel, WatchPanel")
        await pilot.press("n", "n", "p")
        await settle(pilot)
        assert not screen.query("#fork, #loss, #watches")
        assert (screen.fork_line, screen.loss_panel, screen.watch_panel) == (None, None, None)

        await pilot.press("a", *"w5", "enter")
        await settle(pilot)
        watches = screen.query_one("#watches")
        assert watches is screen.watch_panel and watches.display and not watches.has_class("-empty")
        assert watches.border_title == "watches (a adds or removes)" and "w5" in watches.content.plain
        assert neighbours(watches) == ("step", "watches", "derivation-box") and watches.region.height >= 3
        assert not screen.query("#fork, #loss")

        await pilot.press("right_square_bracket")  # epoch 2, before its error step: one loss, nothing to show
        await settle(pilot)
        assert not screen.query("#fork, #loss")
        await pilot.press("right_square_bracket")  # epoch 3: the losses of epochs 1 and 2
        await settle(pilot)
        loss = screen.query_one("#loss")
        assert loss is screen.loss_panel and not loss.has_class("-empty")
        assert loss.border_title == "loss per epoch"
        assert neighbours(loss) == ("network", "loss", "expectations")
        assert loss.display == (size[0] >= 100)  # below 100 columns it is folded away with the parameters
        assert not screen.query("#fork")

        await pilot.press("e", *"0.5", "enter")
        await settle(pilot)
        fork = screen.query_one("#fork")
        assert fork is screen.fork_line and fork.display and not fork.has_class("-empty")
        assert neighbours(fork) == ("status", "fork", "top") and "what if w5=0.5" in fork.content.plain
        assert screen.query("#fork, #loss, #watches").nodes == [fork, loss, watches]  # each mounted once

        await pilot.press("O")  # the fork dropped: the line stays, hidden as it was before it was built
        await settle(pilot)
        assert screen.query_one("#fork") is fork and fork.has_class("-empty") and not fork.display


async def test_panel_colours_follow_a_theme_change():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(StepPanel)
        for theme in ("textual-light", "nord", app.theme):
            app.theme = theme
            await pilot.pause()
            assert _resolve(panel, "bold $accent") == f"bold {app.get_css_variables()['accent']}"


def sheet_rules(app, path: Path) -> tuple[set[str], Callable[[], set[str]]]:
    """The selectors of the stylesheet at ``path``, and a function giving those of them ``app``'s stylesheet has
    now (none until the file is added to it)."""
    sheet = Stylesheet(variables=app.get_css_variables())
    sheet.read(path)
    selectors = {rule.selectors for rule in sheet.rules}
    return selectors, lambda: selectors & {rule.selectors for rule in app.stylesheet.rules}


@pytest.mark.parametrize("path", [BLOG, MICROGRAD], ids=["network", "graph"])
async def test_the_dialogs_rules_are_parsed_when_the_first_dialog_opens_not_for_the_first_frame(path, monkeypatch):
    """dialogs.tcss is not in the first frame's stylesheet (neither parsed nor matched against the panels). The
    first dialog adds it and parses only it: no re-parse of every source and restyle of every widget, which
    Textual's own reading of a screen's CSS_PATH does (~20 ms). Its rules then stay, through a theme change."""
    reparsed: list[Stylesheet] = []
    reparse = Stylesheet.reparse
    monkeypatch.setattr(Stylesheet, "reparse", lambda self: reparsed.append(self) or reparse(self))
    app = make_app(path, load_any(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        selectors, loaded = sheet_rules(app, DIALOG_CSS)
        assert {".dialog", ".dialog-screen", "#breakpoint-list"} <= selectors
        assert not app.stylesheet.has_source(str(DIALOG_CSS)) and loaded() == set()
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen) and loaded() == selectors and reparsed == []
        assert app.screen.query_one(".dialog").region.width == 100  # .dialog.help, styled as it opened
        await pilot.press("escape")
        app.theme = "nord"  # re-parses every source: the dialogs' stay
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, PromptModal) and loaded() == selectors
        assert app.screen.query_one(".dialog").region.width == 64


@pytest.mark.parametrize(("size", "key", "styled"), [
    ((80, 24), "f", lambda screen: screen.query_one("#params").display and not screen.query_one("#network").display),
    ((120, 40), "f", lambda screen: not screen.query_one("#params").display),
    ((120, 40), "right_square_bracket right_square_bracket",
     lambda screen: screen.query_one("#loss").styles.border_top[0] == "round"),
    ((120, 40), "v", lambda screen: screen.query_one("#pictures").display
     and screen.query_one("#pictures").styles.min_height.value == 8),
], ids=["fold-narrow", "fold-wide", "loss", "pictures"])
async def test_what_shows_once_asked_for_is_styled_by_rules_added_then(size, key, styled):
    """on_demand.tcss (the fold, the pictures, the loss, the watches, the what-if line) is not in the first
    frame's stylesheet: the first of them to show adds it, and it styles them as they show."""
    app = make_app(BLOG, load_any(BLOG))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        selectors, loaded = sheet_rules(app, ON_DEMAND_CSS)
        assert {"#pictures", "#watches", "LossPanel"} <= selectors
        assert not app.stylesheet.has_source(str(ON_DEMAND_CSS)) and loaded() == set()
        await pilot.press(*key.split())
        await settle(pilot)
        assert loaded() == selectors and styled(app.screen)
