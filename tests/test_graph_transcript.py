"""A graph's worked example in md, tex and txt: the program, the forward pass gate by gate, the backward pass as
sums of upstream × local, the update, each leaf's chain rule and the results, with the engine's numbers."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from _bundled import GRAPHS

from bpdebug.core.graph.trace import GraphStepKind, GraphTrace
from bpdebug.core.scenario import load_any
from bpdebug.text.numbers import number
from bpdebug.transcript.graph_document import FORMATS, render

MICROGRAD = GRAPHS[[p.stem for p in GRAPHS].index("micrograd")]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", GRAPHS, ids=lambda p: p.stem)
def test_every_bundled_graph_in_every_format(path, fmt):
    scenario = load_any(path)
    trace = GraphTrace(scenario)
    out = render(fmt, trace, scenario.epochs)
    record = trace.epoch(1)
    for name in scenario.learn or scenario.program.leaves:
        g = float(record.gradients[scenario.program.leaf(name)])
        written = number(g) if fmt == "txt" else number(g, minus="-")
        assert written in out, (name, written)
    assert out.count("Forward pass") == len({1, scenario.epochs})
    if scenario.learn:
        assert "Update" in out


def test_micrograd_txt_shows_a_value_used_twice_as_two_terms_and_the_readme_figures():
    scenario = load_any(MICROGRAD)
    out = render("txt", GraphTrace(scenario), 1)
    assert "#7 = c@1 + c@1 = (−2) + (−2) = −4" in out
    assert "∂g/∂c@1 = ∂g/∂#7·∂#7/∂c@1 + ∂g/∂#7·∂#7/∂c@1" in out
    for figure in ("24.70408", "138.8338", "645.5773"):
        assert figure in out
    assert "a ← a − η·∂g/∂a = −4 − 0.01·138.8338 = −5.388338" in out


def test_backward_lines_sum_upstream_times_local():
    scenario = load_any(MICROGRAD)
    trace = GraphTrace(scenario)
    out = render("md", trace, 1)
    for t in trace.templates:
        if t.kind is GraphStepKind.BACKWARD and t.node is not None:
            key = scenario.program.nodes[t.node].key
            assert f"= {number(float(trace.epoch(1).gradients[t.node]), minus='-')}" in out, key


def test_the_cli_exports_md_tex_txt_of_a_graph(tmp_path):
    for fmt in FORMATS:
        target = tmp_path / f"m.{fmt}"
        done = subprocess.run([sys.executable, "-m", "bpdebug", "export", str(MICROGRAD), "--format", fmt, "-o",
                               str(target)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "138.8338" in target.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_tex_compiles(tmp_path):
    (tmp_path / "m.tex").write_text(render("tex", GraphTrace(load_any(MICROGRAD)), 1), encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "m.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
