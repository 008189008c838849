"""The parameter prompt's completion: names built once, suggested by sorted prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from _wide import wide_scenario
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import Input

from bpdebug.core.params import ParamIndex
from bpdebug.tui.app import make_app
from bpdebug.tui.session import Session
from bpdebug.tui.widgets.modals import PrefixSuggester, PromptModal, prefix_suggester

BLOG = Path(__file__).resolve().parent.parent / "scenarios" / "blog.toml"


@pytest.mark.parametrize("layers", [(2, 2, 2), (3, 1), (4, 3, 2, 5), (1, 1, 1, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_canonicals_are_the_params_canonical_names_in_order(layers: tuple[int, ...], bias: bool) -> None:
    ps = ParamIndex(layers, bias)
    assert ps.canonicals == [p.canonical for p in ps]
    assert ps.shorts == [p.short for p in ps]


def test_the_session_builds_the_names_once(tmp_path: Path) -> None:
    s = Session(wide_scenario(tmp_path / "wide.toml"))
    names = s.param_names()
    assert len(names) == 2 * len(s.scenario.params) == 203_540
    assert s.param_names() is names
    assert names[:3] == ("w1", "w2", "w3") and "theta2[10,128]" in names and names[-1] == "theta2[10,0]"


def first_in_sorted_order(names: list[str], typed: str) -> str | None:
    """What the suggester must answer, by a plain scan."""
    matches = sorted((n.casefold(), n) for n in names if n.casefold().startswith(typed.casefold()))
    return matches[0][1] if matches else None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text("wWb0123[],thea", min_size=1, max_size=8), max_size=30), st.text("wWb0123[],thea", max_size=4))
def test_the_suggestion_is_the_first_name_in_sorted_order_with_what_is_typed(names: list[str], typed: str) -> None:
    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(n.casefold(), n)
    expected = first_in_sorted_order(list(by_key.values()), typed)
    assert PrefixSuggester(names).suggest(typed) == expected
    assert PrefixSuggester(lambda: iter(names)).suggest(typed) == expected  # or from what a function returns


def test_a_prompt_reuses_its_suggester_and_a_new_index_gets_a_new_one() -> None:
    ps, other = ParamIndex((2, 2, 2), True), ParamIndex((2, 2, 2), True)
    made = prefix_suggester(ps, lambda: ps.shorts)
    assert prefix_suggester(ps, lambda: ps.shorts) is made
    assert prefix_suggester(ps, lambda: ps.shorts, ("loss",)) is not made
    assert prefix_suggester(other, lambda: other.shorts) is not made
    assert made.suggest("W1") == "w1" and made.suggest("b") == "b1" and made.suggest("x") is None


async def test_w_completes_a_parameter_name_as_it_is_typed() -> None:
    app = make_app(BLOG)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, PromptModal)
        for key in "theta2[1,":
            await pilot.press(key)
        field = app.screen.query_one("#prompt-input", Input)
        for _ in range(100):  # the names are indexed in a thread on the first keystroke: wait for them
            await pilot.pause(0.02)
            await pilot.press("right")  # takes the suggestion once there is one
            if field.value != "theta2[1,":
                break
        assert field.value == "theta2[1,0]"
        await pilot.press("enter")
        await pilot.pause()
        assert app.param == "theta2[1,0]"
