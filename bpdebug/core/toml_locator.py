"""Where a key sits in TOML text, so an error can say ``FILE:LINE``: tomllib gives values, never positions.

:class:`TomlLocator` scans the text once, the way a TOML parser reads it: table headers (``[a.b]``,
``[[expect]]`` counted, nested arrays of tables numbered per parent), ``key = value`` lines with dotted and
quoted keys, and values, skipping basic and literal strings (one-line and multi-line ``\"\"\"``/``'''``),
comments, arrays over several lines and inline tables (whose keys it records too). A ``[training]`` inside a
multi-line string or a comment is text, not a header. The scan is iterative (a value nested 500 deep costs
no recursion) and it stops quietly at anything it does not understand, keeping what it found before.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_\-]+")
_SPACE = re.compile(r"[ \t]*")
_SPACE_LINES = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")  # whitespace, newlines and comments
_SCALAR = re.compile(r"[^,\]\}\n#]*")  # numbers, booleans, dates: up to the next delimiter
_ROW = r"\[[0-9eE.+\-_,\s]*\]"  # a list of plain numbers (no strings, comments or nan/inf): skipped in one step
_NUMBERS = re.compile(rf"{_ROW}|\[\s*(?:{_ROW}\s*(?:,\s*{_ROW}\s*)*,?\s*)?\]")  # ... or a list of such lists
# Deeper than this no scenario goes (the loader refuses more than 32): the scan notes where it got this deep
# and stops, so a value nested 100,000 deep costs neither time nor memory (each level holds its key path)
_DEPTH_LIMIT = 64
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "e": "\x1b", '"': '"', "\\": "\\"}


class _Stop(Exception):
    """The text is not TOML the scanner understands here: keep what was found so far."""


class TomlLocator:
    """The line of each key path in a TOML text; see the module docstring."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.entries: list[tuple[tuple[Any, ...], int]] = []
        self.max_depth = 0  # deepest nesting of arrays and inline tables
        self.deepest_line: int | None = None  # where that depth is first reached
        self._newlines = [m.start() for m in re.finditer("\n", text)]
        with contextlib.suppress(_Stop, IndexError):  # not TOML it understands: keep what was found
            self._scan()

    # ------------------------------------------------------------------------------------------ lookup
    def line(self, path: tuple[Any, ...]) -> int | None:
        """The line of ``path``; for a missing key, the line of its nearest table (where a user would add it)."""
        best, best_len, inner = None, -1, None
        for entry, lineno in self.entries:
            n = 0
            while n < min(len(entry), len(path)) and entry[n] == path[n]:
                n += 1
            if n == len(path) and len(entry) == len(path):
                return lineno
            if n == len(path) and inner is None:  # the path is a prefix of the entry: a dotted key inside it
                inner = lineno
            if n == len(entry) and n > best_len:  # entry is a prefix of the path: its table
                best, best_len = lineno, n
        if inner is not None:
            return inner
        return best if best_len > 0 else None

    def line_at(self, offset: int) -> int:
        return bisect_right(self._newlines, offset - 1) + 1

    # ------------------------------------------------------------------------------------------ scanning
    def _scan(self) -> None:
        text, n = self.text, len(self.text)
        current: tuple[Any, ...] = ()
        counts: dict[tuple[Any, ...], int] = {}  # arrays of tables: entries so far, by resolved path
        latest: dict[tuple[str, ...], int] = {}  # arrays of tables: the index of the latest entry, by name
        i = 0
        if text.startswith("\ufeff"):
            i = 1
        while True:
            i = _SPACE_LINES.match(text, i).end()  # type: ignore[union-attr]
            if i >= n:
                return
            start = i
            if text[i] == "[":
                array = text.startswith("[[", i)
                i += 2 if array else 1
                parts, i = self._key(i)
                i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
                close = "]]" if array else "]"
                if not text.startswith(close, i):
                    raise _Stop
                i += len(close)
                resolved: tuple[Any, ...] = ()
                for j, part in enumerate(parts):
                    resolved += (part,)
                    last = j == len(parts) - 1
                    if not (array and last) and tuple(parts[: j + 1]) in latest:
                        resolved += (latest[tuple(parts[: j + 1])],)
                if array:
                    index = counts.get(resolved, 0)
                    counts[resolved] = index + 1
                    latest[tuple(parts)] = index
                    for name in [k for k in latest if len(k) > len(parts) and k[: len(parts)] == tuple(parts)]:
                        del latest[name]  # nested arrays of tables start again under the new entry
                    resolved += (index,)
                current = resolved
                self.entries.append((current, self.line_at(start)))
                continue
            parts, i = self._key(i)
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if not text.startswith("=", i):
                raise _Stop
            self.entries.append((current + tuple(parts), self.line_at(start)))
            i = self._value(i + 1, current + tuple(parts))

    def _key(self, i: int) -> tuple[list[str], int]:
        """A dotted key (bare or quoted parts) starting at ``i``: its parts and the offset after it."""
        text = self.text
        parts: list[str] = []
        while True:
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if text.startswith('"', i) and not text.startswith('"""', i):
                end = self._basic_end(i)
                parts.append(_unescape(text[i + 1:end - 1]))
                i = end
            elif text.startswith("'", i) and not text.startswith("'''", i):
                end = text.find("'", i + 1)
                if end < 0 or "\n" in text[i:end]:
                    raise _Stop
                parts.append(text[i + 1:end])
                i = end + 1
            else:
                m = _BARE.match(text, i)
                if m is None:
                    raise _Stop
                parts.append(m[0])
                i = m.end()
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if not text.startswith(".", i):
                return parts, i
            i += 1

    def _basic_end(self, i: int) -> int:
        """The offset after the one-line basic string that opens at ``i``."""
        text, j = self.text, i + 1
        while True:
            c = text[j]  # IndexError past the end: an unterminated string stops the scan
            if c == "\\":
                j += 2
            elif c == '"':
                return j + 1
            elif c == "\n":
                raise _Stop
            else:
                j += 1

    def _string_end(self, i: int) -> int:
        """The offset after the string (of any of the four kinds) that opens at ``i``."""
        text = self.text
        for quote, escapes in (('"""', True), ("'''", False)):
            if text.startswith(quote, i):
                j = i + 3
                while True:
                    k = text.find(quote, j)
                    if k < 0:
                        raise _Stop
                    if escapes:
                        backslashes = len(text[j:k]) - len(text[j:k].rstrip("\\"))
                        if backslashes % 2:  # an escaped quote: not the end
                            j = k + 1
                            continue
                    end = k + 3
                    extra = 0
                    while extra < 2 and text.startswith(quote[0], end):  # """a"""" ends with a quote inside
                        end += 1
                        extra += 1
                    return end
        if text.startswith('"', i):
            return self._basic_end(i)
        end = text.find("'", i + 1)
        if end < 0 or "\n" in text[i:end]:
            raise _Stop
        return end + 1

    def _value(self, i: int, path: tuple[Any, ...]) -> int:
        """Skip the value starting at ``i`` (recording keys of inline tables); return the offset after it."""
        text = self.text
        stack: list[list[Any]] = []  # ["array", path, index] or ["table", path]
        want = path
        while True:
            # one value for the path `want`
            i = (_SPACE_LINES if stack else _SPACE).match(text, i).end()  # type: ignore[union-attr]
            c = text[i] if i < len(text) else ""
            fast = _NUMBERS.match(text, i) if c == "[" else None
            if fast is not None:  # a matrix of numbers, as weights and data are: no keys inside, one regex
                depth = len(stack) + (2 if "[" in fast[0][1:] else 1)
                if depth > self.max_depth:
                    self.max_depth, self.deepest_line = depth, self.line_at(i)
                i = fast.end()
            elif c in "[{":
                stack.append(["array", want, 0] if c == "[" else ["table", want])
                if len(stack) > self.max_depth:
                    self.max_depth, self.deepest_line = len(stack), self.line_at(i)
                    if self.max_depth > _DEPTH_LIMIT:
                        raise _Stop
                i = _SPACE_LINES.match(text, i + 1).end()  # type: ignore[union-attr]
                if c == "[" and not text.startswith("]", i):
                    want = want + (0,)
                    continue
                if c == "{" and not text.startswith("}", i):
                    want, i = self._inline_key(i, stack[-1][1])
                    continue
                i += 1
                stack.pop()
            elif c in "\"'":
                i = self._string_end(i)
            else:
                m = _SCALAR.match(text, i)
                if m is None or not m[0].strip():
                    raise _Stop
                i = m.end()
            # after a value: close what ends here, or move to the next element
            while True:
                if not stack:
                    return i
                i = _SPACE_LINES.match(text, i).end()  # type: ignore[union-attr]
                top = stack[-1]
                close = "]" if top[0] == "array" else "}"
                if text.startswith(",", i):
                    i = _SPACE_LINES.match(text, i + 1).end()  # type: ignore[union-attr]
                    if text.startswith(close, i):  # a trailing comma
                        i += 1
                        stack.pop()
                        continue
                    if top[0] == "array":
                        top[2] += 1
                        want = top[1] + (top[2],)
                    else:
                        want, i = self._inline_key(i, top[1])
                    break
                if text.startswith(close, i):
                    i += 1
                    stack.pop()
                    continue
                raise _Stop

    def _inline_key(self, i: int, table: tuple[Any, ...]) -> tuple[tuple[Any, ...], int]:
        """Read ``key =`` inside an inline table at ``i``; record it; return its path and the offset after ``=``."""
        parts, j = self._key(i)
        j = _SPACE.match(self.text, j).end()  # type: ignore[union-attr]
        if not self.text.startswith("=", j):
            raise _Stop
        path = table + tuple(parts)
        self.entries.append((path, self.line_at(i)))
        return path, j + 1


def _unescape(body: str) -> str:
    """The value of a one-line basic string's body (TOML escapes; an unknown escape is kept as written)."""
    if "\\" not in body:
        return body
    out, j = [], 0
    while j < len(body):
        c = body[j]
        if c != "\\" or j + 1 >= len(body):
            out.append(c)
            j += 1
            continue
        e = body[j + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            j += 2
        elif e in "uU":
            width = 4 if e == "u" else 8
            digits = body[j + 2:j + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
                j += 2 + width
            except ValueError:
                out.append(body[j:j + 2])
                j += 2
        else:
            out.append(body[j:j + 2])
            j += 2
    return "".join(out)
