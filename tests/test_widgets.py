"""The panels on their own and in the app: wide networks, the parameters filter, scrolling, cut marks,
and non-finite numbers (a run that diverges must be shown, never crash a panel)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from _diverging import diverging_softmax_text
from _wide import wide_scenario
from hypothesis import given
from hypothesis import strategies as st
from textual.app import App
from textual.geometry import Region
from textual.widgets import Static

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load
from bpdebug.text.narrate import (
    GIVEN,
    HEAD_NUMBERS,
    MAX_NUMBERS_SHOWN,
    MAX_ROWS_SHOWN,
    Narration,
    Span,
    fmt,
    fmt_matrix,
    fmt_vector,
    narrate,
    shown_matrix,
)
from bpdebug.tui.app import make_app
from bpdebug.tui.widgets.derivation_panel import DerivationPanel
from bpdebug.tui.widgets.loss_panel import LossPanel, bucket_max, loss_label
from bpdebug.tui.widgets.network import NetworkView
from bpdebug.tui.widgets.params_table import ParamFilter, ParamsTable
from bpdebug.tui.widgets.step_panel import StepPanel, count_numbers

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


async def settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def prompt(pilot, key: str, value: str) -> None:
    await pilot.press(key)
    await pilot.pause()
    await pilot.press("ctrl+u")  # the filter prompt starts with the filter in use: clear it
    for ch in value:
        await pilot.press(ch if ch != " " else "space")
    await pilot.press("enter")
    await settle(pilot)


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    """A 784-128-10 network (101,770 parameters) on two examples."""
    return wide_scenario(tmp_path_factory.mktemp("wide") / "wide.toml")


@pytest.fixture
def diverging(tmp_path) -> Path:
    """Softmax with a learning rate of 1e6 and one point in two classes: not finite within three epochs."""
    path = tmp_path / "sm.toml"
    path.write_text(diverging_softmax_text())
    return path


# --------------------------------------------------------------------------------------- filter syntax

def test_filter_parses_layer_name_and_top():
    assert ParamFilter.parse("") == ParamFilter()
    assert ParamFilter.parse("layer 2") == ParamFilter(layer=2)
    assert ParamFilter.parse("w5") == ParamFilter(name="w5")
    assert ParamFilter.parse("top") == ParamFilter(top=0)
    assert ParamFilter.parse("layer 1 top 20") == ParamFilter(layer=1, top=20)
    assert ParamFilter.parse("THETA2[1, ").name == "theta2[1,"
    for bad in ("layer", "layer x", "layer 0", "w5 w6"):
        with pytest.raises(ValueError):
            ParamFilter.parse(bad)


# ------------------------------------------------------------------------------------ parameters table

async def test_wide_network_table_formats_only_the_rows_on_screen(wide, monkeypatch):
    app = make_app(wide)
    calls = []
    original = ParamsTable.row
    monkeypatch.setattr(ParamsTable, "row", lambda self, k: calls.append(k) or original(self, k))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ParamsTable)
        assert table.virtual_size.height == 1 + 101_770
        height = table.scrollable_content_region.height
        calls.clear()
        await pilot.press("n")
        await settle(pilot)
        # a step formats what the screen shows (a few paints of it), not 101,770 rows
        assert 0 < len(calls) <= 4 * height
        assert len(set(calls)) <= height


async def test_selected_parameter_is_scrolled_into_view(wide):
    app = make_app(wide)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await prompt(pilot, "w", "theta1[100,5]")
        table = app.screen.query_one(ParamsTable)
        shown = table.visible_text()
        row = next(line for line in shown if " theta1[100,5] " in line)
        p = app.scenario.params.get("theta1[100,5]")
        assert row.split()[2] == fmt(float(app.trace.weights_before(1)[0][99, 5]))
        assert row.split()[0] == p.short
        assert len(shown) <= table.scrollable_content_region.height


async def test_click_on_a_scrolled_row_selects_it(wide):
    app = make_app(wide)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await prompt(pilot, "w", "theta1[50,1]")
        table = app.screen.query_one(ParamsTable)
        third = table.visible_text()[3]  # header, then rows: the third row on screen
        await pilot.click(ParamsTable, offset=(6, 4))  # the table's border, then the header and two rows
        await settle(pilot)
        assert app.param == third.split()[1]
        assert app.param != "theta1[50,1]" or third.split()[1] == "theta1[50,1]"


async def test_filter_by_layer_and_name_in_the_app():
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ParamsTable)
        await prompt(pilot, "slash", "layer 1")
        names = [line.split()[1] for line in table.visible_text()[1:]]
        assert names == [p.canonical for p in app.scenario.params if p.layer == 1]
        await prompt(pilot, "slash", "w5")
        assert [line.split()[0] for line in table.visible_text()[1:]] == ["w5"]
        assert "1 of 12" in app.screen.query_one("#params").border_subtitle
        await prompt(pilot, "slash", "layer 9 w")  # nothing matches: an empty table, no error
        assert table.visible_text()[1:] == []
        await prompt(pilot, "slash", "")
        assert len(table.visible_text()) == 1 + len(app.scenario.params)


async def test_filter_top_orders_by_largest_gradient(wide):
    app = make_app(wide)
    trace = Trace(load(wide))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await prompt(pilot, "slash", "top 5")
        table = app.screen.query_one(ParamsTable)
        assert "not computed yet" in app.screen.query_one("#params").border_subtitle
        for _ in range(8):  # to the gradient of Θ1: every gradient known
            await pilot.press("n")
        await settle(pilot)
        assert app.step.kind == "gradient" and app.step.layer == 1
        grads = trace[app.step.index].record.numbers.gradients
        # independent: every (layer, row, col) by |gradient|, largest first
        entries = sorted(((abs(float(g[i, j])), l, i, j) for l, g in enumerate(grads, 1)
                          for i in range(g.shape[0]) for j in range(g.shape[1])), reverse=True)[:5]
        shown = table.visible_text()[1:]
        assert len(shown) == 5
        for line, (size, l, i, j) in zip(shown, entries, strict=True):
            p = app.scenario.params.get(line.split()[1])
            assert (p.layer, p.row, p.col) == (l, i, j)
            assert line.split()[3] == fmt(float(grads[l - 1][i, j]))
            assert math.isclose(abs(float(grads[l - 1][i, j])), size)


async def test_bad_filter_is_refused_in_one_line():
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await prompt(pilot, "slash", "layer x")
        assert any("layer number" in str(n.message) for n in app._notifications)
        assert len(app.screen.query_one(ParamsTable).visible_text()) == 1 + len(app.scenario.params)


# ----------------------------------------------------------------------------------------- network view

async def test_wide_layers_show_a_window_around_the_selected_units(wide):
    app = make_app(wide)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await prompt(pilot, "w", "theta1[60,300]")  # input unit 300 -> hidden unit 60
        view = app.screen.query_one(NetworkView)
        drawn = view.content.plain
        lines = drawn.splitlines()
        assert len(lines) <= 12
        assert "i300 " in drawn and "h60 " in drawn
        assert "⋮" in drawn and "more" in drawn
        left_out = sum(int(w) for w in " ".join(lines).replace("⋮", " ⋮ ").split("⋮")[1:]
                       for w in [w.split()[0]])
        shown_inputs = sum(1 for line in lines for w in line.split() if w.startswith("▌i"))
        assert left_out >= 784 - shown_inputs  # the inputs left out are counted


@pytest.mark.parametrize("size", [(120, 40), (100, 30), (80, 24)])
async def test_the_network_titles_keep_apart_and_each_theta_sits_on_its_arrow(size):
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=size) as pilot:
        await pilot.press("n")
        await settle(pilot)
        view = app.screen.query_one(NetworkView)
        lines = view.content.plain.splitlines()
        titles = [t for t in lines[0].split("  ") if t.strip()]
        assert titles and all(t.strip().startswith("layer ") for t in titles), lines[0]
        assert all(len(line.rstrip()) <= view.content_size.width for line in lines[:1])  # no title cut
        drawn = " ".join(lines)
        for n in range(1, app.scenario.n_layers):
            if f"layer {n + 1}" in lines[0] and f"layer {n}" in lines[0]:
                assert f"Θ{n}→ ▌" in drawn


# ------------------------------------------------------------------------------------------- step panel

async def test_xor_step_shows_every_example():
    app = make_app(SCENARIOS / "xor.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(StepPanel)
        z2 = app.step.value("z2")
        for r in range(4):
            assert f"ex {r + 1} = [{fmt(float(z2[r, 0]))} {fmt(float(z2[r, 1]))}]" in panel.text()
        assert panel.virtual_size.height <= panel.scrollable_content_region.height  # all on screen
        assert not panel.border_subtitle


async def test_small_terminal_update_step_scrolls_to_the_second_update():
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(9):
            await pilot.press("n")
        await settle(pilot)
        panel = app.screen.query_one(StepPanel)
        after = fmt_matrix(app.step.value("theta2.after"))
        assert after in panel.text().replace("\n       ", " ")
        height = panel.scrollable_content_region.height
        assert len(panel.lines) > height  # 80x24 cannot hold the whole update
        assert f"↓ {len(panel.lines) - height} more line" in panel.border_subtitle
        for _ in range(len(panel.lines)):
            await pilot.press("shift+down")
        await pilot.pause()
        assert "↑" in panel.border_subtitle and "more line" not in panel.border_subtitle
        visible = "\n".join(line.plain for line in panel.lines[round(panel.scroll_y):][:height])
        assert "   = " + after in visible  # the Θ2 update, whole


async def test_the_chain_rule_scrolls_itself_a_page_at_a_time_and_paints_the_lines_in_view():
    """The chain-rule panel is its own bordered scroll view, a child of the screen (no scrolling box around it to
    build for the first frame): its text holds every line, in view or not; a step scrolls it to the first line
    the step changed; page down and up move it a page less a line, and what it paints is the lines in view."""
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(9):  # the update: the chain rule's results all filled in
            await pilot.press("n")
        await settle(pilot)
        screen = app.screen
        panel = screen.query_one("#derivation-box")
        assert isinstance(panel, DerivationPanel) and panel.parent is screen
        s = app.session
        lines = s.derivation(s.position.index, s.selected.short)
        previous = s.derivation(s.position.index - 1, s.selected.short)
        assert isinstance(lines, list) and isinstance(previous, list)
        assert all(line.split()[0] in panel.content.plain for line in lines)
        height = panel.scrollable_content_region.height
        assert len(panel.lines) > height > 0  # 80x24 cannot hold the whole chain rule

        def in_view() -> list[str]:
            painted = panel.render_lines(Region(0, 0, *panel.outer_size))[1:-1]  # in the border
            width = panel.scrollable_content_region.width
            return [strip.text[2:2 + width].rstrip() for strip in painted]  # the border, padding and scrollbar off

        changed = next(k for k, line in enumerate(lines) if k >= len(previous) or previous[k] != line)
        assert lines[changed].split()[0] in "\n".join(in_view())
        panel.scroll_to(y=0, animate=False)
        await pilot.pause()
        assert in_view() == [line.plain.rstrip() for line in panel.lines[:height]]
        await pilot.press("pagedown")
        await pilot.pause()
        top = min(height - 1, len(panel.lines) - height)
        assert round(panel.scroll_y) == top > 0
        assert in_view() == [line.plain.rstrip() for line in panel.lines[top:top + height]]
        await pilot.press("pageup")
        await pilot.pause()
        assert round(panel.scroll_y) == 0


async def test_the_chain_rule_is_selected_with_the_mouse_as_text_is():
    """A line-API panel, the chain rule still gives the screen its text where the mouse drags (to copy)."""
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(DerivationPanel)
        x, y = panel.content_region.offset
        await pilot.mouse_down(offset=(x + 1, y))
        await pilot.hover(offset=(x + 10, y + 2))
        await pilot.mouse_up(offset=(x + 10, y + 2))
        await pilot.pause()
        lines = panel.content.plain.split("\n")
        # from the second character of the first line to the one under the pointer on the third, included
        assert app.screen.get_selected_text() == "\n".join([lines[0][1:], lines[1], lines[2][:11]])


def _left_out(text: str, row_length: int) -> int:
    """The numbers the marks of a shortened vector or matrix say are left out: ``… N more`` is N numbers,
    ``… N more rows`` N rows of ``row_length``."""
    total = 0
    for piece in text.split("…\u00a0")[1:]:
        count, _, rest = piece.partition("\u00a0more")
        total += int(count) * (row_length if rest.startswith("\u00a0rows") else 1)
    return total


def test_a_wide_step_is_narrated_short_and_says_how_many_numbers_it_leaves_out(wide):
    scenario = load(wide)
    step = Trace(scenario)[0]
    line = narrate(step, scenario).lines[1]  # ex 1 = Θ1 · [1 x]
    theta, x = (s.text for s in line if s.role == GIVEN)
    assert len("".join(s.text for s in line)) < 1000  # not the 1.1 million characters of every number
    assert theta.startswith("[" + fmt_vector(step.value("theta1")[0, :HEAD_NUMBERS])[:-1] + " …\u00a0777\u00a0more] ")
    # what is written and what the marks say is left out: every number of Θ1 (128 x 785) and of [1 x]
    assert count_numbers(theta) + _left_out(theta, 785) == 128 * 785
    assert count_numbers(x) + _left_out(x, 785) == 785
    assert x.startswith("[1 " + fmt(float(step.value("a1")[0, 0])) + " ")


async def test_a_huge_line_is_cut_and_says_how_many_numbers_are_left(wide):
    app = make_app(wide)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(StepPanel)
        assert "…\u00a0777\u00a0more]" in panel.text()  # the narration's own marks reach the screen
        assert len(panel.lines) < 200
        # a line longer than the panel shows (every number of Θ1 · [1 x]) is cut, with the count of the rest
        theta, x = app.step.value("theta1"), np.concatenate(([1.0], app.step.value("a1")[0]))
        panel.show(Narration("z2", ((Span("ex 1 = "), Span(fmt_matrix(theta), GIVEN), Span(" · "),
                                     Span(fmt_vector(x), GIVEN)),)))
        await pilot.pause()
        text = panel.text()
        assert "more numbers on this line (cut here)" in text
        assert len(panel.lines) < 200
        first = text.split("\n   … ")[0]
        left = int(text.split("\n   … ")[1].split()[0].replace(",", ""))
        assert count_numbers(first.replace("ex 1 = ", "")) + left == 128 * 785 + 785


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40), st.integers(1, 16))
def test_count_numbers_of_a_shortened_matrix(values, rows):
    m = np.array((values * rows)[: len(values) * rows], dtype=float).reshape(rows, -1)
    text = shown_matrix(m)
    assert count_numbers(text) + _left_out(text, m.shape[1]) == m.size
    if m.shape[1] <= MAX_NUMBERS_SHOWN and rows <= MAX_ROWS_SHOWN:
        assert text == fmt_matrix(m)  # small ones are written whole, as before


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=24), st.integers(1, 4))
def test_count_numbers_of_a_matrix(values, rows):
    m = np.array(values[: len(values) // rows * rows] or values[:1], dtype=float).reshape(rows if len(values) >= rows
                                                                                        else 1, -1)
    assert count_numbers(fmt_matrix(m)) == m.size
    text = fmt_matrix(m)
    cut = text.rfind(" ", 0, len(text) // 2)
    if cut > 0:  # a matrix cut at a space: the numbers before and after add up
        assert count_numbers(text) - count_numbers(text[:cut]) == count_numbers(text[cut:])


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6)),
                max_size=30))
def test_count_numbers_matches_the_numbers_written(values):
    text = "[" + " ".join(fmt(v) for v in values) + "] ⊙ [" + " ".join(fmt(-v) for v in values) + "]"
    assert count_numbers(text) == 2 * len(values)


# ----------------------------------------------------------------------------------- loss, non-finite

def test_loss_label_keeps_the_latest_number_whole():
    losses = np.array([0.5197907, 0.51, 0.505, 0.5, 0.499, 0.4983, 0.4981, 0.4979, 0.4978, 0.4976543])
    for width in range(8, 80):
        label = loss_label(losses, width)
        assert label.endswith(fmt(losses[-1])), (width, label)
        assert len(label) <= width or label == fmt(losses[-1])


def test_bucket_max_skips_non_finite_and_keeps_each_buckets_largest():
    values = np.array([1.0, 3.0, np.nan, 2.0, np.nan, np.nan, 5.0, 4.0])
    assert bucket_max(values, 4).tolist() == [3.0, 2.0, 5.0]  # the all-nan bucket is left out
    assert bucket_max(values, 100).tolist() == [1.0, 3.0, 2.0, 5.0, 4.0]
    big = np.arange(1_000_000, dtype=float)
    assert bucket_max(big, 10).tolist() == [float(k * 100_000 + 99_999) for k in range(10)]


async def test_xor_loss_label_keeps_its_number_after_ten_epochs():
    app = make_app(SCENARIOS / "xor.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(10):
            await pilot.press("right_square_bracket")
        await settle(pilot)
        widget = app.screen.query_one("#loss-label")
        label = widget.content.plain
        history = Trace(load(SCENARIOS / "xor.toml")).loss_history(10)
        assert label.endswith(f"epoch 10: {fmt(history[-1])}") or label.endswith(fmt(history[-1]))
        assert widget.size.width >= len(label)  # on screen whole, not cut by a label narrower than its text
        screen = app.export_screenshot()
        assert fmt(history[-1]) in screen


async def test_diverging_run_shows_nan_in_every_panel(diverging):
    app = make_app(diverging)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for _ in range(4):  # to epoch 4: the walk stops once at the first non-finite step on the way
            if app.step.epoch < 4:
                await pilot.press("right_square_bracket")
        await settle(pilot)
        while app.session.index % app.trace.steps_per_epoch:  # the stop moved the walk within the epoch
            await pilot.press("p")
        assert app.step.epoch == 4 and app.session.index % app.trace.steps_per_epoch == 0
        for _ in range(app.trace.steps_per_epoch):  # every kind of step, past the first non-finite number
            await pilot.press("n")
            await pilot.pause()
        await settle(pilot)
        assert app.return_code is None and app.is_running
        loss = app.screen.query_one(LossPanel)
        label = loss.query_one("#loss-label").content.plain
        assert "nan" in label or "inf" in label
        assert all(math.isfinite(v) for v in loss.query_one("#loss-sparkline").data)
        assert "nan" in app.screen.query_one(NetworkView).content.plain
        table = app.screen.query_one(ParamsTable)
        assert any("nan" in line for line in table.visible_text())
        await pilot.press("p")  # the update step: every gradient known (nan among them)
        await prompt(pilot, "slash", "top 3")  # non-finite gradients sort first
        shown = table.visible_text()[1:]
        assert len(shown) == 3
        assert all(line.split()[3] in ("nan", "inf", "−inf") for line in shown)


async def test_loss_panel_draws_the_finite_losses_of_a_diverging_run():
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("right_square_bracket", "right_square_bracket")  # epoch 3: two losses mount the panel
        await settle(pilot)
        panel = app.screen.query_one(LossPanel)
        panel.show([0.3, 0.2, float("inf"), float("nan")])
        await pilot.pause()
        assert panel.query_one("#loss-sparkline").data == [0.3, 0.2]
        label = panel.query_one("#loss-label").content.plain
        assert label.endswith("nan") or "not finite from epoch 3" in label
        panel.show([float("nan")] * 3)  # nothing finite: an empty sparkline, no error
        await pilot.pause()
        assert panel.query_one("#loss-sparkline").data == []


class _LossApp(App):
    """A loss panel on its own, bordered and padded as the app's stylesheet has it, its width set by the test."""

    CSS = "LossPanel { height: auto; width: 40; border: round white; padding: 0 1; } LossPanel Sparkline { height: 1; }"

    def compose(self):
        yield Static("above")


async def test_loss_label_is_chosen_for_the_width_it_has_and_the_panel_is_as_tall_as_its_lines():
    """The label's words are chosen for the label's own width when it is laid out, not for the width the panel had
    (none yet) when the losses were handed to it: shown at once after mounting, as the app does, the label is one
    row and the panel as tall as its lines; a narrower or wider panel chooses the words again; a width that cannot
    hold even the latest number wraps it, and the panel grows by that row, then shrinks back."""
    losses = np.array([0.7609486, 0.7395178])
    app = _LossApp()
    async with app.run_test(size=(100, 20)) as pilot:
        panel = LossPanel(id="loss")
        app.screen.mount(panel)
        panel.show(losses)  # before any layout: the panel has no width yet
        await pilot.pause()
        label = panel.query_one("#loss-label")

        def check(text: str, rows: int) -> None:
            assert label.content_size.width == panel.styles.width.value - 4  # the border and padding off
            assert label.content.plain == text == loss_label(losses, label.content_size.width)
            assert label.size.height == rows
            assert panel.outer_size.height == 2 + rows + 1  # the border, the label, the sparkline
            painted = [strip.text.strip() for strip in label.render_lines(Region(0, 0, *label.size))]
            assert all(painted) and "".join(painted).replace(" ", "") == text.replace(" ", "")  # whole, each row used

        check("1: 0.7609486 → 2: 0.7395178", 1)  # 36 columns: not the 41 of the whole words
        panel.show(losses)  # the next step hands it the same losses again
        await pilot.pause()
        check("1: 0.7609486 → 2: 0.7395178", 1)
        for width, text, rows in ((24, "epoch 2: 0.7395178", 1), (60, "epoch 1: 0.7609486  →  epoch 2: 0.7395178", 1),
                                  (12, "0.7395178", 2), (40, "1: 0.7609486 → 2: 0.7395178", 1)):
            panel.styles.width = width
            await pilot.pause()
            await pilot.pause()
            check(text, rows)


@pytest.mark.parametrize("keys", [("n", "n", "]", "]"), ("]", "]")])
async def test_loss_panel_is_as_tall_as_its_lines_once_the_app_mounts_it(keys):
    """The second epoch mounts the loss panel beside the parameters; its label, shown in the repaint that mounts
    it, is one row of words chosen for its width, and the panel four rows with its border."""
    app = make_app(SCENARIOS / "deep.toml")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press("right_square_bracket" if key == "]" else key)
            await settle(pilot)
        panel = app.screen.query_one(LossPanel)
        label = panel.query_one("#loss-label")
        history = Trace(load(SCENARIOS / "deep.toml")).loss_history(2)
        words = label.content.plain
        assert words == loss_label(history, label.content_size.width) == f"1: {fmt(history[0])} → 2: {fmt(history[1])}"
        assert label.size.height == 1 and panel.outer_size.height == 4


async def test_folded_panels_are_reachable_below_100_columns():
    app = make_app(SCENARIOS / "blog.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        main = app.screen
        shown = lambda selector: main.query_one(selector).display and main.query_one(selector).size.height > 0  # noqa: E731
        assert shown(NetworkView) and not shown("#params") and not shown("#expectations")
        await pilot.press("f")  # the folded panels, in the place of the network, the step and the chain rule
        await settle(pilot)
        assert shown("#params") and shown("#expectations") and not shown(NetworkView)
        table = main.query_one(ParamsTable)
        assert any(" theta2[1,1] " in line for line in table.visible_text())  # the selected row, in view
        await pilot.press("f")
        await settle(pilot)
        assert shown(NetworkView) and not shown("#params") and not shown("#expectations")
