"""The LaTeX transcript: a standalone document that compiles with pdflatex using only the packages of
Debian's texlive-latex-base and texlive-latex-recommended."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from ..core.engine import Trace
from .blocks import Block, Code, Display, Heading, Inline, Math, Paragraph, Table
from .document import build

if TYPE_CHECKING:
    from . import Options

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb}
\usepackage{booktabs,longtable}
\usepackage{graphicx}
\setcounter{MaxMatrixCols}{20}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.6em}
% a display too wide for the page is scaled down to fit it
\newsavebox{\bpbox}
\newcommand{\bpdisplay}[1]{\par\smallskip\sbox{\bpbox}{$\displaystyle #1$}%
  \noindent\makebox[\linewidth]{\ifdim\wd\bpbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\bpbox}}%
  \else\usebox{\bpbox}\fi}\par\smallskip}
% the lines of one derivation, flush left (a continued line may start with an operator)
\newcommand{\bpleft}[1]{\par\sbox{\bpbox}{$\displaystyle {}#1$}%
  \noindent\ifdim\wd\bpbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\bpbox}}\else\usebox{\bpbox}\fi\par}
"""

_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
            "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
# characters a text may well contain that the default pdflatex setup cannot typeset as they are
_UNICODE = {"−": "$-$", "–": "--", "—": "---", "…": r"\ldots{}", "·": r"$\cdot$", "×": r"$\times$",
            "→": r"$\to$", "←": r"$\leftarrow$", "≈": r"$\approx$", "≤": r"$\le$", "≥": r"$\ge$",
            "≠": r"$\ne$", "±": r"$\pm$", "²": r"\textsuperscript{2}", "³": r"\textsuperscript{3}",
            "½": r"$\frac{1}{2}$", "∂": r"$\partial$", "Σ": r"$\Sigma$", "∑": r"$\sum$", "α": r"$\alpha$",
            "β": r"$\beta$", "δ": r"$\delta$", "η": r"$\eta$", "θ": r"$\theta$", "Θ": r"$\Theta$",
            "σ": r"$\sigma$", "λ": r"$\lambda$", "μ": r"$\mu$", "∇": r"$\nabla$", "‘": "`", "’": "'",
            "“": "``", "”": "''", "\u00a0": "~", "•": r"\textbullet{}", "✓": "yes", "✗": "no"}


def escape(text: str) -> str:
    """Text for LaTeX's text mode; characters pdflatex cannot set fall back to their ASCII base or '?'."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ch.isalpha() and 0xC0 <= ord(ch) <= 0xFF:  # Latin-1 letters: inputenc's utf8 knows them
            out.append(ch)
        else:
            base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(escape(base) if base else "?")
    return "".join(out)


def _inline(part: Inline) -> str:
    if isinstance(part, Math):
        return f"${part.latex}$"
    if isinstance(part, Code):
        return r"\texttt{" + escape(part.text).replace("/", r"/\allowbreak{}") + "}"
    return escape(part)


_HEADINGS = {1: "section*", 2: "section*", 3: "subsection*", 4: "subsubsection*", 5: "paragraph*"}


def render_block(block: Block) -> str:
    """One block as this format writes it."""
    if isinstance(block, Heading):
        return "\\" + _HEADINGS.get(block.level, "paragraph*") + "{" + escape(block.text) + "}"
    if isinstance(block, Paragraph):
        return "".join(_inline(p) for p in block.parts)
    if isinstance(block, Display):
        macro = r"\bpleft{" if block.group else r"\bpdisplay{"
        return "\n".join(macro + line.latex + "}" for line in block.lines)
    if isinstance(block, Table):
        spec = "".join("p{5cm}" if a == "p" else a for a in block.align)
        head = " & ".join(_inline(h) for h in block.header) + r" \\"
        rows = "\n".join(" & ".join(_inline(c) for c in row) + r" \\" for row in block.rows)
        size = "\\small" if len(block.header) <= 6 else "\\footnotesize\\setlength{\\tabcolsep}{3pt}"
        return (f"{{{size}\n\\begin{{longtable}}{{{spec}}}\n\\toprule\n{head}\n\\midrule\n\\endhead\n{rows}\n"
                "\\bottomrule\n\\end{longtable}}")
    raise TypeError(f"unknown block {block!r}")


def render(trace: Trace, options: Options) -> str:
    """The transcript as one string (see the module docstring)."""
    doc = build(trace, options)
    blocks = list(doc.blocks)
    title = blocks[0] if blocks and isinstance(blocks[0], Heading) and blocks[0].level == 1 else None
    body = []
    if title is not None:
        blocks.pop(0)
        body.append(r"\title{" + escape(title.text) + "}\n\\author{}\n\\date{}\n\\maketitle")
    body += [render_block(b) for b in blocks]
    return PREAMBLE + "\n\\begin{document}\n\n" + "\n\n".join(body) + "\n\n\\end{document}\n"
