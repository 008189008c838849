"""Every list of conditions a user sees comes from the registry (:data:`bpdebug.core.conditions.KINDS`): the
command line's ``--break`` help, the breakpoint editor's completions and its line saying what is typed, the
``b`` key's tooltip and the README's table. A kind registered here, ``grad-ratio>X``, shows in each of them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bpdebug.cli import main
from bpdebug.core import conditions
from bpdebug.core.conditions import KINDS, ConditionKind, Hit, Per, first_stop, parse_condition
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load

ROOT = Path(__file__).resolve().parent.parent
BLOG_PATH = ROOT / "scenarios" / "blog.toml"
BLOG = load(BLOG_PATH)


def _parse_ratio(m: re.Match[str], s, text: str, kind: str) -> conditions.Condition:
    x = float(m["x"])
    return conditions.Condition(kind, f"grad-ratio>{x:g}", op=">", threshold=x)


def _eval_ratio(c: conditions.Condition, v) -> Hit | None:
    """‖∂E/∂theta_1‖ / ‖∂E/∂theta_L-1‖ above X: the first layer learns that much faster than the last."""
    for n, p in enumerate(v.record.passes):
        first, last = (float(np.linalg.norm(g)) for g in (p.numbers.gradients[0], p.numbers.gradients[-1]))
        if last > 0 and first / last > c.threshold:
            step = v.step_of(n, "gradient", 1)
            if step >= v.from_step:
                return Hit(step, p.example, f"{c.text}: {first / last:.7g} at epoch {v.epoch}")
    return None


RATIO = ConditionKind("grad-ratio", "grad-ratio>X", "the first layer's gradient norm over the last's is above X",
                      Per.UPDATE, True, re.compile(r"^\s*grad-ratio\s*>\s*(?P<x>[-+]?\d+\.?\d*(?:e[-+]?\d+)?)\s*$"),
                      _parse_ratio, _eval_ratio, ("grad-ratio>0.1",))


@pytest.fixture
def ratio(monkeypatch):
    """The registry with one more kind, first (so no broader pattern takes its text)."""
    monkeypatch.setattr(conditions, "KINDS", {RATIO.name: RATIO, **KINDS})
    return RATIO


def test_a_registered_kind_parses_and_stops_a_search(ratio):
    c = parse_condition(" grad-ratio > 0.1 ", BLOG)
    assert c.kind == "grad-ratio" and c.text == "grad-ratio>0.1"
    stop = first_stop(Trace(BLOG), [c])
    assert stop is not None and stop.reason.startswith("grad-ratio>0.1: ")


def test_the_command_lines_break_help_lists_every_kind(ratio, capsys):
    assert main(["run", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for kind in conditions.KINDS.values():
        assert kind.grammar in help_text


def test_an_unknown_condition_names_every_kind(ratio, capsys):
    assert main(["run", str(BLOG_PATH), "--break", "never"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(k.grammar in err for k in conditions.KINDS.values())


def test_the_b_keys_tooltip_names_an_example_of_every_kind(ratio):
    from bpdebug.tui.keys import KEYS, tooltip

    text = tooltip(next(b for b in KEYS if b.id == "breakpoint.edit"))  # built from the registry when shown
    assert text.startswith("Breakpoints: conditions to stop on (grad-ratio>0.1, nan, ")
    for kind in conditions.KINDS.values():
        assert kind.examples[0] in text


def test_the_readme_table_has_every_kind():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| condition | stops |"):]
    table = table[:table.index("\n\n")]
    firsts = " ".join(line.split("|")[1] for line in table.splitlines()[2:])
    for kind in KINDS.values():
        for form in kind.grammar.split(", "):
            assert f"`{form}`" in firsts, form


async def test_the_breakpoint_editor_completes_and_explains_every_kind(ratio):
    from textual.widgets import Input, Label

    from bpdebug.tui.app import make_app
    from bpdebug.tui.widgets.breakpoints import BreakpointsModal

    app = make_app(BLOG_PATH)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, BreakpointsModal)
        field = modal.query_one("#breakpoint-input", Input)
        form = modal.query_one("#breakpoint-form", Label)
        for kind in conditions.KINDS.values():
            example = kind.examples[0]
            assert example in field.placeholder
            assert await field.suggester.get_suggestion(example[:-1]) == example  # tab completes it
            field.value = example
            await pilot.pause()
            assert str(form.content) == f"{kind.grammar}: {kind.sentence}"
