"""The status line's words about the run (tui/status.py), apart from painting: why the walk stopped comes first,
then the divergence, the printed figures reached and the breakpoints on; the short form says the same in signs."""

from __future__ import annotations

from pathlib import Path

from bpdebug.tui.session import Session
from bpdebug.tui.status import run_words

BLOG = Path(__file__).resolve().parent.parent / "scenarios" / "blog.toml"


def test_the_words_and_signs_say_the_same_items_in_the_same_order():
    s = Session(BLOG)
    holding, failing = s.figure_counts()  # step 1 checks z2 and w5 already
    figures = (f"printed figures: {holding} hold, {failing} do not", f"figures ✓{holding} ✗{failing}")
    assert run_words(s).long == (figures[0],)  # the default breakpoint (nan) is not news
    s.add_condition("w5<0.3")
    words = run_words(s)
    assert words.long == (figures[0], "breakpoints: nan, w5<0.3") and words.short == (figures[1], "● nan, w5<0.3")
    s.continue_run()  # to the first failing printed figure
    words = run_words(s)
    holding, failing = s.figure_counts()
    assert words.long[0] == "stopped: " + s.stopped_here and words.short[0] == "■ " + s.stopped_here
    assert words.long[1] == f"printed figures: {holding} hold, {failing} do not"
    assert words.short[1] == f"figures ✓{holding} ✗{failing}"
    assert len(words.long) == len(words.short) == 2  # a stop replaces the breakpoints
    assert words.text() == "  ·  ".join(words.long) and words.text(short=True) == "  ·  ".join(words.short)
