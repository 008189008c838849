"""The notebook transcript (``--format ipynb``): the worked example as a Jupyter notebook, cell by cell.

Markdown cells carry the Markdown transcript's sections (its derivations, in LaTeX math); code cells carry the
``py`` export's NumPy, one step of the engine per cell after the section that derives it: z and a of each
layer, the error terms and the loss, each δ, each layer's gradient, the update, and each chosen parameter's
gradient after its chain rule. Epochs and examples the Markdown transcript summarises run in one loop cell
with the script's ``update``. Run top to bottom, the notebook reproduces the transcript's numbers; its last
code cell prints them as JSON (the epochs' losses, the final loss and parameters) to compare with
``--format json``. Built with nbformat's ``v4.new_*`` helpers and validated; cell ids are numbered, so the
same scenario gives the same file byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.engine import Trace
from ..core.scenario import Scenario
from .document import Block, Heading, build
from .markdown import _block as markdown_block
from .script import script

if TYPE_CHECKING:
    from . import Options

_EPOCHS = re.compile(r"^Epochs? (\d+)(?: to (\d+))?$")
_EXAMPLES = re.compile(r"^Examples? (\d+)(?: to (\d+))?$")
_PARAM = re.compile(r"^(\S+) \((theta\d+\[\d+,\d+\])\)$")


@dataclass
class _Section:
    heading: Heading | None
    blocks: list[Block] = field(default_factory=list)


def _sections(blocks: tuple[Block, ...]) -> list[_Section]:
    out = [_Section(None)]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(_Section(b))
        out[-1].blocks.append(b)
    return [s for s in out if s.blocks]


def _written_out(sections: list[_Section], i: int) -> bool:
    """Whether the epoch or example heading at ``i`` is followed by its passes (a Forward pass heading)
    before the next heading of its level or above."""
    heading = sections[i].heading
    level = heading.level if heading is not None else 0
    for s in sections[i + 1:]:
        h = s.heading
        if h is None:
            continue
        if h.level <= level:
            return False
        if h.text == "Forward pass":
            return True
    return False


class _Cells:
    """The code of each step, in the py export's names (``weights``, ``z``, ``a``, ``delta``, ``gradients``)."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.L = s.n_layers

    def pass_start(self, example: int | None) -> list[str]:
        if example is None:
            rows = "x, t = INPUTS, TARGETS  # the whole batch, one row per example"
        else:
            rows = f"x, t = INPUTS[{example - 1}:{example}], TARGETS[{example - 1}:{example}]  # example {example}"
        return [rows + "\nz, a = [None, None], [None, x]  # index = layer; a[1] is the input"]

    def forward(self) -> list[str]:
        cells = []
        for l in range(2, self.L + 1):
            w = f"weights[{l - 2}]"
            product = f"a[{l - 1}] @ {w}[:, 1:].T + {w}[:, 0]" if self.s.bias else f"a[{l - 1}] @ {w}.T"
            cells.append(f"# z{l} = Θ{l - 1} · a{l - 1}\nz.append({product})\nz[{l}]")
            cells.append(f"# a{l} = f(z{l})\na.append(NET.activations[{l - 2}].function(z[{l}]))\na[{l}]")
        return cells

    def errors(self) -> list[str]:
        return [f"o = a[{self.L}]\nterms = NET.loss.terms(o, t)  # the error terms, one per output\n"
                "E = NET.loss.batch_loss(terms)\nE"]

    def backward(self) -> list[str]:
        L = self.L
        cells = [f"# δ{L} = ∂E/∂z{L}\ndE_dout = NET.loss.grad(o, t)\ndelta = [None] * {L + 1}\n"
                 f"delta[{L}] = output_delta(NET, z[{L}], o, dE_dout)\ndelta[{L}]"]
        for l in range(L - 1, 1, -1):
            cells.append(f"# δ{l} = (δ{l + 1} · Θ{l}) ⊙ f'(z{l})\n"
                         f"delta[{l}] = hidden_delta(NET, weights, {l}, delta[{l + 1}], z[{l}], a[{l}])\n"
                         f"delta[{l}]")
        cells.append(f"gradients = [None] * {L - 1}  # gradients[l - 1] = ∂E/∂Θl")
        for l in range(L - 1, 0, -1):
            cells.append(f"# ∂E/∂Θ{l} = δ{l + 1}ᵀ · a{l}" + (" (the bias column first)" if self.s.bias else "")
                         + f"\ngradients[{l - 1}] = gradient(NET, delta[{l + 1}], a[{l}])\ngradients[{l - 1}]")
        return cells

    @staticmethod
    def update() -> list[str]:
        return ["# the update: Θ ← Θ − η ∂E/∂Θ (frozen parameters keep their values)\n"
                "weights = update(NET, weights, gradients)\nweights"]

    def gradient(self, name: str) -> list[str]:
        p = self.s.params.get(name)
        return [f"float(gradients[{p.layer - 1}][{p.row}, {p.col}])  # ∂E/∂{p.short}, {p.canonical}"]

    @staticmethod
    def epoch_loss(epoch: int) -> list[str]:
        return ["losses.append(batch_loss(NET, weights, INPUTS, TARGETS)[0])\n"
                f"losses[-1]  # the loss of epoch {epoch} before its first update"]

    def skipped_epochs(self, first: int, last: int) -> list[str]:
        if self.s.update == "batch":
            body = ("    numbers = compute_pass(NET, weights, INPUTS, TARGETS)\n"
                    "    losses.append(numbers.loss)\n    weights = numbers.weights_after")
        else:
            body = ("    losses.append(batch_loss(NET, weights, INPUTS, TARGETS)[0])\n"
                    "    for i in range(INPUTS.shape[0]):\n"
                    "        weights = compute_pass(NET, weights, INPUTS[i:i + 1], TARGETS[i:i + 1]).weights_after")
        return [f"# epochs {first} to {last}, computed the same way\nfor epoch in range({first}, {last + 1}):\n"
                + body + "\nlosses[-1]"]

    @staticmethod
    def skipped_examples(first: int, last: int) -> list[str]:
        return [f"# examples {first} to {last}, each from the weights the previous one left\n"
                f"for i in range({first - 1}, {last}):\n"
                "    weights = compute_pass(NET, weights, INPUTS[i:i + 1], TARGETS[i:i + 1]).weights_after\nweights"]

    @staticmethod
    def results() -> list[str]:
        return ["import json\n\n"
                "final_loss = batch_loss(NET, weights, INPUTS, TARGETS)[0]\n"
                "print(json.dumps({\"losses\": losses, \"final_loss\": final_loss,\n"
                "                  \"params\": {name: float(weights[m][i, j]) for name, m, i, j in PARAMETERS}}))"]


def _setup(trace: Trace, epochs: int) -> list[str]:
    """The py export's definitions in two cells (the numbers, the functions), without its main()."""
    text = script(trace, epochs).split("\n\ndef main():", 1)[0].rstrip() + "\n"
    text = text.removeprefix("#!/usr/bin/env python3\n")
    cut = re.search(r"^def ", text, re.M)
    if cut is None:
        return [text.rstrip()]
    return [text[:cut.start()].rstrip(), text[cut.start():].rstrip()]


def notebook(trace: Trace, options: Options) -> object:
    """The notebook as an ``nbformat`` node (validated)."""
    import nbformat
    from nbformat import v4

    s = trace.scenario
    cells_of = _Cells(s)
    sections = _sections(build(trace, options).blocks)
    cells: list = []

    def markdown(section: _Section) -> None:
        cells.append(v4.new_markdown_cell("\n\n".join(markdown_block(b) for b in section.blocks)))

    def code(sources: list[str]) -> None:
        cells.extend(v4.new_code_cell(src) for src in sources)

    example: int | None = None
    setup_done = False
    results_done = False
    for i, section in enumerate(sections):
        h = section.heading
        text = h.text if h else ""
        if h is not None and h.level == 2 and not setup_done:  # before the first section after the introduction
            code(_setup(trace, options.epochs))
            code(["weights = tuple(np.array(w) for w in THETA)  # the starting weights\n"
                  "losses = []  # each epoch's loss"])
            setup_done = True
        markdown(section)
        if h is None:
            continue
        m_epoch, m_example, m_param = _EPOCHS.match(text), _EXAMPLES.match(text), _PARAM.match(text)
        if h.level == 2 and m_epoch:
            first = int(m_epoch[1])
            last = int(m_epoch[2] or first)
            example = None
            if _written_out(sections, i):
                code(cells_of.epoch_loss(first))
            else:
                code(cells_of.skipped_epochs(first, last))
        elif m_example and s.update != "batch":
            first = int(m_example[1])
            last = int(m_example[2] or first)
            if _written_out(sections, i):
                example = first
            else:
                code(cells_of.skipped_examples(first, last))
        elif text == "Forward pass":
            code(cells_of.pass_start(example) + cells_of.forward())
        elif text == "Errors":
            code(cells_of.errors())
        elif text == "Backward pass":
            code(cells_of.backward())
        elif text == "Update":
            code(cells_of.update())
        elif m_param and s.params.find(m_param[2]) is not None:
            code(cells_of.gradient(m_param[2]))
        elif h.level == 2 and text.startswith("After "):
            code(cells_of.results())
            results_done = True
    if not results_done:
        code(cells_of.results())
    for k, cell in enumerate(cells, start=1):
        cell["id"] = f"cell-{k}"
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "bpdebug": {"scenario": s.path, "epochs": options.epochs},
    })
    nbformat.validate(nb)
    return nb


def render(trace: Trace, options: Options) -> str:
    """The notebook's JSON text."""
    import nbformat

    return str(nbformat.writes(notebook(trace, options)))

