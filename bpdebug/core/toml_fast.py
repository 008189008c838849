"""TOML parsing with a fast path for long arrays of plain numbers (a scenario's inline data).

``tomllib`` reads a number at a time in Python: 25,000 inputs of a 784-input scenario take most of a
second. :func:`loads` gives exactly what ``tomllib.loads`` gives (the same document, the same errors), but
first lifts out every long array value written only with decimal numbers, brackets, commas and spaces,
reads it with the JSON reader (C code; on this subset the two grammars agree: decimal integers and floats
without ``+``, underscores, leading zeros or a trailing comma), and parses the rest with ``tomllib``. The
array is replaced by a one-string array holding a random marker, padded with the same newlines, so line
numbers do not move. Anything unusual (a comment, a trailing comma, ``+1``, ``inf``, a carriage return, an
integer of 19 digits or more, the marker not found exactly once as an array value) falls back to
``tomllib.loads`` on the original text, as does every error.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import json

MIN_FAST_LENGTH = 2000  # arrays shorter than this go through tomllib (every bundled scenario's do)
# the start of an array value: a bare key at the start of a line, "=", then "["
_ARRAY_VALUE = re.compile(r"^[ \t]*[A-Za-z0-9_-]+[ \t]*=[ \t]*(?=\[)", re.MULTILINE)
_PLAIN = re.compile(r"\[[0-9eE.,\-\[\] \t\n]*")  # what a fast array may be written with (no "+", "#", "\r")


def loads(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, faster when ``text`` holds long arrays of plain numbers."""
    if len(text) < MIN_FAST_LENGTH:
        return tomllib.loads(text)
    try:
        doc = _fast(text)
    except Exception:  # noqa: BLE001 - anything unexpected: tomllib decides, with its own errors
        doc = None
    return doc if doc is not None else tomllib.loads(text)


def _fast(text: str) -> dict[str, Any] | None:
    """The document with long plain arrays read by the JSON reader, or None to let tomllib read it all."""
    pieces: list[str] = []
    arrays: dict[str, Any] = {}
    done = 0
    for m in _ARRAY_VALUE.finditer(text):
        start = m.end()
        if start < done:
            continue
        plain = _PLAIN.match(text, start)
        if plain is None or plain.end() - start < MIN_FAST_LENGTH:
            continue
        value, end = _json().raw_decode(text, start)  # a JSON error: tomllib reads it all and says what
        if end > plain.end():  # the array runs past the plain characters
            continue
        marker = f"bpdebug-array-{os.urandom(16).hex()}"  # random as uuid4 (without importing uuid)
        arrays[marker] = value
        pieces += [text[done:start], f'["{marker}"' + "\n" * text.count("\n", start, end) + "]"]
        done = end
    if not arrays:
        return None
    doc = tomllib.loads("".join(pieces) + text[done:])
    return doc if _put_back(doc, arrays) else None


def _integer(digits: str) -> int:
    """An integer token of a fast array; one that may not fit TOML's 64 bits is left to tomllib."""
    if len(digits.lstrip("-")) > 18:
        raise ValueError(f"{digits}: for tomllib to read")
    return int(digits)


@functools.cache
def _json() -> json.JSONDecoder:
    """The JSON reader of long arrays, made on first use (a scenario without them does not import json)."""
    import json

    return json.JSONDecoder(parse_int=_integer)


def _put_back(doc: dict[str, Any], arrays: dict[str, Any]) -> bool:
    """Replace each ``["marker"]`` value in ``doc`` by its array; whether every marker was found, as the
    value of a key (inside a string it would not be an array)."""
    pending: list[dict[str, Any]] = [doc]
    while pending:
        table = pending.pop()
        for key, value in table.items():
            if isinstance(value, dict):
                pending.append(value)
            elif isinstance(value, list):
                if len(value) == 1 and isinstance(value[0], str) and value[0] in arrays:
                    table[key] = arrays.pop(value[0])
                else:
                    pending.extend(v for v in value if isinstance(v, dict))
    return not arrays
