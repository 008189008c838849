"""A graph step in words and numbers (for a graph panel, the step panel, a worked example gate by gate).

Forward: ``c@2 = c@1 + c@1 = −2 + −2 = −4``. Backward: the chain rule of the node's gradient as the sum over its
uses, ``∂g/∂c@1 = ∂g/∂#10·∂#10/∂c@1 + ∂g/∂#10·∂#10/∂c@1 = −4·1 + −4·1 = −8``, with the local derivative's rule
from the op registry. Update: ``a ← a − η·∂g/∂a = −4 − 0.01·138.8338 = −5.388338`` (any optimizer: before and
after). Only numbers known at the step are shown (the step's own ``value``)."""

from __future__ import annotations

from ..core.graph.ops import OPS
from ..core.graph.trace import GraphStep, GraphStepKind
from .numbers import number


def _operand(step: GraphStep, j: int) -> str:
    program = step.layout.program
    node = program.nodes[j]
    return number(node.value) if node.op == "const" and not node.bindings else number(step.value(node.key))


def _factor(v: float) -> str:
    """A number as a factor of a product: a negative one in parentheses."""
    text = number(v)
    return f"({text})" if text.startswith("−") else text


def narrate(step: GraphStep) -> list[str]:
    """The lines that explain ``step``."""
    program = step.layout.program
    out = step.layout.output_key
    if step.kind is GraphStepKind.FORWARD and step.node is not None:
        node = program.nodes[step.node]
        op = OPS[node.op]
        numbers = op.text([_operand(step, j) for j in node.args], node.k)
        return [f"{node.key} = {program.text(node.index)} = {numbers} = {number(step.value(node.key))}",
                f"forward, {op.meaning} (op {op.label(node.k)}), line {node.line} of the program"]
    if step.kind is GraphStepKind.BACKWARD and step.node is not None:
        node = program.nodes[step.node]
        value = number(step.value(f"grad.{node.key}"))
        if node.index == program.output:
            return [f"∂{out}/∂{out} = 1", "the output: the backward pass starts here"]
        terms = step.terms()
        if not terms:
            return [f"∂{out}/∂{node.key} = 0", f"no value computed from {node.key} reaches {out}"]
        symbols = " + ".join(f"∂{out}/∂{program.nodes[t.user].key}·∂{program.nodes[t.user].key}/∂{node.key}"
                             for t in terms)
        numbers = " + ".join(f"{_factor(t.upstream)}·{_factor(t.local)}" for t in terms)
        lines = [f"∂{out}/∂{node.key} = {symbols}", f"  = {numbers} = {value}"]
        uses = len(terms)
        lines.append(f"backward: the sum over {'its ' + str(uses) + ' uses' if uses > 1 else 'its one use'}, each "
                     "the upstream gradient times the local derivative")
        for t in terms:
            user = program.nodes[t.user]
            args = [program.operand(j) for j in user.args]
            lines.append(f"  {user.key} = {program.text(user.index)}: {OPS[user.op].derivatives(args, user.k)}")
        return lines
    scenario = step.scenario
    lines = [f"update ({scenario.plan.optimizer.title}, η = {number(scenario.learning_rate)}):"]
    for name in scenario.learn:
        p = scenario.param(name)
        assert p is not None
        before, after = step.param(p, "before"), step.value(f"{name}.after")
        grad = step.gradient(p)
        frozen = " (frozen)" if name in scenario.frozen else ""
        if scenario.plan.is_plain and not frozen:
            g = _factor(grad) if grad is not None else "…"
            lines.append(f"  {name} ← {name} − η·∂{out}/∂{name} = {number(before)} − "
                         f"{number(scenario.learning_rate)}·{g} = {number(after)}")
        else:
            lines.append(f"  {name}: {number(before)} → {number(after)}{frozen}")
    return lines
