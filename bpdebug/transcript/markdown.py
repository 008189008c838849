"""The Markdown transcript: a worked example a teacher could publish, with LaTeX math in ``$…$`` and
``$$…$$`` (GitHub and Jupyter render both)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..core.engine import Trace
from .blocks import Block, Code, Display, Heading, Inline, Math, Paragraph, Table
from .document import build

if TYPE_CHECKING:
    from . import Options

_SPECIAL = re.compile(r"([\\`*_<$|])")  # what Markdown or its math would take as markup anywhere
_LEADING = re.compile(r"^(\s*)([#>+-])")  # markup only at the start of a line


def _escape(text: str) -> str:
    return _LEADING.sub(r"\1\\\2", _SPECIAL.sub(r"\\\1", text))


def _math(latex: str) -> str:
    # a "|" would end a table cell, even inside math
    return latex.replace("|", r"\vert ").strip()


def _inline(part: Inline) -> str:
    if isinstance(part, Math):
        return f"${_math(part.latex)}$"
    if isinstance(part, Code):
        return "`" + part.text.replace("`", "'") + "`"
    return _escape(part)


def render_block(block: Block) -> str:
    """One block as this format writes it."""
    if isinstance(block, Heading):
        return "#" * block.level + " " + _escape(block.text)
    if isinstance(block, Paragraph):
        return "".join(_inline(p) for p in block.parts)
    if isinstance(block, Display) and block.group:  # one block, every line flush left
        body = " \\\\\n".join(r"\displaystyle " + line.latex.strip() for line in block.lines)
        return "$$\n\\begin{array}{l}\n" + body + "\n\\end{array}\n$$"
    if isinstance(block, Display):
        return "\n\n".join(f"$$\n{line.latex.strip()}\n$$" for line in block.lines)
    if isinstance(block, Table):
        rule = {"l": ":---", "r": "---:", "c": ":---:", "p": ":---"}
        lines = ["| " + " | ".join(_inline(h) for h in block.header) + " |",
                 "|" + "|".join(rule[a] for a in block.align) + "|"]
        lines += ["| " + " | ".join(_inline(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    raise TypeError(f"unknown block {block!r}")


def render(trace: Trace, options: Options) -> str:
    """The transcript as one string (see the module docstring)."""
    doc = build(trace, options)
    return "\n\n".join(render_block(b) for b in doc.blocks) + "\n"
