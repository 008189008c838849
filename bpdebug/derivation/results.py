"""What a derivation returns: its factors and the whole chain, symbolic and numeric, immutable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.params import Param


@dataclass(frozen=True)
class Factor:
    """One factor of a path of the chain rule, symbolic and (once its step has run) numeric."""

    label: str  # unicode, e.g. "∂E_total/∂out_o1"
    symbol: Any  # the factor as a SymPy symbol (for the chain)
    closed_form: Any  # SymPy: out_o1 - t_o1, out_o1*(1 - out_o1), out_h1
    value: float | None  # its number at this step; None while pending
    label_latex: str = ""
    closed_text: str = ""  # the closed form in unicode, in the derivation's names
    closed_latex: str = ""
    numbers_text: str | None = None  # the closed form with numbers, None while pending
    numbers_latex: str | None = None
    note: str = ""  # where a known δ comes from
    note_latex: str = ""

    @property
    def wrap(self) -> bool:
        """Whether the closed form needs parentheses inside a product."""
        return bool(self.closed_form.is_Add or self.closed_form.could_extract_minus_sign())


@dataclass(frozen=True)
class Derivation:
    """∂E/∂p at one step: the chain of factors, symbolic, closed, with numbers, and the update."""

    param: Param
    name: str  # the name used ("w5" or "theta2[1,1]")
    terms: tuple[tuple[Factor, ...], ...]  # one tuple of factors per path (a sum of products)
    chain: Any  # symbolic chain rule (unevaluated, factors in chain order)
    closed_form: Any  # the same with each factor's closed form
    substituted: Any | None  # numbers substituted, chain order kept; None while pending
    value: float | None  # dE/dp, the engine's number; None while pending
    old_value: float
    learning_rate: float
    new_value: float | None  # after the update; None before the update step has run
    frozen: bool
    names: str = "text"
    form: str = "output"  # "output" | "paths" | "delta" | "delta-compact" | "shared" | "shared-compact"
    fed: int | None = None  # a shared bias: how many units it feeds
    n_examples: int = 1  # examples the gradient sums over in this pass
    example: int | None = None  # the example whose factors `terms` show when the chain is Σ_n (else None)
    contributions: tuple[float, ...] | None = None  # per-example ∂E/∂p terms when Σ_n; None while pending
    error_name: tuple[str, str] = ("E_total", "E_{total}")
    name_latex: str = ""
    generic_terms: tuple[tuple[Factor, ...], ...] = ()  # the Σ_n summand's factors (symbols only) when Σ_n
    plain: bool = True  # plain gradient descent: the update line p ← p − α·∂E/∂p is the whole update
    _values: dict[Any, float] = field(default_factory=dict, repr=False, compare=False)
    _more_values: Callable[[], dict[Any, float]] | None = field(default=None, repr=False, compare=False)

    @property
    def pending(self) -> bool:
        return self.substituted is None

    def symbol_values(self) -> dict[Any, float]:
        """The number of every symbol of ``chain`` and ``closed_form`` known at this step (Σ_n expanded:
        ``out_o1[3]`` for example 3), to evaluate them; built on demand, it grows with the batch."""
        values = dict(self._values)
        if self._more_values is not None:
            values.update(self._more_values())
        return values

    def text_lines(self) -> list[str]:
        """Unicode lines for a terminal: the chain, each factor's closed form and number, the value, the update."""
        from .render import TEXT, lines

        return lines(self, TEXT)

    def latex_lines(self) -> list[str]:
        """The same as LaTeX math lines (no $ delimiters), for Markdown and TeX transcripts."""
        from .render import LATEX, lines

        return lines(self, LATEX)
