"""A shared bias updated with one unit's delta instead of the sum over the units it feeds: the catalogue names
it on the notebook's 2-2-2 network with shared biases (tests/test_shared_bias.py)."""

from __future__ import annotations

import pytest
from test_shared_bias import NOTEBOOK

from bpdebug.core.diagnosis import ROOT, diagnose
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import loads
from bpdebug.core.slips import SLIPS
from bpdebug.text.summary import summary

LR = 0.3
(ONE_UNIT,) = [s for s in SLIPS if s.name == "one_units_delta"]  # the entry this file is about


def _text(quantity: str, value: float) -> str:
    return (NOTEBOOK.format(training="", b2="0.65")
            + f'[[expect]]\nquantity = "{quantity}"\nvalue = {value!r}\ntolerance = 1e-9\n')


def _deltas() -> dict[int, list[float]]:
    """δ2 and δ3 of the notebook's one pass, from the engine."""
    n = Trace(loads(_text("b1", 0.4)), 1).epoch(1).passes[0].numbers
    return {2: [float(v) for v in n.delta[2][0]], 3: [float(v) for v in n.delta[3][0]]}


@pytest.mark.parametrize("bias, layer, start", [("b1", 2, 0.40), ("b2", 3, 0.65)])
@pytest.mark.parametrize("unit", [0, 1])
def test_a_shared_bias_updated_with_one_units_delta_is_named(bias, layer, start, unit):
    delta = _deltas()[layer]
    assert delta[0] != delta[1]
    for quantity, value in ((f"{bias}.after", start - LR * delta[unit]), (f"grad.{bias}", delta[unit]),
                            (f"{bias}.delta", -LR * delta[unit])):
        s = loads(_text(quantity, value))
        (d,) = diagnose(Trace(s))
        assert not d.result.holds and d.diagnosis.verdict == ROOT, d
        assert ONE_UNIT.name in d.diagnosis.slips
        assert f"{bias} from unit {unit + 1} of layer {layer}" in (d.diagnosis.cause or "")
        assert ONE_UNIT.sentence in summary(Trace(s))[0]
    # the sum over the units, as the engine has it, holds and is diagnosed as nothing
    (d,) = diagnose(Trace(loads(_text(f"{bias}.after", start - LR * sum(delta)))))
    assert d.result.holds


def test_the_entry_makes_no_variant_where_biases_are_not_shared():
    from bpdebug.core.compute import Network
    s = loads(NOTEBOOK.format(training="", b2="0.65").replace('bias = "shared"', "bias = true"))
    assert list(ONE_UNIT.variants(Network(s), s)) == []
