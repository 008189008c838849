"""The expectation quantities of version 2: one unit of a layer (``z3[2]``), the chain's factors (``dE/da3``,
``dadz3``, ``delta3``) and ``grad.NAME`` per example in online mode; and their one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bpdebug.core.engine import Trace
from bpdebug.core.scenario import ScenarioError, load, loads

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"

NET = """
[network]
layers = [2, 2, 2]
activation = "sigmoid"
bias = true
[loss]
function = "half_sse"
[training]
learning_rate = 0.1
epochs = 1
[data]
inputs = [[0.85, 0.25]]
targets = [[0.6905, 0.8657]]
[weights]
theta1 = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
theta2 = [[0.5, 0.4, 0.3], [0.2, 0.5, 0.1]]
"""


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def by_hand():
    """The blog's network, written out scalar by scalar (column 0 of theta = the bias)."""
    x1, x2 = 0.85, 0.25
    h1, h2 = sig(0.1 + 0.2 * x1 + 0.3 * x2), sig(0.4 + 0.5 * x1 + 0.6 * x2)
    z31, z32 = 0.5 + 0.4 * h1 + 0.3 * h2, 0.2 + 0.5 * h1 + 0.1 * h2
    o1, o2 = sig(z31), sig(z32)
    dE_do = (o1 - 0.6905, o2 - 0.8657)
    dadz3 = (o1 * (1 - o1), o2 * (1 - o2))
    d3 = (dE_do[0] * dadz3[0], dE_do[1] * dadz3[1])
    dE_dh = (d3[0] * 0.4 + d3[1] * 0.5, d3[0] * 0.3 + d3[1] * 0.1)
    dadz2 = (h1 * (1 - h1), h2 * (1 - h2))
    return {"z3": (z31, z32), "dE/da3": dE_do, "dadz3": dadz3, "delta3": d3, "dE/da2": dE_dh, "dadz2": dadz2,
            "delta2": (dE_dh[0] * dadz2[0], dE_dh[1] * dadz2[1])}


def with_expect(quantity: str, value: str) -> str:
    return NET + f'[[expect]]\nquantity = "{quantity}"\nvalue = {value}\ntolerance = 1e-12\n'


@pytest.mark.parametrize("name", ["z3", "dE/da3", "dadz3", "delta3", "dE/da2", "dadz2", "delta2"])
def test_each_new_quantity_matches_the_arithmetic_by_hand(name):
    want = by_hand()[name]
    for unit in (1, 2):
        s = loads(with_expect(f"{name}[{unit}]", repr(want[unit - 1])))
        (r,) = Trace(s).check_all()
        assert r.holds and r.computed == pytest.approx((want[unit - 1],), rel=1e-12)
    s = loads(with_expect(name, f"[{want[0]!r}, {want[1]!r}]"))
    (r,) = Trace(s).check_all()
    assert r.holds and r.computed == pytest.approx(want, rel=1e-12)
    wrong = loads(with_expect(f"{name}[2]", repr(want[1] + 1e-6)))
    assert not Trace(wrong).check_all()[0].holds


def test_factors_are_checked_at_the_delta_step_of_their_layer():
    s = loads(with_expect("dadz2[1]", "0") + with_expect("dE/da3", "[0, 0]").split(NET)[1]
              + with_expect("z3[2]", "0").split(NET)[1])
    trace = Trace(s)
    steps = {r.expectation.quantity: r.step for r in trace.check_all()}
    assert trace[steps["dadz2[1]"]].title == "delta of hidden layer 2"
    assert trace[steps["dE/da3"]].title == "delta of output layer 3"
    assert trace[steps["z3[2]"]].title == "net input of layer 3"


def test_the_blogs_printed_factors_do_not_hold_and_are_what_its_own_outputs_give():
    s = load(SCENARIOS / "blog.toml")
    results = {r.expectation.quantity: r for r in Trace(s).check_all()}
    de, dadz = results["dE/da3[1]"], results["dadz3[1]"]
    assert not de.holds and not dadz.holds
    assert de.computed[0] == pytest.approx(by_hand()["dE/da3"][0], rel=1e-12)
    # the post's own arithmetic from its printed output 0.7333: 0.7333 - 0.6905, and 0.7333 (1 - 0.733)
    assert abs(0.7333 - 0.6905 - de.expectation.value[0]) <= de.expectation.tolerance
    assert abs(0.7333 * (1 - 0.733) - dadz.expectation.value[0]) <= dadz.expectation.tolerance


def test_grad_per_example_in_online_mode():
    # the Widrow-Hoff steps of online.toml, by hand: example 3 sees o = 0.58, example 4 o = 1.648
    s = load(SCENARIOS / "online.toml")
    text = s.path and Path(s.path).read_text()
    extra = "".join(f'[[expect]]\nquantity = "grad.{n}"\nexample = {ex}\nvalue = {v!r}\ntolerance = 1e-9\n'
                    for n, ex, v in (("w1", 3, -2.42), ("b1", 3, -2.42), ("w1", 4, -2.352 * 2),
                                     ("w2", 4, -2.352)))
    s2 = loads(text + extra)
    results = Trace(s2).check_all()[-4:]
    assert all(r.holds for r in results)
    assert [r.expectation.example for r in results] == [3, 3, 4, 4]
    # batch mode would give one gradient over all examples: the same expectation no longer holds
    s3 = loads(text.replace('update = "online"', 'update = "batch"') + extra)
    assert not all(r.holds for r in Trace(s3).check_all()[-4:])


@pytest.mark.parametrize("quantity, message", [
    ("z3[3]", "layer 3 has units 1..2, expected z3[1]..z3[2]"),
    ("z3[0]", "layer 3 has units 1..2"),
    ("delta1", "the input layer has no delta, expected delta2..delta3"),
    ("dadz1[1]", "the input layer has no dadz"),
    ("dE/da4", "no layer 4, expected layers 1..3"),
    ("dE/db3", "unknown quantity 'dE/db3', expected z2..z3"),
])
def test_bad_new_quantities_are_one_line_errors(quantity, message):
    with pytest.raises(ScenarioError) as info:
        loads(with_expect(quantity, "0"), "x.toml")
    text = str(info.value)
    assert "\n" not in text and message in text and text.startswith("x.toml:")


def test_dadz_of_a_softmax_layer_is_refused():
    text = NET.replace('activation = "sigmoid"', 'activation = ["sigmoid", "softmax"]').replace(
        'function = "half_sse"', 'function = "cross_entropy"').replace("[[0.6905, 0.8657]]", "[[1, 0]]")
    loads(text)
    with pytest.raises(ScenarioError, match="softmax"):
        loads(text + '[[expect]]\nquantity = "dadz3"\nvalue = [0, 0]\n')
    s = loads(text + '[[expect]]\nquantity = "dE/da3"\nvalue = [0, 0]\ntolerance = 1e9\n')
    (r,) = Trace(s).check_all()
    assert r.holds and np.isfinite(r.computed).all()


def test_the_typed_quantities_name_the_factors_and_a_pass_answers_them():
    from bpdebug.core.quantity import Kind, Quantity
    from bpdebug.core.trace import quantity

    assert Quantity.parse("dE/da3").kind is Kind.DE_DA and str(Quantity.parse("dadz2")) == "dadz2"
    record = Trace(loads(NET)).epoch(1).passes[0]
    want = by_hand()
    np.testing.assert_allclose(np.asarray(quantity(record, "dE/da2"))[0], want["dE/da2"], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(quantity(record, "dadz3"))[0], want["dadz3"], rtol=1e-12)
    with pytest.raises(KeyError):
        quantity(record, "dadz4")
