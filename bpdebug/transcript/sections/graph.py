"""The worked example of a computation graph, gate by gate: the program and its leaves, then for the first and the
last epoch the forward pass (each operation over its arguments' names, then their numbers), the backward pass
(each value's gradient as the sum over its uses of the upstream gradient times the local derivative) and the
update of the learned leaves, the chain rule of each leaf (its paths to the output, or the δ form), and the
results (the leaves after training, the printed figures). The same blocks as a network's transcript, so md, tex
and txt write the same numbers."""

from __future__ import annotations

import sympy

from ...core.graph.ops import OPS
from ...core.graph.program import CONST, Program
from ...core.graph.trace import GraphStep, GraphStepKind, GraphTrace
from ...core.quantity import Phase
from ...derivation.graph import derive_graph, tex_name
from ...text.graph_narrate import narrate
from ...text.printing import Shown, latex, shown_number
from ..blocks import ChainRule, Code, Display, Document, Epochs, Heading, Math, PhaseMark, Results, Table, num, para

STEPS_WRITTEN = 200  # a phase of more steps writes its first ones and says how many it leaves out


def _operand(program: Program, j: int) -> Shown:
    node = program.nodes[j]
    if node.op == CONST and not node.bindings:
        return shown_number(float(node.value or 0.0))
    return Shown(node.key, tex_name(node.key))


def _op_latex(program: Program, i: int, step: GraphStep | None = None) -> str:
    """Node ``i``'s operation over its arguments' names, or (with ``step``) over their numbers there."""
    node = program.nodes[i]
    if step is None:
        args = [_operand(program, j) for j in node.args]
    else:
        args = [shown_number(float(step.record.values[j])) for j in node.args]
    return latex(OPS[node.op].sympy(sympy, args, node.k))


def _partial(of: str, by: str) -> str:
    return rf"\frac{{\partial {tex_name(of)}}}{{\partial {tex_name(by)}}}"


def _factor(v: float) -> str:
    text = num(v).latex
    return rf"\left({text}\right)" if text.startswith("-") else text


def _forward(step: GraphStep) -> Math:
    program = step.layout.program
    assert step.node is not None
    key = program.nodes[step.node].key
    tex = (f"{tex_name(key)} = {_op_latex(program, step.node)} = {_op_latex(program, step.node, step)} = "
           f"{num(step.value(key)).latex}")
    return Math(tex, narrate(step)[0])


def _backward(step: GraphStep) -> Math:
    program = step.layout.program
    out = step.layout.output_key
    assert step.node is not None
    key = program.nodes[step.node].key
    value = num(step.value(f"grad.{key}")).latex
    lines = narrate(step)
    if step.node == program.output:
        return Math(f"{_partial(out, out)} = 1", lines[0])
    terms = step.terms()
    if not terms:
        return Math(f"{_partial(out, key)} = 0", lines[0])
    users = [program.nodes[t.user].key for t in terms]
    symbols = " + ".join(_partial(out, user) + r" \cdot " + _partial(user, key) for user in users)
    numbers = " + ".join(rf"{_factor(t.upstream)} \cdot {_factor(t.local)}" for t in terms)
    return Math(f"{_partial(out, key)} = {symbols} = {numbers} = {value}", "\n".join(lines[:2]))


def _update(step: GraphStep) -> list[Math]:
    scenario = step.scenario
    out = step.layout.output_key
    texts = narrate(step)[1:]
    maths = []
    for name, text in zip(scenario.learn, texts, strict=False):
        p = scenario.param(name)
        assert p is not None
        before, after = step.param(p, "before"), step.value(f"{name}.after")
        grad = step.gradient(p)
        if scenario.plan.is_plain and name not in scenario.frozen and grad is not None:
            tex = (rf"{tex_name(name)} \leftarrow {tex_name(name)} - \eta \cdot {_partial(out, name)} = "
                   rf"{num(before).latex} - {num(scenario.learning_rate).latex} \cdot {_factor(grad)} = "
                   f"{num(after).latex}")
        else:
            tex = rf"{tex_name(name)}: {num(before).latex} \to {num(after).latex}"
        maths.append(Math(tex, text.strip()))
    return maths


def _phase(trace: GraphTrace, epoch: int, kind: GraphStepKind) -> list:
    base = (epoch - 1) * trace.steps_per_epoch
    positions = [t.position for t in trace.templates if t.kind is kind]
    written = positions[:STEPS_WRITTEN]
    blocks: list = []
    if kind is GraphStepKind.FORWARD:
        blocks.append(Heading(3, "Forward pass", PhaseMark(Phase.FORWARD)))
        blocks.append(para("One operation at a time, in program order: each value from its arguments' values."))
        blocks.append(Display(tuple(_forward(trace.step(base + p)) for p in written), group=True))
    elif kind is GraphStepKind.BACKWARD:
        blocks.append(Heading(3, "Backward pass", PhaseMark(Phase.BACKWARD)))
        blocks.append(para("In reverse: each value's gradient is the sum over the operations that use it of the "
                           "upstream gradient times the local derivative (a value used twice has two terms)."))
        blocks.append(Display(tuple(_backward(trace.step(base + p)) for p in written), group=True))
    else:
        blocks.append(Heading(3, "Update", PhaseMark(Phase.UPDATE)))
        step = trace.step(base + positions[0])
        blocks.append(para(f"{step.scenario.plan.optimizer.title}, learning rate ",
                           num(step.scenario.learning_rate), "."))
        blocks.append(Display(tuple(_update(step)), group=True))
    if len(positions) > len(written):
        blocks.append(para(f"… and {len(positions) - len(written):,} more steps, computed the same way."))
    return blocks


def build(trace: GraphTrace, epochs: int) -> Document:
    """The worked example of ``trace``'s scenario over ``epochs`` epochs, as blocks."""
    s = trace.scenario
    program = s.program
    out = trace.layout.output_key
    blocks: list = [Heading(1, s.title)]
    if s.description.strip():
        blocks.append(para(" ".join(s.description.split())))
    blocks.append(Heading(2, "The graph"))
    blocks.append(para("A straight-line program, one primitive operation a node (micrograd's draw_dot draws the "
                       f"same nodes); the output differentiated is {out}."))
    lines = [line for line in program.lines if line.split("#", 1)[0].strip()]
    blocks.append(Table((Code("program"),), tuple((Code(line.strip()),) for line in lines), "l"))
    blocks.append(Table(("leaf", "starting value", "learned"),
                        tuple((Code(name), num(float(program.nodes[program.leaf(name)].value or 0.0)),
                               "yes" if name in s.learn else "no") for name in program.leaves), "lrl"))
    written = sorted({1, epochs})
    for epoch in written:
        blocks.append(Heading(2, f"Epoch {epoch}", Epochs(epoch, epoch, True)))
        kinds = [GraphStepKind.FORWARD, GraphStepKind.BACKWARD] + ([GraphStepKind.UPDATE] if s.learn else [])
        for kind in kinds:
            blocks.extend(_phase(trace, epoch, kind))
    end = max(t.position for t in trace.templates if t.kind is GraphStepKind.BACKWARD)
    step = trace.step(end)
    blocks.append(Heading(2, "The chain rule of each leaf"))
    blocks.append(para("The gradient of a leaf is the sum over every path from it to the output of the product of "
                       "the local derivatives along the path; with many paths, the sum over its uses (δ form: "
                       "each user's gradient, a number, times the local derivative). Epoch 1."))
    for name in s.learn or program.leaves:
        d = derive_graph(step, name)
        blocks.append(Heading(3, f"∂{out}/∂{name}", ChainRule(name)))
        if d.summary():
            blocks.append(para(d.summary()))
        blocks.append(Display(tuple(Math(tex, text.strip()) for tex, text in d.display()), group=True))
    blocks.append(Heading(2, "Results", Results(epochs)))
    final_loss, leaves = trace.final(epochs)
    rows = [(Code(name), num(float(program.nodes[program.leaf(name)].value or 0.0)), num(float(leaves[i])))
            for i, name in enumerate(program.leaves) if name in s.learn]
    if rows:
        blocks.append(Table(("leaf", "start", f"after {epochs} epoch{'s' if epochs != 1 else ''}"), tuple(rows),
                            "lrr"))
    blocks.append(para(f"{out} = ", num(trace.loss(1)), " in epoch 1", *((f", {out} = ", num(final_loss),
                                                                       " after the last update") if s.learn else ())))
    results = trace.check_all()
    if results:
        blocks.append(Table(("printed figure", "printed", "computed", "holds"),
                            tuple((Code(r.expectation.quantity), num(r.expectation.value[0]), num(r.computed[0]),
                                   "yes" if r.holds else "NO") for r in results), "lrrl"))
    return Document(s.title, tuple(blocks))

