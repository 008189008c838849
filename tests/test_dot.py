"""The computation graph (``bpdebug export --format dot|svg``): Graphviz accepts it, and the numbers it
puts on units and edges are the published worked example's and the engine's, read back from the text.

The edges are read two ways that share nothing with the writer: a small regular expression over the dot
text, and Graphviz's own parser (``dot -Tjson``). Non-finite numbers print as nan / inf.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from _bundled import NETWORKS

from bpdebug import cli
from bpdebug.core.engine import Trace
from bpdebug.core.scenario import load, loads
from bpdebug.transcript import FORMATS, Options, render
from bpdebug.transcript import dot as dot_format

SCENARIOS = list(NETWORKS)
MAZUR = next(p for p in SCENARIOS if p.name == "mazur.toml")
BLOG = next(p for p in SCENARIOS if p.name == "blog.toml")
XOR = next(p for p in SCENARIOS if p.name == "xor.toml")
HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")

EDGE = re.compile(r'^\s*(\w+) -> (\w+) \[label="(?P<label>(?:[^"\\]|\\.)*)", tooltip="(?P<tip>(?:[^"\\]|\\.)*)"'
                  r'(?P<rest>[^\n]*)\];$', re.M)
NODE = re.compile(r'^\s*(\w+) \[label="(?P<label>(?:[^"\\]|\\.)*)", tooltip="(?P<tip>(?:[^"\\]|\\.)*)"', re.M)
FLOAT = r"(-?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf))"


def export(capsys, *args: object) -> tuple[int, str, str]:
    code = cli.main(["export", *(str(a) for a in args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def edges(text: str) -> dict[str, dict]:
    """short parameter name -> its edge's tail, head, shown value and gradient, tooltip values, highlight."""
    found = {}
    for m in EDGE.finditer(text):
        label, tip = m["label"].replace("\\n", "\n"), m["tip"]
        name, value = re.match(rf"(\w+) = {FLOAT}\n", label).groups()
        shown_grad = re.search(rf"∂E/∂{name} = {FLOAT}", label)[1]
        tip_value = re.search(rf"= {FLOAT}; ∂E", tip)[1]
        tip_grad = re.search(rf"∂E/∂{name} = {FLOAT}", tip)[1]
        share = re.search(rf"this example's part = {FLOAT}", tip)
        heads = found.get(name, {}).get("heads", []) + [m[2]]  # a shared bias has an edge to every unit it feeds
        found[name] = {"tail": m[1], "head": m[2], "heads": heads, "value": float(value), "gradient": float(shown_grad),
                       "full_value": float(tip_value), "full_gradient": float(tip_grad),
                       "share": float(share[1]) if share else None, "hot": "penwidth=2" in m["rest"]}
    return found


def units(text: str) -> dict[str, dict[str, float]]:
    """node label's first field -> {net, out, δ} as shown."""
    found = {}
    for m in NODE.finditer(text):
        fields = [f.replace("\\ ", " ") for f in re.split(r"\s\|\s", m["label"])]
        values = {}
        for f in fields[1:]:
            k, _, v = f.partition(" = ")
            if v and re.fullmatch(FLOAT, v):
                values[k] = float(v)
        found[fields[0]] = values
    return found


def close_to(shown: float, figure: float) -> bool:
    """A 7-significant-digit display agrees with a published figure at the figure's precision."""
    return abs(shown - figure) <= 5e-7 * max(abs(figure), 1e-300) + 5e-10


# ---------------------------------------------------------------------------------- the worked example

def test_mazur_graph_shows_the_published_figures_on_the_right_units_and_edges():
    text = dot_format.graph(Trace(load(MAZUR)), 1, 1, ())
    e, u = edges(text), units(text)
    # Matt Mazur's post: out_h1, out_h2, out_o1, out_o2, ∂E/∂w5, ∂E/∂w1 (printed to 9 digits)
    assert close_to(u["h1"]["out"], 0.593269992) and close_to(u["h2"]["out"], 0.596884378)
    assert close_to(u["o1"]["out"], 0.75136507) and close_to(u["o2"]["out"], 0.772928465)
    assert close_to(u["E"]["loss"], 0.298371109)
    assert (e["w5"]["tail"], e["w5"]["head"]) == ("L2_1", "L3_1")  # h1 -> o1
    assert (e["w1"]["tail"], e["w1"]["head"]) == ("L1_1", "L2_1")  # i1 -> h1
    assert e["w5"]["value"] == 0.4 and close_to(e["w5"]["gradient"], 0.082167041)
    assert e["w1"]["value"] == 0.15 and close_to(e["w1"]["gradient"], 0.000438568)
    # the post's update, from the numbers on the edge: w5+ = 0.4 - 0.5 * 0.082167041 = 0.35891648
    assert abs(e["w5"]["full_value"] - 0.5 * e["w5"]["full_gradient"] - 0.35891648) < 5e-9
    assert abs(e["w1"]["full_value"] - 0.5 * e["w1"]["full_gradient"] - 0.149780716) < 5e-10


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_edge_carries_the_engines_weight_and_gradient(path):
    scenario = load(path)
    trace = Trace(scenario, 3)
    epoch, example = 3, scenario.n_examples
    text = dot_format.graph(trace, epoch, example, ())
    found = edges(text)
    assert set(found) == set(scenario.params.shorts)
    rec = trace.epoch(epoch).passes[trace.pass_of(epoch, example)[0]]  # online, mini-batch or batch
    for p in scenario.params:
        e = found[p.short]
        value = rec.weights_before[p.layer - 1][p.row, p.col]
        grad = rec.numbers.gradients[p.layer - 1][p.row, p.col]
        assert e["full_value"] == value and e["full_gradient"] == grad, p.short
        assert float(f"{value:.7g}") == e["value"] and float(f"{grad:.7g}") == e["gradient"], p.short
        sender = f"L{p.layer}_{p.sending_unit}"
        fed = range(1, scenario.layers[p.layer] + 1) if p.shared else [p.receiving_unit]
        assert (e["tail"], e["heads"]) == (sender, [f"L{p.layer + 1}_{u}" for u in fed])


def test_in_a_batch_each_examples_part_adds_up_to_the_gradient_on_the_edge():
    scenario = load(XOR)
    graphs = [edges(dot_format.graph(Trace(scenario, 5), 5, k, ())) for k in range(1, scenario.n_examples + 1)]
    for name in scenario.params.shorts:
        parts = [g[name]["share"] for g in graphs]
        assert math.isclose(sum(parts), graphs[0][name]["full_gradient"], rel_tol=1e-12, abs_tol=1e-15), name


def test_the_selected_weights_paths_to_the_loss_are_highlighted():
    text = dot_format.graph(Trace(load(BLOG)), 1, 1, ("w1",))
    hot = {name for name, e in edges(text).items() if e["hot"]}
    assert hot == {"w1", "w5", "w7"}  # i1 -> h1, then h1 -> o1 and h1 -> o2: the blog's two paths
    text = dot_format.graph(Trace(load(BLOG)), 1, 1, ("theta2[2,1]",))
    assert {name for name, e in edges(text).items() if e["hot"]} == {"w7"}


# -------------------------------------------------------------------------------------------- Graphviz

TRICKY = """
title = 'A "quoted" {brace|bar} <angle> back\\\\slash title'
[network]
layers = [2, 2, 1]
activation = "linear"
[training]
learning_rate = 1e150
epochs = 3
[data]
inputs = [[1e150, -1e150], [3.0, 4.0]]
targets = [[1.0], [0.0]]
[weights]
init = "uniform"
range = [-1.0, 1.0]
seed = 3
"""


@needs_dot
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_graphviz_accepts_every_bundled_scenarios_graph_and_reads_the_same_edges(path):
    scenario = load(path)
    text = dot_format.graph(Trace(scenario, 2), 2, 1, (scenario.params.shorts[0],))
    svg = dot_format.to_svg(text)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    done = subprocess.run(["dot", "-Tjson"], input=text.encode(), capture_output=True, check=True)
    parsed = json.loads(done.stdout)
    names = {o["_gvid"]: o["name"] for o in parsed["objects"]}
    by_label = {}
    for edge in parsed.get("edges", []):
        if edge.get("label"):
            by_label[edge["label"].split(" = ")[0]] = (names[edge["tail"]], names[edge["head"]], edge["label"])
    mine = edges(text)
    assert set(by_label) == set(mine)
    for name, (tail, head, label) in by_label.items():
        assert (tail, head) == (mine[name]["tail"], mine[name]["head"])
        assert float(re.search(rf"∂E/∂{name} = {FLOAT}", label)[1]) == mine[name]["gradient"]


def test_non_finite_numbers_print_as_nan_and_inf_and_graphviz_still_accepts_them(tmp_path):
    scenario = loads(TRICKY, str(tmp_path / "tricky.toml"))
    trace = Trace(scenario, 3)
    with np.errstate(all="ignore"):
        texts = [dot_format.graph(trace, e, k, ("w1",)) for e in (1, 2, 3) for k in (1, 2)]
    shown = [v for t in texts for e in edges(t).values() for v in (e["value"], e["gradient"])]
    shown += [v for t in texts for u in units(t).values() for v in u.values()]
    assert any(math.isnan(v) for v in shown) and any(math.isinf(v) for v in shown)
    assert all(re.fullmatch(r"nan|-?inf|-?[\d.e+-]+", tok) for t in texts
               for tok in re.findall(r"= (\S+?)(?:\\n|\"|;|,)", t) if not tok.startswith(("the", "θ")))
    if HAVE_DOT:
        for text in texts:
            assert "<svg" in dot_format.to_svg(text)


# ------------------------------------------------------------------------------------ the command line

def test_export_dot_and_svg_from_the_command_line(capsys, tmp_path):
    code, out, err = export(capsys, XOR, "--format", "dot", "--epoch", "4", "--example", "3", "--weight", "w5")
    assert code == 0 and out.startswith("digraph bpdebug {") and "epoch 4" in out and err == ""
    scenario = load(XOR)
    rec = Trace(scenario, 4).epoch(4).passes[0]
    h1 = units(out)["h1"]
    assert h1["out"] == float(f"{rec.numbers.a[2][2, 0]:.7g}") and h1["δ"] == float(f"{rec.numbers.delta[2][2, 0]:.7g}")
    if HAVE_DOT:
        target = tmp_path / "xor.svg"
        code, _, err = export(capsys, XOR, "--format", "svg", "-o", target)
        assert code == 0 and "<svg" in target.read_text() and "wrote" in err


def test_svg_without_graphviz_says_how_to_get_it_in_one_line(capsys, monkeypatch):
    monkeypatch.setattr(dot_format.shutil, "which", lambda _: None)
    code, out, err = export(capsys, BLOG, "--format", "svg")
    assert code == 2 and out == "" and err.count("\n") == 1 and "apt-get install graphviz" in err


@pytest.mark.parametrize("args, says", [
    (("--format", "dot", "--example", "2"), "--example 2: expected 1..1"),
    (("--format", "dot", "--epoch", "0"), "--epoch 0: expected a whole number >= 1"),
    (("--format", "md", "--epoch", "2"), "expected --format dot or svg"),
    (("--format", "dot", "--weight", "w99"), "--weight w99: unknown parameter"),
])
def test_bad_graph_arguments_end_in_one_line_and_status_2(capsys, args, says):
    code, out, err = export(capsys, BLOG, *args)
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err


def test_dot_is_a_registered_transcript_format():
    assert "dot" in FORMATS
    text = render("dot", Trace(load(BLOG)), Options(2, ("theta1[1,1]",)))
    assert "epoch 2 · example 1" in text and text == dot_format.graph(Trace(load(BLOG)), 2, 1, ("w1",))


# ------------------------------------------------------------------------------------- a huge network

def huge(n_examples: int = 2) -> str:
    """A 784-128-10 sigmoid network (an MNIST classifier's shape: 101,770 parameters) on random data."""
    rng = np.random.default_rng(0)
    rows = lambda m: "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in r) + "]" for r in m) + "]"  # noqa: E731
    return f"""
[network]
layers = [784, 128, 10]
activation = "sigmoid"
[training]
learning_rate = 0.01
[data]
inputs = {rows(rng.uniform(0, 1, (n_examples, 784)))}
targets = {rows(np.eye(10)[[3, 7][:n_examples]])}
[weights]
init = "uniform"
range = [-0.1, 0.1]
seed = 7
"""


def test_a_huge_network_draws_its_first_units_and_one_ellipsis_per_large_layer():
    scenario = loads(huge(), "<784-128-10>")
    trace = Trace(scenario, 1)
    text = dot_format.graph(trace, 1, 2, ())
    shown, n = dot_format.SHOWN_UNITS, dot_format.MAX_UNITS
    assert f'label="… {784 - shown} more"' in text and f'label="… {128 - shown} more"' in text
    assert "L3_more" not in text  # 10 outputs: all drawn
    found = edges(text)
    # every weight and bias between drawn units, nothing else: 8 inputs and the bias into 8 hidden units, then
    # 8 hidden units and the bias into the 10 outputs
    assert len(found) == (shown + 1) * shown + (shown + 1) * 10
    assert len(re.findall(r" -> ", text)) <= 4 * (n + 1) ** 2  # never one edge per parameter
    rec = trace.epoch(1).passes[0]
    for name, e in found.items():
        p = scenario.params.get(name)
        assert e["full_value"] == rec.weights_before[p.layer - 1][p.row, p.col]
        assert e["full_gradient"] == rec.numbers.gradients[p.layer - 1][p.row, p.col]
        assert max(p.sending_unit, p.receiving_unit) <= max(shown, 10)


def test_a_selected_weight_deep_in_a_huge_layer_is_drawn_with_its_paths():
    scenario = loads(huge(), "<784-128-10>")
    p = scenario.params.get("w50000")  # theta1[64,608]: input 608 -> hidden 64, neither among the first units
    assert (p.sending_unit, p.receiving_unit) == (608, 64)
    text = dot_format.graph(Trace(scenario, 1), 1, 1, ("w50000",))
    found = edges(text)
    assert found["w50000"]["hot"] and (found["w50000"]["tail"], found["w50000"]["head"]) == ("L1_608", "L2_64")
    hot = {name for name, e in found.items() if e["hot"]}
    # w50000, then every weight leaving hidden unit 64 (one per output)
    assert hot == {"w50000"} | {scenario.params.at(2, o, 64).short for o in range(10)}
    assert f'label="… {784 - dot_format.SHOWN_UNITS - 1} more"' in text


@needs_dot
def test_graphviz_draws_the_huge_networks_graph():
    text = dot_format.graph(Trace(loads(huge(), "<784-128-10>"), 1), 1, 1, ("w50000",))
    svg = dot_format.to_svg(text, timeout=60)
    assert "<svg" in svg
    assert "… 775 more" in svg
