"""The wording of the one-line errors for bad input: how a wrong value is named in ``FILE:LINE: KEY: …``.

The scenario loader (:mod:`.scenario`) and the data and weight files it reads (:mod:`.datafiles`) both say
what was wrong and what was expected; the value they got is named here, once, so the two read alike:
``expected a number, got "abc" (a string)``, ``row 2 is an empty list, expected a list of numbers``,
``expected a loss name (one of sse, half_sse, …), got a list of 2 values``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any

MAX_SHOWN = 30  # characters of a string value shown in a message


def short_number(value: int | float) -> str:
    """A number for a message: an integer too long to show (str() refuses beyond 4300 digits) by its size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 80:
        sign = "-" if value < 0 else ""
        if value.bit_length() > 14000:  # beyond str()'s limit of 4300 digits
            return f"{sign}an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
        text = str(abs(value))
        beyond = ", beyond a 64-bit float" if len(text) > 308 else ""
        return f"{sign}{text[:12]}... ({len(text)} digits{beyond})"
    return repr(value)


def count(n: int, noun: str) -> str:
    """``1 number``, ``2 numbers``: a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def describe(value: Any) -> str:
    """A value a TOML document holds, as a user would name it after "got" or "is": its type in words and,
    where short, the value itself."""
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, str):
        shown = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN - 3] + "..."
        return f"\"{shown}\" (a string)"
    if isinstance(value, int | float):
        return f"{short_number(value)} (a number)"
    if isinstance(value, list):
        return f"a list of {count(len(value), 'value')}" if value else "an empty list"
    if isinstance(value, dict):
        return "a table" if value else "an empty table"
    if isinstance(value, datetime.datetime):
        return f"{value.isoformat(' ')} (a date and time)"
    if isinstance(value, datetime.date):
        return f"{value.isoformat()} (a date)"
    if isinstance(value, datetime.time):
        return f"{value.isoformat()} (a time of day)"
    return f"a value of type {type(value).__name__}"


def either(options: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else options[0]


def one_of(kind: str, value: Any, options: Sequence[str], quote: str = "\"") -> str:
    """What was wrong with a value that must name one of ``options`` (a loss, an activation, an optimizer):
    ``unknown loss "l2", expected one of sse, half_sse, …`` for a name that is not one of them, and
    ``expected a loss name (one of sse, half_sse, …), got a list of 2 values`` for a value that is no name."""
    names = ", ".join(options)
    if isinstance(value, str):
        shown = value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN - 3] + "..."
        return f"unknown {kind} {quote}{shown}{quote}, expected one of {names}"
    return f"expected {'an' if kind[:1] in 'aeiou' else 'a'} {kind} name (one of {names}), got {describe(value)}"
