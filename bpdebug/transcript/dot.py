"""The computation graph of one example's pass as Graphviz ``dot``, in the spirit of micrograd's ``draw_dot``.

Left to right: the inputs, a record per unit (its net, out and δ for the chosen example), the loss. Each
connection is an edge labelled with the weight's value and ∂E/∂w of the pass (the number the update uses);
the full-precision values ride along in the edge's tooltip, so an SVG shows them on hover. The paths from a
selected parameter to the loss are drawn in red: the chain rule of that parameter follows them.

A huge network stays readable and bounded: a layer of more than :data:`MAX_UNITS` units shows its first
:data:`SHOWN_UNITS` (and the units a selected parameter touches) and one ellipsis node, "… 776 more", with a
dotted edge to and from it standing for the weights not drawn. So a 784-128-10 network draws a few dozen
units and a few hundred edges, never its 101,770 parameters, and only the drawn entries are read.

``render(trace, options)`` is the registry's entry (epoch = ``options.epochs``, example 1);
:func:`graph` chooses the epoch and example. :func:`to_svg` runs Graphviz's ``dot`` program.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.engine import PassRecord, Trace
from ..core.params import Param
from ..text.narrate import unit_name

if TYPE_CHECKING:
    from . import Options

MAX_UNITS = 16  # a layer with more units than this is cut ...
SHOWN_UNITS = 8  # ... to its first units (and those of the selected parameters) and an ellipsis node
HIGHLIGHT = "#d62728"
PLAIN = "#555555"
INSTALL_HINT = ("needs Graphviz's dot program, which is not installed: apt-get install graphviz "
                "(macOS: brew install graphviz), or write --format dot and render it elsewhere")


class GraphvizMissing(RuntimeError):
    """The ``dot`` program is not on the PATH; the message says how to get it."""


def number(x: float) -> str:
    """A number as the app shows it: 7 significant digits; nan, inf, -inf as such."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.7g}"


def full(x: float) -> str:
    """Full double precision (``repr``), non-finite values as nan, inf, -inf."""
    x = float(x)
    return number(x) if not math.isfinite(x) else repr(x)


def _quote(text: str, escaped: bool = False) -> str:
    """A dot double-quoted string (``escaped``: backslashes in ``text`` are escapes already)."""
    if not escaped:
        text = text.replace("\\", "\\\\")
    return '"' + text.replace('"', '\\"').replace("\n", "\\n") + '"'


def _record_field(text: str) -> str:
    """Text for one field of a ``record`` label: its special characters escaped."""
    out = []
    for ch in text:
        out.append("\\" + ch if ch in "{}|<>\\ " else ch)
    return "".join(out)


@dataclass(frozen=True)
class _Edge:
    tail: str
    head: str
    param: Param
    value: float
    gradient: float
    share: float | None  # this example's part of a batch gradient, when the batch has several examples


def _node_id(layer: int, unit: int) -> str:
    return f"L{layer}_{unit}"


def _more_id(layer: int) -> str:
    return f"L{layer}_more"


def _ellipsis_edges(layers: tuple[int, ...], drawn: list[list[int]]) -> list[str]:
    """Dotted edges standing for the weights not drawn: from a layer's ellipsis node to each drawn unit of the
    next layer, and from each drawn unit to the next layer's ellipsis node (at most 2 × MAX_UNITS per layer)."""
    out = []
    style = f'style=dotted, arrowhead=none, color="{PLAIN}"'
    for layer in range(1, len(layers)):
        more_here = layers[layer - 1] - len(drawn[layer - 1])
        more_next = layers[layer] - len(drawn[layer])
        if more_here:
            for u in drawn[layer]:
                out.append(f"  {_more_id(layer)} -> {_node_id(layer + 1, u)} [{style}, "
                           f"tooltip={_quote(f'{more_here} weights not drawn')}];")
        if more_next:
            for u in drawn[layer - 1]:
                out.append(f"  {_node_id(layer, u)} -> {_more_id(layer + 1)} [{style}, "
                           f"tooltip={_quote(f'{more_next} weights not drawn')}];")
        if more_here and more_next:
            out.append(f"  {_more_id(layer)} -> {_more_id(layer + 1)} [{style}];")
    return out


def _pass_and_row(trace: Trace, epoch: int, example: int) -> tuple[PassRecord, int]:
    record = trace.epoch(epoch)
    pass_no, row = trace.pass_of(epoch, example)  # the pass that holds the example (online, mini-batch or batch)
    return record.passes[pass_no], row


def _drawn_units(layers: tuple[int, ...], selected: Iterable[Param]) -> list[list[int]]:
    """The 1-based units drawn of each layer (index 0 = layer 1): every unit of a small layer; of a large one
    the first :data:`SHOWN_UNITS` and the units the selected parameters leave and feed."""
    wanted: list[set[int]] = [set() for _ in layers]
    for p in selected:
        if not p.is_bias:
            wanted[p.layer - 1].add(p.sending_unit)
        wanted[p.layer].add(p.receiving_unit)
    return [list(range(1, n + 1)) if n <= MAX_UNITS else sorted(set(range(1, SHOWN_UNITS + 1)) | want)
            for n, want in zip(layers, wanted, strict=True)]


def _drawn_params(trace: Trace, drawn: list[list[int]]) -> list[Param]:
    """The parameters between drawn units, in the network's order (w1 … then b1 …)."""
    s = trace.scenario
    found = []
    for layer in range(1, s.n_layers):
        cols = ([0] if s.bias else []) + [u if s.bias else u - 1 for u in drawn[layer - 1]]
        found += [s.params.at(layer, r - 1, c) for r in drawn[layer] for c in cols]
    return sorted(set(found), key=s.params.position)  # a shared bias is found once per unit it feeds


def _highlighted(trace: Trace, selected: Iterable[Param], drawn: list[list[int]],
                 params: list[Param]) -> tuple[set[str], set[str]]:
    """Node ids and parameter names (of the drawn ones) on the paths from the selected parameters to the loss."""
    L = trace.scenario.n_layers
    nodes: set[str] = set()
    hot: set[str] = set()
    for p in selected:
        hot.add(p.canonical)
        nodes.add(_node_id(p.layer, p.sending_unit))
        fed = drawn[p.layer] if p.shared else [p.receiving_unit]  # a shared bias feeds every unit of its layer
        nodes.update(_node_id(p.layer + 1, u) for u in fed)
        for layer in range(p.layer + 2, L + 1):  # every unit after the next layer is reached
            nodes.update(_node_id(layer, u) for u in drawn[layer - 1])
        # from the receiving unit on: the weights leaving it, then every weight of the later layers
        hot.update(q.canonical for q in params if not q.is_bias and (
            (q.layer == p.layer + 1 and q.sending_unit in fed) or q.layer > p.layer + 1))
        nodes.add("loss")
    return nodes, hot


def graph(trace: Trace, epoch: int = 1, example: int = 1, weights: Iterable[str] = ()) -> str:
    """The dot text of example ``example``'s pass in ``epoch`` (both 1-based); ``weights`` (short or
    canonical names) have their paths to the loss highlighted."""
    s = trace.scenario
    trace.extend(epoch)
    rec, row = _pass_and_row(trace, epoch, example)
    n = rec.numbers
    layers, L = s.layers, s.n_layers
    selected = [s.params.get(w) for w in weights]
    drawn = _drawn_units(layers, selected)
    params = _drawn_params(trace, drawn)
    hot_nodes, hot_params = _highlighted(trace, selected, drawn, params)
    batch = len(rec.rows)
    share_shown = batch > 1

    title = s.title or s.path
    mode = (f"batch of {batch} examples: δ and the edge's 'this example' are example {example}'s, "
            "∂E/∂w is the batch's" if share_shown else f"example {example}")
    lines = [
        "digraph bpdebug {",
        "  rankdir=LR;",
        f"  label={_quote(f'{title} · epoch {epoch} · {mode} · {rec.weights_label}')};",
        "  labelloc=t; fontname=Helvetica;",
        "  node [shape=record, fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9, color=\"" + PLAIN + "\"];",
    ]

    def node(node_id: str, fields: list[str], tooltip: str, extra: str = "") -> None:
        label = " | ".join(_record_field(f) for f in fields)
        hot = f', color="{HIGHLIGHT}", penwidth=2' if node_id in hot_nodes else ""
        lines.append(f"  {node_id} [label={_quote(label, escaped=True)}, tooltip={_quote(tooltip)}{hot}{extra}];")

    # inputs, one rank per layer
    for layer in range(1, L + 1):
        ids = []
        for u in drawn[layer - 1]:
            name = unit_name(layers, layer, u)
            nid = _node_id(layer, u)
            ids.append(nid)
            out = float(n.a[layer][row, u - 1])
            if layer == 1:
                node(nid, [name, f"out = {number(out)}"], f"{name}: out = {full(out)}")
                continue
            net = float(n.z[layer][row, u - 1])
            delta = float(n.delta[layer][row, u - 1])
            node(nid, [name, f"net = {number(net)}", f"out = {number(out)}", f"δ = {number(delta)}"],
                 f"{name}: net = {full(net)}, out = {full(out)}, δ = ∂E/∂net = {full(delta)}")
        if s.bias and layer < L:
            nid = _node_id(layer, 0)
            ids.append(nid)
            node(nid, ["bias", "out = 1"], "bias unit: out = 1", ", style=dashed")
        more = layers[layer - 1] - len(drawn[layer - 1])
        if more:
            nid = _more_id(layer)
            ids.append(nid)
            lines.append(f"  {nid} [label={_quote(f'… {more} more')}, shape=plaintext, tooltip="
                         f"{_quote(f'{more} of the {layers[layer - 1]} units of layer {layer} are not drawn')}];")
        lines.append("  { rank=same; " + "; ".join(ids) + "; }")

    # the loss, fed by every output
    targets = rec.targets[row]
    terms = n.terms[row]
    cut = "" if len(targets) <= MAX_UNITS else ", …"
    node("loss", ["E", f"loss = {number(n.loss)}", "t = " + ", ".join(number(t) for t in targets[:MAX_UNITS]) + cut],
         f"loss of the pass = {full(n.loss)}; this example's error terms: "
         + ", ".join(full(t) for t in terms[:MAX_UNITS]) + cut, ", shape=Mrecord")

    edges: list[_Edge] = []
    for p in params:
        w = float(rec.weights_before[p.layer - 1][p.row, p.col])
        g = float(n.gradients[p.layer - 1][p.row, p.col])
        for unit in drawn[p.layer] if p.shared else [p.receiving_unit]:  # a shared bias: an edge per unit it feeds
            share = None
            if share_shown:
                sender = 1.0 if p.is_bias else float(n.a[p.layer][row, p.sending_unit - 1])
                share = float(n.delta[p.layer + 1][row, unit - 1]) * sender
            edges.append(_Edge(_node_id(p.layer, p.sending_unit), _node_id(p.layer + 1, unit), p, w, g, share))
    for e in edges:
        p = e.param
        text = f"{p.short} = {number(e.value)}\n∂E/∂{p.short} = {number(e.gradient)}"
        tip = f"{p.short} = {p.canonical} = {full(e.value)}; ∂E/∂{p.short} = {full(e.gradient)}"
        if e.share is not None:
            text += f"\nthis example {number(e.share)}"
            tip += f"; this example's part = {full(e.share)}"
        hot = f', color="{HIGHLIGHT}", fontcolor="{HIGHLIGHT}", penwidth=2' if p.canonical in hot_params else ""
        style = ", style=dashed" if p.is_bias else ""
        lines.append(f"  {e.tail} -> {e.head} [label={_quote(text)}, tooltip={_quote(tip)}{style}{hot}];")
    lines += _ellipsis_edges(layers, drawn)
    for u in drawn[L - 1]:
        nid = _node_id(L, u)
        hot = f', color="{HIGHLIGHT}", penwidth=2' if nid in hot_nodes else ""
        lines.append(f"  {nid} -> loss [arrowhead=normal{hot}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(trace: Trace, options: Options) -> str:
    """The registry's entry: example 1's pass in the last epoch the options cover."""
    return graph(trace, options.epochs, 1, options.weights or ())


def to_svg(dot_text: str, timeout: float = 120.0) -> str:
    """The graph drawn by Graphviz as SVG text; :class:`GraphvizMissing` when ``dot`` is not installed."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(INSTALL_HINT)
    done = subprocess.run([program, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"dot failed: {message[0] if message else f'exit status {done.returncode}'}")
    return done.stdout.decode("utf-8")

