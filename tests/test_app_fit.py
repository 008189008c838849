"""What a new user met in a real terminal, each kept from coming back (Pilot, headless): every key in the footer
and the help on screen, dialog hints inside their dialog, the status line's news before the title, a small
screen that never scrolls."""

from __future__ import annotations

from pathlib import Path

import pytest
from _diverging import diverging_softmax_text
from rich.cells import cell_len
from textual.widgets import Label, Static

from bpdebug.tui.app import make_app
from bpdebug.tui.keys import KEYS
from bpdebug.tui.widgets.breakpoints import BreakpointsModal
from bpdebug.tui.widgets.footer import KEY
from bpdebug.tui.widgets.modals import HelpScreen, PromptModal
from bpdebug.tui.widgets.status import StatusBar

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def footer_keys(app) -> list:
    return list(app.screen.query(KEY))


@pytest.mark.parametrize(("size", "scenario", "keys"), [
    ((80, 24), "blog", ()),
    ((80, 24), "blog", ("f",)),  # the folded panels shown: / filter joins the footer
    ((120, 40), "xor", ("g", *"99999999", "enter")),  # a long run: esc stop joins the footer
    ((80, 24), "xor", ("g", *"99999999", "enter")),
])
async def test_the_footer_folds_spare_keys_and_never_clips_quit_or_help(size, scenario, keys):
    app = make_app(ROOT / "scenarios" / f"{scenario}.toml")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        for _ in range(20):  # the footer folds one key per layout
            await pilot.pause(0.02)
        shown = footer_keys(app)
        actions = {k.action for k in shown}
        assert {"app.quit", "help", "next_step"} <= actions
        palette = [k for k in shown if k.has_class("-command-palette")]  # docked right, over any key under it
        edge = palette[0].region.x if palette else size[0]
        assert all(k.region.right <= edge for k in shown if k not in palette), [(k.action, k.region) for k in shown]
        if keys and keys[0] == "g":
            assert app.screen.busy and "cancel_run" in actions
            app.screen.action_cancel_run()
            await settle(pilot)


async def test_a_wide_footer_folds_nothing_and_a_resize_unfolds():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(20):
            await pilot.pause(0.02)
        assert "practice" not in {k.action for k in footer_keys(app)}
        await pilot.resize_terminal(120, 40)
        for _ in range(20):
            await pilot.pause(0.02)
        assert {"practice", "cycle_picture", "export"} <= {k.action for k in footer_keys(app)}


async def test_help_gives_every_binding_its_keys_and_wraps_descriptions_under_themselves():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.key_table()
        assert len(table) == len([b for b in KEYS if b.id]) and all(keys for keys, _ in table)
        assert dict((d, k) for k, d in table)["Stop a long run at the last epoch computed (escape)"] == "esc"
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        keys = list(help_screen.query(".help-key").results(Static))
        descriptions = [w for w in help_screen.query(".help-keys > Static").results(Static)
                        if not w.has_class("help-key")]
        assert len(keys) == len(descriptions) == len(table)
        column = {d.region.x for d in descriptions}
        assert len(column) == 1 and column.pop() > max(k.region.x for k in keys)  # one column, right of the keys
        assert any(d.region.height > 1 for d in descriptions)  # at 80 columns some wrap, under themselves


async def test_the_palette_names_keys_as_the_footer_does():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        helps = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert helps["Same step of the previous epoch"] == "key: ["
        assert helps["Keys and how to read the screen"] == "key: ? / f1"
        assert not any("_" in h for h in helps.values() if h.startswith("key:")), helps


@pytest.mark.parametrize("key", ["slash", "a", "e", "w"])
async def test_prompt_hints_wrap_inside_their_dialog(key):
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        prompt = app.screen
        assert isinstance(prompt, PromptModal)
        hint = prompt.query_one(".dialog-hint", Label)
        dialog = prompt.query_one(".dialog")
        assert hint.region.right <= dialog.content_region.right
        lines = hint.render_lines(hint.region.reset_offset)
        shown = " ".join("".join(seg.text for seg in line).strip() for line in lines)
        assert " ".join(prompt.hint.split()) in " ".join(shown.split())  # every word of it on screen


async def test_the_breakpoint_editor_says_c_works_once_it_is_closed():
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, BreakpointsModal)
        await pilot.press("c")  # in the editor, c is a letter of a condition
        assert app.screen.query_one("Input").value == "c"
        hint = " ".join(str(label.content) for label in app.screen.query(".dialog-hint").results(Label))
        assert "Escape closes the editor; then c continues" in hint


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40)])
async def test_the_status_line_shortens_the_title_before_what_the_run_says(size, tmp_path):
    diverging = tmp_path / "diverging.toml"
    diverging.write_text(diverging_softmax_text())
    app = make_app(diverging)
    async with app.run_test(size=size) as pilot:
        await pilot.press("right_square_bracket")  # stops at the first non-finite step
        await settle(pilot)
        status = app.screen.query_one(StatusBar)
        first = status.content.plain.split("\n")[0]
        assert app.session.divergence is not None and "diverged" in first
        assert cell_len(first) <= status.content_size.width, first
        shortened, ellipsis, _ = first.partition("…")
        assert first.startswith(app.session.title + "  ·  ") or (  # the whole title, or its start and …
            ellipsis and len(shortened) >= 11 and app.session.title.startswith(shortened))
        holding, failing = app.session.figure_counts()
        assert holding + failing
        # in words where they fit beside the title's first characters, else in signs
        assert first.endswith(f"printed figures: {holding} hold, {failing} do not" if size[0] >= 120
                              else f"figures ✓{holding} ✗{failing}")


@pytest.mark.parametrize("steps", [0, 4, 6])
async def test_a_small_screen_never_scrolls(steps):
    """The softmax's error step (six examples) fills the step panel: the chain rule keeps its rows above the
    footer and the screen never grows a scrollbar (which shifted every panel two columns)."""
    app = make_app(ROOT / "scenarios" / "softmax.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(steps):
            await pilot.press("n")
        await settle(pilot)
        screen = app.screen
        assert screen.virtual_size.height <= screen.size.height
        assert screen.query_one("#derivation-box").region.bottom <= screen.query_one("FittingFooter").region.y
        assert screen.query_one("#status").region.width == 80


@pytest.mark.parametrize("fork", [False, True])
async def test_on_a_small_screen_watches_and_a_fork_leave_the_chain_rule_its_rows(fork):
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        for name in ("delta2", "w5"):
            await pilot.press("a", *name, "enter")
        if fork:
            await pilot.press("e", "0", "full_stop", "5", "enter")
        for _ in range(9):  # the update: the tallest step
            await pilot.press("n")
        await settle(pilot)
        screen = app.screen
        box = screen.query_one("#derivation-box")
        assert box.region.height >= 5 and box.region.bottom <= screen.query_one("FittingFooter").region.y
        assert not screen.query_one("#watches").has_class("-empty")
        assert screen.query_one("#step").region.height >= 5


async def test_practice_says_a_hint_is_h_then_enter_as_it_works():
    from bpdebug.tui.widgets.practice import PracticeModal

    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, PracticeModal)
        said = " ".join(str(label.content) for label in app.screen.query(".dialog-hint").results(Label))
        assert "h then Enter" in said and "r then Enter" in said
        await pilot.press("h")  # a letter in the answer field, nothing more
        assert "hint:" not in app.screen.query_one("#practice-feedback", Static).content.plain
        await pilot.press("enter")
        await pilot.pause()
        assert "hint:" in app.screen.query_one("#practice-feedback", Static).content.plain


@pytest.mark.parametrize(("size", "width", "scrolls"), [((120, 40), 90, False), ((80, 24), 72, True)])
async def test_the_practice_dialog_is_its_width_and_keeps_its_latest_feedback_and_hint_in_view(size, width, scrolls):
    """The practice dialog is 90 columns (at most 90% of the screen), and however many answers wrap to more rows
    than its feedback keeps, the latest is in view, and so is the keys' hint under it."""
    from bpdebug.tui.widgets.practice import PracticeModal

    app = make_app(BLOG)
    async with app.run_test(size=size) as pilot:
        await pilot.press("P")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, PracticeModal)
        dialog = modal.query_one(".dialog")
        assert dialog.region.width == width
        for answer in ("1", "2", "3", "4"):
            await pilot.press(*answer, "enter")
            await settle(pilot)
        box = modal.query_one("#practice-feedback-box")
        lines = modal.query_one("#practice-feedback", Static).content.plain.splitlines()
        assert len(lines) == 4 and lines[-1].startswith("✗")
        assert (box.max_scroll_y > 0) == scrolls and box.scroll_y == box.max_scroll_y  # scrolled to the latest
        hint = modal.query_one(".dialog-hint", Label)
        assert box.region.bottom <= hint.region.y and hint.region.bottom <= dialog.region.bottom
        assert hint.region.height >= 1


@pytest.mark.parametrize("size", [(120, 40), (120, 30), (80, 24)])
async def test_the_picture_panel_leaves_the_chain_rule_room_or_takes_its_place(size):
    app = make_app(BLOG)
    async with app.run_test(size=size) as pilot:
        await pilot.press("right_square_bracket", "v")
        await settle(pilot)
        screen = app.screen
        pictures, box = screen.query_one("#pictures"), screen.query_one("#derivation-box")
        footer = screen.query_one("FittingFooter").region.y
        assert screen.has_class("-pictures") and pictures.region.height >= 8 and pictures.region.bottom <= footer
        if size == (120, 40):  # room for both
            assert box.display and box.region.height >= 5 and box.region.bottom <= footer
        else:  # the picture in place of the step and the chain rule
            assert not box.display and not screen.query_one("#step").display
        assert screen.virtual_size.height <= screen.size.height


async def test_a_far_epoch_keeps_the_whole_position_line_on_a_small_screen():
    app = make_app(BLOG)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g", *"2345", "enter")
        await settle(pilot)
        for _ in range(4):
            await pilot.press("n")
        status = app.screen.query_one(StatusBar)
        second = status.content.plain.split("\n")[1]
        assert cell_len(second) <= status.content_size.width, second
        steps = app.trace.steps_per_epoch
        assert "epoch 2345/2345" in second and second.endswith(f"step 5/{steps}")
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert app.screen.query_one(StatusBar).content.plain.split("\n")[1].endswith(
            f"step {2344 * steps + 5} of {2345 * steps}")  # wide: the step of the whole run


# ------------------------------------------------------------------------- tall networks keep the panels

PANELS = ("#network", "#loss", "#expectations", "#params", "#step", "#watches", "#derivation-box", "#pictures")


def cut_panels(app) -> list[str]:
    """The panels shown that lost their borders or their last line: each keeps at least 3 rows, inside the
    screen above the footer, and inside its container."""
    screen = app.screen
    bottom = screen.query_one("FittingFooter").region.y
    cut = []
    for selector in PANELS:
        for panel in screen.query(selector):
            if not panel.display or panel.has_class("-empty") or not panel.parent.display:
                continue
            region, outer = panel.region, panel.parent.region
            if region.height < 3 or region.bottom > bottom or region.bottom > outer.bottom:
                cut.append(f"{selector} {region} in {outer}")
    return cut


@pytest.mark.parametrize("size", [(120, 40), (100, 30), (80, 24)])
@pytest.mark.parametrize("scenario", ["blog", "softmax", "deep", "iris", "xor"])
async def test_a_tall_network_leaves_every_panel_its_borders_and_a_line(scenario, size):
    app = make_app(ROOT / "scenarios" / f"{scenario}.toml")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert cut_panels(app) == [], "at the start"
        await pilot.press("g", "3", "enter")  # the loss panel appears
        await settle(pilot)
        for _ in range(5):
            await pilot.pause(0.02)
        assert cut_panels(app) == [], "with the loss"
        await pilot.press("a", *"loss", "enter")  # a watch, and a what-if fork
        await settle(pilot)
        await pilot.press("e", *"0.5", "enter")
        await settle(pilot)
        for _ in range(5):
            await pilot.pause(0.02)
        assert app.session.forked is not None and app.session.watches
        assert cut_panels(app) == [], "with a fork and a watch"
