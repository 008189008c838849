"""Transcripts read like the worked example and carry the engine's numbers.

The blog's figures appear where the post derives them (w5's three factors and its update, w1's sum over
both output paths); every format renders every bundled scenario the same way twice; the LaTeX compiles;
the Python script retrains to the JSON transcript's numbers; the JSON has the contract's shape; ``-o``
replaces a file whole or not at all; bad arguments end in one line and status 2.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _bundled import NETWORKS

from bpdebug import cli
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load

SCENARIOS = list(NETWORKS)
BLOG = next(p for p in SCENARIOS if p.name == "blog.toml")
FORMATS = ("md", "tex", "txt", "json", "py")
NUMBER = re.compile(r"[-−]?\d+\.\d+(?:e-?\d+)?")


def export(capsys, *args: object) -> tuple[int, str, str]:
    code = cli.main(["export", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def shows(text: str, figure: str) -> bool:
    """The text has a number that rounds to ``figure`` at the figure's own significant digits
    ("0.72152" is shown by 0.7215165)."""
    target = float(figure.replace("−", "-"))
    digits = len(figure.lstrip("−-").replace(".", "").lstrip("0"))
    for token in NUMBER.findall(text):
        v = float(token.replace("−", "-"))
        if float(f"{v:.{digits}g}") == target:
            return True
    return False


def section(text: str, start: str, end: str) -> str:
    """The text from the first line containing ``start`` to the next line containing ``end``."""
    i = text.index(start)
    j = text.find(end, i + len(start))
    return text[i:j if j >= 0 else None]


# ------------------------------------------------------------------------------------ extra scenarios

def toml_matrix(m: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in np.atleast_2d(m)) + "]"


XOR_ONLINE = """\
title = "XOR, online — σ, ∂E/∂w, é and 50% of a {brace} & #hash_tag"
description = "A custom softplus hidden layer, binary cross-entropy, one frozen bias, $5 and ~x^2."
[network]
layers = [2, 3, 1]
activation = ["softplus", "sigmoid"]
[loss]
function = "binary_cross_entropy"
[training]
learning_rate = 0.5
epochs = 3
update = "online"
frozen = ["b1", "theta2[1,2]"]
[data]
inputs = [[0, 0], [0, 1], [1, 0], [1, 1]]
targets = [[0], [1], [1], [0]]
[weights]
init = "uniform"
range = [-1.0, 1.0]
seed = 7
[activations.softplus]
expr = "log(1 + exp(x))"
"""

SOFTMAX_NO_BIAS = """\
title = "Softmax without bias units"
[network]
layers = [3, 4, 3]
activation = ["tanh", "softmax"]
bias = false
[loss]
function = "cross_entropy"
[training]
learning_rate = 0.3
epochs = 2
[data]
inputs = [[0.1, 0.2, 0.3], [0.5, -0.4, 0.9], [-1.0, 0.0, 0.25]]
targets = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
[weights]
init = "xavier"
seed = 3
"""

LEAKY_SSE = """\
title = "Leaky units, sum of squares"
[network]
layers = [2, 2, 2]
activation = ["leaky", "linear"]
[loss]
function = "sse"
[training]
learning_rate = 0.05
epochs = 2
update = "online"
[data]
inputs = [[0.3, -0.7], [0.9, 0.1], [-0.5, 0.5]]
targets = [[0.2, 0.1], [0.0, 1.0], [0.5, 0.5]]
[weights]
theta1 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
theta2 = [[0.7, 0.8, 0.9], [-0.1, 0.2, 0.3]]
[activations.leaky]
expr = "Max(x, 0.01*x)"
"""


def big_scenario(epochs: int = 5) -> str:
    """20-16-4 relu/mse, 30 examples: more parameters and examples than a transcript writes out in full."""
    rng = np.random.default_rng(11)
    inputs = rng.uniform(-1, 1, size=(30, 20))
    targets = rng.uniform(0, 1, size=(30, 4))
    return f"""\
title = "A larger network"
[network]
layers = [20, 16, 4]
activation = ["relu", "sigmoid"]
[loss]
function = "mse"
[training]
learning_rate = 0.2
epochs = {epochs}
[data]
inputs = {toml_matrix(inputs)}
targets = {toml_matrix(targets)}
[weights]
init = "he"
seed = 1
"""


@pytest.fixture(scope="module")
def extra(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scenarios")
    out = {}
    for name, text in (("xor_online", XOR_ONLINE), ("softmax_no_bias", SOFTMAX_NO_BIAS), ("leaky_sse", LEAKY_SSE),
                       ("big", big_scenario())):
        path = folder / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        load(path)  # valid
        out[name] = path
    return out


# ------------------------------------------------------------------------------ every format, every file

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_bundled_scenarios_render_deterministically(capsys, scenario: Path, fmt: str) -> None:
    first = export(capsys, scenario, "--format", fmt)
    second = export(capsys, scenario, "--format", fmt)
    assert first[0] == 0, first[2]
    assert first[1] and first[1] == second[1]
    assert first[1].endswith("\n")


@pytest.mark.parametrize("name", ["xor_online", "softmax_no_bias", "leaky_sse", "big"])
def test_other_networks_render_in_every_format(capsys, extra, name: str) -> None:
    for fmt in ("md", "tex", "txt"):
        code, out, err = export(capsys, extra[name], "--format", fmt)
        assert code == 0, err
        assert "Epoch 1" in out


def test_the_same_transcript_from_another_process(capsys) -> None:
    """Byte-identical across runs, whatever the hash seed (no dict or set order leaks into the text)."""
    _, here, _ = export(capsys, BLOG, "--format", "md", "--epochs", "2")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    there = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(BLOG), "--epochs", "2"],
                           capture_output=True, text=True, env=env, timeout=60, check=True)
    assert there.stdout == here


# ------------------------------------------------------------------------------ the blog's figures

@pytest.mark.parametrize("fmt", ["md", "txt"])
def test_w5_reads_like_the_blog(capsys, fmt: str) -> None:
    code, out, _ = export(capsys, BLOG, "--format", fmt, "--weight", "w5")
    assert code == 0
    rule = section(out, "w5 (theta2[1,1])", "Update")
    # the three factors, in symbols and then as numbers
    for factor in (("∂E_total/∂out_o1", r"\partial E_{total}}{\partial out_{o1}"),
                   ("∂out_o1/∂net_o1", r"\partial out_{o1}}{\partial net_{o1}"),
                   ("∂net_o1/∂w5", r"\partial net_{o1}}{\partial w_{5}")):
        assert factor[0 if fmt == "txt" else 1] in rule
    for figure in ("0.72152", "0.20093", "0.58540", "0.0036483"):
        assert shows(rule, figure), figure
    # the difference out_o1 − t_o1, with the engine's numbers
    trace = Trace(load(BLOG))
    out_o1 = float(trace.epoch(1).outputs[0, 0])
    m = re.search(r"0\.72151\d* [-−] 0\.6905 = (0\.0310\d+)", rule)
    assert m is not None
    assert float(m[1]) == pytest.approx(out_o1 - 0.6905, rel=1e-6)
    assert re.search(r"0\.4 [-−] 0\.1 [·\\cdot ]+0\.003648332 = 0\.3996352", rule)
    # w5's update in the table
    rows = [line.replace("|", " ").replace("$", " ").split() for line in out.splitlines()]
    assert ["w5", "0.4", "0.003648332", "0.3996352"] in rows


@pytest.mark.parametrize("fmt", ["md", "txt"])
def test_w1_sums_over_both_output_paths(capsys, fmt: str) -> None:
    code, out, _ = export(capsys, BLOG, "--format", fmt, "--weight", "w1")
    assert code == 0
    rule = section(out, "w1 (theta1[1,1])", "Update")
    o1, o2 = (("out_o1", "out_o2") if fmt == "txt" else ("out_{o1}", "out_{o2}"))
    lines = rule.splitlines()
    first = next(i for i, line in enumerate(lines) if o1 in line and "∂" + "w1" in line.replace("{", "")
                 or o1 in line and r"\partial w_{1}" in line)
    assert o1 in lines[first] and o2 in lines[first + 1] and "+" in lines[first + 1]  # two paths, one sum
    assert shows(rule, "−0.0049199")
    w5, w7 = ("w5", "w7") if fmt == "txt" else ("w_{5}", "w_{7}")
    assert f"= {w5} = 0.4" in rule and f"= {w7} = 0.5" in rule  # through both output weights


def test_md_has_network_data_forward_errors_and_errata(capsys) -> None:
    code, out, _ = export(capsys, BLOG)
    assert code == 0
    for heading in ("## The network", "## The data", "### Forward pass", "### Errors", "### Chain rules",
                    "### Update", "## Printed figures checked"):
        assert heading in out
    assert r"z_{2} = \Theta_{1} \cdot a_{1} = \begin{bmatrix} 0.1 & 0.2 & 0.3" in out
    assert r"\begin{bmatrix} 0.345 \\ 0.975 \end{bmatrix}" in out
    assert "$$\n" in out and "$0.85$" in out
    assert shows(section(out, "### Errors", "### Backward"), "0.0264773")
    table = section(out, "| quantity | where | printed | computed | holds |", "\n\n")
    results = Trace(load(BLOG)).check_all()
    rows = table.strip().splitlines()[2:]
    assert len(rows) == len(results)
    for row, r in zip(rows, results, strict=True):
        assert f"`{r.expectation.quantity}`" in row
        assert ("| yes |" in row) == r.holds
    assert "every chain rule" not in out and "selection" not in out


# ----------------------------------------------------------------------------------------------- tex

@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_tex_compiles(capsys, extra, tmp_path) -> None:
    for name, path in (("blog", BLOG), ("xor", extra["xor_online"])):
        code, out, _ = export(capsys, path, "--format", "tex")
        assert code == 0
        (tmp_path / f"{name}.tex").write_text(out, encoding="utf-8")
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout[-2000:]
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000


def test_tex_is_standalone_with_base_packages(capsys) -> None:
    _, out, _ = export(capsys, BLOG, "--format", "tex")
    assert out.startswith(r"\documentclass") and out.rstrip().endswith(r"\end{document}")
    used = set()
    for group in re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", out):
        used |= {p.strip() for p in group.split(",")}
    assert used <= {"inputenc", "geometry", "amsmath", "amssymb", "booktabs", "longtable", "graphicx"}


# ------------------------------------------------------------------------------------------ py = json

def run_script(code: str, tmp_path: Path) -> tuple[list[float], float, dict[str, float]]:
    path = tmp_path / "train.py"
    path.write_text(code, encoding="utf-8")
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60, check=True)
    losses, params, final = [], {}, None
    for line in run.stdout.splitlines():
        words = line.split()
        if words[0] == "epoch":
            assert int(words[1]) == len(losses) + 1
            losses.append(float(words[3]))
        elif words[0] == "final":
            final = float(words[2])
        else:
            params[words[0]] = float(words[1])
    return losses, final, params


@pytest.mark.parametrize("name", ["blog", "xor_online", "softmax_no_bias", "leaky_sse", "big"])
def test_python_script_retrains_to_the_json_numbers(capsys, extra, tmp_path, name: str) -> None:
    path = BLOG if name == "blog" else extra[name]
    epochs = 4
    _, script, _ = export(capsys, path, "--format", "py", "--epochs", epochs)
    _, text, _ = export(capsys, path, "--format", "json", "--epochs", epochs)
    doc = json.loads(text)
    assert "import numpy as np" in script and "bpdebug" not in script.split('"""', 2)[2]
    losses, final, params = run_script(script, tmp_path)
    assert losses == pytest.approx([e["loss"] for e in doc["epochs"]], rel=1e-12, abs=0)
    assert final == pytest.approx(doc["final"]["loss"], rel=1e-12, abs=0)
    assert list(params) == doc["parameters"]
    expected = doc["epochs"][-1]["params_after"]
    for p, v in params.items():
        assert v == pytest.approx(expected[p], rel=1e-12, abs=1e-300)
    if name == "blog":  # the same operations in the same order: the very same bits
        assert losses == [e["loss"] for e in doc["epochs"]] and params == expected


def test_python_script_writes_frozen_parameters_and_custom_formulas(capsys, extra) -> None:
    _, script, _ = export(capsys, extra["xor_online"], "--format", "py")
    assert "MASKS = [" in script and "np.log(1 + np.exp(x))" in script and "UPDATE = 'online'" in script
    _, script, _ = export(capsys, extra["leaky_sse"], "--format", "py")
    assert "np.maximum(x, 0.01 * x)" in script  # the formula as written, in plain NumPy


# ---------------------------------------------------------------------------------------------- json

def test_json_has_the_contract_shape(capsys, extra) -> None:
    for path, updates in ((BLOG, 1), (extra["xor_online"], 4)):
        code, text, _ = export(capsys, path, "--format", "json", "--epochs", 2)
        assert code == 0
        doc = json.loads(text)
        assert set(doc) >= {"format", "scenario", "parameters", "epochs", "final", "expectations"}
        assert doc["format"] == "bpdebug-transcript/1"
        assert set(doc["scenario"]) >= {"title", "path"}
        scenario = load(path)
        names = scenario.params.shorts
        assert doc["parameters"] == names
        assert [e["epoch"] for e in doc["epochs"]] == [1, 2]
        trace = Trace(scenario, 2)
        for e in doc["epochs"]:
            assert set(e) >= {"epoch", "loss", "params_before", "steps", "params_after"}
            assert list(e["params_before"]) == names and list(e["params_after"]) == names
            assert e["loss"] == trace.epoch(e["epoch"]).loss  # repr: every bit kept
            assert repr(e["loss"]) in text
            assert len(e["steps"]) == updates
            for i, s in enumerate(e["steps"]):
                assert set(s) >= {"example", "loss", "outputs", "gradients", "params_after"}
                assert s["example"] == (None if updates == 1 else i + 1)
                assert isinstance(s["loss"], float) and isinstance(s["outputs"], list)
                assert all(isinstance(v, float) for row in s["outputs"] for v in row)
                assert list(s["gradients"]) == names and list(s["params_after"]) == names
        assert set(doc["final"]) >= {"loss", "outputs"}
        for x in doc["expectations"]:
            assert set(x) >= {"quantity", "epoch", "example", "printed", "computed", "holds"}
            assert isinstance(x["holds"], bool)


# ------------------------------------------------------------------------------ epochs and selections

def test_epochs_first_and_last_in_full_and_a_loss_table(capsys) -> None:
    code, out, _ = export(capsys, BLOG, "--epochs", 5)
    assert code == 0
    assert out.count("### Forward pass") == 2
    assert "## Epoch 1\n" in out and "## Epoch 5\n" in out and "## Epochs 2 to 4" in out
    table = section(out, "## Loss per epoch", "## After")
    losses = Trace(load(BLOG), 5).loss_history(5)
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 5
    for row, loss in zip(rows, losses, strict=True):
        assert shows(row, f"{loss:.7g}")
    _, full, _ = export(capsys, BLOG, "--epochs", 5, "--full")
    assert full.count("### Forward pass") == 5
    _, py, _ = export(capsys, BLOG, "--format", "py", "--epochs", 5)
    assert "EPOCHS = 5" in py


def test_a_large_network_states_its_selection(capsys, extra) -> None:
    code, out, _ = export(capsys, extra["big"], "--epochs", 1)
    assert code == 0
    assert "This network has 404 parameters" in out and "w1, w2, b1, w321, w322, b17" in out
    assert out.count("#### ") == 6  # one chain rule per selected parameter
    assert r"\cdots" in out and r"\vdots" in out  # large matrices shown by their corners
    _, one, _ = export(capsys, extra["big"], "--epochs", 1, "--weight", "theta2[3,5]")
    assert "selection" not in one and one.count("#### ") == 1 and "theta2[3,5]" in one


def test_online_epoch_writes_each_example(capsys, extra) -> None:
    code, out, _ = export(capsys, extra["xor_online"], "--format", "txt", "--weight", "w1", "--epochs", 1)
    assert code == 0
    for k in range(1, 5):
        assert f"\nExample {k}\n~~~~~~~~~\n" in out
    assert "b1 (frozen)" not in out and "(frozen: not updated)" not in out  # w1 learns


# ------------------------------------------------------------------------------------ -o and errors

def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_output_file_is_written_whole(capsys, tmp_path) -> None:
    target = tmp_path / "blog.md"
    code, out, err = export(capsys, BLOG, "-o", target)
    assert code == 0 and out == "" and "wrote" in err
    _, expected, _ = export(capsys, BLOG)
    assert target.read_text(encoding="utf-8") == expected
    target.write_text("old\n" * 100_000, encoding="utf-8")  # longer than the new text: replaced, not overwritten
    assert export(capsys, BLOG, "-o", target)[0] == 0
    assert target.read_text(encoding="utf-8") == expected
    assert _leftovers(tmp_path) == []


def test_a_failing_write_leaves_the_old_file(capsys, tmp_path, monkeypatch) -> None:
    target = tmp_path / "blog.md"
    target.write_text("the old transcript\n", encoding="utf-8")
    import bpdebug.core.atomic

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bpdebug.core.atomic.os, "fsync", broken_fsync)
    code, out, err = export(capsys, BLOG, "-o", target)
    assert code == 2
    assert err.count("\n") == 1 and "No space left on device" in err
    assert target.read_text(encoding="utf-8") == "the old transcript\n"
    assert _leftovers(tmp_path) == []


def test_unknown_format_is_one_line_and_status_2(capsys) -> None:
    code, out, err = export(capsys, BLOG, "--format", "nope")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "nope" in err and "md" in err


def test_unknown_weight_is_one_line_and_status_2(capsys) -> None:
    code, out, err = export(capsys, BLOG, "--weight", "w99")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "w99" in err and "w1..w8" in err


def test_python_dash_m_bpdebug_export(tmp_path) -> None:
    target = tmp_path / "blog.txt"
    run = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(BLOG), "--format", "txt", "--weight", "w5",
                          "-o", str(target)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    text = target.read_text(encoding="utf-8")
    assert "∂E_total/∂w5" in text and "0.3996352" in text
