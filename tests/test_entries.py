"""Every activation and loss entry honours the same contract, whether built in, registered later or written as a
formula in a scenario: the engine's gradient against central differences and against HIPS autograd (run on the
entry's own SymPy form, not on the engine's NumPy code), a derivation in text and LaTeX, every transcript, and
`bpdebug check` (with the gradient check) passing. The cases come from the registries, never from a list of names.

An ``elu`` written as a built-in entry (:data:`ELU`) is registered by a fixture and needs nothing else: it is
known to the loader, listed in its "one of ..." message, and passes the same contract.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import sympy

from bpdebug import cli
from bpdebug.core import engine, expr, functions
from bpdebug.core.engine import Trace, batch_loss
from bpdebug.core.functions import Activation, Loss
from bpdebug.core.scenario import Scenario, ScenarioError, load, loads
from bpdebug.core.scenario_writer import to_toml
from bpdebug.derivation import derive
from bpdebug.text import symbolic
from bpdebug.transcript import FORMATS, Options, render

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------- an entry added as built in

def elu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))


def elu_derivative(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.where(z > 0, 1.0, a + 1.0)


ELU = Activation("elu", elu, elu_derivative, expr.parse("Piecewise((x, x > 0), (exp(x) - 1, True))", ("x",)),
                 symbol="elu", latex=r"\operatorname{elu}", formula="elu(z) = z if z > 0, e^z − 1 otherwise")


def huber_terms(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    d = np.abs(t - o)
    return np.where(d <= 1.0, 0.5 * d * d, d - 0.5)


def huber_grad(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.clip(o - t, -1.0, 1.0)


HUBER = Loss("huber", "sum", "Σ_k huber(t_k − o_k)", huber_terms, huber_grad,
             lambda sp, o, t, K: sp.Piecewise((o - t - sp.Rational(1, 2), o - t > 1),
                                              (t - o - sp.Rational(1, 2), t - o > 1), ((t - o) ** 2 / 2, True)))


@pytest.fixture
def elu_registered() -> Iterator[Activation]:
    functions.register(ELU)
    try:
        yield ELU
    finally:
        functions.unregister(ELU)


# ------------------------------------------------------------------------------------------------ the cases

FORMULA_ACTIVATIONS = {  # written in a scenario: [activations.NAME] expr = "..."
    "elu_branches": "Piecewise((x, x > 0), (exp(x) - 1, True))",
    "softsign": "x/(1 + abs(x))",
    "swish": "x*sigmoid(x)",
}
FORMULA_LOSSES = {  # [losses.NAME] term = "...", reduction = "..."
    "huber": ("Min(abs(t - o), 1)**2/2 + Max(abs(t - o) - 1, 0)", "sum"),
    "huber_mean": ("Min(abs(t - o), 1)**2/2 + Max(abs(t - o) - 1, 0)", "mean"),
    "log_cosh": ("log((exp(o - t) + exp(t - o))/2)", "mean"),
}


@dataclass(frozen=True)
class Case:
    id: str
    activation: str  # the network's activation line
    tables: str = ""  # [activations.X] / [losses.Y] tables
    loss: str | None = None  # [loss] function, None: the default
    registers: Activation | Loss | None = None  # a built-in entry registered first (ELU, HUBER)


def _first_elementwise() -> str:
    return next(name for name, a in functions.ACTIVATIONS.items() if not a.is_softmax)


def _activation_cases() -> list[Case]:
    out = []
    for name, entry in functions.ACTIVATIONS.items():
        line = f'["{_first_elementwise()}", "{name}"]' if entry.is_softmax else f'"{name}"'
        out.append(Case(f"activation-{name}", line))
    out.append(Case("activation-elu-registered", '"elu"', registers=ELU))
    for name, formula in FORMULA_ACTIVATIONS.items():
        out.append(Case(f"formula-activation-{name}", f'"{name}"', f'[activations.{name}]\nexpr = "{formula}"\n'))
    return out


def _loss_cases() -> list[Case]:
    out = [Case(f"loss-{name}", f'"{_first_elementwise()}"', loss=name) for name in functions.LOSSES]
    out.append(Case("loss-huber-registered", f'"{_first_elementwise()}"', loss="huber", registers=HUBER))
    for name, (term, reduction) in FORMULA_LOSSES.items():
        out.append(Case(f"formula-loss-{name}", f'"{_first_elementwise()}"',
                        f'[losses.{name}]\nterm = "{term}"\nreduction = "{reduction}"\n', loss=name))
    return out


CASES = _activation_cases() + _loss_cases()


def scenario_text(case: Case) -> str:
    loss = f'[loss]\nfunction = "{case.loss}"\n' if case.loss else ""
    return textwrap.dedent("""\
        title = "contract"
        {tables}
        [network]
        layers = [2, 3, 2]
        activation = {activation}
        {loss}
        [training]
        learning_rate = 0.4
        epochs = 3
        [data]
        inputs = [[0.5, -1.5], [2.0, 0.25], [-0.3, 0.8]]
        targets = [[0.2, 0.8], [0.7, 0.3], [0.45, 0.55]]
        [weights]
        theta1 = [[0.1, -0.7, 0.3], [-0.4, 0.5, 0.6], [0.2, 0.9, -0.8]]
        theta2 = [[0.7, 0.8, -0.9, 0.4], [0.1, -0.2, 0.3, -0.5]]
        """).format(tables=case.tables, activation=case.activation, loss=loss)


@pytest.fixture
def scenario_path(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    case: Case = request.param
    if case.registers is not None:
        functions.register(case.registers)
    try:
        path = tmp_path / f"{case.id}.toml"
        path.write_text(scenario_text(case), encoding="utf-8")
        yield path
    finally:
        if case.registers is not None:
            functions.unregister(case.registers)


# ------------------------------------------------------------------------- the independent reference

def _to_autograd(e: sympy.Basic, env: dict[sympy.Basic, object]) -> object:
    """A SymPy expression computed with autograd.numpy (so autograd differentiates the entry's own form)."""
    if e in env:
        return env[e]
    if e is sympy.true:
        return True
    if e.is_Number:
        return float(e)
    if isinstance(e, sympy.Piecewise):
        out = _to_autograd(e.args[-1].expr, env)
        for pair in reversed(e.args[:-1]):
            out = anp.where(_to_autograd(pair.cond, env), _to_autograd(pair.expr, env), out)
        return out
    args = [_to_autograd(a, env) for a in e.args]
    if e.is_Add:
        return functools.reduce(lambda a, b: a + b, args)
    if e.is_Mul:
        return functools.reduce(lambda a, b: a * b, args)
    if e.is_Pow:
        return args[0] ** args[1]
    if e.is_Relational:
        return {">": anp.greater, ">=": anp.greater_equal, "<": anp.less, "<=": anp.less_equal}[e.rel_op](*args)
    if isinstance(e, sympy.Max | sympy.Min):
        return functools.reduce(anp.maximum if isinstance(e, sympy.Max) else anp.minimum, args)
    if isinstance(e, sympy.Heaviside):
        return anp.where(args[0] > 0, 1.0, anp.where(args[0] < 0, 0.0, args[1] if len(args) > 1 else 0.5))
    functions_ = {sympy.exp: anp.exp, sympy.log: anp.log, sympy.tanh: anp.tanh, sympy.Abs: anp.abs,
                  sympy.sign: anp.sign, sympy.sqrt: anp.sqrt}
    return functions_[e.func](*args)


def reference_loss(s: Scenario, thetas: list) -> object:
    """The batch loss from the entries' SymPy forms: a(l+1) = f(theta_l · [1; a(l)]), the loss's term per output
    summed over the outputs, then summed or averaged over the examples (the format's definitions)."""
    x = sympy.Symbol("x", real=True)
    a = s.inputs.T
    for theta, act in zip(thetas, s.activations, strict=True):
        z = anp.dot(theta, anp.concatenate([anp.ones((1, a.shape[1])), a], axis=0))
        if act.is_softmax:
            e = anp.exp(z - anp.max(z, axis=0, keepdims=True))
            a = e / anp.sum(e, axis=0, keepdims=True)
        else:
            a = _to_autograd(symbolic.activation(act, x), {x: z})
    o_s, t_s, k_s = sympy.symbols("o t K", real=True)
    k, n = a.shape
    term = symbolic.loss_term(s.loss, o_s, t_s, k_s)
    per_example = anp.sum(_to_autograd(term, {o_s: a, t_s: s.targets.T, k_s: float(k)}), axis=0)
    return anp.sum(per_example) / (n if s.loss.reduction == "mean" else 1)


def central_difference(s: Scenario, layer: int, row: int, col: int, h: float = 1e-6) -> float:
    net = engine.Network(s)

    def loss_at(delta: float) -> float:
        weights = tuple(np.array(w) for w in s.weights)
        weights[layer - 1][row, col] += delta
        return batch_loss(net, weights, s.inputs, s.targets)[0]

    return (loss_at(h) - loss_at(-h)) / (2 * h)


# ------------------------------------------------------------------------------------------- the contract

@pytest.mark.parametrize("scenario_path", CASES, ids=[c.id for c in CASES], indirect=True)
def test_gradients_agree_with_differences_and_autograd(scenario_path: Path) -> None:
    s = load(scenario_path)
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    by_autograd = autograd.grad(lambda ws: reference_loss(s, ws))([np.array(w) for w in s.weights])
    assert float(reference_loss(s, list(s.weights))) == pytest.approx(trace.loss(1), rel=1e-12)
    for p in s.params:
        g = step.gradient(p)
        assert g == pytest.approx(central_difference(s, p.layer, p.row, p.col), rel=1e-6, abs=1e-9), p.short
        assert g == pytest.approx(float(by_autograd[p.layer - 1][p.row, p.col]), rel=1e-10, abs=1e-14), p.short


@pytest.mark.parametrize("scenario_path", CASES, ids=[c.id for c in CASES], indirect=True)
def test_a_derivation_is_written_in_text_and_latex(scenario_path: Path) -> None:
    s = load(scenario_path)
    trace = Trace(s)
    step = trace[trace.first_step_of(1, kind="update")]
    for p in s.params:
        d = derive(step, p, scenario=s)
        assert d.value is not None and d.value == pytest.approx(step.gradient(p), rel=1e-9, abs=1e-12), p.short
        text, latex = "\n".join(d.text_lines()), "\n".join(d.latex_lines())
        assert text and latex and "Piecewise(" not in text and "…" not in text, p.short
    assert cli.main(["check", "--gradcheck", str(scenario_path)]) == 0
    assert cli.main(["run", str(scenario_path)]) == 0


@pytest.mark.parametrize("scenario_path", CASES, ids=[c.id for c in CASES], indirect=True)
def test_every_transcript_is_written_and_the_script_is_the_engine(scenario_path: Path, tmp_path: Path) -> None:
    s = load(scenario_path)
    for fmt in FORMATS:
        out = render(fmt, Trace(s), Options(epochs=2))
        assert out.strip(), fmt
    script = tmp_path / "train.py"
    script.write_text(render("py", Trace(s), Options(epochs=2)), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    doc = json.loads(render("json", Trace(s), Options(epochs=2)))
    losses = [float(line.split()[3]) for line in run.stdout.splitlines() if line.startswith("epoch")]
    assert losses == [e["loss"] for e in doc["epochs"]]  # the very same bits
    again = loads(to_toml(s))  # a fork saved as TOML carries its formulas
    assert [Trace(again).loss(e) for e in (1, 2)] == [Trace(s).loss(e) for e in (1, 2)]


LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<key>[^:]+): (?P<message>.+)$")


@pytest.mark.parametrize(("tables", "key", "says"), [
    ('[losses.bad]\nterm = "abs(t - y)"\n', "losses.bad.term", "unknown name 'y', expected only t, o"),
    ('[losses.bad]\nterm = "t > o"\n', "losses.bad.term", "is not allowed outside a condition"),
    ('[losses.bad]\nterm = "t**2"\n', "losses.bad.term", "does not depend on o, expected one output's term"),
    ('[losses.bad]\nterm = "log(o - 5)"\n', "losses.bad.term", "not a finite number at o = 0.7, t = 0.2"),
    ('[losses.bad]\nterm = "1/(o - o)"\n', "losses.bad.term", "'1 / (o - o)' is undefined"),
    ('[losses.bad]\nterm = "(t - o)**2"\nreduction = "median"\n', "losses.bad.reduction", "expected one of"),
    ('[losses.bad]\nterm = "(t - o)**2"\nscale = 2\n', "losses.bad.scale", "unknown key"),
    ('[losses.bad]\nreduction = "sum"\n', "losses.bad.term", "missing"),
    ('[losses.bad]\nterm = 3\n', "losses.bad.term", "expected a string"),
    ('[losses.{builtin}]\nterm = "(t - o)**2"\n', "losses.{builtin}", "is built in"),
    ('[activations.bad]\nexpr = "Piecewise((x, x > 0))"\n', "activations.bad.expr", "expected True"),
])
def test_a_bad_formula_is_refused_in_one_line(tables: str, key: str, says: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    builtin = next(iter(functions.LOSSES))
    tables, key = tables.replace("{builtin}", builtin), key.replace("{builtin}", builtin)
    path = tmp_path / "bad.toml"
    path.write_text(scenario_text(Case("bad", f'"{_first_elementwise()}"', tables)), encoding="utf-8")
    assert cli.main(["check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("\n") and err.count("\n") == 1, err
    m = LINE.match(err.rstrip("\n"))
    assert m and m["file"] == str(path) and m["key"] == key and says in m["message"], err
    line = path.read_text(encoding="utf-8").splitlines()[int(m["line"]) - 1]
    assert key.split(".")[-1] in line or key.split(".")[1] in line, (line, err)


# ---------------------------------------------------------------------------- one entry, nothing else

def test_a_registered_activation_is_known_to_the_loader_and_its_lists(elu_registered: Activation) -> None:
    with pytest.raises(ScenarioError) as info:
        loads(scenario_text(Case("x", '"no_such_function"')))
    for name in functions.ACTIVATIONS:
        assert name in info.value.message
    assert "elu" in info.value.message
    assert "elu" in activations_sentence()


def test_a_registered_loss_is_known_to_the_loader_and_its_lists() -> None:
    functions.register(HUBER)
    try:
        s = loads(scenario_text(Case("x", f'"{_first_elementwise()}"', loss="huber")))
        assert s.loss is HUBER
        with pytest.raises(ScenarioError) as info:
            loads(scenario_text(Case("x", f'"{_first_elementwise()}"', loss="no_such_loss")))
        assert all(name in info.value.message for name in functions.LOSSES) and "huber" in info.value.message
    finally:
        functions.unregister(HUBER)


def test_an_unknown_loss_lists_every_loss_and_the_scenarios_own() -> None:
    case = Case("x", f'"{_first_elementwise()}"', '[losses.huber]\nterm = "abs(t - o)"\n', loss="no_such_loss")
    with pytest.raises(ScenarioError) as info:
        loads(scenario_text(case))
    for name in [*functions.LOSSES, "huber"]:
        assert name in info.value.message


# ------------------------------------------------------------------------------- what users read: README

def activations_sentence() -> str:
    """The README's list of activations, as the registry has them."""
    names = [f"`{n}`" + (" (output layer only)" if a.is_softmax else "") for n, a in functions.ACTIVATIONS.items()]
    return ", ".join(names[:-1]) + " or " + names[-1]


def losses_sentence() -> str:
    """The README's list of losses: each entry's formula and reduction."""
    combine = {"sum": "summed", "mean": "averaged"}
    return "; ".join(f"`{n}` {loss.formula}, {combine[loss.reduction]}" for n, loss in functions.LOSSES.items())


def _paragraphs() -> list[str]:
    return [" ".join(p.split()) for p in (ROOT / "README.md").read_text(encoding="utf-8").split("\n\n")]


def test_the_readme_lists_the_registry() -> None:
    paragraphs = _paragraphs()
    assert any(activations_sentence() in p for p in paragraphs), activations_sentence()
    assert any(losses_sentence() in p for p in paragraphs), losses_sentence()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"# {', '.join(functions.LOSSES)}" in readme.replace(" (default)", "")
    assert " ".join(expr.FUNCTIONS) in readme  # the formula language's functions


# --------------------------------------------------------------------------------------- the app, huber

async def test_a_formula_loss_in_the_app(tmp_path: Path) -> None:
    from bpdebug.tui.app import make_app
    from bpdebug.tui.widgets.derivation_panel import DerivationPanel

    case = next(c for c in CASES if c.id == "formula-loss-huber")
    path = tmp_path / "huber.toml"
    path.write_text(scenario_text(case), encoding="utf-8")
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        for key in ("w", "w", "5", "enter", *["n"] * 12):  # w5, then on to the update
            await pilot.press(key)
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        content = app.screen.query_one(DerivationPanel).content
        shown = content.plain if hasattr(content, "plain") else str(content)
        assert "∂E_total/∂w5 = " in shown and "Piecewise(" not in shown
    assert app.return_code in (None, 0)
