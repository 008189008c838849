"""The notebook transcript (``--format ipynb``): the worked example as a Jupyter notebook, cell by cell.

Markdown cells carry the Markdown transcript's sections (its derivations, in LaTeX math); code cells carry the
``py`` export's NumPy, one step of the engine per cell after the section that derives it: z and a of each
layer, the error terms and the loss (the pass's rows summed or averaged, as the loss reduces them), each δ,
each layer's gradient, the update, and each chosen parameter's gradient after its chain rule.

An optimizer (momentum, Nesterov, Adam, RMSProp, weight decay) is written out once as the textbook writes it:
its hyperparameters, its state starting at 0 (momentum's velocity v; Adam's moments m and v) and a function of
one weight matrix whose lines are the registry's SymPy rule printed as NumPy (``m = beta1*m + (1 - beta1)*g``,
``mhat = m/(1 - beta1**t)``, …), the very rule the Update sections derive. Mini-batches are taken by the py
export's ``batches(epoch)``, so a shuffled epoch uses the engine's order. Epochs and passes the Markdown
transcript summarises run in one loop cell (``backprop`` and the same update). Run top to bottom, the notebook
reproduces the engine's numbers to the last digit; its last code cell prints them as JSON (the epochs' losses,
the final loss and parameters, the optimizer's state) to compare with ``--format json``. Built with nbformat's
``v4.new_*`` helpers and validated; cell ids are numbered, so the same scenario gives the same file byte for byte.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from ..core.engine import Trace
from ..core.quantity import Phase
from ..core.trace import PassRecord
from ..text.update_rule import sympy_rule
from .blocks import Block, ChainRule, Epochs, Heading, Passes, PhaseMark, Results
from .document import build
from .markdown import render_block as markdown_block
from .script import script

if TYPE_CHECKING:
    from . import Options

_UPDATE = "weights = update(NET, weights, gradients)"  # plain gradient descent (the engine's update, pasted)
_OPTIMIZER_UPDATE = "updates += 1\nweights, state = update_every_matrix(weights, gradients, state, updates)"


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


def _code_name(name: str) -> str:
    """A rule's symbol as the notebook's variable: ``lambda`` is a Python keyword."""
    return name + "_" if keyword.iskeyword(name) else name


def _numpy(expr: sp.Expr) -> str:
    """A rule's right-hand side as NumPy code, in the order the textbook writes it (``p - eta*v``)."""
    from sympy.printing.numpy import NumPyPrinter

    class Printer(NumPyPrinter):
        def _module_format(self, fqn: str, register: bool = True) -> str:
            full = str(super()._module_format(fqn, register))
            return "np." + full[len("numpy."):] if full.startswith("numpy.") else full

        def _print_Symbol(self, expr: sp.Symbol) -> str:
            return _code_name(expr.name)

    return str(Printer({"order": "none", "fully_qualified_modules": True}).doprint(expr))


class _Cells:
    """The code of each step, in the py export's names (``weights``, ``z``, ``a``, ``delta``, ``gradients``)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.s = s = trace.scenario
        self.L = s.n_layers
        self.plain = s.plan.is_plain
        self.mode = s.plan.mode
        self.rows: tuple[int, ...] = tuple(range(s.n_examples))  # the rows of the pass being written out

    # ---- the optimizer, written out once (after the py export's definitions)

    def optimizer(self) -> list[str]:
        """The hyperparameters, the state starting at 0, and the rule as a function of one matrix, line by
        line as the SymPy rule the Update sections print; then every matrix's update with frozen parameters
        kept. Nothing for plain gradient descent (the engine's ``update``)."""
        if self.plain:
            return []
        plan = self.s.plan
        opt, h = plan.optimizer, plan.hyper
        decay = bool(h.weight_decay)
        keys = ["learning_rate", *opt.hyperparameters] + (["weight_decay"] if decay else [])
        lines = [f"# {opt.title}, as {opt.torch} defines it: its hyperparameters ..."]
        for k in keys:
            hp = opt.hyperparameter(k)
            lines.append(f"{_code_name(hp.symbol)} = {getattr(h, k)!r}  # {hp.meaning}")
        names = opt.state_names
        if names:
            lines.append(f"# ... and its state: {', '.join(names)} of every parameter, starting at 0; "
                         f"state[l] = ({', '.join(names)}{',' if len(names) == 1 else ''}) of THETA[l]")
            zeros = ", ".join("np.zeros_like(w)" for _ in names) + ("," if len(names) == 1 else "")
            lines.append(f"state = [({zeros}) for w in THETA]")
        else:
            lines.append("state = [() for w in THETA]  # it keeps no state")
        lines.append("updates = 0  # updates so far: the step count t" + (" of the bias correction"
                                                                          if opt.uses_step_count else ""))
        state_args = "".join(f", {n}" for n in names)
        body = [f"def {opt.name}_rule(p, g{state_args}, t):",
                f'    """One {opt.title} update of a weight matrix p whose gradient is g, every entry at once: the '
                'rule top to bottom."""']
        for target, expr in sympy_rule(opt, decay):
            body.append(f"    {_code_name(target)} = {_numpy(expr)}")
        body.append(f"    return p, ({', '.join(names)}{',' if len(names) == 1 else ''})")
        keep = ("            # a frozen parameter keeps its value and its state\n"
                "            p_new = np.where(MASKS[l], p_new, p)\n"
                "            s_new = tuple(np.where(MASKS[l], new, old) for new, old in zip(s_new, state[l]))\n"
                if self.s.frozen else "")
        driver = ("def update_every_matrix(weights, gradients, state, t):\n"
                  f'    """Update t of every weight matrix with {opt.name}_rule; the new weights and state."""\n'
                  "    new_weights, new_state = [], []\n"
                  "    for l, (p, g) in enumerate(zip(weights, gradients)):\n"
                  f"        p_new, s_new = {opt.name}_rule(p, g, *state[l], t)\n"
                  + (keep.replace("            ", "        ") if keep else "")
                  + "        new_weights.append(p_new)\n"
                  "        new_state.append(s_new)\n"
                  "    return tuple(new_weights), new_state")
        return ["\n".join(lines), "\n".join(body) + "\n\n\n" + driver]

    def backprop(self) -> list[str]:
        """The forward and backward cells in one function, for the loops over epochs and passes."""
        return ["def backprop(weights, x, t):\n"
                '    """The gradients of the loss over the rows of x (targets t): the cells of one pass, in one."""\n'
                "    z, a = forward(NET, weights, x)\n"
                "    o = a[NET.L]\n"
                "    delta = [None] * (NET.L + 1)\n"
                "    delta[NET.L] = output_delta(NET, z[NET.L], o, NET.loss.grad(o, t))\n"
                "    for l in range(NET.L - 1, 1, -1):\n"
                "        delta[l] = hidden_delta(NET, weights, l, delta[l + 1], z[l], a[l])\n"
                "    return tuple(gradient(NET, delta[l + 1], a[l]) for l in range(1, NET.L))"]

    @property
    def update_code(self) -> str:
        return _UPDATE if self.plain else _OPTIMIZER_UPDATE

    # ---- one pass, step by step

    def pass_start(self, epoch: int, p: PassRecord | None) -> list[str]:
        if p is None or self.mode == "batch":
            self.rows = tuple(range(self.s.n_examples))
            rows = "x, t = INPUTS, TARGETS  # the whole batch, one row per example"
        else:
            self.rows = p.rows
            which = (f"example {p.example}" if p.example is not None else
                     f"mini-batch {p.batch}: examples {', '.join(str(r + 1) for r in p.rows)}")
            rows = (f"rows = batches({epoch})[{p.batch - 1}]  # {which} of epoch {epoch}\n"
                    "x, t = INPUTS[rows], TARGETS[rows]  # one row per example")
        return [rows + "\nz, a = [None, None], [None, x]  # index = layer; a[1] is the input"]

    def forward(self) -> list[str]:
        cells = []
        for l in range(2, self.L + 1):
            w = f"weights[{l - 2}]"
            product = f"a[{l - 1}] @ {w}[:, 1:].T + {w}[:, 0]" if self.s.bias else f"a[{l - 1}] @ {w}.T"
            cells.append(f"# z{l} = Θ{l - 1} · a{l - 1}\nz.append({product})\nz[{l}]")
            cells.append(f"# a{l} = f(z{l})\na.append(NET.activations[{l - 2}].function(z[{l}]))\na[{l}]")
        return cells

    def _reduction(self) -> tuple[str, str]:
        """How the pass's rows combine into E (the loss's own reduction), as code and in words."""
        n = len(self.rows)
        if self.s.loss.reduction == "mean":
            return "float(terms.sum(axis=1).mean())", ("the one example's sum of terms" if n == 1 else
                                                       f"each row's sum of terms, averaged over the {n} rows")
        return "float(terms.sum(axis=1).sum())", ("the one example's sum of terms" if n == 1 else
                                                  f"each row's sum of terms, summed over the {n} rows")

    def errors(self) -> list[str]:
        code, words = self._reduction()
        return [f"o = a[{self.L}]\nterms = NET.loss.terms(o, t)  # the error terms, one per output and row\n"
                f"E = {code}  # {words}\nE"]

    def backward(self) -> list[str]:
        L = self.L
        mean = self.s.loss.reduction == "mean" and len(self.rows) > 1
        cells = [f"# δ{L} = ∂E/∂z{L}\ndE_dout = NET.loss.grad(o, t)"
                 + (f"  # ∂E/∂o, divided by the {len(self.rows)} rows: E is their mean" if mean else "  # ∂E/∂o")
                 + f"\ndelta = [None] * {L + 1}\n"
                 f"delta[{L}] = output_delta(NET, z[{L}], o, dE_dout)\ndelta[{L}]"]
        for l in range(L - 1, 1, -1):
            cells.append(f"# δ{l} = (δ{l + 1} · Θ{l}) ⊙ f'(z{l})\n"
                         f"delta[{l}] = hidden_delta(NET, weights, {l}, delta[{l + 1}], z[{l}], a[{l}])\n"
                         f"delta[{l}]")
        cells.append(f"gradients = [None] * {L - 1}  # gradients[l - 1] = ∂E/∂Θl")
        for l in range(L - 1, 0, -1):
            cells.append(f"# ∂E/∂Θ{l} = δ{l + 1}ᵀ · a{l}" + (" (the bias column first)" if self.s.bias else "")
                         + (": the shared bias's, the sum over the units it feeds, in every row" if self.s.shared_bias
                            else "")
                         + f"\ngradients[{l - 1}] = gradient(NET, delta[{l + 1}], a[{l}])\ngradients[{l - 1}]")
        return cells

    def update(self, p: PassRecord | None, chosen: tuple[str, ...]) -> list[str]:
        if self.plain:
            return ["# the update: Θ ← Θ − η ∂E/∂Θ (frozen parameters keep their values)\n" + _UPDATE + "\nweights"]
        opt = self.s.plan.optimizer
        t = f" (t = {p.update})" if p is not None else ""
        lines = [f"# the update{t}: {opt.name}_rule on every matrix, each entry by the rule above\n"
                 + _OPTIMIZER_UPDATE + "\nweights"]
        shown = [self.s.params.get(c) for c in chosen][:4]
        if shown and opt.state_names:
            names = opt.state_names
            entries = ", ".join(
                f"{q.short!r}: " + "{" + ", ".join(f"{n!r}: float(state[{q.layer - 1}][{k}][{q.row}, {q.col}])"
                                                   for k, n in enumerate(names)) + "}" for q in shown)
            lines.append(f"# the state after the update, for {', '.join(q.short for q in shown)}\n{{{entries}}}")
        return lines

    def gradient(self, name: str) -> list[str]:
        p = self.s.params.get(name)
        return [f"float(gradients[{p.layer - 1}][{p.row}, {p.col}])  # ∂E/∂{p.short}, {p.canonical}"]

    @staticmethod
    def epoch_loss(epoch: int) -> list[str]:
        return ["losses.append(batch_loss(NET, weights, INPUTS, TARGETS)[0])\n"
                f"losses[-1]  # the loss of epoch {epoch} before its first update"]

    def _step(self, indent: str) -> str:
        return "".join(f"{indent}{line}\n" for line in
                       ["gradients = backprop(weights, INPUTS[rows], TARGETS[rows])", *self.update_code.split("\n")])

    def skipped_epochs(self, first: int, last: int) -> list[str]:
        unit = "example" if self.mode == "online" else "mini-batch"
        what = "one update" if self.mode == "batch" else f"one update per {unit}"
        span = f"epochs {first} to {last}" if last > first else f"epoch {first}"
        return [f"# {span}, computed the same way ({what})\n"
                f"for epoch in range({first}, {last + 1}):\n"
                "    losses.append(batch_loss(NET, weights, INPUTS, TARGETS)[0])\n"
                "    for rows in batches(epoch):\n" + self._step(" " * 8) + "losses[-1]"]

    def skipped_passes(self, epoch: int, first: PassRecord, last: PassRecord) -> list[str]:
        unit = "examples" if first.example is not None else "mini-batches"
        a, b = (first.example, last.example) if first.example is not None else (first.batch, last.batch)
        return [f"# {unit} {a} to {b}, each from the weights the previous one left (epoch {epoch})\n"
                f"for rows in batches({epoch})[{first.batch - 1}:{last.batch}]:\n" + self._step(" " * 4) + "weights"]

    def results(self) -> list[str]:
        state = ""
        names = self.s.plan.optimizer.state_names
        if not self.plain and names:
            state = (',\n                  "state": {name: {p: float(state[m][k][i, j]) for p, m, i, j in PARAMETERS}\n'
                     f"                            for k, name in enumerate({names!r})}}")
        return ["import json\n\n"
                "final_loss = batch_loss(NET, weights, INPUTS, TARGETS)[0]\n"
                "print(json.dumps({\"losses\": losses, \"final_loss\": final_loss,\n"
                "                  \"params\": {name: float(weights[m][i, j]) for name, m, i, j in PARAMETERS}"
                + state + "}))"]


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
    cells_of = _Cells(trace)
    sections = _sections(build(trace, options).blocks)
    chosen = options.weights or ()
    cells: list = []

    def markdown(section: _Section) -> None:
        cells.append(v4.new_markdown_cell("\n\n".join(markdown_block(b) for b in section.blocks)))

    def code(sources: list[str]) -> None:
        cells.extend(v4.new_code_cell(src) for src in sources)

    epoch = 1
    current: PassRecord | None = None
    setup_done = False
    results_done = False
    for section in sections:
        h = section.heading
        if h is not None and h.level == 2 and not setup_done:  # before the first section after the introduction
            code(_setup(trace, options.epochs))
            code(cells_of.optimizer() + cells_of.backprop())
            code(["weights = tuple(np.array(w) for w in THETA)  # the starting weights\n"
                  "losses = []  # each epoch's loss"])
            setup_done = True
        markdown(section)
        if h is None:
            continue
        match h.mark:
            case Epochs(first, last, written):
                epoch, current = first, None
                if written:
                    code(cells_of.epoch_loss(first))
                    if s.plan.mode == "batch":
                        current = trace.epoch(first).passes[0]
                else:
                    code(cells_of.skipped_epochs(first, last))
            case Passes(first, last, written) if s.plan.mode != "batch":
                passes = trace.epoch(epoch).passes
                if written:
                    current = passes[first - 1]
                else:
                    code(cells_of.skipped_passes(epoch, passes[first - 1], passes[last - 1]))
            case PhaseMark(Phase.FORWARD):
                code(cells_of.pass_start(epoch, current) + cells_of.forward())
            case PhaseMark(Phase.ERROR):
                code(cells_of.errors())
            case PhaseMark(Phase.BACKWARD):
                code(cells_of.backward())
            case PhaseMark(Phase.UPDATE):
                code(cells_of.update(current, chosen))
            case ChainRule(param):
                code(cells_of.gradient(param))
            case Results():
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

