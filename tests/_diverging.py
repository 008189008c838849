"""A scenario that truly diverges: the softmax classifier with one point given two classes and a huge rate.

The same input (1.0, 0.2) is labelled class 1 and class 2, so no weights fit both. At a learning rate of 10^6
the first update drives the logits so far apart that one of the two examples' own class gets a softmax output
of exactly 0 (an underflow): its cross-entropy term −1·log 0 is +inf, a real divergence. (With distinct
points the run does not diverge: the outputs that underflow have a target of 0, and 0·log 0 = 0.)
"""

from __future__ import annotations

from pathlib import Path

SOFTMAX = Path(__file__).resolve().parent.parent / "scenarios" / "softmax.toml"


def diverging_softmax_text(lr: str = "1e6") -> str:
    text = SOFTMAX.read_text(encoding="utf-8")
    for old, new in (("learning_rate = 0.5", f"learning_rate = {lr}"),
                     ("[0.8, -0.1]", "[1.0, 0.2]"),
                     ("targets = [[1, 0, 0], [1, 0, 0],", "targets = [[1, 0, 0], [0, 1, 0],")):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text
