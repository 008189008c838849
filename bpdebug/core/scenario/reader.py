"""Reading a scenario: the file (never a FIFO or a device), its TOML, and the :class:`Reader` every section's
validator shares (the document, the line finder, ``fail`` and the small typed readers)."""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from .. import toml_fast
from ..messages import describe as _describe
from ..messages import short_number as _short_number
from ..toml_locator import TomlLocator
from .model import ScenarioError

# a scenario is text a person writes: 784-128-10 with every weight written out is 6 MB. tomllib is pure Python and
# costs ~15x a file's size in memory, so larger data and weights belong in [data] / [weights] files (read by NumPy)
MAX_FILE_BYTES = 16 * 2**20
MAX_NESTING = 32  # arrays and tables inside each other; the format needs 3 ([weights] theta1 = [[...]])
_TOO_DEEP = (f"values nested too deeply (arrays or tables more than {MAX_NESTING} levels inside one another), "
             f"expected at most {MAX_NESTING}")


def read_regular(path: Path, shown: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path`` (``shown`` in messages), refused beyond ``limit`` bytes."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is a no-op for a regular file
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ScenarioError(shown, "(file)", "no such file, expected a path to a .toml scenario") from None
    except IsADirectoryError:
        raise ScenarioError(shown, "(file)", "is a directory, expected a .toml scenario file") from None
    except OSError as exc:
        raise ScenarioError(shown, "(file)", f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ScenarioError(shown, "(file)", "is a directory, expected a .toml scenario file")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a character device" if stat.S_ISCHR(st.st_mode)
                    else "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                    else "not a regular file")
            raise ScenarioError(shown, "(file)", f"is {kind}, expected a regular .toml scenario file")
        if st.st_size > limit:
            raise ScenarioError(shown, "(file)", f"is {st.st_size:,} bytes, expected a scenario of at most "
                                f"{limit:,} bytes (larger data or weights go in a [data] or [weights] file)")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while being read
                raise ScenarioError(shown, "(file)", f"grew beyond {limit:,} bytes while being read, "
                                    f"expected a scenario of at most {limit:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise ScenarioError(shown, "(file)", f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def parse(raw: bytes | str, path: str = "<scenario>") -> tuple[str, dict[str, Any]]:
    """The text and the TOML document of a scenario (``path`` is only used in messages)."""
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            raise ScenarioError(path, "(file)", "is a binary file, expected a TOML text scenario")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(path, "(file)", f"is not UTF-8 text (byte {exc.start}), "
                                "expected a TOML text scenario") from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")  # a byte order mark, as some editors write UTF-8
    if not text.strip():
        raise ScenarioError(path, "(file)", "the file is empty, expected a TOML scenario with [network], "
                            "[training], [data] and [weights]", 1)
    try:
        doc = toml_fast.loads(text)  # tomllib's document and errors, long number arrays read in C
    except RecursionError:
        raise ScenarioError(path, "toml", _TOO_DEEP, TomlLocator(text).deepest_line) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m[1]) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg).rstrip(".")
        if m is None and "end of document" in msg:
            line = text.count("\n") + 1
        raise ScenarioError(path, "toml", f"not valid TOML: {msg[:1].lower() + msg[1:]}", line) from None
    except ValueError:  # Python refuses to read an integer of more than 4300 digits from text
        long = re.search(r"[0-9_]{4300,}", text)
        raise ScenarioError(path, "toml", "a number of more than 4300 digits, expected numbers a 64-bit float can "
                            "hold", text.count("\n", 0, long.start()) + 1 if long else None) from None
    if _nesting(doc) > MAX_NESTING:
        locator = TomlLocator(text)
        raise ScenarioError(path, "toml", _TOO_DEEP, locator.deepest_line)
    return text, doc


def _nesting(doc: dict[str, Any]) -> int:
    """How deep arrays and tables sit inside one another below the top level, found without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(v, 0) for v in doc.values()]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            pending.extend((v, depth + 1) for v in value if isinstance(v, list | dict))
        elif isinstance(value, dict):
            # a table header's sub-table and an inline table cannot be told apart here: count both (the
            # format's deepest table is [activations.NAME], two levels)
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            pending.extend((v, depth + 1) for v in value.values() if isinstance(v, list | dict))
    return deepest


class Reader:
    """One scenario's text and document as every section's validator reads them."""

    def __init__(self, path: str, text: str, doc: dict[str, Any], source_files: tuple[Path, ...] = ()) -> None:
        self.path, self.text, self.doc, self.source_files = path, text, doc, source_files
        self._locator: TomlLocator | None = None

    @property
    def locator(self) -> TomlLocator:
        """Built on first use: a valid scenario without expectations never scans its text twice."""
        if self._locator is None:
            self._locator = TomlLocator(self.text)
        return self._locator

    def fail(self, key: tuple[Any, ...] | str, message: str) -> ScenarioError:
        keypath = tuple(key.split(".")) if isinstance(key, str) else key
        shown = ".".join(str(k) if not isinstance(k, int) else f"[{k + 1}]" for k in keypath)
        shown = shown.replace(".[", "[")
        return ScenarioError(self.path, shown, message, self.locator.line(keypath))

    # -- small typed readers
    def table(self, parent: dict, key: tuple, allowed: set[str], required: bool) -> dict:
        value = _get(parent, key[-1])
        if value is MISSING:
            if required:
                raise self.fail(key, f"missing, expected a [{'.'.join(map(str, key))}] table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_describe(value)}")
        for k in value:
            if k not in allowed:
                raise self.fail(key + (k,), f"unknown key, expected one of {', '.join(sorted(allowed))}")
        return value

    def number(self, value: Any, key: tuple) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {_describe(value)}")
        if not _finite(value):
            raise self.fail(key, f"expected a finite number, got {_short_number(value)}")
        return float(value)

    def integer(self, value: Any, key: tuple, minimum: int, maximum: int | None = None) -> int:
        wanted = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected a whole number {wanted}, got {_describe(value)}")
        if value < minimum or (maximum is not None and value > maximum):
            raise self.fail(key, f"expected a whole number {wanted}, got {_short_number(value)}")
        return value

    def string(self, value: Any, key: tuple) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_describe(value)}")
        return value

    def matrix(self, value: Any, key: tuple, what: str) -> np.ndarray:
        """A list of rows of finite numbers; a flat list is one row."""
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"expected {what} as a non-empty list of rows, got {_describe(value)}")
        rows = [value] if not isinstance(value[0], list) else value
        fast = self._fast_matrix(rows)
        if fast is not None:
            return fast
        width = None
        out = []
        for r, row in enumerate(rows):
            if not isinstance(row, list):
                raise self.fail(key, f"row {r + 1} is {_describe(row)}, expected a list of numbers "
                                "(every row a list)")
            if not row:
                raise self.fail(key, f"row {r + 1} is empty, expected a list of numbers")
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise self.fail(key, f"ragged rows: row 1 has {width} numbers, row {r + 1} has {len(row)}, "
                                "expected rows of equal length")
            cells = []
            for c, cell in enumerate(row):
                if isinstance(cell, bool) or not isinstance(cell, int | float):
                    raise self.fail(key, f"row {r + 1}, column {c + 1} is {_describe(cell)}, expected a number")
                if not _finite(cell):
                    raise self.fail(key, f"row {r + 1}, column {c + 1} is {_short_number(cell)}, expected a finite "
                                    "number")
                cells.append(float(cell))
            out.append(cells)
        arr = np.array(out, dtype=float)
        arr.setflags(write=False)
        return arr

    @staticmethod
    def _fast_matrix(rows: list[Any]) -> np.ndarray | None:
        """The matrix at NumPy's speed when every row is a list of the same number of finite int/float values;
        None otherwise, and the cell-by-cell reader says what is wrong (a 784-128-10 scenario has 330,000 cells)."""
        if not all(type(row) is list for row in rows) or not rows[0] or len({len(row) for row in rows}) != 1:
            return None
        if not {type(cell) for row in rows for cell in row} <= {int, float}:  # bool is a type of its own
            return None
        try:
            arr = np.array(rows, dtype=float)
        except OverflowError:  # an integer beyond float64
            return None
        if not np.isfinite(arr).all():
            return None
        arr.setflags(write=False)
        return arr

    @property
    def folder(self) -> Path:
        """Where the files a scenario names are looked for: the scenario's own folder."""
        if self.source_files:
            return self.source_files[0].parent
        return Path(self.path).parent if not self.path.startswith("<") else Path.cwd()

    def from_file(self, read: Any) -> Any:
        """``read(folder)``, its DataFileError turned into the one-line ScenarioError of its key."""
        from .. import datafiles  # files are read only for a scenario that names some

        try:
            return read(self.folder)
        except datafiles.DataFileError as exc:
            raise self.fail(exc.key, exc.message) from None


class Section:
    """The validator of one part of the document, with the reader's helpers at hand (``self.fail``, ...)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.path, self.text, self.doc, self.source_files = reader.path, reader.text, reader.doc, reader.source_files
        self.fail, self.table, self.number, self.integer = reader.fail, reader.table, reader.number, reader.integer
        self.string, self.matrix, self.from_file = reader.string, reader.matrix, reader.from_file

    @property
    def locator(self) -> TomlLocator:
        return self.reader.locator


MISSING = object()  # a key not written (None is no TOML value, but a sentinel says so)


def _finite(value: int | float) -> bool:
    """A finite float64: an integer too large for one (10**400) is not."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _get(d: dict, k: str) -> Any:
    return d.get(k, MISSING)
