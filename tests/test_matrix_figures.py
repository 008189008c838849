"""Whole-matrix printed figures (grad.theta1, theta1.after, theta1.delta) shown as rows everywhere, as ``check``
shows them: the app's printed-figures panel, the JSON transcript and the md/tex/txt transcripts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import loads
from bpdebug.transcript import Options, render
from bpdebug.tui.widgets.expectations import figure_text

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
    assert figure_text(values, False, (2, 3)) == "[[0.1 0.2 0.3] [0.4 0.5 0.6]]"
    assert figure_text(values, False, None) == "[0.1 0.2 0.3 0.4 0.5 0.6]"
    assert figure_text((0.25,), True) == "0.25"
