"""The plain-text transcript: the same worked example in unicode (SymPy's pretty printer), for a
terminal or an email."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from ..core.engine import Trace
from .blocks import Block, Code, Display, Heading, Inline, Math, Paragraph, Table
from .document import build

if TYPE_CHECKING:
    from . import Options

WIDTH = 100  # paragraphs are wrapped here
TABLE_WIDTH = 120  # tables wider than this are written as records, one per row
INDENT = "    "
_NBSP = "\u00a0"
UNDERLINES = "=-~."  # heading levels 1, 2, 3, 4 and deeper


def _cell(part: Inline) -> str:
    if isinstance(part, Math):
        return part.text.replace("\n", " ")
    return part.text if isinstance(part, Code) else part


def _paragraph(parts: tuple[Inline, ...]) -> str:
    """Wrapped text; a formula that needs several lines (a fraction) is set on its own, indented."""
    chunks: list[str] = []
    current = ""
    for part in parts:
        if isinstance(part, Math) and "\n" in part.text:
            if current.strip():
                chunks.append(_wrap(current))
            chunks.append(textwrap.indent(part.text, INDENT))
            current = ""
        elif isinstance(part, Math):
            current += part.text.replace(" ", _NBSP)  # keep an inline formula on one line
        else:
            current += _cell(part)
    if current.strip():
        chunks.append(_wrap(current.lstrip(" ,")) if chunks else _wrap(current))
    return "\n".join(chunks)


def _wrap(text: str) -> str:
    lines = textwrap.wrap(text, WIDTH, break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines).replace(_NBSP, " ")


def _picture(part: Inline) -> tuple[list[str], int]:
    """A cell as lines of text and the line it sits on (formulas may span several lines)."""
    if isinstance(part, Math):
        return part.text.split("\n"), part.baseline
    return [_cell(part)], 0


def _table(block: Table) -> str:
    rows = [[_picture(c) for c in block.header]] + [[_picture(c) for c in row] for row in block.rows]
    widths = [max(len(line) for row in rows for line in row[i][0]) for i in range(len(block.header))]
    if sum(widths) + 2 * (len(widths) - 1) > TABLE_WIDTH:  # too wide: one record per row
        records = []
        label = max(len(_cell(h)) for h in block.header)
        for row in block.rows:
            fields = [f"{_cell(h):<{label}}  {_cell(v)}" for h, v in zip(block.header, row, strict=True) if _cell(v)]
            records.append(textwrap.indent("\n".join(fields), "  "))
        return "\n\n".join(records)

    def lines(row: list[tuple[list[str], int]]) -> list[str]:
        above = max(base for _, base in row)
        below = max(len(cell) - base - 1 for cell, base in row)
        out = []
        for k in range(above + below + 1):
            parts = []
            for (cell, base), w, a in zip(row, widths, block.align, strict=True):
                i = k - (above - base)
                v = cell[i] if 0 <= i < len(cell) else ""
                parts.append(v.rjust(w) if a == "r" else v.ljust(w))
            out.append(INDENT + "  ".join(parts).rstrip())
        return out

    rule = INDENT + "  ".join("─" * w for w in widths)
    body = [line for row in rows[1:] for line in lines(row)]
    return "\n".join(lines(rows[0]) + [rule] + body)


def render_block(block: Block) -> str:
    """One block as this format writes it."""
    if isinstance(block, Heading):  # every level underlined, each with its own rule
        rule = UNDERLINES[min(block.level, len(UNDERLINES)) - 1]
        return f"{block.text}\n{rule * len(block.text)}"
    if isinstance(block, Paragraph):
        return _paragraph(block.parts)
    if isinstance(block, Display):
        return ("\n" if block.group else "\n\n").join(textwrap.indent(line.text, INDENT) for line in block.lines)
    if isinstance(block, Table):
        return _table(block)
    raise TypeError(f"unknown block {block!r}")


def render(trace: Trace, options: Options) -> str:
    """The transcript as one string (see the module docstring)."""
    doc = build(trace, options)
    out = "\n\n".join(render_block(b) for b in doc.blocks)
    return "\n".join(line.rstrip() for line in out.split("\n")) + "\n"
