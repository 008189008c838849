"""Documents outside the textbook: deep networks in LaTeX, runs that diverge, and the small rendering slips.

Every bundled scenario's LaTeX transcript compiles with ``--full`` (and a few drawn network shapes);
a run that stops being finite is reported where it happens and the documents stop there, with no table of
nan and nothing on standard error; formulas are printed by SymPy printers, so a power is a superscript,
a minus sign is always the same sign and a negative zero is 0.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import sympy
from _bundled import NETWORKS
from _diverging import diverging_softmax_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpdebug import cli
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load, loads
from bpdebug.derivation import derive
from bpdebug.text import printing
from bpdebug.text.numbers import number, number_latex, vector
from bpdebug.transcript import Options, render

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = list(NETWORKS)
HAS_PDFLATEX = shutil.which("pdflatex") is not None


def compiles(tex: str, folder: Path) -> str | None:
    """None when pdflatex typesets ``tex``; else the error lines of its log."""
    (folder / "t.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=folder,
                         capture_output=True, text=True, timeout=180)
    if run.returncode == 0:
        return None
    return "\n".join(line for line in run.stdout.splitlines() if line.startswith("!") or "Unicode" in line)


# ---------------------------------------------------------------------------------- LaTeX, every network

@pytest.mark.skipif(not HAS_PDFLATEX, reason="pdflatex is not installed")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_every_bundled_scenario_compiles_in_full(scenario: Path, tmp_path: Path) -> None:
    s = load(scenario)
    tex = render("tex", Trace(s), Options(epochs=min(s.epochs, 2), full=True))
    assert compiles(tex, tmp_path) is None


@pytest.mark.skipif(not HAS_PDFLATEX, reason="pdflatex is not installed")
def test_deep_hidden_weight_compiles(tmp_path: Path) -> None:
    s = load(ROOT / "scenarios" / "deep.toml")
    tex = render("tex", Trace(s), Options(epochs=1, weights=("theta1[1,1]",)))
    assert re.search(r"\\partial \{*net_\{h2,1\}", tex)  # the δ note is mathematics, not raw text
    assert compiles(tex, tmp_path) is None


def network(layers: list[int], activations: list[str], bias: bool, loss: str, examples: int, seed: int) -> str:
    inputs = [[round(((i * 7 + j * 3 + seed) % 11) / 5 - 1, 2) for j in range(layers[0])] for i in range(examples)]
    targets = [[float((i + k) % 2) for k in range(layers[-1])] for i in range(examples)]
    return f"""\
title = "Drawn {'-'.join(map(str, layers))}"
[network]
layers = {layers}
activation = {activations}
bias = {str(bias).lower()}
[loss]
function = "{loss}"
[training]
learning_rate = 0.1
[data]
inputs = {inputs}
targets = {targets}
[weights]
init = "uniform"
range = [-0.8, 0.8]
seed = {seed}
"""


@st.composite
def shapes(draw: st.DrawFn) -> str:
    hidden = draw(st.lists(st.integers(1, 8), min_size=2, max_size=3))
    layers = [draw(st.integers(1, 4)), *hidden, draw(st.integers(1, 3))]
    acts = [draw(st.sampled_from(["sigmoid", "tanh", "relu", "linear"])) for _ in hidden]
    acts.append(draw(st.sampled_from(["sigmoid", "linear"])))
    loss = draw(st.sampled_from(["sse", "half_sse", "mse"]))
    return network(layers, acts, draw(st.booleans()), loss, draw(st.integers(1, 4)), draw(st.integers(0, 99)))


@pytest.mark.skipif(not HAS_PDFLATEX, reason="pdflatex is not installed")
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=shapes())
def test_drawn_deep_networks_compile(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    s = loads(text)
    tex = render("tex", Trace(s), Options(epochs=1, full=True))
    assert compiles(tex, tmp_path_factory.mktemp("tex")) is None


# ----------------------------------------------------------------------------------------------- divergence

@pytest.fixture(scope="module")
def diverging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The softmax scenario with one point given two classes and a learning rate of 10^6: in the second
    epoch one example's own class gets an output of 0, and its log is of 0."""
    path = tmp_path_factory.mktemp("nan") / "sm.toml"
    path.write_text(diverging_softmax_text(), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["md", "txt", "tex", "py"])
def test_documents_stop_where_the_run_stops_being_finite(capsys, diverging: Path, fmt: str) -> None:
    trace = Trace(load(diverging))
    where = trace.divergence(10)
    assert where is not None and where.epoch == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from NumPy would fail here
        code = cli.main(["export", str(diverging), "--format", fmt, "--epochs", "10"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "stop being finite" in out or "stops being finite" in out
    assert f"epoch {where.epoch}" in out
    body = out.split("stops being finite")[0] if fmt != "py" else ""
    assert not re.search(r"\bnan\b|NaN", body)  # nothing before the report is a number that is not finite
    if fmt in ("md", "txt", "tex"):
        assert "Epoch 3" not in out and "After 10 epochs" not in out


def test_py_export_of_a_diverging_run_stops(diverging: Path, tmp_path: Path) -> None:
    import sys

    code = render("py", Trace(load(diverging)), Options(epochs=10))
    (tmp_path / "train.py").write_text(code, encoding="utf-8")
    run = subprocess.run([sys.executable, str(tmp_path / "train.py")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stderr == ""
    assert run.stdout.splitlines()[-1] == "stopped: the numbers stop being finite in epoch 2"


def test_derivations_and_narration_never_fail_on_nan(diverging: Path) -> None:
    from bpdebug.text.narrate import narrate

    s = load(diverging)
    trace = Trace(s, epochs=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in (trace[i] for i in range(len(trace))):
            narrate(step, s)
            for p in list(s.params)[:4]:
                d = derive(step, p, scenario=s)
                d.text_lines()
                d.latex_lines()


# ------------------------------------------------------------------------------------------ rendering slips

CUSTOM = """\
[network]
layers = [1, 1]
activation = "quartic"
[training]
learning_rate = 0.1
[data]
inputs = [[0.5]]
targets = [[1.0]]
[weights]
theta1 = [[0.1, 0.3]]
[activations.quartic]
expr = "x**4/4"
"""


def test_powers_are_superscripts_and_numbers_in_brackets() -> None:
    s = loads(CUSTOM)
    trace = Trace(s)
    d = derive(trace[trace.first_step_of(1, kind="update")], "w1", scenario=s)
    text = "\n".join(d.text_lines())
    net = 0.1 + 0.3 * 0.5
    assert "··" not in text and "**" not in text
    assert f"∂out_o1/∂net_o1 = net_o1³ = {number(net)}³ = {number(net ** 3)}" in text
    latex = "\n".join(d.latex_lines())
    assert "net_{o1}^{3}" in latex


def test_one_minus_sign_and_no_negative_zero() -> None:
    x = sympy.Symbol("x")
    shown = printing.rebuild(sympy.exp(-x), {x: printing.shown_number(-0.4455714)})
    assert printing.text(shown) == "exp(−(−0.4455714))"
    assert printing.latex(shown) == r"e^{- \left(-0.4455714\right)}"
    assert number(-0.0) == "0" and number_latex(-0.0) == "0" and vector([-0.0, -1e-30]) == "[0 −1e-30]"
    assert number(float("nan")) == "nan" and number(float("-inf")) == "−inf" and number(None) == "…"
    assert number_latex(float("inf")) == r"\infty" and number_latex(-1.5e-5) == r"-1.5 \times 10^{-5}"
    assert number(0.32724049999999993) == "0.3272405"


def test_a_constant_factor_is_never_pending() -> None:
    s = load(ROOT / "scenarios" / "online.toml")
    trace = Trace(s)
    for index in (1, 7):  # before the error step of example 1 and of example 2
        lines = derive(trace[index], s.params.params[0], scenario=s).text_lines()
        assert "  ∂out_o1/∂net_o1 = 1" in lines and not any(line.startswith("  ∂out_o1/∂net_o1 = 1 =")
                                                            for line in lines)


def test_txt_headings_are_all_underlined() -> None:
    s = load(ROOT / "scenarios" / "blog.toml")
    out = render("txt", Trace(s), Options(epochs=1))
    assert not re.search(r"^#+ ", out, re.MULTILINE)
    assert "Forward pass\n~~~~~~~~~~~~\n" in out
