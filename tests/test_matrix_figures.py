"""Whole-matrix printed figures (grad.theta1, theta1.after, theta1.delta) shown as rows everywhere, as ``check``
shows them: the app's printed-figures panel, the JSON transcript and the md/tex/txt transcripts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import loads
from bpdebug.transcript import Options, render
from bpdebug.tui.widgets.expectations import figure_lines

THETA1 = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
THETA2 = [[0.7, 0.8, 0.9]]


def text(quantity: str, value: list[list[float]]) -> str:
    return f"""
[network]
layers = [2, 2, 1]
activation = "sigmoid"
bias = true
[loss]
function = "half_sse"
[training]
learning_rate = 0.5
[data]
inputs = [[0.35, 0.9]]
targets = [[0.5]]
[weights]
theta1 = {json.dumps(THETA1)}
theta2 = {json.dumps(THETA2)}
[[expect]]
quantity = "{quantity}"
value = {json.dumps(value)}
tolerance = 1e-9
"""


QUANTITIES = ("grad.theta1", "theta1.after", "theta1.delta")


def trace_of(quantity: str) -> tuple[Trace, tuple[float, ...]]:
    """A scenario printing the whole matrix ``quantity`` (the engine's own numbers, so it holds)."""
    probe = Trace(loads(text(quantity, [[0.0] * 3] * 2)))
    (r,) = probe.check_all()
    computed = np.reshape(r.computed, (2, 3)).tolist()
    return Trace(loads(text(quantity, computed))), r.computed


@pytest.mark.parametrize("quantity", QUANTITIES)
def test_the_json_transcript_writes_a_matrix_figure_as_its_rows(quantity):
    trace, computed = trace_of(quantity)
    doc = json.loads(render("json", trace, Options(epochs=1)))
    (x,) = doc["expectations"]
    assert set(x) == {"quantity", "epoch", "example", "printed", "computed", "holds", "tolerance", "source"}
    rows = np.reshape(computed, (2, 3)).tolist()
    assert x["computed"] == rows and x["printed"] == rows and x["holds"]


@pytest.mark.parametrize("fmt", ["md", "txt", "tex"])
@pytest.mark.parametrize("quantity", QUANTITIES)
def test_the_checked_figures_section_shows_a_matrix_figure_as_rows(quantity, fmt):
    trace, computed = trace_of(quantity)
    out = render(fmt, trace, Options(epochs=1))
    printed = [repr(float(v)) for v in computed]
    opening = "[[" if fmt == "txt" else r"\left[\left["
    between = "], [" if fmt == "txt" else r"\right], \left["
    assert opening + printed[0] in out, out[-2000:]
    assert printed[2] + between + printed[3] in out


def test_the_panel_shows_a_matrix_figure_row_by_row():
    values = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    assert figure_lines(values, False, (2, 3)) == ["[[0.1 0.2 0.3]", " [0.4 0.5 0.6]]"]
    assert figure_lines(values, False, (3, 2)) == ["[[0.1 0.2]", " [0.3 0.4]", " [0.5 0.6]]"]
    assert figure_lines(values[:3], False, (1, 3)) == ["[[0.1 0.2 0.3]]"]
    assert figure_lines(values, False, None) == ["[0.1 0.2 0.3 0.4 0.5 0.6]"]
    assert figure_lines((0.25,), True) == ["0.25"]


async def test_the_app_panel_shows_a_matrix_figure_a_row_a_line(tmp_path):
    from textual.widgets import Static

    from bpdebug.text.narrate import fmt
    from bpdebug.tui.app import make_app
    from bpdebug.tui.widgets.expectations import ExpectationsPanel

    path = tmp_path / "m.toml"
    path.write_text(text("grad.theta1", [[0.01, 0.02, 0.03], [0.04, 0.05, 0.06]]))
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        (result,) = app.session.results
        while app.session.index < result.step:
            await pilot.press("n")
        await pilot.pause()
        panel: Static = app.screen.query_one(ExpectationsPanel)
        lines = [line.rstrip() for line in panel.content.plain.split("\n")]  # type: ignore[union-attr]
        first = next(i for i, line in enumerate(lines) if "printed [[0.01 0.02 0.03]" in line)
        assert lines[first].endswith("printed [[0.01 0.02 0.03]")
        assert lines[first + 1].strip() == "[0.04 0.05 0.06]]"
        assert lines[first + 1].index("[") == lines[first].index("[[") + 1  # under the first row's numbers
        rows = np.reshape(result.computed, (2, 3))
        assert lines[first + 2].strip().startswith("computed [[") and lines[first + 3].strip().endswith("]]")
        assert lines[first + 3].strip() == "[" + " ".join(fmt(v) for v in rows[1]) + "]]"
        assert lines[first + 4].strip() == "does not hold"


def test_check_names_a_matrix_printed_twice_by_its_rows():
    from bpdebug.core.diagnosis import diagnose
    from bpdebug.text.summary import figure_names, slips_line

    once = text("grad.theta1", [[0.01, 0.02, 0.03], [0.04, 0.05, 0.06]])
    twice = once + '[[expect]]\nquantity = "grad.theta1"\nvalue = [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]\n'
    trace = Trace(loads(twice))
    results = trace.check_all()
    names = figure_names(results)
    assert names[0] == "grad.theta1 [[0.01, 0.02, 0.03], [0.04, 0.05, 0.06]]"
    assert "grad.theta1 [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]" in (slips_line(diagnose(trace, results), trace, names)
                                                                 or "")
