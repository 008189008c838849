"""What a session hands the app: :class:`Note` (something to tell the user), :class:`Move` (what an action did),
:class:`Position` (where the walk is), a :class:`PendingStep` (a step whose results practice hides), and the
mutable :class:`Walk`. No terminal code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ...core.engine import Step

if TYPE_CHECKING:
    from ..watching import Watch
    from .outcomes import BreakEntry


Severity = Literal["information", "warning", "error"]


SYNC_EPOCHS = 200  # going this many epochs past what is computed is a long run (in a worker, with progress)


def bundled_scenarios() -> Path:
    """The folder of the scenarios shipped inside the package."""
    from importlib import resources

    return Path(str(resources.files("bpdebug") / "scenarios"))


@dataclass(frozen=True)
class Note:
    """Something to tell the user: one line, how serious, and for how long (None: the app's default)."""

    text: str
    severity: Severity = "information"
    timeout: float | None = None
    title: str = ""


@dataclass(frozen=True)
class Move:
    """What an action did: whether the position changed, and the notes to show."""

    moved: bool = True
    notes: tuple[Note, ...] = ()

    @property
    def refused(self) -> bool:
        """Nothing moved and nothing was said: the app rings the bell."""
        return not self.moved and not self.notes


STAY = Move(moved=False)


@dataclass(frozen=True)
class Position:
    """Where the walk is: which run (``generation``, bumped on reload), which step and which parameter, and
    with unit-by-unit steps on, which unit of the step's layer (None: the whole step)."""

    generation: int
    index: int
    param: str
    unit: int | None = None
    pending: bool = False  # practising: the step's results are the question, not shown yet


@dataclass(frozen=True)
class PendingStep(Step):
    """A step whose results are not shown yet (practice asks for them): it knows only what the step before it
    in the pass knew, so every panel that reads :meth:`Step.value` shows … for them."""

    before: frozenset[str] = frozenset()

    @property
    def known(self) -> frozenset[str]:
        return self.before


@dataclass(frozen=True)
class View:
    """What the panels bound to the screen paint from (``data_bind``): where the walk is, whether the screen is
    narrow, and a count of repaints (an act that changes what shows without moving, a watch added, bumps it)."""

    at: Position
    compact: bool
    revision: int


@dataclass
class Walk:
    """The mutable part of a session: where the walk is, its breakpoints and watches."""

    index: int
    param: str
    conditions: list[BreakEntry] | None = None  # None: the defaults, parsed when first asked for (Breakpoints)
    watches: list[Watch] = field(default_factory=list)
    stopped: tuple[int, str] | None = None  # (step, why) of the last search's stop, for the status line
    row: int = 0  # which example of a batch pass the network shows (0-based within the pass)
    chosen: bool = False  # whether the step panel narrates that example alone (m), or the whole pass (M)
    unit: tuple[int, int] | None = None  # (step position within the epoch, unit) of a unit-by-unit walk
