"""The notebook transcript (``--format ipynb``): valid for nbformat, the same file every time, and, executed
top to bottom by nbclient, it reproduces the JSON transcript's losses and parameters.

Each step's cell is also checked where the worked example prints its number: the blog's loss and ∂E/∂w5.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bpdebug import cli

nbformat = pytest.importorskip("nbformat")

SCENARIOS = Path(__file__).resolve().parent.parent / "bpdebug" / "scenarios"
# scenario, epochs: one epoch written out; batch epochs summarised in a loop; online epochs; softmax; 3 layers;
# online with more examples than the Markdown writes out (the rest run in a loop cell); mazur: shared biases
CASES = [("blog", 1), ("xor", 5), ("online", 3), ("softmax", 2), ("deep", 3), ("six_online", 3), ("mazur", 3)]
SIX_ONLINE = """
title = "six examples, online"
[network]
layers = [2, 2, 1]
activation = ["tanh", "sigmoid"]
[training]
learning_rate = 0.3
update = "online"
frozen = ["b1"]
[data]
inputs = [[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.2], [0.1, 0.9]]
targets = [[0], [1], [1], [0], [1], [0]]
[weights]
init = "uniform"
range = [-1.0, 1.0]
seed = 4
"""


def export(capsys, *args: object) -> str:
    code = cli.main(["export", *(str(a) for a in args)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def execute(text: str, tmp_path: Path):
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.reads(text, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    return nb


def printed(nb) -> dict:
    """The JSON the last code cell prints."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    text = "".join(o.get("text", "") for o in last.outputs if o.output_type == "stream")
    return json.loads(text)


def test_the_notebook_is_valid_and_the_same_every_time(capsys):
    first = export(capsys, SCENARIOS / "blog.toml", "--format", "ipynb")
    again = export(capsys, SCENARIOS / "blog.toml", "--format", "ipynb")
    assert first == again
    nb = nbformat.reads(first, as_version=4)
    nbformat.validate(nb)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 8 and kinds.count("code") >= 10
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "$$" in sources and "### Forward pass" in sources and "#### w5 (theta2[1,1])" in sources


@pytest.mark.parametrize(("name", "epochs"), CASES, ids=[c[0] for c in CASES])
def test_executed_top_to_bottom_it_reproduces_the_json_transcript(capsys, tmp_path, name, epochs):
    path = SCENARIOS / f"{name}.toml"
    if name == "six_online":
        path = tmp_path / "six.toml"
        path.write_text(SIX_ONLINE)
    doc = json.loads(export(capsys, path, "--format", "json", "--epochs", epochs))
    weight = ["--weight", "w5"] if name == "blog" else []
    text = export(capsys, path, "--format", "ipynb", "--epochs", epochs, *weight)
    if name == "six_online":
        assert "# examples 4 to 5, each from the weights the previous one left" in text
    nb = execute(text, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    result = printed(nb)
    expected = doc["epochs"][-1]["params_after"]
    assert result["losses"] == pytest.approx([e["loss"] for e in doc["epochs"]], rel=1e-12, abs=0)
    assert result["final_loss"] == pytest.approx(doc["final"]["loss"], rel=1e-12, abs=0)
    assert list(result["params"]) == doc["parameters"]
    for p, v in result["params"].items():
        assert v == pytest.approx(expected[p], rel=1e-12, abs=1e-300), p
    if name in ("blog", "xor"):  # the same operations in the same order: the same bits
        assert result["losses"] == [e["loss"] for e in doc["epochs"]] and result["params"] == expected
    if name == "blog":
        blog_cells_show_the_worked_examples_numbers(nb)


def blog_cells_show_the_worked_examples_numbers(nb) -> None:
    """Each step's cell shows the number the worked example derives there."""
    shown = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.outputs:
            if o.output_type == "execute_result":
                shown[cell.source.splitlines()[-1]] = o["data"]["text/plain"]
    assert float(shown["E"]) == 0.02647730814838698  # the loss the app and `bpdebug check` give
    w5 = next(v for k, v in shown.items() if "∂E/∂w5" in k)
    assert abs(float(w5) - 0.003648332) < 5e-10  # the chain rule's product, 0.03101648 · 0.2009305 · 0.5854046
    assert re.search(r"0\.58540457", shown["a[2]"]) and re.search(r"0\.72151648", shown["a[3]"])


# ---- optimizers and mini-batches: the update written out as the textbook writes it, the engine's numbers

NESTEROV_MINI = """
title = "nesterov, weight decay, mini-batches of 2, frozen"
[network]
layers = [2, 3, 2]
activation = ["tanh", "sigmoid"]
[loss]
function = "mse"
[training]
learning_rate = 0.2
optimizer = "nesterov"
momentum = 0.8
weight_decay = 0.01
batch_size = 2
frozen = ["b1", "w4"]
[data]
inputs = [[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.2]]
targets = [[0, 1], [1, 0], [1, 0], [0, 1], [1, 1]]
[weights]
init = "uniform"
range = [-1.0, 1.0]
seed = 7
"""
RMSPROP_ONLINE = """
title = "rmsprop, online, shuffled, six examples"
[network]
layers = [2, 2, 1]
activation = ["sigmoid", "sigmoid"]
[loss]
function = "binary_cross_entropy"
[training]
learning_rate = 0.05
optimizer = "rmsprop"
alpha = 0.9
batch_size = 1
shuffle = true
seed = 3
[data]
inputs = [[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.2], [0.1, 0.9]]
targets = [[0], [1], [1], [0], [1], [0]]
[weights]
init = "uniform"
range = [-1.0, 1.0]
seed = 5
"""
# scenario, epochs, --weight: Adam on the blog's network; momentum with frozen biases (Mazur's); Iris: Adam on
# shuffled mini-batches of 10 with a mean loss; Nesterov with weight decay on mini-batches whose last is smaller;
# RMSProp online with shuffle (more examples than the Markdown writes out); plain descent on mini-batches
OPTIMIZER_CASES = [("adam", 3, "w5"), ("momentum", 4, "w1"), ("iris", 3, "w33"), ("nesterov_mini", 4, "w2"),
                   ("rmsprop_online", 3, "w1"), ("sgd_mini", 3, "w1")]
WRITTEN = {"nesterov_mini": NESTEROV_MINI, "rmsprop_online": RMSPROP_ONLINE,
           "sgd_mini": re.sub(r'optimizer = "nesterov"|momentum = 0.8|weight_decay = 0.01', "", NESTEROV_MINI)}


@pytest.mark.parametrize(("name", "epochs", "weight"), OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
def test_an_optimizer_or_mini_batch_notebook_gives_the_engines_numbers_to_the_last_digit(capsys, tmp_path, name,
                                                                                         epochs, weight):
    path = SCENARIOS / f"{name}.toml"
    if name in WRITTEN:
        path = tmp_path / f"{name}.toml"
        path.write_text(WRITTEN[name])
    doc = json.loads(export(capsys, path, "--format", "json", "--epochs", epochs))
    text = export(capsys, path, "--format", "ipynb", "--epochs", epochs, "--weight", weight)
    nb = execute(text, tmp_path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    result = printed(nb)
    last = doc["epochs"][-1]
    # the same operations in the same order as the engine: the same bits, losses, parameters and state
    assert result["losses"] == [e["loss"] for e in doc["epochs"]]
    assert result["final_loss"] == doc["final"]["loss"]
    assert result["params"] == last["params_after"]
    if "state_after" in last:
        assert set(result["state"]) <= set(last["state_after"])
        for k, values in result["state"].items():
            assert values == last["state_after"][k], k
    else:
        assert "state" not in result
    # each pass's loss cell shows the JSON's loss of that pass (mini-batches: the reduction over its rows)
    shown = [float(o["data"]["text/plain"]) for c in nb.cells if c.cell_type == "code" and c.source.endswith("\nE")
             for o in c.outputs if o.output_type == "execute_result"]
    step_losses = [s["loss"] for e in doc["epochs"] for s in e["steps"]]
    assert shown and all(v in step_losses for v in shown)


def test_the_optimizer_is_written_out_as_the_textbook_writes_it(capsys):
    text = export(capsys, SCENARIOS / "adam.toml", "--format", "ipynb", "--epochs", 1)
    code = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "code")
    for line in ("m = beta1*m + (1 - beta1)*g", "v = beta2*v + (1 - beta2)*g**2", "mhat = m/(1 - beta1**t)",
                 "vhat = v/(1 - beta2**t)", "p = p - eta*mhat/(np.sqrt(vhat) + epsilon)", "beta1 = 0.9",
                 "beta2 = 0.999", "epsilon = 1e-08", "eta = 0.1"):
        assert line in code, line
    momentum = export(capsys, SCENARIOS / "momentum.toml", "--format", "ipynb", "--epochs", 1)
    assert "v = mu*v + g" in momentum and "p = p - eta*v" in momentum and "np.where(MASKS[l]" in momentum
    decay = export(capsys, SCENARIOS / "momentum.toml", "--format", "ipynb", "--epochs", 1)
    assert "g = g + lambda_*p" not in decay  # weight decay only where the scenario has it
    # the notebook's own functions never shadow the py export's (compute_pass still finds the engine's)
    cells = [c.source for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "code"]
    setup = set(re.findall(r"^def (\w+)", "\n".join(cells[:2]), re.M))
    own = set(re.findall(r"^def (\w+)", "\n".join(cells[2:]), re.M))
    assert "compute_pass" in setup and "optimizer_update" in setup and "adam_step" in setup
    assert own >= {"adam_rule", "update_every_matrix", "backprop"} and not own & setup


def test_adams_first_update_in_the_notebook_is_minus_eta_times_the_sign(capsys, tmp_path):
    """Kingma & Ba 2015, 2.1: at t = 1, m̂ = g and v̂ = g², so the step is η·g/(|g| + ε): w5 0.4 → 0.3."""
    text = export(capsys, SCENARIOS / "adam.toml", "--format", "ipynb", "--epochs", 1, "--weight", "w5")
    nb = execute(text, tmp_path)
    state = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# the state after"))
    values = eval(state.outputs[0]["data"]["text/plain"])  # noqa: S307 - a dict of floats the kernel printed
    g = next(float(o["data"]["text/plain"]) for c in nb.cells if "∂E/∂w5" in c.source for o in c.outputs)
    assert values["w5"]["m"] == pytest.approx(0.1 * g, rel=1e-12)
    assert values["w5"]["v"] == pytest.approx(0.001 * g * g, rel=1e-12)
    assert printed(nb)["params"]["w5"] == pytest.approx(0.3, abs=1e-6)


def test_a_mini_batch_is_headed_by_its_place_and_its_examples(capsys):
    """Iris epoch 1's first mini-batch holds examples 39, 118, 49, … (seed 0; the scenario's comment)."""
    text = export(capsys, SCENARIOS / "iris.toml", "--format", "ipynb", "--epochs", 1)
    md = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "markdown")
    assert "### Mini-batch 1 (examples 39, 118, 49, 95, 55, 42, 143, 58, 140, 41)" in md
    assert "### Mini-batches 4 to 14" in md and "None" not in md
