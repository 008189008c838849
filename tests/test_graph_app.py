"""The app on a graph scenario: the graph panel, n/p by operation and by line, w, the chain rule panel (micrograd's
138.8338 at the end of the backward pass, at 80x24 and 120x40), breakpoints and c, what-if, watches, practice,
the gradient check, and the network-only views saying so."""

from __future__ import annotations

import asyncio

import pytest
from _bundled import GRAPHS

from bpdebug.core.graph.trace import GraphStepKind
from bpdebug.core.scenario import load_any, loads_any
from bpdebug.tui.app import make_app
from bpdebug.tui.graph_app import GraphApp, GraphScreen
from bpdebug.tui.graph_session import GraphSession
from bpdebug.tui.widgets.graph import GraphView

MICROGRAD = GRAPHS[[p.stem for p in GRAPHS].index("micrograd")]
CIRCUIT = GRAPHS[[p.stem for p in GRAPHS].index("circuit")]


def screen_text(app) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


async def _keys(pilot, *keys: str) -> None:
    for k in keys:
        if k.startswith("="):
            for ch in k[1:]:
                await pilot.press(ch)
            await pilot.press("enter")
        else:
            await pilot.press(k)
    await pilot.pause()


def _end_of_backward(session: GraphSession) -> int:
    return max(t.position for t in session.trace.templates if t.kind is GraphStepKind.BACKWARD)


def test_make_app_opens_a_graph():
    app = make_app(MICROGRAD, load_any(MICROGRAD))
    assert isinstance(app, GraphApp)


def test_the_graph_screen_is_styled_by_its_own_stylesheet_not_the_networks():
    """graph.tcss styles the graph's screen (its panels bordered, the progress bar hidden until a run): the
    network screen's app.tcss, with rules for panels a graph has none of, is not parsed."""
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            sources = {path for path, _ in app.stylesheet.source}
            assert any(path.endswith("graph.tcss") for path in sources)
            assert not any(path.endswith("app.tcss") for path in sources)
            screen = app.screen
            assert screen.query_one("#graph-panel").styles.border_top[0] == "round"
            assert screen.query_one("#graph-chain").styles.max_height.value == 12
            assert not screen.query_one("#graph-progress").display
    asyncio.run(run())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_chain_rule_of_a_at_the_end_of_the_backward_pass(size):
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            assert not any("138.8338" in line for line in app.session.derivation())  # no number from the future
            end = _end_of_backward(app.session)
            await _keys(pilot, *["n"] * end, "w", "=a")
            assert app.session.index == end
            text = screen_text(app)
            assert "chain rule: ∂g/∂a" in text and "   = 138.8338" in text
    asyncio.run(run())


def test_graph_panel_shows_pending_gradients_then_numbers():
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            view = app.screen.query_one(GraphView)
            rows = view.visible_text()
            assert rows[0].split()[0] == "a" and rows[0].rstrip().endswith("…")  # a's gradient pending
            await _keys(pilot, *["n"] * _end_of_backward(app.session))
            assert "138.8" in view.visible_text()[0]
    asyncio.run(run())


def test_circuit_is_drawn_by_depth_when_it_fits():
    async def run():
        app = make_app(CIRCUIT, load_any(CIRCUIT))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            view = app.screen.query_one(GraphView)
            assert view.picture
            first = view.visible_text()[0].split()
            assert first[0] == "x" and first[-1] == "f"  # leaves left, the output right
    asyncio.run(run())


def test_stepping_by_line_takes_a_lines_operations_at_once():
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert app.session.step.title.startswith("c@1")  # the first step computes line 1's one operation
            await _keys(pilot, "u", "n")  # line 2, d = a*b + b**3: three operations
            program = app.session.program
            assert program.nodes[app.session.step.node].line == 2
            assert app.session.step.computes == ("d@1",)
            await _keys(pilot, "p")
            assert app.session.step.computes == ("c@1",)
            await _keys(pilot, "u", "n")
            assert app.session.step.computes == ("#4",)
    asyncio.run(run())


def test_select_breakpoint_continue_watch_whatif_gradcheck():
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, GraphScreen)
            await _keys(pilot, "w", "=c@1")
            assert app.session.selected == "c@1" and "chain rule: ∂g/∂c@1" in screen_text(app)
            await _keys(pilot, "b", "=step=backward", "c")
            await asyncio.sleep(0.2)
            await pilot.pause()
            assert app.session.step.kind is GraphStepKind.BACKWARD
            assert app.session.step.node == app.session.program.output
            await _keys(pilot, "a", "=grad.a")
            assert "grad.a = …" in screen_text(app)
            await _keys(pilot, "w", "=a", "k")
            assert "not computed yet" in screen.note
            await _keys(pilot, *["n"] * (_end_of_backward(app.session) - app.session.index), "k")
            assert "relative error" in screen.note
            before = app.session.step.value("grad.a")
            await _keys(pilot, "e", "=a=-3")
            assert app.session.edits and app.session.step.value("grad.a") != before
            await _keys(pilot, "o")
            assert app.session.step.value("grad.a") == before
            await _keys(pilot, "v")
            assert "not for a graph" in screen.note
    asyncio.run(run())


def test_practice_asks_each_number_before_it_is_shown():
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            view = app.screen.query_one(GraphView)
            await _keys(pilot, "P")
            assert app.session.practising and app.session.hidden() == ("value", "c@1")
            row = next(r for r in view.visible_text() if r.strip().startswith("c@1"))
            assert " ? " in row and "−2" not in row  # c@1 = a + b is asked, not shown
            assert "138.8338" not in screen_text(app)  # nor the chain rule, nor the printed figures
            await _keys(pilot, "n", "=-2")
            assert "right" in app.screen.note and app.session.hidden() == ("value", "#4")
            await _keys(pilot, "n", "=5")  # #4 = a*b = -8
            assert "not yet" in app.screen.note and app.session.hidden() == ("value", "#4")
            await _keys(pilot, "n", "=h")
            assert "hint" in app.screen.note
            await _keys(pilot, "n", "=r")
            assert "#4 = −8" in app.screen.note and app.session.hidden() == ("value", "#5")
            await _keys(pilot, "P")
            assert not app.session.practising and "score: 1 of" in app.screen.note
    asyncio.run(run())


def test_a_large_graph_renders_only_what_is_visible():
    lines = "\n".join(f"h{i} = tanh(wh*h{i - 1} + wx*{(i % 7) / 7:.3f} + b)" for i in range(1, 501))
    s = loads_any(f'title = "t"\n[graph]\nvalues = {{ wh = 0.5, wx = 0.3, b = 0.1, h0 = 0.0 }}\n'
                  f'learn = ["wh", "wx", "b"]\nprogram = """\n{lines}\nloss = h500**2\n"""\n'
                  '[training]\nlearning_rate = 0.1\n')

    async def run():
        app = GraphApp("big.toml", s)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            view = app.screen.query_one(GraphView)
            assert not view.picture and len(view.shown) > 2000
            assert len(view.visible_text()) <= 24
            await _keys(pilot, "w", "=wh")
            assert "(δ form)" in screen_text(app)
    asyncio.run(run())


def test_session_refusals_are_one_line():
    s = GraphSession(MICROGRAD, load_any(MICROGRAD))
    assert "no such name" in s.select("zz")
    assert "not a leaf" in s.fork("c=1")
    assert "not a number" in s.fork("a=x")
    assert "learning_rate=0.5" in s.fork("learning_rate=0.5") and s.trace.scenario.learning_rate == 0.5
    assert "layers" in s.add_condition("dead")
    assert "watching" in s.toggle_watch("grad.b") and "no longer" in s.toggle_watch("grad.b")


def test_export_every_format_of_the_run_shown(tmp_path):
    import shutil

    s = GraphSession(MICROGRAD, load_any(MICROGRAD))
    for fmt in s.EXPORTS:
        if fmt == "svg" and shutil.which("dot") is None:
            continue
        target = tmp_path / f"m.{fmt}"
        assert s.export(fmt, target) == f"wrote {target}"
        text = target.read_text(encoding="utf-8")
        assert ("138.8338" in text) if fmt in ("md", "tex", "txt") else text
    assert "not written" in s.export("md", MICROGRAD)  # the scenario's own file is never overwritten
    s.fork("a=-3")
    s.export("txt", tmp_path / "fork.txt")
    assert "a ← a − η·∂g/∂a = −3" in (tmp_path / "fork.txt").read_text(encoding="utf-8")


def test_x_exports_from_the_app(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await _keys(pilot, "x", "enter")
            for _ in range(100):
                if (tmp_path / "micrograd.md").exists() and not app.screen.busy:
                    break
                await asyncio.sleep(0.05)
            await pilot.pause()
            assert "wrote micrograd.md" in app.screen.note
    asyncio.run(run())
    assert "138.8338" in (tmp_path / "micrograd.md").read_text(encoding="utf-8")


def test_go_to_a_far_epoch_and_help():
    path = GRAPHS[[p.stem for p in GRAPHS].index("rnn")]

    async def run():
        app = make_app(path, load_any(path))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await _keys(pilot, "n", "n", "g", "=40")
            for _ in range(100):
                if not app.screen.busy:
                    break
                await asyncio.sleep(0.05)
            await pilot.pause()
            assert app.session.epoch == 40 and app.session.position == 2
            await _keys(pilot, "[")
            assert app.session.epoch == 39
            await _keys(pilot, "question_mark")
            assert "Chain rule" in screen_text(app) or "chain rule" in screen_text(app)
            await _keys(pilot, "escape")
    asyncio.run(run())


def test_the_selected_values_paths_are_highlighted():
    async def run():
        app = make_app(MICROGRAD, load_any(MICROGRAD))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await _keys(pilot, "w", "=e")
            view = app.screen.query_one(GraphView)
            program = app.session.program
            on = {program.nodes[i].key for i in app.session.paths_of_selected()}
            assert on == {"e", "f", "g@1", "#32", "g@2"}
            assert all("accent" in view._style(program.resolve(k)) for k in on - {"e"})
            assert "accent" not in view._style(program.resolve("c@1"))
    asyncio.run(run())


def test_the_app_refuses_a_bad_graph_in_one_line_before_any_screen(tmp_path, capsys):
    from bpdebug.cli import main

    bad = tmp_path / "g.toml"
    bad.write_text('title = "t"\n[graph]\nvalues = { a = 1.0 }\nprogram = """\nc = a + q\n"""\n', encoding="utf-8")
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{bad}:5:") and "undefined name 'q'" in err
