"""A graph scenario's transcript in md, tex or txt: :mod:`.sections.graph`'s blocks, written by each format's own
``render_block`` (the same writers as a network's transcript)."""

from __future__ import annotations

from ..core.graph.trace import GraphTrace
from . import latex, markdown, text
from .blocks import Heading
from .sections.graph import build

FORMATS = ("md", "tex", "txt")


def render(fmt: str, trace: GraphTrace, epochs: int) -> str:
    """The worked example of ``trace`` over ``epochs`` epochs in ``fmt`` (one of :data:`FORMATS`)."""
    doc = build(trace, epochs)
    blocks = list(doc.blocks)
    if fmt == "md":
        return "\n\n".join(markdown.render_block(b) for b in blocks) + "\n"
    if fmt == "txt":
        out = "\n\n".join(text.render_block(b) for b in blocks)
        return "\n".join(line.rstrip() for line in out.split("\n")) + "\n"
    if fmt == "tex":
        body = []
        title = blocks[0] if blocks else None
        if isinstance(title, Heading) and title.level == 1:
            blocks.pop(0)
            body.append(r"\title{" + latex.escape(title.text) + "}\n\\author{}\n\\date{}\n\\maketitle")
        body += [latex.render_block(b) for b in blocks]
        return latex.PREAMBLE + "\n\\begin{document}\n\n" + "\n\n".join(body) + "\n\n\\end{document}\n"
    raise ValueError(f"{fmt}: expected one of {', '.join(FORMATS)}")
