"""What the parts hand the app in answer to a user's action, by part: how a long run ended and what a reload did
(:mod:`.runs`), the breakpoints and where a search stops (:mod:`.breakpoints`), the loss curves to draw
(:mod:`.forks`) and the export dialog's choices (:mod:`.exports`). No terminal code.

Start-up builds none of them, so each part imports this module where it first builds one: creating a frozen
dataclass costs ~0.5 ms (dataclasses compiles its methods), and the first frame does not wait for these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...core.conditions import Condition, Stop
    from ...core.engine import Trace
    from .values import Note


# ------------------------------------------------------------------------------------------------- runs
@dataclass(frozen=True)
class RunOutcome:
    """How a long run ended: the epoch asked for, the last epoch computed, and whether it was stopped."""

    asked: int
    reached: int
    cancelled: bool
    generation: int
    offset: int  # the step position within the epoch to land on


@dataclass(frozen=True)
class Reload:
    """The result of re-reading the scenario file."""

    note: Note
    ok: bool
    same_shape: bool = True


# ------------------------------------------------------------------------------------------ breakpoints
@dataclass(frozen=True)
class Breakpoint:
    """Stop at every step of a kind (and layer): ``step=KIND`` in the condition language."""

    kind: str
    layer: int | None = None

    @property
    def label(self) -> str:
        if self.kind in ("z", "a"):
            return f"{self.kind}{self.layer}"
        if self.kind == "delta":
            return f"δ{self.layer}"
        if self.kind == "gradient":
            return f"∂E/∂Θ{self.layer}"
        return self.kind

    @property
    def condition(self) -> str:
        """The same breakpoint in the condition language: ``step=delta2``."""
        kind = getattr(self.kind, "value", self.kind)
        layered = self.layer is not None and kind not in ("error", "update")  # one error step, one update
        return f"step={kind}{self.layer if layered else ''}"


@dataclass(frozen=True)
class BreakEntry:
    """A breakpoint: a parsed condition, on or off."""

    condition: Condition
    enabled: bool = True

    @property
    def text(self) -> str:
        return self.condition.text


@dataclass(frozen=True)
class Search:
    """What a search for the next stop found (:meth:`Session.search`): a stop, or None up to ``horizon``."""

    stop: Stop | None
    generation: int
    origin: int  # the step searched from
    horizon: int  # the last epoch searched


# ------------------------------------------------------------------------------------------------ forks
@dataclass(frozen=True)
class LossCurve:
    """One run's loss for the loss plot, on the original run's epoch axis: its epochs 1 … ``epochs`` are the
    original's ``offset + 1`` … ``offset + epochs``."""

    label: str
    trace: Trace
    offset: int
    epochs: int  # 0: none reached yet
    shown: bool  # the run being walked


# ---------------------------------------------------------------------------------------------- exports
@dataclass(frozen=True)
class ExportFormat:
    """One choice of the export dialog: ``key`` (what the dialog answers: ``md``, ``svg``, ``md-exercise``,
    ``npz``), how the list names it, and the file's extension."""

    key: str
    label: str
    extension: str
