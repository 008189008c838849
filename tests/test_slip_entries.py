"""Every slip of the catalogues honours one contract, whatever its name: made on a scenario it fits, it produces a
figure the diagnosis then names as that slip. The cases come from the registries (``core/slips.py``'s ``SLIPS``,
``core/graph/slips.py``'s ``GRAPH_SLIPS``), never from a list of names. A slip registered by a fixture needs
nothing else: ``check --help`` and ``check``'s diagnosis name it; the README's table lists every built-in one.

A network slip is made by reading its variants as :class:`~bpdebug.core.slips.Variant` documents them (another
network, transformed weights, a hook on the quantities as the pass computes them, the figure itself left alone
for an intermediate-only one), on the engine's own pass; a fitted slip is made with a number through its
``refit``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bpdebug import cli
from bpdebug.core import slips
from bpdebug.core.compute import compute_pass
from bpdebug.core.diagnosis import ROOT, diagnose
from bpdebug.core.engine import Trace
from bpdebug.core.graph import slips as graph_slips
from bpdebug.core.graph.trace import GraphTrace
from bpdebug.core.scenario import load_any, loads
from bpdebug.core.slips import SLIPS, Slip, Variant
from bpdebug.core.trace import expectation_value

ROOT_DIR = Path(__file__).resolve().parent.parent
GRAPHS = sorted(p for p in (ROOT_DIR / "bpdebug" / "scenarios").glob("*.toml") if "[graph]" in p.read_text())

X, T, LR = [0.85, 0.25], [0.6905, 0.8657], 0.5
W1 = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
W2 = [[0.5, 0.4, 0.3], [0.2, 0.7, 0.1]]
W3 = [[0.3, -0.2, 0.6], [-0.1, 0.4, 0.2]]
W1S = [[0.1, 0.2, 0.3], [0.1, 0.5, 0.6]]  # shared biases: column 0 one number per matrix
W2S = [[0.5, 0.4, 0.3], [0.5, 0.7, 0.1]]
NETWORKS = (([W1, W2], "true"), ([W1, W2, W3], "true"), ([W1S, W2S], '"shared"'))
DIGITS = '[[expect]]\nquantity = "z2"\nvalue = [0.345, 0.975]\ntolerance = 0.0005\n'  # z2 as a text prints it
FIT_NUMBERS = (0.65, 1.5, 3.0)  # the numbers a fitted slip is made with (a learning rate of 0.65, ...)
PLACEHOLDER = 0.123456789012345  # a figure's value before it is worked out (too many decimals to be "printed")


def _text(ws: list, quantity: str, value: Any, extra: str, bias: str = "true") -> str:
    weights = "\n".join(f"theta{l} = {json.dumps(w)}" for l, w in enumerate(ws, 1))
    return f"""
[network]
layers = {[2] + [len(w) for w in ws]}
activation = "sigmoid"
bias = {bias}
[loss]
function = "half_sse"
[training]
learning_rate = {LR}
[data]
inputs = [{X}]
targets = [{T}]
[weights]
{weights}
[[expect]]
quantity = "{quantity}"
value = {json.dumps(value)}
tolerance = 1e-9
{extra}"""


def _figures(ws: list, shared: bool = False) -> Iterator[tuple[str, str, int]]:
    """(quantity, the name the pass computes it under, how many numbers) in the order the pass computes them."""
    L = len(ws) + 1
    for l in range(2, L + 1):
        yield f"z{l}", f"z{l}", 2
        yield f"a{l}", f"a{l}", 2
    yield "error", "error", 2
    yield "loss", "loss", 1
    yield f"dE/da{L}", f"dE/da{L}", 2
    for l in range(L, 1, -1):
        yield f"delta{l}", f"delta{l}", 2
    for l in range(L - 1, 0, -1):
        yield f"grad.theta{l}[1,2]", f"grad.theta{l}", 1
        yield f"theta{l}[1,2].after", f"theta{l}.after", 1
        if shared:  # the layer's one bias
            yield f"grad.b{l}", f"grad.theta{l}", 1
            yield f"b{l}.after", f"theta{l}.after", 1


def _slipped(trace: Trace, variant: Variant | None, own: str) -> np.ndarray:
    """The trace's first figure with the variant made, as the Variant's fields say it is made."""
    s = trace.scenario
    net = variant.net if variant is not None and variant.net is not None else trace.net
    weights = tuple(s.weights)
    if variant is not None and variant.weights is not None:
        weights = variant.weights(weights)
    state: dict[str, Any] = {"weights": weights, "a1": s.inputs}

    def hook(name: str, value: Any) -> Any:
        if variant is not None and variant.hook is not None and not (variant.intermediate_only and name == own):
            value = variant.hook(state, name, value)
        state[name] = value
        return value
    numbers = compute_pass(net, weights, s.inputs, s.targets, hook=hook)
    return np.asarray(expectation_value(numbers, weights, net.activations, s.expectations[0], 0), dtype=float)


def _variants(slip: Slip, trace: Trace) -> Iterator[Variant]:
    yield from slip.variants(trace.net, trace.scenario)
    if slip.refit is not None:
        for number in FIT_NUMBERS:
            yield slip.refit(trace.net, number)


def _made(slip: Slip) -> Iterator[tuple[str, str, list]]:
    """(scenario text, quantity, names the diagnosis gave) for each variant of the slip, on the first figure
    (in the pass's order) it changes, on each network it fits."""
    for ws, bias in NETWORKS:
        for extra in ("", DIGITS) if ws[0] is W1 else ("",):  # DIGITS prints W1's z2
            done: set[int] = set()
            for quantity, own, size in _figures(ws, bias != "true"):
                placeholder = PLACEHOLDER if size == 1 else [PLACEHOLDER] * size
                trace = Trace(loads(_text(ws, quantity, placeholder, extra, bias)))
                engine = _slipped(trace, None, own)
                for k, variant in enumerate(_variants(slip, trace)):
                    if k in done:
                        continue
                    value = _slipped(trace, variant, own)
                    if np.allclose(value, engine, rtol=0, atol=1e-7) or not np.all(np.isfinite(value)):
                        continue
                    done.add(k)
                    if extra and quantity == "z2":
                        continue  # the text's own z2 shows it: the figures after it are computed from that z2
                    printed = float(value[0]) if size == 1 else value.tolist()
                    text = _text(ws, quantity, printed, extra, bias)
                    d = diagnose(Trace(loads(text)))[0]
                    assert not d.result.holds
                    yield text, quantity, (d.diagnosis.verdict, d.diagnosis.slips)


@pytest.mark.parametrize("slip", SLIPS, ids=lambda s: s.name)
def test_each_slip_made_on_a_network_it_fits_is_named_by_the_diagnosis(slip):
    made = list(_made(slip))
    assert made, f"the slip {slip.name!r} changes no figure of the test networks: give it one it fits"
    for text, quantity, (verdict, names) in made:
        assert verdict == ROOT and slip.name in names, (quantity, names, text)


def _graph_cases(slip: graph_slips.GraphSlip) -> Iterator[tuple[Path, str, float]]:
    """(graph, a gradient's quantity, its value with the slip made) for each bundled graph the slip applies to."""
    for path in GRAPHS:
        s = load_any(path)
        trace = GraphTrace(s)
        if not slip.applies(s.program):
            continue
        record = trace.epoch(1)
        grads = graph_slips.slipped_backward(trace.tape, trace.program, record.values, slip)
        for node in trace.tape.leaves:
            name = s.program.nodes[node].key
            if name and abs(grads[node] - record.gradients[node]) > 1e-6 and np.isfinite(grads[node]):
                yield path, name, float(grads[node])
                break


@pytest.mark.parametrize("slip", list(graph_slips.GRAPH_SLIPS.values()), ids=lambda s: s.name)
def test_each_graph_slip_made_on_a_graph_it_fits_is_named_by_check(slip, tmp_path, capsys):
    cases = list(_graph_cases(slip))
    assert cases, f"the graph slip {slip.name!r} changes no gradient of a bundled graph"
    for path, quantity, value in cases:
        mine = tmp_path / f"{path.stem}.toml"
        mine.write_text(path.read_text() + f'\n[[expect]]\nquantity = "grad.{quantity}"\nvalue = {value!r}\n'
                        "tolerance = 1e-9\n")
        assert cli.main(["check", "--json", str(mine)]) == 1
        last = json.loads(capsys.readouterr().out)["expectations"][-1]
        assert last["diagnosis"]["verdict"] == "root" and slip.name in last["diagnosis"]["slips"], (path, last)


# ------------------------------------------------------------------------------------ a slip registered


def _w1_doubled(net: Any, s: Any) -> Iterator[Variant]:
    def weights(ws: tuple) -> tuple:
        return (np.asarray(ws[0]) * 2.0, *ws[1:])
    yield Variant("theta1", weights=weights)


DOUBLED = Slip("first_layer_doubled", "the first layer's weights written twice as large", _w1_doubled)


def _grad_halved(op: str, local: Any) -> Any:
    return lambda x, out, k: tuple(0.5 * d for d in local(x, out, k))


HALVED = graph_slips.GraphSlip("halved", "every local derivative halved", swap=_grad_halved)


@pytest.fixture
def registered(monkeypatch):
    """The catalogues with one more entry each (undone after the test)."""
    monkeypatch.setattr(slips, "SLIPS", (*slips.SLIPS, DOUBLED))
    monkeypatch.setitem(graph_slips.GRAPH_SLIPS, HALVED.name, HALVED)
    return DOUBLED, HALVED


def test_a_registered_slip_is_listed_by_check_help(registered, capsys):
    assert cli.main(["check", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for entry in (*slips.SLIPS, *graph_slips.GRAPH_SLIPS.values()):
        assert entry.sentence in text, entry.name


def test_a_registered_slip_is_named_by_check(registered, tmp_path, capsys):
    made = list(_made(DOUBLED))
    assert made and all(DOUBLED.name in names for _, _, (_, names) in made)
    text, quantity, _ = made[0]
    mine = tmp_path / "doubled.toml"
    mine.write_text(text)
    assert cli.main(["check", str(mine)]) == 1
    assert DOUBLED.sentence in capsys.readouterr().out
    (path, graph_quantity, value), *_ = _graph_cases(HALVED)
    graph = tmp_path / "halved.toml"
    graph.write_text(path.read_text() + f'\n[[expect]]\nquantity = "grad.{graph_quantity}"\nvalue = {value!r}\n'
                     "tolerance = 1e-9\n")
    assert cli.main(["check", str(graph)]) == 1
    assert HALVED.sentence in capsys.readouterr().out


def test_the_readmes_table_is_the_catalogues():
    readme = (ROOT_DIR / "README.md").read_text()
    table = readme[readme.index("| slip | what went wrong |"):]
    table = table[:table.index("\n\n")]
    rows = [tuple(c.strip() for c in line.strip("|").split("|", 1)) for line in table.splitlines()[2:]]
    expected = [(f"`{e.name}`", e.sentence) for e in SLIPS]
    expected += [(f"`{e.name}` (graph)", e.sentence) for e in graph_slips.GRAPH_SLIPS.values()]
    assert rows == expected
