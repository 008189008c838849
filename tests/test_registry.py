"""One registry of functions: an activation is one entry, and everything else follows from it.

``softsign`` is registered here as one entry and nothing else; the engine trains with it (checked
against central finite differences), its chain rule is derived, every transcript is written (the py
export retrains to the JSON's bits), and the app steps through it. The py export's functions are
checked to be the registry's and the engine's own source.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bpdebug.core import engine, expr, functions
from bpdebug.core.engine import Trace, batch_loss
from bpdebug.core.functions import Activation
from bpdebug.core.scenario import Scenario, load
from bpdebug.derivation import derive
from bpdebug.text.numbers import number
from bpdebug.transcript import FORMATS, Options, render
from bpdebug.transcript.script import ENGINE_CODE, OPTIMIZER_CODE

ROOT = Path(__file__).resolve().parent.parent


def softsign(z: np.ndarray) -> np.ndarray:
    return z / (1.0 + np.abs(z))


def softsign_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.abs(z)) ** 2


SOFTSIGN = Activation("softsign", softsign, softsign_derivative, expr.parse("x/(1 + abs(x))", ("x",)),
                      symbol="softsign", latex=r"\operatorname{softsign}", formula="softsign(z) = z / (1 + |z|)")

SCENARIO = """\
title = "Softsign hidden layer"
[network]
layers = [2, 3, 2]
activation = ["softsign", "sigmoid"]
[loss]
function = "half_sse"
[training]
learning_rate = 0.3
epochs = 3
[data]
inputs = [[0.5, -1.5], [2.0, 0.25], [-0.3, 0.8]]
targets = [[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]]
[weights]
theta1 = [[0.1, -0.7, 0.3], [-0.4, 0.5, 0.6], [0.2, 0.9, -0.8]]
theta2 = [[0.7, 0.8, -0.9, 0.4], [0.1, -0.2, 0.3, -0.5]]
"""


@pytest.fixture(scope="module")
def softsign_scenario(tmp_path_factory) -> Iterator[Path]:
    functions.register(SOFTSIGN)
    try:
        path = tmp_path_factory.mktemp("softsign") / "softsign.toml"
        path.write_text(SCENARIO, encoding="utf-8")
        yield path
    finally:
        functions.unregister(SOFTSIGN)


def finite_difference(s: Scenario, layer: int, row: int, col: int, h: float = 1e-6) -> float:
    """∂E/∂theta_layer[row, col] of the batch loss by central differences (independent of the backward pass)."""
    net = engine.Network(s)

    def loss_at(delta: float) -> float:
        weights = tuple(np.array(w) for w in s.weights)
        weights[layer - 1][row, col] += delta
        return batch_loss(net, weights, s.inputs, s.targets)[0]

    return (loss_at(h) - loss_at(-h)) / (2 * h)


def test_softsign_trains_and_derives_from_one_entry(softsign_scenario: Path) -> None:
    s = load(softsign_scenario)
    assert s.activation(2) is SOFTSIGN
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    for p in s.params:
        fd = finite_difference(s, p.layer, p.row, p.col)
        d = derive(step, p, scenario=s)
        assert d.value is not None and d.value == pytest.approx(fd, rel=1e-6, abs=1e-9), p.short
        assert d.substituted is not None
        assert float(d.substituted.doit()) == pytest.approx(fd, rel=1e-6, abs=1e-9), p.short
    w1 = derive(step, "w1", scenario=s)
    assert any("softsign" in line or "Abs" in line or "|" in line for line in w1.text_lines()) or w1.terms
    assert "…" not in "\n".join(w1.text_lines())


@pytest.mark.parametrize("fmt", FORMATS)
def test_softsign_in_every_transcript(softsign_scenario: Path, fmt: str, tmp_path: Path) -> None:
    s = load(softsign_scenario)
    out = render(fmt, Trace(s), Options(epochs=2))
    if fmt not in ("py", "ipynb"):  # these carry the engine's source, which names nan in its comments
        assert not re.search(r"\bnan\b", out, re.IGNORECASE)
    if fmt in ("md", "txt", "tex"):
        assert "softsign" in out
    if fmt == "tex" and shutil.which("pdflatex"):
        (tmp_path / "t.tex").write_text(out, encoding="utf-8")
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]
    if fmt == "py":
        (tmp_path / "train.py").write_text(out, encoding="utf-8")
        run = subprocess.run([sys.executable, str(tmp_path / "train.py")], capture_output=True, text=True,
                             timeout=60, check=True)
        doc = json.loads(render("json", Trace(s), Options(epochs=2)))
        losses = [float(line.split()[3]) for line in run.stdout.splitlines() if line.startswith("epoch")]
        assert losses == [e["loss"] for e in doc["epochs"]]  # the engine's own code: the very same bits


async def test_softsign_in_the_app(softsign_scenario: Path) -> None:
    from bpdebug.tui.app import make_app
    from bpdebug.tui.widgets.derivation_panel import DerivationPanel

    app = make_app(softsign_scenario)
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("w", "w", "1", "enter", "n", "n", "n", "n", "n", "n", "n", "n", "n"):  # w1, then to the update
            await pilot.press(key)
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        panel = app.screen.query_one(DerivationPanel)
        content = panel.content
        shown = content.plain if hasattr(content, "plain") else str(content)
        s = load(softsign_scenario)
        trace = Trace(s)
        gradient = trace[trace.first_step_of(1, kind="update")].gradient(s.params.get("w1"))
        assert f"∂E_total/∂w1 = {number(gradient)}" in shown and "…" not in shown
    assert app.return_code in (None, 0)


# --------------------------------------------------------------------------- the py export is the source

def _definitions(code: str) -> dict[str, str]:
    """The source of every top-level function and class of a script, by name."""
    tree = ast.parse(code)
    return {node.name: ast.get_source_segment(code, node) or "" for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef)}


def _source(obj: object) -> str:
    return textwrap.dedent(inspect.getsource(obj)).strip()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["blog", "softmax", "deep"])
def test_py_export_functions_are_the_registry_and_engine_source(name: str) -> None:
    s = load(ROOT / "scenarios" / f"{name}.toml")
    defined = _definitions(render("py", Trace(s), Options(epochs=1)))
    expected: dict[str, object] = {a.function.__name__: a.function for a in s.activations}
    expected |= {a.derivative.__name__: a.derivative for a in s.activations if a.derivative is not None}
    expected |= {f.__name__: f for f in (s.loss.terms, s.loss.grad, s.loss.combine)}
    expected |= {c.__name__: c for c in (*ENGINE_CODE, *OPTIMIZER_CODE, s.plan.optimizer.step)}
    assert set(defined) == set(expected) | {"main", "finite", "batches"}
    for fname, obj in expected.items():
        assert defined[fname].strip() == _source(obj), fname


def test_custom_activation_runs_the_code_the_export_pastes(tmp_path: Path) -> None:
    entry = functions.custom("bump", "x*exp(-x**2)")
    code = entry.source
    namespace: dict[str, object] = {"np": np}
    exec(code, namespace)  # the pasted text, compiled again
    z = np.linspace(-3, 3, 13)
    assert np.array_equal(namespace["custom_bump"](z), entry.function(z))  # type: ignore[operator]
    a = entry.function(z)
    assert np.array_equal(namespace["custom_bump_derivative"](z, a), entry.derivative(z, a))  # type: ignore[operator,misc]
    # and the derivative is the formula's: central differences agree
    h = 1e-6
    fd = (entry.function(z + h) - entry.function(z - h)) / (2 * h)
    assert entry.derivative is not None
    assert np.allclose(entry.derivative(z, a), fd, rtol=1e-6, atol=1e-9)


def test_registering_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        functions.register(functions.activation("sigmoid"))


# ----------------------------------------------------------------------------------------- 0·log 0 = 0

LOG_LOSSES = [name for name, entry in functions.LOSSES.items() if "log" in entry.formula]


@pytest.mark.parametrize("name", list(functions.LOSSES))
def test_a_perfect_output_at_0_or_1_gives_the_limit_not_nan(name: str) -> None:
    """Where an output equals its target at exactly 0 or 1 (an underflow), every loss term and its
    derivative are the limit from inside (0·log 0 = 0), in the engine and in the derivation's numbers."""
    from bpdebug.derivation.templates import loss_template

    entry = functions.loss(name)
    tiny = 1e-300
    for c, inside in ((0.0, tiny), (1.0, 1.0 - 2.0 ** -53)):
        o, t = np.full((2, 3), c), np.full((2, 3), c)
        near = np.full((2, 3), inside)
        with np.errstate(all="raise"):  # the convention is applied before any log(0) or 0/0 is taken
            terms, grad = entry.terms(o, t), entry.grad(o, t)
        with np.errstate(all="ignore"):
            limit_terms, limit_grad = entry.terms(near, t), entry.grad(near, t)
        assert np.all(terms == 0.0), (c, terms)
        np.testing.assert_allclose(terms, limit_terms, atol=1e-12)
        np.testing.assert_allclose(grad, limit_grad, rtol=1e-12, atol=1e-12)
        fn = loss_template(entry, True).fn
        with np.errstate(all="raise"):
            derived = np.array([[float(fn(o[i, k], t[i, k], 3, 2)) for k in range(3)] for i in range(2)])
        np.testing.assert_allclose(derived, grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", LOG_LOSSES)
def test_an_output_of_0_for_a_target_above_0_is_still_an_infinite_loss(name: str) -> None:
    entry = functions.loss(name)
    o, t = np.array([[0.0]]), np.array([[1.0]])
    with np.errstate(all="ignore"):
        terms, grad = entry.terms(o, t), entry.grad(o, t)
    assert terms[0, 0] == np.inf and grad[0, 0] == -np.inf


@pytest.mark.parametrize("name", LOG_LOSSES)
def test_a_saturated_output_with_target_0_derives_the_engines_finite_numbers(name: str, tmp_path: Path) -> None:
    """A sigmoid output saturated at exactly 0 (net −1000) for a target of 0: the engine's ∂E/∂o is the
    limit of the loss's derivative (0 for −t·log o, 1 for −log(1 − o)), never nan, and the derivation's
    factor shows the same number."""
    path = tmp_path / "sat.toml"
    path.write_text(textwrap.dedent(f"""\
        [network]
        layers = [1, 1]
        activation = "sigmoid"
        bias = true
        [loss]
        function = "{name}"
        [training]
        learning_rate = 0.1
        epochs = 2
        [data]
        inputs = [[1.0]]
        targets = [[0.0]]
        [weights]
        theta1 = [[0.0, -1000.0]]
        """))
    s = load(path)
    trace = Trace(s)
    assert trace.divergence() is None
    step = trace[trace.first_step_of(1, kind="update")]
    assert float(step.value("a2")[0, 0]) == 0.0 and trace.loss(1) == 0.0
    limit = {"cross_entropy": 0.0, "binary_cross_entropy": 1.0}[name]  # d/do of −t·log o, −log(1 − o) at 0
    assert float(step.value("dE_dout")[0, 0]) == limit
    d = derive(step, "w1", scenario=s)
    values = [f.value for path in d.terms for f in path]
    assert limit in values and not any(v is None or np.isnan(v) for v in values)
    assert d.value == 0.0 and float(d.substituted.doit()) == 0.0  # σ'(−1000) underflows to 0
