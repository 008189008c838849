"""Unit-by-unit steps (u) and the example a batch step narrates (m, M), driven by keys (Textual Pilot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _wide import wide_scenario

from bpdebug.core.scenario import load
from bpdebug.text.narrate import fmt
from bpdebug.tui.app import make_app
from bpdebug.tui.keys import KEYS
from bpdebug.tui.widgets.network import NetworkView
from bpdebug.tui.widgets.status import StatusBar
from bpdebug.tui.widgets.step_panel import StepPanel

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "scenarios" / "blog.toml"
XOR = ROOT / "scenarios" / "xor.toml"
SIZE = (120, 40)


def text(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def blog_z2_a2() -> tuple[np.ndarray, np.ndarray]:
    """The blog's hidden layer from its file's weights, by hand."""
    s = load(BLOG)
    z2 = s.weights[0][:, 0] + s.weights[0][:, 1:] @ s.inputs[0]
    return z2, sigmoid(z2)


def test_u_is_a_key_with_a_footer_label_and_a_help_line():
    units = [b for b in KEYS if b.key == "u"]
    assert len(units) == 1 and units[0].show and units[0].description == "units"
    assert "unit" in (units[0].tooltip or "").lower()
    assert "| `u` | unit by unit" in (ROOT / "README.md").read_text()  # the README's key table has its row


async def test_u_walks_the_blog_hidden_layer_one_unit_at_a_time():
    z2, a2 = blog_z2_a2()
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        status, network, panel = screen.query_one(StatusBar), screen.query_one(NetworkView), screen.query_one(StepPanel)
        await pilot.press("u")
        await pilot.pause()
        assert "unit h1 of 2" in text(status)
        assert panel.border_title is not None and "net input of h1" in panel.border_title
        shown = panel.text()
        assert "net_h1 = w1·i1 + w2·i2 + b1·1" in shown and f"= {fmt(z2[0])}" in shown
        assert f"h1 net {fmt(z2[0])}" in text(network) and "h2 net …" in text(network)  # h2 not yet
        await pilot.press("n")
        await pilot.pause()
        assert "unit h2 of 2" in text(status) and app.step_index == 0
        assert f"h2 net {fmt(z2[1])}" in text(network) and "net_h2 = w3·i1 + w4·i2 + b2·1" in panel.text()
        await pilot.press("n")
        await pilot.pause()
        assert "unit h1 of 2" in text(status) and app.step_index == 1
        assert f"out {fmt(a2[0])}" in text(network) and f"out {fmt(a2[1])}" not in text(network)
        assert "out_h1 = σ(net_h1)" in panel.text() and f"= {fmt(a2[0])}" in panel.text()
        await pilot.press("p", "p")
        await pilot.pause()
        assert "unit h1 of 2" in text(status) and app.step_index == 0
        await pilot.press("u")
        await pilot.pause()
        assert "unit" not in text(status) and "h2 net " + fmt(z2[1]) in text(network)
        assert panel.border_title is not None and "net input of layer 2" in panel.border_title


async def test_epoch_keys_keep_the_unit():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u", "n", "right_square_bracket")
        await pilot.pause()
        status = text(app.screen.query_one(StatusBar))
        assert "unit h2 of 2" in status and app.step.epoch == 2
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert "unit h2 of 2" in text(app.screen.query_one(StatusBar)) and app.step.epoch == 1


async def test_the_784_128_10_network_keeps_whole_layer_steps_and_says_why(tmp_path):
    app = make_app(wide_scenario(tmp_path / "wide.toml"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        await pilot.pause()
        assert "whole layer (128 units > 8)" in text(app.screen.query_one(StatusBar))
        await pilot.press("n")
        await pilot.pause()
        assert app.step_index == 1 and app.session.unit is None
        panel = app.screen.query_one(StepPanel)
        assert panel.border_title is not None and "output of layer 2" in panel.border_title


async def test_m_narrates_the_chosen_example_and_shift_m_the_whole_batch():
    xor = load(XOR)
    app = make_app(XOR)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(StepPanel)
        assert panel.border_title is not None and "all 4 examples" in panel.border_title
        await pilot.press("m")
        await pilot.pause()
        assert "example 2 of 4" in panel.border_title
        z = xor.weights[0][:, 0] + xor.weights[0][:, 1:] @ xor.inputs[1]  # example 2, by hand
        assert "[" + " ".join(fmt(v) for v in z) + "]" in panel.text() and "ex 1" not in panel.text()
        assert "values of example 2 of 4" in (app.screen.query_one(NetworkView).border_subtitle or "")
        await pilot.press("u")
        await pilot.pause()
        assert "net input of h1" in panel.border_title and "example 2 of 4" in panel.border_title
        assert panel.text().rstrip().endswith(f"= {fmt(z[0])}")
        await pilot.press("M")
        await pilot.pause()
        assert "all 4 examples" in panel.border_title and "ex 4 = " in panel.text()
        assert "values of example 2 of 4" in (app.screen.query_one(NetworkView).border_subtitle or "")


async def test_quit_still_shows_in_the_footer_at_120_columns():
    app = make_app(BLOG)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        keys = {str(k.render()).strip(): k for k in app.screen.query("FooterKey")}
        assert "u units" in keys
        right = min([SIZE[0]] + [k.region.x for label, k in keys.items() if "palette" in label])
        assert 0 < keys["q quit"].region.right <= right  # left of the palette's hint, inside the screen


async def test_a_mini_batch_example_is_named_by_its_number_in_the_data_and_its_place_in_the_batch():
    app = make_app(ROOT / "scenarios" / "iris.toml")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await pilot.pause()
        rows = app.step.record.rows
        assert len(rows) == 10 < app.scenario.n_examples
        network = app.screen.query_one(NetworkView).border_subtitle or ""
        assert f"values of example {rows[1] + 1} (2 of 10)" in network
        title = app.screen.query_one(StepPanel).border_title or ""
        assert f"example {rows[1] + 1} (2 of 10 in mini-batch 1)" in title
        x = app.scenario.inputs[rows[1]]  # that example's net input of h1, from the file's numbers
        z = app.scenario.weights[0][0, 0] + app.scenario.weights[0][0, 1:] @ x
        await pilot.press("u")
        await pilot.pause()
        assert app.screen.query_one(StepPanel).text().rstrip().endswith(f"= {fmt(z)}")
