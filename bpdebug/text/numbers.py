"""How every number is shown, in one place: significant digits, minus signs, non-finite values.

Every view (panels, derivations, narration, transcripts) writes numbers with :func:`number` (text) or
:func:`number_latex`; the JSON and py transcripts keep full precision (``repr``) instead. Nothing here
fails on NaN or ±inf, and a negative zero is shown as ``0``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

DIGITS = 7  # significant digits of every number shown
PENDING = "…"  # a number whose step has not run yet
MINUS = "−"  # U+2212, the minus sign of text


def _finite(v: float, digits: int) -> tuple[str, str, str]:
    """(sign, mantissa, exponent) of a finite number at ``digits`` significant digits; no sign for 0."""
    text = f"{v + 0.0:.{digits}g}"  # + 0.0 turns −0.0 into 0.0
    sign = ""
    if text.startswith("-"):
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    return sign, mantissa, str(int(exponent)) if exponent else ""


def number(v: float | None, digits: int = DIGITS, minus: str = MINUS) -> str:
    """``v`` to ``digits`` significant digits: ``0.7215165``, ``−1.5e-05`` as ``−1.5e-5``, ``nan``, ``−inf``."""
    if v is None:
        return PENDING
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else minus + "inf"
    sign, mantissa, exponent = _finite(v, digits)
    return (minus if sign else "") + mantissa + (f"e{exponent}" if exponent else "")


def number_latex(v: float | None, digits: int = DIGITS) -> str:
    """The same number in LaTeX math: ``-1.5 \\times 10^{-5}``, ``\\mathrm{NaN}``, ``-\\infty``."""
    if v is None:
        return r"\ldots"
    v = float(v)
    if math.isnan(v):
        return r"\mathrm{NaN}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    sign, mantissa, exponent = _finite(v, digits)
    return sign + mantissa + (rf" \times 10^{{{exponent}}}" if exponent else "")


def is_negative(v: float | None) -> bool:
    """Whether ``v`` is shown with a minus sign (so it needs parentheses inside a product)."""
    return v is not None and number(v).startswith(MINUS)


def vector(values: Iterable[float], digits: int = DIGITS) -> str:
    """``[0.345 0.975]``: a vector the way the text prints it."""
    return "[" + " ".join(number(v, digits) for v in values) + "]"


def matrix(m: np.ndarray, digits: int = DIGITS) -> str:
    """``[[0.1 0.2 0.3] [0.4 0.5 0.6]]``: a matrix on one line, rows in brackets."""
    return "[" + " ".join(vector(row, digits) for row in np.atleast_2d(m)) + "]"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 number``, ``2 numbers``, ``3 mini-batches`` (``words``: an irregular plural): a count with its noun,
    the one way every layer above core writes one (core, which may not import text, has ``messages.count``)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
