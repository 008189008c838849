"""Rendering a derivation as lines, in one of two notations (unicode text or LaTeX math).

The lines are the same in both; what differs (operators, the sum sign, how a word or a negative number
is set) is data in a :class:`Notation`, so there is one sequence of lines and no branch per notation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..text.numbers import PENDING, is_negative, number, number_latex
from .naming import SUBSCRIPTS
from .results import Derivation, Factor

MAX_CONTRIBUTIONS = 6  # per-example terms of a Σ_n shown before the middle ones are elided


@dataclass(frozen=True)
class Notation:
    latex: bool
    dot: str
    minus: str
    pending: str
    arrow: str
    alpha: str
    indent: str
    ellipsis: str
    sum_head: str  # the sum over the examples, {N} for their count
    sum_range: str  # said after it
    term: str  # one example's term, {n} for its subscript
    group: str  # several paths of one summand, {body}
    count: str  # after the per-example terms, {n} for their count
    frozen: str
    number: Callable[[float], str]
    paren: str  # {body} in parentheses
    words: str  # {body} as words

    eq = " = "
    plus = " + "

    def bare(self, v: float | None) -> str:
        return self.pending if v is None else self.number(v)

    def num(self, v: float | None) -> str:
        """A number inside a product: negative ones in parentheses."""
        return self.paren.format(body=self.bare(v)) if is_negative(v) else self.bare(v)

    def continued(self, lhs: str) -> str:
        """The start of a path's line after the first: aligned under the first's right-hand side."""
        return "\\quad + " if self.latex else " " * len(lhs) + self.plus

    def label(self, f: Factor) -> str:
        return f.label_latex if self.latex else f.label

    def closed(self, f: Factor) -> str:
        return f.closed_latex if self.latex else f.closed_text

    def numbers(self, f: Factor) -> str | None:
        return f.numbers_latex if self.latex else f.numbers_text

    def note(self, f: Factor) -> str:
        return f.note_latex if self.latex else f.note

    def subscript(self, n: int | str) -> str:
        return self.term.format(n=n if self.latex else str(n).translate(SUBSCRIPTS))


TEXT = Notation(False, " · ", " − ", PENDING, "←", "α", "  ", "⋯", "Σₙ ", " (n = 1..{N}, the examples of the batch)",
                "term{n}", "[{body}]", " ({n} examples)", " (frozen: not updated)", number, "({body})", "{body}")
LATEX = Notation(True, " \\cdot ", " - ", "\\ldots", "\\leftarrow", "\\alpha", "\\quad ", "\\cdots",
                 "\\sum_{{n=1}}^{{{N}}} ", " \\quad (n = 1, \\dots, {N})", "\\text{{term}}_{{{n}}}",
                 "\\left({body}\\right)", "", "\\text{{ (frozen: not updated)}}", number_latex,
                 "\\left({body}\\right)", "\\text{{{body}}}")


def lines(d: Derivation, nt: Notation) -> list[str]:
    """The chain in symbols, each factor's closed form and number, the chain in numbers, the value, the update."""
    lhs = (f"\\frac{{\\partial {d.error_name[1]}}}{{\\partial {d.name_latex}}}" if nt.latex
           else f"∂{d.error_name[0]}/∂{d.name}")
    out: list[str] = []
    if d.form.startswith("shared"):  # one bias fed to every unit of its layer
        delta = "\\delta" if nt.latex else "δ"
        fed = d.fed if d.fed is not None else len(d.terms)
        out.append(nt.words.format(body=f"{d.param.short} is one bias shared by the {fed} units it feeds, "
                                        "the sum over them of each unit's ") + delta + nt.dot + "1")
    total_lhs = lhs
    if d.example is not None:
        out += _summand_header(d, nt, lhs)
        lhs = nt.subscript(d.example)
    out += _paths(d.terms, nt, lhs, lambda path: nt.dot.join(nt.label(f) for f in path))
    out += _factor_lines(d, nt)
    if len(d.terms) == 1 and any(nt.closed(f) != nt.label(f) for f in d.terms[0]):
        out.append(lhs + nt.eq + nt.dot.join(_closed_in_product(f, nt) for f in d.terms[0]))
    out += _paths(d.terms, nt, lhs, lambda path: nt.dot.join(nt.num(f.value) for f in path))
    if d.example is not None:
        out.append(lhs + nt.eq + nt.bare(_path_sum(d.terms)))
        lhs = total_lhs
        if d.contributions is not None:
            out.append(lhs + nt.eq + _contributions(d.contributions, nt))
    out.append(lhs + nt.eq + nt.bare(d.value))
    if d.plain:  # an optimizer's update is its own rule (text/update_rule.py), not p − α·∂E/∂p
        out.append(_update(d, nt, lhs))
    return out


def _summand_header(d: Derivation, nt: Notation, lhs: str) -> list[str]:
    """Σ_n over the batch's examples in symbols, then which example the lines below show."""
    generic = [[nt.label(f) for f in path] for path in d.generic_terms]
    body = nt.plus.join(nt.dot.join(p) for p in generic)
    if len(generic) > 2:  # the paths are written out below, for one example
        body, generic = nt.subscript("n"), generic[:1]
    if len(generic) > 1:
        body = nt.group.format(body=body)
    head = nt.sum_head.format(N=d.n_examples)
    return [lhs + nt.eq + head + body + nt.sum_range.format(N=d.n_examples),
            nt.words.format(body=f"example n = {d.example}:")]


def _paths(terms: tuple[tuple[Factor, ...], ...], nt: Notation, lhs: str,
           write: Callable[[tuple[Factor, ...]], str]) -> list[str]:
    """One line per path, the first with the left-hand side, the others continuing the sum."""
    return [(lhs + nt.eq if k == 0 else nt.continued(lhs)) + write(path) for k, path in enumerate(terms)]


def _factor_lines(d: Derivation, nt: Notation) -> list[str]:
    """Each distinct factor once: label = closed form = numbers = value (or where a δ comes from)."""
    out: list[str] = []
    seen: set[str] = set()
    for f in (f for path in d.terms for f in path):
        if f.label in seen:
            continue
        seen.add(f.label)
        parts = [nt.label(f)]
        if f.note:
            parts.append(nt.note(f))
        elif nt.closed(f) != nt.label(f):
            parts.append(nt.closed(f))
        if f.value is None:
            parts.append(nt.pending)
        elif not f.closed_form.is_Number:  # a constant such as ∂net/∂b = 1 is its own value
            shown = nt.numbers(f)
            if shown is not None and shown not in (nt.bare(f.value), nt.num(f.value)):
                parts.append(shown)
            parts.append(nt.bare(f.value))
        out.append(nt.indent + nt.eq.join(parts))
    return out


def _closed_in_product(f: Factor, nt: Notation) -> str:
    return nt.paren.format(body=nt.closed(f)) if f.wrap else nt.closed(f)


def _contributions(c: tuple[float, ...], nt: Notation) -> str:
    nums = [nt.num(v) for v in c]
    if len(nums) > MAX_CONTRIBUTIONS:
        nums = nums[:3] + [nt.ellipsis] + nums[-2:]
    return nt.plus.join(nums) + nt.count.format(n=len(c))


def _update(d: Derivation, nt: Notation, lhs: str) -> str:
    p = d.name_latex if nt.latex else d.name
    if d.frozen:
        return f"{p} {nt.arrow} {p}{nt.eq}{nt.bare(d.old_value)}{nt.frozen}"
    return (f"{p} {nt.arrow} {p}{nt.minus}{nt.alpha}{nt.dot}{lhs}{nt.eq}{nt.bare(d.old_value)}{nt.minus}"
            f"{nt.bare(d.learning_rate)}{nt.dot}{nt.num(d.value)}{nt.eq}{nt.bare(d.new_value)}")


def _path_sum(terms: tuple[tuple[Factor, ...], ...]) -> float | None:
    total = 0.0
    for path in terms:
        prod = 1.0
        for f in path:
            if f.value is None:
                return None
            prod *= f.value
        total += prod
    return total
