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
# online with more examples than the Markdown writes out (the rest run in a loop cell)
CASES = [("blog", 1), ("xor", 5), ("online", 3), ("softmax", 2), ("deep", 3), ("six_online", 3)]
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
