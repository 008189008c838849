"""Text a scenario supplies, made safe to reach a terminal or a document.

A scenario is a file from anywhere; its title, description and expectation sources are shown by ``check``,
written into transcripts and drawn by the app. :func:`strip_controls` removes what a terminal would obey
rather than show: escape sequences (``ESC [ 31 m``, OSC titles, ``ESC c``), the other C0 controls, DEL, the
C1 controls (U+0080-U+009F, ``CSI`` among them) and the bidirectional overrides and isolates that reorder
what is read (U+202A-U+202E, U+2066-U+2069). :func:`escape_controls` is for error messages: it keeps the
offending characters visible as escapes, and keeps the message on one line.
"""

from __future__ import annotations

import re

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, erase (the final byte may be cut off)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # two- and three-character sequences (ESC c resets the terminal)
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # the C1 form of CSI
)
_BIDI = "\u202a-\u202e\u2066-\u2069"
_CONTROLS_ONE_LINE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
_CONTROLS_TEXT = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{_BIDI}]")
_LINE_BREAKS = re.compile(r"[\t\n\r]+")
_VISIBLE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_BIDI}]")


def strip_controls(text: str, *, multiline: bool = False) -> str:
    """``text`` without escape sequences and control characters.

    One-line text (a title, a source) has its tabs and line breaks turned into one space each run;
    ``multiline`` text (a description) keeps ``\\n`` and ``\\t`` and turns ``\\r\\n`` and ``\\r`` into ``\\n``.
    """
    text = _ESCAPE_SEQUENCE.sub("", text)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return _CONTROLS_TEXT.sub("", text)
    return _CONTROLS_ONE_LINE.sub("", _LINE_BREAKS.sub(" ", text))


def escape_controls(text: str) -> str:
    """``text`` on one line with every control character shown as an escape (``\\x1b``, ``\\n``, ``\\u202e``)."""

    def shown(m: re.Match[str]) -> str:
        c = m[0]
        named = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
        return named.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")

    return _VISIBLE.sub(shown, text)
