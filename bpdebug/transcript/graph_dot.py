"""micrograd's ``draw_dot`` picture of a graph (``bpdebug export GRAPH --format dot|svg``): left to right, a record
per value with its name, data and grad, and a small node per operation (``+``, ``*``, ``**3``, ``ReLU``) between
its arguments and its result, with the numbers of one epoch (forward and backward done)."""

from __future__ import annotations

from ..core.graph.program import CONST
from ..core.graph.trace import GraphTrace
from .dot import number


def _field(text: str) -> str:
    """Text for one field of a record label: the record's special characters escaped."""
    return "".join("\\" + ch if ch in '{}|<>\\ "' else ch for ch in text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph(trace: GraphTrace, epoch: int = 1) -> str:
    """The dot text of the graph with epoch ``epoch``'s values and gradients."""
    p, s = trace.program, trace.scenario
    record = trace.epoch(epoch)
    title, path = (" ".join(t.split()) for t in (s.title, s.path))  # one line each, inside a // comment
    lines = [f"// {title}: epoch {epoch}, the values and gradients after its forward and backward passes",
             f"// written by bpdebug export {path} --format dot --epoch {epoch}",
             "digraph graph_of_values {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for n in p.nodes:
        name = f"{n.value:g}" if n.op == CONST and not n.bindings else n.key
        label = (f"{{ {_field(name)} | data {_field(number(record.values[n.index]))} | "
                 f"grad {_field(number(record.gradients[n.index]))} }}")
        lines.append(f"  v{n.index} [shape=record, label={_quote(label)}];")
        if n.computed:
            lines.append(f"  op{n.index} [shape=ellipse, label={_quote(n.label)}];")
            lines.append(f"  op{n.index} -> v{n.index};")
            for j in n.args:
                lines.append(f"  v{j} -> op{n.index};")
    lines.append("}")
    return "\n".join(lines) + "\n"
